package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const apiKeyColumns = `id, org_id, prefix, hash, name, role, scopes, parent_id, created_at, expires_at, revoked_at, last_used_at`

// CreateAPIKey stores k and sets its ID and CreatedAt. ECONFLICT if the prefix (or the
// hash) is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *aiproxy.APIKey) error {
	created := sqlcodec.Now()
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO api_keys
			(org_id, prefix, hash, name, role, scopes, parent_id, created_at, expires_at, revoked_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			k.OrgID, k.Prefix, k.Hash, k.Name, string(k.Role), sqlcodec.EncodeStrings(k.Scopes), k.ParentID, nanos(created),
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
	k, err := get(ctx, s, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash)
	return k, sqlcodec.NotFound(err, sql.ErrNoRows, "API key not found.")
}

// APIKeyByPrefix returns ENOTFOUND if no key has that prefix.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*aiproxy.APIKey, error) {
	k, err := get(ctx, s, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix)
	return k, sqlcodec.NotFound(err, sql.ErrNoRows, "API key %q not found.", prefix)
}

// APIKeyByID returns ENOTFOUND if no key has that id. Revoked keys are returned.
func (s *Store) APIKeyByID(ctx context.Context, id int64) (*aiproxy.APIKey, error) {
	k, err := get(ctx, s, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id)
	return k, sqlcodec.NotFound(err, sql.ErrNoRows, "API key %d not found.", id)
}

// ListAPIKeys lists an org's keys (orgID 0: operator keys), newest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]*aiproxy.APIKey, error) {
	return list(ctx, s, "list api keys", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = ? ORDER BY created_at DESC, id DESC`, orgID)
}

// RevokeAPIKey marks the key with that prefix revoked at at and, in the same transaction,
// every key it minted (parent_id) that is not revoked yet; it returns how many of those it
// revoked. A key already revoked keeps its first revocation time. ENOTFOUND if no key has
// that prefix.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) (rv aiproxy.Revocation, err error) {
	err = s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		var id int64
		var was sql.NullInt64
		// The write transaction is exclusive: nothing changes the row between the read and
		// the update.
		err := tx.QueryRowContext(ctx, `SELECT id, revoked_at FROM api_keys WHERE prefix = ?`, prefix).Scan(&id, &was)
		if errors.Is(err, sql.ErrNoRows) {
			return aiproxy.Errorf(aiproxy.ENOTFOUND, "API key %q not found.", prefix)
		} else if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if !was.Valid {
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, nanos(at), id); err != nil {
				return fmt.Errorf("revoke api key: %w", err)
			}
			rv.Key = true
		}
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE parent_id = ? AND revoked_at IS NULL`, nanos(at), id)
		if err != nil {
			return fmt.Errorf("revoke api key %q: tokens: %w", prefix, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("revoke api key %q: tokens: %w", prefix, err)
		}
		rv.Tokens = int(n)
		return nil
	})
	if err != nil {
		return aiproxy.Revocation{}, err
	}
	return rv, nil
}

// TouchAPIKeys records last use of keys (id → time) in one transaction. A time older than
// the one stored is ignored, as are unknown ids. It does not change Version: usage is not
// configuration.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return fmt.Errorf("touch api keys: %w", err)
		}
		defer stmt.Close()
		for _, id := range slices.Sorted(maps.Keys(used)) {
			if _, err := stmt.ExecContext(ctx, nanos(used[id]), id); err != nil {
				return fmt.Errorf("touch api key %d: %w", id, err)
			}
		}
		return nil
	})
}

func scanAPIKey(row sqlcodec.Row) (*aiproxy.APIKey, error) {
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
	if k.Scopes, err = sqlcodec.DecodeStrings(scopes); err != nil {
		return nil, fmt.Errorf("api key %d: %w", k.ID, err)
	}
	k.Role = aiproxy.Role(role)
	k.CreatedAt = fromNanos(created)
	k.ExpiresAt = fromNullNanos(expires)
	k.RevokedAt = fromNullNanos(revoked)
	k.LastUsedAt = fromNullNanos(lastUsed)
	return &k, nil
}
