package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
)

const apiKeyColumns = `id, org_id, prefix, hash, name, role, scopes::text, parent_id, created_at, expires_at, revoked_at, last_used_at`

// CreateAPIKey stores k and sets its ID and CreatedAt. ECONFLICT if the prefix (or the
// hash) is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *aiproxy.APIKey) error {
	created := sqlcodec.Now()
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO api_keys
			(org_id, prefix, hash, name, role, scopes, parent_id, created_at, expires_at, revoked_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) RETURNING id`,
			k.OrgID, k.Prefix, k.Hash, k.Name, string(k.Role), sqlcodec.EncodeStrings(k.Scopes), k.ParentID, created,
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
	k, err := get(ctx, s, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash)
	return k, sqlcodec.NotFound(err, pgx.ErrNoRows, "API key not found.")
}

// APIKeyByPrefix returns ENOTFOUND if no key has that prefix.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*aiproxy.APIKey, error) {
	k, err := get(ctx, s, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix)
	return k, sqlcodec.NotFound(err, pgx.ErrNoRows, "API key %q not found.", prefix)
}

// APIKeyByID returns ENOTFOUND if no key has that id. Revoked keys are returned.
func (s *Store) APIKeyByID(ctx context.Context, id int64) (*aiproxy.APIKey, error) {
	k, err := get(ctx, s, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id)
	return k, sqlcodec.NotFound(err, pgx.ErrNoRows, "API key %d not found.", id)
}

// ListAPIKeys lists an org's keys (orgID 0: operator keys), newest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]*aiproxy.APIKey, error) {
	return list(ctx, s, "list api keys", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = $1 ORDER BY created_at DESC, id DESC`, orgID)
}

// RevokeAPIKey marks the key with that prefix revoked at at and, in the same transaction,
// every key it minted (parent_id) that is not revoked yet; it returns how many of those it
// revoked. A key already revoked keeps its first revocation time. ENOTFOUND if no key has
// that prefix.
//
// The key's row is locked first, so two revocations of one key run one after the other and
// the second finds no token left to revoke; the tokens' rows are then locked in id order,
// as TouchAPIKeys locks them, so the two cannot deadlock.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) (rv aiproxy.Revocation, err error) {
	err = s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		var id int64
		var was *time.Time
		// FOR UPDATE: a concurrent revocation of the same key waits, then sees it revoked.
		err := tx.QueryRow(ctx, `SELECT id, revoked_at FROM api_keys WHERE prefix = $1 FOR UPDATE`, prefix).Scan(&id, &was)
		if errors.Is(err, pgx.ErrNoRows) {
			return aiproxy.Errorf(aiproxy.ENOTFOUND, "API key %q not found.", prefix)
		} else if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if was == nil {
			if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2`, at, id); err != nil {
				return fmt.Errorf("revoke api key: %w", err)
			}
			rv.Key = true
		}
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE revoked_at IS NULL AND id IN (
			SELECT id FROM api_keys WHERE parent_id = $2 AND revoked_at IS NULL ORDER BY id FOR UPDATE)`, at, id)
		if err != nil {
			return fmt.Errorf("revoke api key %q: tokens: %w", prefix, err)
		}
		rv.Tokens = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return aiproxy.Revocation{}, err
	}
	return rv, nil
}

// TouchAPIKeys records last use of keys (id → time) in one transaction. A time older than
// the one stored is ignored, as are unknown ids. Rows are updated in id order so two
// replicas touching the same keys cannot deadlock. It does not change Version: usage is
// not configuration.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		var b pgx.Batch
		for _, id := range slices.Sorted(maps.Keys(used)) {
			b.Queue(`UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)`, used[id], id)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("touch api keys: %w", err)
		}
		return nil
	})
}

func scanAPIKey(row sqlcodec.Row) (*aiproxy.APIKey, error) {
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
	if k.Scopes, err = sqlcodec.DecodeStrings(scopes); err != nil {
		return nil, fmt.Errorf("api key %d: %w", k.ID, err)
	}
	k.Role = aiproxy.Role(role)
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt), utcPtr(k.LastUsedAt)
	return &k, nil
}
