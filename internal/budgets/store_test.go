package budgets

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlite"
)

const (
	req   = aiproxy.UnitRequests
	chars = aiproxy.UnitCharacters
)

// testArithmetic runs one sequence of reserves, commits, releases and an expiry against l,
// whose clock is clk.
func testArithmetic(t *testing.T, l Ledger, k winKey, clk *clock) {
	t.Helper()
	ctx := context.Background()
	limits := aiproxy.Units{chars: 250, req: 10}
	later := clk.Now().Add(time.Hour)

	a := res(k, aiproxy.Units{req: 1, chars: 100}, later)
	if used := mustReserve(t, l, a, limits, true); !equalUnits(used, aiproxy.Units{req: 1, chars: 100}) {
		t.Fatalf("after a: used %v", used)
	}
	b := res(k, aiproxy.Units{req: 1, chars: 100}, later)
	mustReserve(t, l, b, limits, true)
	c := res(k, aiproxy.Units{req: 1, chars: 100}, later)
	if used := mustReserve(t, l, c, limits, false); !equalUnits(used, aiproxy.Units{req: 2, chars: 200}) {
		t.Fatalf("refused c: used %v, want the counters as they were", used)
	}
	mustUsed(t, l, k, aiproxy.Units{req: 2, chars: 200})

	// Release gives back, once.
	for range 2 {
		if err := l.Release(ctx, b); err != nil {
			t.Fatal(err)
		}
		mustUsed(t, l, k, aiproxy.Units{req: 1, chars: 100})
	}
	// Commit keeps, once; a release after it changes nothing.
	for range 2 {
		if err := l.Commit(ctx, a); err != nil {
			t.Fatal(err)
		}
		mustUsed(t, l, k, aiproxy.Units{req: 1, chars: 100})
	}
	if err := l.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustUsed(t, l, k, aiproxy.Units{req: 1, chars: 100})
	// A commit after a release changes nothing either.
	if err := l.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	mustUsed(t, l, k, aiproxy.Units{req: 1, chars: 100})

	// Up to the limit exactly; units without a limit never refuse.
	d := res(k, aiproxy.Units{req: 1, chars: 150, aiproxy.UnitSeconds: 1 << 40}, later)
	mustReserve(t, l, d, limits, true)
	mustUsed(t, l, k, aiproxy.Units{req: 2, chars: 250, aiproxy.UnitSeconds: 1 << 40})
	mustReserve(t, l, res(k, aiproxy.Units{chars: 1}, later), limits, false)
	if err := l.Release(ctx, d); err != nil {
		t.Fatal(err)
	}

	// A reservation never committed nor released is given back after it expires.
	x := res(k, aiproxy.Units{req: 1, chars: 150}, clk.Now().Add(time.Minute))
	mustReserve(t, l, x, limits, true)
	mustReserve(t, l, res(k, aiproxy.Units{chars: 1}, later), limits, false)
	clk.Add(2 * time.Minute)
	y := res(k, aiproxy.Units{chars: 100}, clk.Now().Add(time.Hour))
	if used := mustReserve(t, l, y, limits, true); !equalUnits(used, aiproxy.Units{req: 1, chars: 200}) {
		t.Fatalf("after x expired: used %v, want {requests 1, characters 200}", used)
	}
	// Committing or releasing it late changes nothing.
	if err := l.Commit(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, y); err != nil {
		t.Fatal(err)
	}
	mustUsed(t, l, k, aiproxy.Units{req: 1, chars: 200})
}

func TestStoreLedgerArithmetic(t *testing.T) {
	clk := newClock()
	testArithmetic(t, NewStoreLedger(newMemStore(), Options{Now: clk.Now}), testWindow(1), clk)
}

func TestStoreLedgerSQLiteArithmetic(t *testing.T) {
	clk := newClock()
	testArithmetic(t, NewStoreLedger(openSQLite(t), Options{Now: clk.Now}), testWindow(1), clk)
}

func TestStoreLedgerSweep(t *testing.T) {
	clk := newClock()
	l := NewStoreLedger(newMemStore(), Options{Now: clk.Now})
	k := testWindow(1)
	mustReserve(t, l, res(k, aiproxy.Units{chars: 5}, clk.Now().Add(time.Minute)), nil, true)
	mustReserve(t, l, res(k, aiproxy.Units{chars: 7}, clk.Now().Add(time.Hour)), nil, true)
	clk.Add(2 * time.Minute)
	if n, err := l.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	mustUsed(t, l, k, aiproxy.Units{chars: 7})
}

func TestStoreLedgerRace(t *testing.T) {
	l := NewStoreLedger(newMemStore(), Options{})
	raceReserve(t, []Ledger{l}, testWindow(1), raceLimits, nil, false)
}

func TestStoreLedgerSQLiteRace(t *testing.T) {
	l := NewStoreLedger(openSQLite(t), Options{})
	raceReserve(t, []Ledger{l}, testWindow(1), raceLimits, nil, false)
}

func TestCheckRefusesBadReservations(t *testing.T) {
	k := testWindow(1)
	later := time.Now().Add(time.Hour)
	for name, tt := range map[string]struct {
		r      *aiproxy.BudgetReservation
		limits aiproxy.Units
	}{
		"nil":            {nil, nil},
		"no service":     {&aiproxy.BudgetReservation{Window: k.window, ExpiresAt: later}, nil},
		"bad window":     {&aiproxy.BudgetReservation{Service: "s", Window: "2026-12-02T00", ExpiresAt: later}, nil},
		"negative units": {res(k, aiproxy.Units{chars: -1}, later), nil},
		"unknown unit":   {res(k, aiproxy.Units{"tokens": 1}, later), nil},
		"unknown limit":  {res(k, aiproxy.Units{chars: 1}, later), aiproxy.Units{"tokens": 1}},
		"never expires":  {res(k, aiproxy.Units{chars: 1}, time.Time{}), nil},
	} {
		l := NewStoreLedger(newMemStore(), Options{})
		if _, _, err := l.Reserve(context.Background(), tt.r, tt.limits); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("%s: error %v, want EINVALID", name, err)
		}
	}
	r := res(k, aiproxy.Units{chars: 1}, later)
	if err := check(r, nil); err != nil || len(r.ID) != 32 || strings.Trim(r.ID, "0123456789abcdef") != "" {
		t.Fatalf("check gave ID %q (%v), want 32 hex digits", r.ID, err)
	}
}

func openSQLite(t *testing.T) Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "aiproxy.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
