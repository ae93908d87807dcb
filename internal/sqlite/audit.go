package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

// AppendAudit stores e and sets its ID and CreatedAt. It does not change Version.
func (s *Store) AppendAudit(ctx context.Context, e *aiproxy.AuditEntry) error {
	created := sqlcodec.Now()
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO audit (org_id, actor, action, target, before, after, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.OrgID, e.Actor, e.Action, e.Target, e.Before, e.After, nanos(created)).Scan(&e.ID); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		e.CreatedAt = created
		return nil
	})
}

// ListAudit returns an org's entries (orgID 0: platform) newest first, with ID < before
// (before 0: from the newest), at most limit (limit <= 0: all).
func (s *Store) ListAudit(ctx context.Context, orgID int64, before int64, limit int) ([]*aiproxy.AuditEntry, error) {
	before, limit = sqlcodec.Page(before, limit)
	return list(ctx, s, "list audit", scanAudit, `SELECT id, org_id, actor, action, target, before, after, created_at FROM audit
		WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, orgID, before, limit)
}

func scanAudit(row sqlcodec.Row) (*aiproxy.AuditEntry, error) {
	var (
		e       aiproxy.AuditEntry
		created int64
	)
	if err := row.Scan(&e.ID, &e.OrgID, &e.Actor, &e.Action, &e.Target, &e.Before, &e.After, &created); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	e.CreatedAt = fromNanos(created)
	return &e, nil
}
