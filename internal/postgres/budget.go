package postgres

import (
	"cmp"
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

const budgetColumns = `org_id, service, period, limits::text, updated_at`

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
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO budgets (org_id, service, period, limits, updated_at)
			VALUES ($1, $2, $3, $4::jsonb, $5)
			ON CONFLICT (org_id, service) DO UPDATE SET
				period = excluded.period, limits = excluded.limits, updated_at = excluded.updated_at`,
			b.OrgID, b.Service, b.Period, sqlcodec.EncodeUnits(b.Limits), updated); err != nil {
			return fmt.Errorf("put budget %d/%s: %w", b.OrgID, b.Service, err)
		}
		b.UpdatedAt = updated.UTC()
		return nil
	})
}

// GetBudget returns ENOTFOUND when the org has no budget for the service.
func (s *Store) GetBudget(ctx context.Context, orgID int64, service string) (*aiproxy.Budget, error) {
	b, err := get(ctx, s, scanBudget, `SELECT `+budgetColumns+` FROM budgets WHERE org_id = $1 AND service = $2`, orgID, service)
	return b, sqlcodec.NotFound(err, pgx.ErrNoRows, "No budget for %s.", service)
}

// DeleteBudget returns ENOTFOUND when there is none. The window counters stay.
func (s *Store) DeleteBudget(ctx context.Context, orgID int64, service string) error {
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM budgets WHERE org_id = $1 AND service = $2`, orgID, service)
		if err != nil {
			return fmt.Errorf("delete budget: %w", err)
		}
		return mustAffect(tag, "No budget for %s.", service)
	})
}

// ListBudgets lists an org's budgets (orgID 0: every org's), by org and service.
func (s *Store) ListBudgets(ctx context.Context, orgID int64) ([]*aiproxy.Budget, error) {
	if orgID == 0 {
		return list(ctx, s, "list budgets", scanBudget, `SELECT `+budgetColumns+` FROM budgets ORDER BY org_id, service COLLATE "C"`)
	}
	return list(ctx, s, "list budgets", scanBudget, `SELECT `+budgetColumns+` FROM budgets WHERE org_id = $1 ORDER BY service COLLATE "C"`, orgID)
}

// ReserveBudget adds r.Units to the window's counters if, for every unit of r.Units with a
// limit, used + n stays within it, and records r; it returns whether it reserved and the
// window's counters after (as they were, when refused), the units used not zero. r gets a
// random ID when it has none; a taken ID is ECONFLICT. Unknown units, negative counts and
// a reservation without ExpiresAt are EINVALID. It does not change Version.
//
// Atomic across replicas, and never over a limit: in one transaction the counter rows of
// r's units are created if missing, then every counter row of the window is locked (FOR
// UPDATE, in unit order, as every other writer of counters locks them, so that none can
// deadlock) and read as last committed; the check and the additions are made under those
// locks. A refusal rolls back, leaving nothing changed.
func (s *Store) ReserveBudget(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (ok bool, used aiproxy.Units, err error) {
	if err := sqlcodec.CheckReservation(r, limits); err != nil {
		return false, nil, err
	}
	units := slices.Sorted(maps.Keys(r.Units))
	counts := make([]int64, len(units))
	for i, u := range units {
		counts[i] = r.Units[u]
	}
	err = s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		var b pgx.Batch
		for _, u := range units {
			b.Queue(`INSERT INTO budget_counters (org_id, service, window_start, unit) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, r.OrgID, r.Service, r.Window, u)
		}
		b.Queue(`SELECT unit, used FROM budget_counters WHERE org_id = $1 AND service = $2 AND window_start = $3
			ORDER BY unit COLLATE "C" FOR UPDATE`, r.OrgID, r.Service, r.Window)
		counters, err := lockCounters(tx.SendBatch(ctx, &b), len(units))
		if err != nil {
			return fmt.Errorf("reserve budget: %w", err)
		}
		if !sqlcodec.Fits(counters, r.Units, limits) {
			used = sqlcodec.Counters(counters)
			return errNoChange
		}
		b = pgx.Batch{}
		if len(units) > 0 {
			b.Queue(`UPDATE budget_counters AS c SET used = c.used + v.n
				FROM unnest($4::text[], $5::bigint[]) AS v (unit, n)
				WHERE c.org_id = $1 AND c.service = $2 AND c.window_start = $3 AND c.unit = v.unit`,
				r.OrgID, r.Service, r.Window, units, counts)
		}
		b.Queue(`INSERT INTO budget_reservations (id, org_id, service, window_start, units, expires_at)
			VALUES ($1, $2, $3, $4, $5::jsonb, $6)`, r.ID, r.OrgID, r.Service, r.Window, sqlcodec.EncodeUnits(r.Units), r.ExpiresAt)
		err = tx.SendBatch(ctx, &b).Close()
		if isUniqueViolation(err) {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Budget reservation %q exists.", r.ID)
		} else if err != nil {
			return fmt.Errorf("reserve budget: %w", err)
		}
		for i, u := range units {
			counters[u] += counts[i]
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

// lockCounters reads the results of ReserveBudget's first batch: inserts inserts, then the
// window's counters.
func lockCounters(br pgx.BatchResults, inserts int) (used aiproxy.Units, err error) {
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	for range inserts {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	all, err := sqlcodec.Collect(rows, scanCounter)
	rows.Close()
	if err != nil {
		return nil, err
	}
	used = aiproxy.Units{}
	for _, c := range all {
		used[c.unit] = c.used
	}
	return used, nil
}

// CommitBudget keeps the reservation's units spent and forgets the reservation. Unknown
// ids (committed, released or expired already): no-op.
func (s *Store) CommitBudget(ctx context.Context, id string) error {
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM budget_reservations WHERE id = $1`, id); err != nil {
			return fmt.Errorf("commit budget: %w", err)
		}
		return nil
	})
}

// ReleaseBudget gives the reservation's units back and forgets it. Unknown ids: no-op.
func (s *Store) ReleaseBudget(ctx context.Context, id string) error {
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		_, err := releaseBudgets(ctx, tx, `DELETE FROM budget_reservations WHERE id = $1
			RETURNING id, org_id, service, window_start, units::text`, id)
		return err
	})
}

// ExpireBudgetReservations releases every reservation whose ExpiresAt is before now; it
// returns how many. Reservations another transaction is committing or releasing are left
// to it (SKIP LOCKED), so replicas sweeping at once neither wait for each other nor
// release a reservation twice.
func (s *Store) ExpireBudgetReservations(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) (err error) {
		n, err = releaseBudgets(ctx, tx, `DELETE FROM budget_reservations WHERE id IN (
				SELECT id FROM budget_reservations WHERE expires_at < $1 ORDER BY id FOR UPDATE SKIP LOCKED)
			RETURNING id, org_id, service, window_start, units::text`, now)
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
		WHERE org_id = $1 AND service = $2 AND window_start = $3`, orgID, service, window)
	if err != nil {
		return nil, err
	}
	used := aiproxy.Units{}
	for _, c := range rows {
		used[c.unit] = c.used
	}
	return sqlcodec.Counters(used), nil
}

// releaseBudgets runs del, which deletes reservations and returns them, and gives their
// units back, updating the counters in (org, service, window, unit) order, the order
// ReserveBudget locks a window's counters in; it returns how many reservations del
// deleted.
func releaseBudgets(ctx context.Context, tx pgx.Tx, del string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, del, args...)
	if err != nil {
		return 0, fmt.Errorf("release budget: %w", err)
	}
	released, err := sqlcodec.Collect(rows, scanReservation)
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("release budget: %w", err)
	}
	type counterKey struct {
		org                   int64
		service, window, unit string
	}
	give := map[counterKey]int64{}
	for _, r := range released {
		for u, n := range r.Units {
			give[counterKey{r.OrgID, r.Service, r.Window, u}] += n
		}
	}
	keys := slices.SortedFunc(maps.Keys(give), func(a, b counterKey) int {
		return cmp.Or(cmp.Compare(a.org, b.org), cmp.Compare(a.service, b.service), cmp.Compare(a.window, b.window), cmp.Compare(a.unit, b.unit))
	})
	var b pgx.Batch
	for _, k := range keys {
		b.Queue(`UPDATE budget_counters SET used = used - $1
			WHERE org_id = $2 AND service = $3 AND window_start = $4 AND unit = $5`, give[k], k.org, k.service, k.window, k.unit)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return 0, fmt.Errorf("release budget: %w", err)
	}
	return len(released), nil
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
		b      aiproxy.Budget
		limits string
	)
	if err := row.Scan(&b.OrgID, &b.Service, &b.Period, &limits, &b.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan budget: %w", err)
	}
	var err error
	if b.Limits, err = sqlcodec.DecodeUnits(limits); err != nil {
		return nil, fmt.Errorf("budget %d/%s: %w", b.OrgID, b.Service, err)
	}
	b.UpdatedAt = b.UpdatedAt.UTC()
	return &b, nil
}
