package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// testBudgets: budgets are created, replaced, listed and deleted per (org, service).
func testBudgets(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")
	monthly := &aiproxy.Budget{OrgID: a.ID, Service: "heygen", Period: "month",
		Limits: aiproxy.Units{aiproxy.UnitSeconds: 600, aiproxy.UnitRequests: 100}}
	must(t, s.PutBudget(ctx, monthly))
	if monthly.UpdatedAt.IsZero() || monthly.UpdatedAt.Location() != time.UTC {
		t.Fatalf("PutBudget did not set a UTC UpdatedAt: %+v", monthly)
	}
	got, err := s.GetBudget(ctx, a.ID, "heygen")
	must(t, err)
	wantEqual(t, "GetBudget", got, monthly)

	daily := &aiproxy.Budget{OrgID: a.ID, Service: "elevenlabs", Period: "day",
		Limits: aiproxy.Units{aiproxy.UnitCharacters: 10000}, UpdatedAt: day}
	other := &aiproxy.Budget{OrgID: b.ID, Service: "heygen", Period: "day", Limits: aiproxy.Units{aiproxy.UnitRequests: 5}, UpdatedAt: day}
	for _, bu := range []*aiproxy.Budget{daily, other} {
		must(t, s.PutBudget(ctx, bu))
		got, err := s.GetBudget(ctx, bu.OrgID, bu.Service)
		must(t, err)
		wantEqual(t, "GetBudget", got, bu)
	}
	wantEqual(t, "UpdatedAt given", daily.UpdatedAt, day)

	replaced := &aiproxy.Budget{OrgID: a.ID, Service: "heygen", Period: "day", Limits: aiproxy.Units{aiproxy.UnitSeconds: 60},
		UpdatedAt: day.Add(time.Hour)}
	must(t, s.PutBudget(ctx, replaced))
	got, err = s.GetBudget(ctx, a.ID, "heygen")
	must(t, err)
	wantEqual(t, "replaced budget", got, replaced)

	list, err := s.ListBudgets(ctx, a.ID)
	must(t, err)
	wantEqual(t, "ListBudgets(org)", list, []*aiproxy.Budget{daily, replaced})
	list, err = s.ListBudgets(ctx, 0)
	must(t, err)
	wantEqual(t, "ListBudgets(0)", list, []*aiproxy.Budget{daily, replaced, other})
	list, err = s.ListBudgets(ctx, b.ID+100)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListBudgets(unknown org) = %d budgets, want none", len(list))
	}

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown service", second(s.GetBudget(ctx, a.ID, "nope")), aiproxy.ENOTFOUND},
		{"unknown org", second(s.GetBudget(ctx, b.ID+100, "heygen")), aiproxy.ENOTFOUND},
		{"other org's service", second(s.GetBudget(ctx, b.ID, "elevenlabs")), aiproxy.ENOTFOUND},
		{"bad period", s.PutBudget(ctx, &aiproxy.Budget{OrgID: a.ID, Service: "x", Period: "week"}), aiproxy.EINVALID},
		{"unknown unit", s.PutBudget(ctx, &aiproxy.Budget{OrgID: a.ID, Service: "x", Period: "day",
			Limits: aiproxy.Units{"tokens": 1}}), aiproxy.EINVALID},
		{"delete", s.DeleteBudget(ctx, a.ID, "heygen"), ""},
		{"get deleted", second(s.GetBudget(ctx, a.ID, "heygen")), aiproxy.ENOTFOUND},
		{"delete deleted", s.DeleteBudget(ctx, a.ID, "heygen"), aiproxy.ENOTFOUND},
		{"other org's kept", second(s.GetBudget(ctx, b.ID, "heygen")), ""},
		{"other service kept", second(s.GetBudget(ctx, a.ID, "elevenlabs")), ""},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	list, err = s.ListBudgets(ctx, 0)
	must(t, err)
	wantEqual(t, "ListBudgets after delete", list, []*aiproxy.Budget{daily, other})
}

// reserve is a reservation in window "2026-12" of org 1's heygen budget, expiring at
// day+expires.
func reserve(units aiproxy.Units, expires time.Duration) *aiproxy.BudgetReservation {
	return &aiproxy.BudgetReservation{OrgID: 1, Service: "heygen", Window: "2026-12", Units: units, ExpiresAt: day.Add(expires)}
}

// testReserveBudget: reservations are admitted while every limited unit stays within its
// limit, counted (units without a limit too), and committed, released or expired with the
// arithmetic that says.
func testReserveBudget(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	limits := aiproxy.Units{aiproxy.UnitCharacters: 100, aiproxy.UnitRequests: 2}
	used := func(want aiproxy.Units) {
		t.Helper()
		got, err := s.BudgetUsed(ctx, 1, "heygen", "2026-12")
		must(t, err)
		wantEqual(t, "BudgetUsed", got, want)
	}
	try := func(r *aiproxy.BudgetReservation, wantOK bool, want aiproxy.Units) {
		t.Helper()
		ok, got, err := s.ReserveBudget(ctx, r, limits)
		must(t, err)
		if ok != wantOK {
			t.Fatalf("ReserveBudget(%v) ok = %v, want %v", r.Units, ok, wantOK)
		}
		wantEqual(t, fmt.Sprintf("counters returned by ReserveBudget(%v)", r.Units), got, want)
		used(want)
	}
	used(aiproxy.Units{})

	r1 := reserve(aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1}, time.Hour)
	try(r1, true, aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1})
	if r1.ID == "" {
		t.Fatal("ReserveBudget did not give an ID to a reservation without one")
	}
	try(reserve(aiproxy.Units{aiproxy.UnitCharacters: 41, aiproxy.UnitRequests: 1}, time.Hour), false,
		aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1})
	r3 := reserve(aiproxy.Units{aiproxy.UnitCharacters: 40, aiproxy.UnitRequests: 1, aiproxy.UnitSeconds: 7}, time.Hour)
	r3.ID = "r3"
	try(r3, true, aiproxy.Units{aiproxy.UnitCharacters: 100, aiproxy.UnitRequests: 2, aiproxy.UnitSeconds: 7}) // exactly at the limits
	try(reserve(aiproxy.Units{aiproxy.UnitRequests: 1}, time.Hour), false,
		aiproxy.Units{aiproxy.UnitCharacters: 100, aiproxy.UnitRequests: 2, aiproxy.UnitSeconds: 7})
	// Seconds have no limit: counted, never refused.
	r5 := reserve(aiproxy.Units{aiproxy.UnitSeconds: 1_000_000}, time.Hour)
	try(r5, true, aiproxy.Units{aiproxy.UnitCharacters: 100, aiproxy.UnitRequests: 2, aiproxy.UnitSeconds: 1_000_007})

	// A taken id, unknown units, negative counts, no expiry: refused, nothing changed.
	full := aiproxy.Units{aiproxy.UnitCharacters: 100, aiproxy.UnitRequests: 2, aiproxy.UnitSeconds: 1_000_007}
	dup := reserve(aiproxy.Units{aiproxy.UnitSeconds: 1}, time.Hour)
	dup.ID = "r3"
	for _, tt := range []struct {
		name   string
		r      *aiproxy.BudgetReservation
		limits aiproxy.Units
		want   string
	}{
		{"taken id", dup, limits, aiproxy.ECONFLICT},
		{"unknown unit", reserve(aiproxy.Units{"tokens": 1}, time.Hour), limits, aiproxy.EINVALID},
		{"unknown limit", reserve(aiproxy.Units{aiproxy.UnitSeconds: 1}, time.Hour), aiproxy.Units{"tokens": 1}, aiproxy.EINVALID},
		{"negative", reserve(aiproxy.Units{aiproxy.UnitSeconds: -5}, time.Hour), limits, aiproxy.EINVALID},
		{"no expiry", &aiproxy.BudgetReservation{OrgID: 1, Service: "heygen", Window: "2026-12",
			Units: aiproxy.Units{aiproxy.UnitSeconds: 1}}, limits, aiproxy.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, _, err := s.ReserveBudget(ctx, tt.r, tt.limits)
			wantCode(t, err, tt.want)
			if ok {
				t.Error("ReserveBudget failed, yet says it reserved")
			}
			used(full)
		})
	}

	// Commit keeps the units; release gives them back; both forget the reservation, so a
	// second call (or one with an unknown id) changes nothing.
	must(t, s.CommitBudget(ctx, r1.ID))
	used(full)
	must(t, s.CommitBudget(ctx, r1.ID))
	must(t, s.ReleaseBudget(ctx, r1.ID)) // committed: nothing to give back
	used(full)
	must(t, s.ReleaseBudget(ctx, r3.ID))
	used(aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1, aiproxy.UnitSeconds: 1_000_000})
	must(t, s.ReleaseBudget(ctx, r3.ID))
	must(t, s.ReleaseBudget(ctx, "unknown"))
	must(t, s.CommitBudget(ctx, "unknown"))
	used(aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1, aiproxy.UnitSeconds: 1_000_000})
	must(t, s.ReleaseBudget(ctx, r5.ID)) // a counter back at zero is not shown
	used(aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1})

	// Expiry releases what was neither committed nor released by its ExpiresAt.
	soon := reserve(aiproxy.Units{aiproxy.UnitCharacters: 10}, time.Minute)
	later := reserve(aiproxy.Units{aiproxy.UnitCharacters: 20, aiproxy.UnitRequests: 1}, 2*time.Hour)
	elsewhere := &aiproxy.BudgetReservation{OrgID: 2, Service: "elevenlabs", Window: "2026-12-02",
		Units: aiproxy.Units{aiproxy.UnitCharacters: 5}, ExpiresAt: day.Add(time.Minute)}
	try(soon, true, aiproxy.Units{aiproxy.UnitCharacters: 70, aiproxy.UnitRequests: 1})
	try(later, true, aiproxy.Units{aiproxy.UnitCharacters: 90, aiproxy.UnitRequests: 2})
	ok, got, err := s.ReserveBudget(ctx, elsewhere, nil)
	must(t, err)
	wantEqual(t, "a reservation in another window", []any{ok, got}, []any{true, aiproxy.Units{aiproxy.UnitCharacters: 5}})

	n, err := s.ExpireBudgetReservations(ctx, day.Add(time.Minute)) // ExpiresAt not before now: kept
	must(t, err)
	wantEqual(t, "reservations expired at their ExpiresAt", n, 0)
	n, err = s.ExpireBudgetReservations(ctx, day.Add(time.Hour))
	must(t, err)
	wantEqual(t, "reservations expired", n, 2)
	used(aiproxy.Units{aiproxy.UnitCharacters: 80, aiproxy.UnitRequests: 2})
	got, err = s.BudgetUsed(ctx, 2, "elevenlabs", "2026-12-02")
	must(t, err)
	wantEqual(t, "the other window after expiry", got, aiproxy.Units{})
	n, err = s.ExpireBudgetReservations(ctx, day.Add(time.Hour))
	must(t, err)
	wantEqual(t, "reservations expired again", n, 0)
	must(t, s.CommitBudget(ctx, soon.ID)) // too late: released already, nothing comes back
	must(t, s.ReleaseBudget(ctx, soon.ID))
	used(aiproxy.Units{aiproxy.UnitCharacters: 80, aiproxy.UnitRequests: 2})
	n, err = s.ExpireBudgetReservations(ctx, day.Add(3*time.Hour))
	must(t, err)
	wantEqual(t, "reservations expired later", n, 1)
	used(aiproxy.Units{aiproxy.UnitCharacters: 60, aiproxy.UnitRequests: 1})

	// Counters are per window, service and org.
	for _, w := range []struct {
		org             int64
		service, window string
	}{{1, "heygen", "2026-11"}, {1, "elevenlabs", "2026-12"}, {2, "heygen", "2026-12"}} {
		got, err := s.BudgetUsed(ctx, w.org, w.service, w.window)
		must(t, err)
		wantEqual(t, fmt.Sprintf("BudgetUsed(%d, %s, %s)", w.org, w.service, w.window), got, aiproxy.Units{})
	}
}

// testReserveBudgetNeverOvershoots: 64 concurrent reservations of 1 to 50 characters
// against a limit of 1000 admit at most 1000 in all, and refuse only requests that did not
// fit: with no release, the counter only grows, so a refused request's count is more than
// what is left at the end. A unit without a limit (requests) counts every admission.
func testReserveBudgetNeverOvershoots(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	const (
		n     = 64
		limit = 1000
	)
	limits := aiproxy.Units{aiproxy.UnitCharacters: limit}
	rng := rand.New(rand.NewPCG(1, 2))
	asks := make([]int64, n)
	var total int64
	for i := range asks {
		asks[i] = 1 + rng.Int64N(50)
		total += asks[i]
	}
	if total <= limit {
		t.Fatalf("the requests ask %d characters in all, not more than the limit: the test proves nothing", total)
	}
	type result struct {
		ok   bool
		used aiproxy.Units
		err  error
	}
	var (
		wg      sync.WaitGroup
		results = make([]result, n)
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := reserve(aiproxy.Units{aiproxy.UnitCharacters: asks[i], aiproxy.UnitRequests: 1}, time.Hour)
			ok, used, err := s.ReserveBudget(ctx, r, limits)
			results[i] = result{ok, used, err}
		}()
	}
	close(start)
	wg.Wait()

	var admitted, admissions int64
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("ReserveBudget %d: %v", i, r.err)
		}
		if r.used[aiproxy.UnitCharacters] > limit {
			t.Errorf("ReserveBudget %d returned %d characters used, over the limit", i, r.used[aiproxy.UnitCharacters])
		}
		if r.ok {
			admitted += asks[i]
			admissions++
		} else if r.used[aiproxy.UnitCharacters]+asks[i] <= limit {
			t.Errorf("ReserveBudget %d of %d refused with %d used: it fit", i, asks[i], r.used[aiproxy.UnitCharacters])
		}
	}
	final, err := s.BudgetUsed(ctx, 1, "heygen", "2026-12")
	must(t, err)
	t.Logf("%d of %d admitted, %d characters of %d asked; %d used at the end", admissions, n, admitted, total, final[aiproxy.UnitCharacters])
	if admitted > limit {
		t.Errorf("admitted %d characters in all, over the limit of %d", admitted, limit)
	}
	wantEqual(t, "counters at the end", final, aiproxy.Units{aiproxy.UnitCharacters: admitted, aiproxy.UnitRequests: admissions})
	left := limit - final[aiproxy.UnitCharacters]
	for i, r := range results {
		if !r.ok && asks[i] <= left {
			t.Errorf("ReserveBudget %d of %d was refused, yet %d characters are left at the end", i, asks[i], left)
		}
	}
}

// testBudgetChurn: reservations in two windows, of several units, made, committed,
// released and abandoned at once while sweepers expire the abandoned ones: no call fails
// (no deadlock between the writers of counters), and at the end each window's counters
// hold exactly what was committed.
func testBudgetChurn(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	const workers, each = 12, 8
	limits := aiproxy.Units{aiproxy.UnitCharacters: 2000, aiproxy.UnitRequests: 60}
	windows := []*aiproxy.BudgetReservation{
		{OrgID: 1, Service: "heygen", Window: "2026-12"},
		{OrgID: 1, Service: "heygen", Window: "2026-12-02"},
	}
	var (
		mu        sync.Mutex
		committed = make([]aiproxy.Units, len(windows))
		wg        sync.WaitGroup
		errs      = make(chan error, workers*each*2+100)
		stop      = make(chan struct{})
	)
	for i := range committed {
		committed[i] = aiproxy.Units{}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range each {
				wi := rng.IntN(len(windows))
				units := aiproxy.Units{}
				for _, u := range []string{aiproxy.UnitCharacters, aiproxy.UnitRequests, aiproxy.UnitSeconds} {
					if rng.IntN(3) > 0 {
						units[u] = 1 + rng.Int64N(40)
					}
				}
				fate := rng.IntN(3) // 0 commit, 1 release, 2 abandon
				expires := day.Add(2 * time.Hour)
				if fate == 2 {
					expires = day // the sweepers' to release
				}
				r := *windows[wi]
				r.Units, r.ExpiresAt = units, expires
				ok, _, err := s.ReserveBudget(ctx, &r, limits)
				if err != nil {
					errs <- fmt.Errorf("reserve: %w", err)
					continue
				}
				if !ok {
					continue
				}
				switch fate {
				case 0:
					if err := s.CommitBudget(ctx, r.ID); err != nil {
						errs <- fmt.Errorf("commit: %w", err)
						continue
					}
					mu.Lock()
					for u, n := range units {
						committed[wi][u] += n
					}
					mu.Unlock()
				case 1:
					if err := s.ReleaseBudget(ctx, r.ID); err != nil {
						errs <- fmt.Errorf("release: %w", err)
					}
				}
			}
		}()
	}
	var sweepers sync.WaitGroup
	for range 2 {
		sweepers.Add(1)
		go func() {
			defer sweepers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.ExpireBudgetReservations(ctx, day.Add(time.Hour)); err != nil {
					errs <- fmt.Errorf("expire: %w", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sweepers.Wait()
	_, err := s.ExpireBudgetReservations(ctx, day.Add(time.Hour))
	must(t, err)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, w := range windows {
		got, err := s.BudgetUsed(ctx, w.OrgID, w.Service, w.Window)
		must(t, err)
		wantEqual(t, "counters of window "+w.Window+" at the end", got, committed[i])
	}
	n, err := s.ExpireBudgetReservations(ctx, day.Add(3*time.Hour))
	must(t, err)
	if n != 0 {
		t.Errorf("%d reservations left over after every one was committed, released or expired", n)
	}
}
