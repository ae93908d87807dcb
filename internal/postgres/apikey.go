package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/jackc/pgx/v5"
)

const apiKeyColumns = `id, org_id, prefix, hash, name, role, scopes::text, parent_id, created_at, expires_at, revoked_at, last_used_at`

// CreateAPIKey stores k and sets its ID and CreatedAt. ECONFLICT if the prefix (or the
// hash) is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *aiproxy.APIKey) error {
	created := now()
	return s.write(ctx, true, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO api_keys
			(org_id, prefix, hash, name, role, scopes, parent_id, created_at, expires_at, revoked_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) RETURNING id`,
			k.OrgID, k.Prefix, k.Hash, k.Name, string(k.Role), encodeStrings(k.Scopes), k.ParentID, created,
			k.ExpiresAt, k.RevokedAt, k.LastUsedAt).Scan(&k.ID)
		if isUniqueViolation(err) {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "API key prefix %q is taken.", k.Prefix)
		} else if err != nil {
			return fmt.Errorf("create api key: %w", err)
		}
		k.CreatedAt = created
		return nil
	})
}

// APIKeyByHash returns ENOTFOUND if no key has that hash. Revoked keys are returned.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*aiproxy.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "API key not found.")
	}
	return k, err
}

// APIKeyByPrefix returns ENOTFOUND if no key has that prefix.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*aiproxy.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "API key %q not found.", prefix)
	}
	return k, err
}

// ListAPIKeys lists an org's keys (orgID 0: operator keys), newest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]*aiproxy.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = $1 ORDER BY created_at DESC, id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return collect(rows, scanAPIKey)
}

// RevokeAPIKey marks the key revoked at at; a key already revoked keeps its first
// revocation time. ENOTFOUND if no key has that prefix.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) error {
	return s.write(ctx, true, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE prefix = $2`, at, prefix)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		return mustAffect(tag, "API key %q not found.", prefix)
	})
}

// TouchAPIKeys records last use of keys (id → time) in one transaction. A time older than
// the one stored is ignored, as are unknown ids. Rows are updated in id order so two
// replicas touching the same keys cannot deadlock. It does not change Version: usage is
// not configuration.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return s.write(ctx, false, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, id := range ids {
			b.Queue(`UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)`, used[id], id)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("touch api keys: %w", err)
		}
		return nil
	})
}

func scanAPIKey(row pgx.Row) (*aiproxy.APIKey, error) {
	var (
		k            aiproxy.APIKey
		role, scopes string
	)
	if err := row.Scan(&k.ID, &k.OrgID, &k.Prefix, &k.Hash, &k.Name, &role, &scopes, &k.ParentID,
		&k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan api key: %w", err)
	}
	var err error
	if k.Scopes, err = decodeStrings(scopes); err != nil {
		return nil, fmt.Errorf("api key %d: %w", k.ID, err)
	}
	k.Role = aiproxy.Role(role)
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt), utcPtr(k.LastUsedAt)
	return &k, nil
}
