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

const budgetColumns = `org_id, service, period, limits, updated_at`

// PutBudget creates or replaces the budget of (b.OrgID, b.Service), and sets UpdatedAt
// when zero. A period other than day or month, or a unit other than requests, characters
// and seconds, is EINVALID.
func (s *Store) PutBudget(ctx context.Context, b *aiproxy.Budget) error {
	if err := sqlcodec.CheckBudget(b); err != nil {
		return err
	}
	updated := b.UpdatedAt
	if updated.IsZero() {
		updated = sqlcodec.Now()
	}
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO budgets (`+budgetColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org_id, service) DO UPDATE SET
				period = excluded.period, limits = excluded.limits, updated_at = excluded.updated_at`,
			b.OrgID, b.Service, b.Period, sqlcodec.EncodeUnits(b.Limits), nanos(updated)); err != nil {
			return fmt.Errorf("put budget %d/%s: %w", b.OrgID, b.Service, err)
		}
		b.UpdatedAt = updated
		return nil
	})
}

// GetBudget returns ENOTFOUND when the org has no budget for the service.
func (s *Store) GetBudget(ctx context.Context, orgID int64, service string) (*aiproxy.Budget, error) {
	b, err := get(ctx, s, scanBudget, `SELECT `+budgetColumns+` FROM budgets WHERE org_id = ? AND service = ?`, orgID, service)
	return b, sqlcodec.NotFound(err, sql.ErrNoRows, "No budget for %s.", service)
}

// DeleteBudget returns ENOTFOUND when there is none. The window counters stay.
func (s *Store) DeleteBudget(ctx context.Context, orgID int64, service string) error {
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM budgets WHERE org_id = ? AND service = ?`, orgID, service)
		if err != nil {
			return fmt.Errorf("delete budget: %w", err)
		}
		return mustAffect(res, "No budget for %s.", service)
	})
}

// ListBudgets lists an org's budgets (orgID 0: every org's), by org and service.
func (s *Store) ListBudgets(ctx context.Context, orgID int64) ([]*aiproxy.Budget, error) {
	if orgID == 0 {
		return list(ctx, s, "list budgets", scanBudget, `SELECT `+budgetColumns+` FROM budgets ORDER BY org_id, service`)
	}
	return list(ctx, s, "list budgets", scanBudget, `SELECT `+budgetColumns+` FROM budgets WHERE org_id = ? ORDER BY service`, orgID)
}

// ReserveBudget adds r.Units to the window's counters if, for every unit of r.Units with a
// limit, used + n stays within it, and records r; it returns whether it reserved and the
// window's counters after (as they were, when refused), the units used not zero. r gets a
// random ID when it has none; a taken ID is ECONFLICT. Unknown units, negative counts and
// a reservation without ExpiresAt are EINVALID. It does not change Version.
//
// The write transaction is exclusive across processes: the counters checked are the
// counters added to, so concurrent reservations never overshoot a limit.
func (s *Store) ReserveBudget(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (ok bool, used aiproxy.Units, err error) {
	if err := sqlcodec.CheckReservation(r, limits); err != nil {
		return false, nil, err
	}
	err = s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		counters, err := budgetCounters(ctx, tx, r.OrgID, r.Service, r.Window)
		if err != nil {
			return err
		}
		if !sqlcodec.Fits(counters, r.Units, limits) {
			used = sqlcodec.Counters(counters)
			return errNoChange
		}
		for _, u := range slices.Sorted(maps.Keys(r.Units)) {
			n := r.Units[u]
			if _, err := tx.ExecContext(ctx, `INSERT INTO budget_counters (org_id, service, window_start, unit, used)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (org_id, service, window_start, unit) DO UPDATE SET used = used + excluded.used`,
				r.OrgID, r.Service, r.Window, u, n); err != nil {
				return fmt.Errorf("reserve budget: %s: %w", u, err)
			}
			counters[u] += n
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO budget_reservations (id, org_id, service, window_start, units, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, r.ID, r.OrgID, r.Service, r.Window, sqlcodec.EncodeUnits(r.Units), nanos(r.ExpiresAt))
		if isUniqueViolation(err) {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Budget reservation %q exists.", r.ID)
		} else if err != nil {
			return fmt.Errorf("reserve budget: %w", err)
		}
		ok, used = true, sqlcodec.Counters(counters)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, used, nil
	} else if err != nil {
		return false, nil, err
	}
	return ok, used, nil
}

// CommitBudget keeps the reservation's units spent and forgets the reservation. Unknown
// ids (committed, released or expired already): no-op.
func (s *Store) CommitBudget(ctx context.Context, id string) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM budget_reservations WHERE id = ?`, id); err != nil {
			return fmt.Errorf("commit budget: %w", err)
		}
		return nil
	})
}

// ReleaseBudget gives the reservation's units back and forgets it. Unknown ids: no-op.
func (s *Store) ReleaseBudget(ctx context.Context, id string) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		_, err := releaseBudgets(ctx, tx, `WHERE id = ?`, id)
		return err
	})
}

// ExpireBudgetReservations releases every reservation whose ExpiresAt is before now; it
// returns how many.
func (s *Store) ExpireBudgetReservations(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (err error) {
		n, err = releaseBudgets(ctx, tx, `WHERE expires_at < ?`, nanos(now))
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// BudgetUsed returns the window's counters, the units used not zero (empty, not nil, when
// nothing is used).
func (s *Store) BudgetUsed(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error) {
	rows, err := getAll(ctx, s, scanCounter, `SELECT unit, used FROM budget_counters
		WHERE org_id = ? AND service = ? AND window_start = ?`, orgID, service, window)
	if err != nil {
		return nil, err
	}
	used := aiproxy.Units{}
	for _, c := range rows {
		used[c.unit] = c.used
	}
	return sqlcodec.Counters(used), nil
}

// releaseBudgets gives back the units of the reservations where selects and deletes them;
// it returns how many.
func releaseBudgets(ctx context.Context, tx *sql.Tx, where string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM budget_reservations `+where+`
		RETURNING id, org_id, service, window_start, units`, args...)
	if err != nil {
		return 0, fmt.Errorf("release budget: %w", err)
	}
	released, err := sqlcodec.Collect(rows, scanReservation)
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("release budget: %w", err)
	}
	for _, r := range released {
		for _, u := range slices.Sorted(maps.Keys(r.Units)) {
			if _, err := tx.ExecContext(ctx, `UPDATE budget_counters SET used = used - ?
				WHERE org_id = ? AND service = ? AND window_start = ? AND unit = ?`,
				r.Units[u], r.OrgID, r.Service, r.Window, u); err != nil {
				return 0, fmt.Errorf("release budget %q: %s: %w", r.ID, u, err)
			}
		}
	}
	return len(released), nil
}

// budgetCounters reads a window's counters in tx.
func budgetCounters(ctx context.Context, tx *sql.Tx, orgID int64, service, window string) (aiproxy.Units, error) {
	rows, err := tx.QueryContext(ctx, `SELECT unit, used FROM budget_counters
		WHERE org_id = ? AND service = ? AND window_start = ?`, orgID, service, window)
	if err != nil {
		return nil, fmt.Errorf("budget counters: %w", err)
	}
	defer rows.Close()
	all, err := sqlcodec.Collect(rows, scanCounter)
	if err != nil {
		return nil, fmt.Errorf("budget counters: %w", err)
	}
	used := aiproxy.Units{}
	for _, c := range all {
		used[c.unit] = c.used
	}
	return used, nil
}

type counter struct {
	unit string
	used int64
}

func scanCounter(row sqlcodec.Row) (*counter, error) {
	var c counter
	if err := row.Scan(&c.unit, &c.used); err != nil {
		return nil, fmt.Errorf("scan budget counter: %w", err)
	}
	return &c, nil
}

func scanReservation(row sqlcodec.Row) (*aiproxy.BudgetReservation, error) {
	var (
		r     aiproxy.BudgetReservation
		units string
	)
	if err := row.Scan(&r.ID, &r.OrgID, &r.Service, &r.Window, &units); err != nil {
		return nil, fmt.Errorf("scan budget reservation: %w", err)
	}
	var err error
	if r.Units, err = sqlcodec.DecodeUnits(units); err != nil {
		return nil, fmt.Errorf("budget reservation %q: %w", r.ID, err)
	}
	return &r, nil
}

func scanBudget(row sqlcodec.Row) (*aiproxy.Budget, error) {
	var (
		b       aiproxy.Budget
		limits  string
		updated int64
	)
	if err := row.Scan(&b.OrgID, &b.Service, &b.Period, &limits, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan budget: %w", err)
	}
	var err error
	if b.Limits, err = sqlcodec.DecodeUnits(limits); err != nil {
		return nil, fmt.Errorf("budget %d/%s: %w", b.OrgID, b.Service, err)
	}
	b.UpdatedAt = fromNanos(updated)
	return &b, nil
}
