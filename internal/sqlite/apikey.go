package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aiproxy/aiproxy"
)

const apiKeyColumns = `id, org_id, prefix, hash, name, role, scopes, parent_id, created_at, expires_at, revoked_at, last_used_at`

// CreateAPIKey stores k and sets its ID and CreatedAt. ECONFLICT if the prefix (or the
// hash) is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *aiproxy.APIKey) error {
	created := now()
	return s.write(ctx, true, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO api_keys
			(org_id, prefix, hash, name, role, scopes, parent_id, created_at, expires_at, revoked_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			k.OrgID, k.Prefix, k.Hash, k.Name, string(k.Role), encodeStrings(k.Scopes), k.ParentID, nanos(created),
			nullNanos(k.ExpiresAt), nullNanos(k.RevokedAt), nullNanos(k.LastUsedAt)).Scan(&k.ID)
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
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "API key not found.")
	}
	return k, err
}

// APIKeyByPrefix returns ENOTFOUND if no key has that prefix.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*aiproxy.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "API key %q not found.", prefix)
	}
	return k, err
}

// ListAPIKeys lists an org's keys (orgID 0: operator keys), newest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]*aiproxy.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = ? ORDER BY created_at DESC, id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var keys []*aiproxy.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey marks the key revoked at at; a key already revoked keeps its first
// revocation time. ENOTFOUND if no key has that prefix.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) error {
	return s.write(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE prefix = ?`, nanos(at), prefix)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		return mustAffect(res, "API key %q not found.", prefix)
	})
}

// TouchAPIKeys records last use of keys (id → time) in one transaction. A time older than
// the one stored is ignored, as are unknown ids. It does not change Version: usage is not
// configuration.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return s.write(ctx, false, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return fmt.Errorf("touch api keys: %w", err)
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, nanos(used[id]), id); err != nil {
				return fmt.Errorf("touch api key %d: %w", id, err)
			}
		}
		return nil
	})
}

func scanAPIKey(row scanner) (*aiproxy.APIKey, error) {
	var (
		k                          aiproxy.APIKey
		role, scopes               string
		created                    int64
		expires, revoked, lastUsed sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.OrgID, &k.Prefix, &k.Hash, &k.Name, &role, &scopes, &k.ParentID,
		&created, &expires, &revoked, &lastUsed); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan api key: %w", err)
	}
	var err error
	if k.Scopes, err = decodeStrings(scopes); err != nil {
		return nil, fmt.Errorf("api key %d: %w", k.ID, err)
	}
	k.Role = aiproxy.Role(role)
	k.CreatedAt = fromNanos(created)
	k.ExpiresAt = fromNullNanos(expires)
	k.RevokedAt = fromNullNanos(revoked)
	k.LastUsedAt = fromNullNanos(lastUsed)
	return &k, nil
}
