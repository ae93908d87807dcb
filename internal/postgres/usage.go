package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
)

const usageColumns = `org_id, service, action, source, day, calls, billable_calls, failed_calls, refused, replayed,
	requests, characters, seconds`

// AddUsage adds the deltas to their day rows, creating them as needed, in one transaction.
// A unit other than requests, characters and seconds, or a day not written 2006-01-02, is
// EINVALID and nothing is added. It does not change Version.
//
// The rows are written in one order (sqlcodec.MergeUsage), so replicas adding to the same
// rows at once wait for each other instead of deadlocking.
func (s *Store) AddUsage(ctx context.Context, deltas []aiproxy.UsageDelta) error {
	merged, err := sqlcodec.MergeUsage(deltas)
	if err != nil || len(merged) == 0 {
		return err
	}
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		var b pgx.Batch
		for _, d := range merged {
			b.Queue(`INSERT INTO usage_daily (`+usageColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
				ON CONFLICT (org_id, service, action, source, day) DO UPDATE SET
					calls = usage_daily.calls + excluded.calls,
					billable_calls = usage_daily.billable_calls + excluded.billable_calls,
					failed_calls = usage_daily.failed_calls + excluded.failed_calls,
					refused = usage_daily.refused + excluded.refused,
					replayed = usage_daily.replayed + excluded.replayed,
					requests = usage_daily.requests + excluded.requests,
					characters = usage_daily.characters + excluded.characters,
					seconds = usage_daily.seconds + excluded.seconds`,
				d.OrgID, d.Service, d.Action, string(d.Source), d.Day,
				d.Calls, d.BillableCalls, d.FailedCalls, d.Refused, d.Replayed,
				d.Units[aiproxy.UnitRequests], d.Units[aiproxy.UnitCharacters], d.Units[aiproxy.UnitSeconds])
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("add usage: %w", err)
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
	cond := func(expr string, v any) {
		args = append(args, v)
		where = append(where, expr+" $"+strconv.Itoa(len(args)))
	}
	if q.OrgID != 0 {
		cond("org_id =", q.OrgID)
	}
	if q.From != "" {
		cond("day >=", q.From)
	}
	if q.To != "" {
		cond("day <=", q.To)
	}
	query := `SELECT ` + usageColumns + ` FROM usage_daily`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// COLLATE "C": days and names sort by bytes, as SQLite sorts them, whatever the
	// database's collation.
	rows, err := list(ctx, s, "list usage", scanUsage, query+
		` ORDER BY day COLLATE "C", org_id, service COLLATE "C", action COLLATE "C", source COLLATE "C"`, args...)
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
