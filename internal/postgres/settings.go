package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
)

const settingsColumns = `service, org_id, enabled, policy::text, account_actions, require_idempotency_key, updated_at`

// ServiceSettings returns the settings for (service, org); ENOTFOUND if none.
func (s *Store) ServiceSettings(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	ss, err := get(ctx, s, scanSettings, `SELECT `+settingsColumns+` FROM service_settings
		WHERE service = $1 AND org_id = $2`, service, orgID)
	return ss, sqlcodec.NotFound(err, pgx.ErrNoRows, "No settings for %s.", service)
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
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO service_settings
				(service, org_id, enabled, policy, account_actions, require_idempotency_key, updated_at)
			VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
			ON CONFLICT (service, org_id) DO UPDATE SET
				enabled = excluded.enabled, policy = excluded.policy, account_actions = excluded.account_actions,
				require_idempotency_key = excluded.require_idempotency_key, updated_at = excluded.updated_at`,
			ss.Service, ss.OrgID, ss.Enabled, policy, ss.AccountActions, ss.RequireIdempotencyKey, updated); err != nil {
			return fmt.Errorf("put service settings %s/%d: %w", ss.Service, ss.OrgID, err)
		}
		ss.UpdatedAt = updated
		return nil
	})
}

func scanSettings(row sqlcodec.Row) (*aiproxy.ServiceSettings, error) {
	var (
		ss     aiproxy.ServiceSettings
		policy *string
	)
	if err := row.Scan(&ss.Service, &ss.OrgID, &ss.Enabled, &policy, &ss.AccountActions, &ss.RequireIdempotencyKey,
		&ss.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan service settings: %w", err)
	}
	var err error
	if ss.Policy, err = sqlcodec.DecodePolicy(policy); err != nil {
		return nil, fmt.Errorf("service settings %s/%d: %w", ss.Service, ss.OrgID, err)
	}
	ss.UpdatedAt = ss.UpdatedAt.UTC()
	return &ss, nil
}
