package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const usageColumns = `org_id, service, action, source, day, calls, billable_calls, failed_calls, refused, replayed,
	requests, characters, seconds`

// AddUsage adds the deltas to their day rows, creating them as needed, in one transaction.
// A unit other than requests, characters and seconds, or a day not written 2006-01-02, is
// EINVALID and nothing is added. It does not change Version.
func (s *Store) AddUsage(ctx context.Context, deltas []aiproxy.UsageDelta) error {
	merged, err := sqlcodec.MergeUsage(deltas)
	if err != nil || len(merged) == 0 {
		return err
	}
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO usage_daily (`+usageColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_id, service, action, source, day) DO UPDATE SET
				calls = calls + excluded.calls, billable_calls = billable_calls + excluded.billable_calls,
				failed_calls = failed_calls + excluded.failed_calls, refused = refused + excluded.refused,
				replayed = replayed + excluded.replayed, requests = requests + excluded.requests,
				characters = characters + excluded.characters, seconds = seconds + excluded.seconds`)
		if err != nil {
			return fmt.Errorf("add usage: %w", err)
		}
		defer stmt.Close()
		for _, d := range merged {
			if _, err := stmt.ExecContext(ctx, d.OrgID, d.Service, d.Action, string(d.Source), d.Day,
				d.Calls, d.BillableCalls, d.FailedCalls, d.Refused, d.Replayed,
				d.Units[aiproxy.UnitRequests], d.Units[aiproxy.UnitCharacters], d.Units[aiproxy.UnitSeconds]); err != nil {
				return fmt.Errorf("add usage %d/%s/%s/%s: %w", d.OrgID, d.Service, d.Action, d.Day, err)
			}
		}
		return nil
	})
}

// ListUsage returns the day rows q selects (q.OrgID 0: every org; days q.From to q.To
// inclusive, "" for open ends), ordered by day, org, service, action and source. A row's
// Units holds the units that are not zero (nil when none is).
func (s *Store) ListUsage(ctx context.Context, q aiproxy.UsageQuery) ([]aiproxy.UsageRow, error) {
	var (
		where []string
		args  []any
	)
	if q.OrgID != 0 {
		where, args = append(where, "org_id = ?"), append(args, q.OrgID)
	}
	if q.From != "" {
		where, args = append(where, "day >= ?"), append(args, q.From)
	}
	if q.To != "" {
		where, args = append(where, "day <= ?"), append(args, q.To)
	}
	query := `SELECT ` + usageColumns + ` FROM usage_daily`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := list(ctx, s, "list usage", scanUsage, query+` ORDER BY day, org_id, service, action, source`, args...)
	if err != nil {
		return nil, err
	}
	out := make([]aiproxy.UsageRow, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out, nil
}

func scanUsage(row sqlcodec.Row) (*aiproxy.UsageRow, error) {
	var (
		r                             aiproxy.UsageRow
		source                        string
		requests, characters, seconds int64
	)
	if err := row.Scan(&r.OrgID, &r.Service, &r.Action, &source, &r.Day, &r.Calls, &r.BillableCalls, &r.FailedCalls,
		&r.Refused, &r.Replayed, &requests, &characters, &seconds); err != nil {
		return nil, fmt.Errorf("scan usage: %w", err)
	}
	r.Source = aiproxy.Source(source)
	r.Units = sqlcodec.UsageUnits(requests, characters, seconds)
	return &r, nil
}
