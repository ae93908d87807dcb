package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const settingsColumns = `service, org_id, enabled, policy, account_actions, require_idempotency_key, updated_at`

// ServiceSettings returns the settings for (service, org); ENOTFOUND if none.
func (s *Store) ServiceSettings(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	ss, err := get(ctx, s, scanSettings, `SELECT `+settingsColumns+` FROM service_settings
		WHERE service = ? AND org_id = ?`, service, orgID)
	return ss, sqlcodec.NotFound(err, sql.ErrNoRows, "No settings for %s.", service)
}

// ListServiceSettings lists every stored settings row.
func (s *Store) ListServiceSettings(ctx context.Context) ([]*aiproxy.ServiceSettings, error) {
	return list(ctx, s, "list service settings", scanSettings, `SELECT `+settingsColumns+` FROM service_settings ORDER BY service, org_id`)
}

// PutServiceSettings creates or replaces the settings for (ss.Service, ss.OrgID) and sets
// UpdatedAt.
func (s *Store) PutServiceSettings(ctx context.Context, ss *aiproxy.ServiceSettings) error {
	policy, err := sqlcodec.EncodePolicy(ss.Policy)
	if err != nil {
		return err
	}
	updated := sqlcodec.Now()
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO service_settings (`+settingsColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (service, org_id) DO UPDATE SET
				enabled = excluded.enabled, policy = excluded.policy, account_actions = excluded.account_actions,
				require_idempotency_key = excluded.require_idempotency_key, updated_at = excluded.updated_at`,
			ss.Service, ss.OrgID, nullBool(ss.Enabled), policy, ss.AccountActions, nullBool(ss.RequireIdempotencyKey),
			nanos(updated)); err != nil {
			return fmt.Errorf("put service settings %s/%d: %w", ss.Service, ss.OrgID, err)
		}
		ss.UpdatedAt = updated
		return nil
	})
}

func scanSettings(row sqlcodec.Row) (*aiproxy.ServiceSettings, error) {
	var (
		ss            aiproxy.ServiceSettings
		enabled, idem sql.NullBool
		policy        *string
		updated       int64
	)
	if err := row.Scan(&ss.Service, &ss.OrgID, &enabled, &policy, &ss.AccountActions, &idem, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan service settings: %w", err)
	}
	ss.Enabled, ss.RequireIdempotencyKey = fromNullBool(enabled), fromNullBool(idem)
	var err error
	if ss.Policy, err = sqlcodec.DecodePolicy(policy); err != nil {
		return nil, fmt.Errorf("service settings %s/%d: %w", ss.Service, ss.OrgID, err)
	}
	ss.UpdatedAt = fromNanos(updated)
	return &ss, nil
}

// nullBool stores an optional boolean; nil (inherit) becomes NULL.
func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}

func fromNullBool(b sql.NullBool) *bool {
	if !b.Valid {
		return nil
	}
	return &b.Bool
}
