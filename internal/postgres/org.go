package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
)

const orgColumns = `id, slug, name, cors_origins::text, rate_limit_per_minute, created_at`

// CreateOrg stores o and sets its ID and CreatedAt. ECONFLICT if the slug is taken.
func (s *Store) CreateOrg(ctx context.Context, o *aiproxy.Org) error {
	created := sqlcodec.Now()
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO orgs (slug, name, cors_origins, rate_limit_per_minute, created_at) VALUES ($1, $2, $3::jsonb, $4, $5) RETURNING id`,
			o.Slug, o.Name, sqlcodec.EncodeStrings(o.CORSOrigins), o.RateLimitPerMinute, created).Scan(&o.ID)
		if isUniqueViolation(err) {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Org slug %q is taken.", o.Slug)
		} else if err != nil {
			return fmt.Errorf("create org: %w", err)
		}
		o.CreatedAt = created
		return nil
	})
}

// OrgBySlug returns ENOTFOUND if no org has that slug.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (*aiproxy.Org, error) {
	o, err := get(ctx, s, scanOrg, `SELECT `+orgColumns+` FROM orgs WHERE slug = $1`, slug)
	return o, sqlcodec.NotFound(err, pgx.ErrNoRows, "Org %q not found.", slug)
}

// OrgByID returns ENOTFOUND if no org has that id.
func (s *Store) OrgByID(ctx context.Context, id int64) (*aiproxy.Org, error) {
	o, err := get(ctx, s, scanOrg, `SELECT `+orgColumns+` FROM orgs WHERE id = $1`, id)
	return o, sqlcodec.NotFound(err, pgx.ErrNoRows, "Org %d not found.", id)
}

// ListOrgs lists every org, oldest first.
func (s *Store) ListOrgs(ctx context.Context) ([]*aiproxy.Org, error) {
	return list(ctx, s, "list orgs", scanOrg, `SELECT `+orgColumns+` FROM orgs ORDER BY id`)
}

// UpdateOrg saves Name, CORSOrigins and RateLimitPerMinute. ENOTFOUND if the org is gone.
func (s *Store) UpdateOrg(ctx context.Context, o *aiproxy.Org) error {
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE orgs SET name = $1, cors_origins = $2::jsonb, rate_limit_per_minute = $3 WHERE id = $4`,
			o.Name, sqlcodec.EncodeStrings(o.CORSOrigins), o.RateLimitPerMinute, o.ID)
		if err != nil {
			return fmt.Errorf("update org: %w", err)
		}
		return mustAffect(tag, "Org %d not found.", o.ID)
	})
}

// DeleteOrg removes the org with its keys, credentials, settings, budgets, webhook and
// webhook deliveries (with their attempts); its audit, jobs, usage and idempotency records
// stay (org ids are never reused).
func (s *Store) DeleteOrg(ctx context.Context, id int64) error {
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM orgs WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete org: %w", err)
		}
		if err := mustAffect(tag, "Org %d not found.", id); err != nil {
			return err
		}
		// The org's deliveries are locked before their attempts are deleted: an attempt
		// being recorded meanwhile is either committed, and deleted here, or waits and then
		// finds its delivery gone (ECONFLICT).
		if _, err := tx.Exec(ctx, `SELECT 1 FROM webhook_deliveries WHERE org_id = $1 FOR UPDATE`, id); err != nil {
			return fmt.Errorf("delete org %d: lock webhook_deliveries: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_attempts
			WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE org_id = $1)`, id); err != nil {
			return fmt.Errorf("delete org %d: webhook_attempts: %w", id, err)
		}
		for _, table := range []string{"api_keys", "credentials", "service_settings", "budgets", "org_webhooks", "webhook_deliveries"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE org_id = $1`, id); err != nil {
				return fmt.Errorf("delete org %d: %s: %w", id, table, err)
			}
		}
		return nil
	})
}

func scanOrg(row sqlcodec.Row) (*aiproxy.Org, error) {
	var (
		o       aiproxy.Org
		origins string
	)
	if err := row.Scan(&o.ID, &o.Slug, &o.Name, &origins, &o.RateLimitPerMinute, &o.CreatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan org: %w", err)
	}
	var err error
	if o.CORSOrigins, err = sqlcodec.DecodeStrings(origins); err != nil {
		return nil, fmt.Errorf("org %d: %w", o.ID, err)
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return &o, nil
}
