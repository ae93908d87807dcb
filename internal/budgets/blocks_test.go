package budgets

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// countingLedger counts the reservations that reach the ledger behind Blocks.
type countingLedger struct {
	Ledger
	reserves atomic.Int64
}

func (c *countingLedger) Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	c.reserves.Add(1)
	return c.Ledger.Reserve(ctx, r, limits)
}

// TestBlocksServeMostRequestsOfALargeBudgetFromMemory: far from its limit, a budget is
// taken a block (256 requests) at a time, each block counted whole in the ledger behind.
func TestBlocksServeMostRequestsOfALargeBudgetFromMemory(t *testing.T) {
	behind := &countingLedger{Ledger: NewStoreLedger(newMemStore(), Options{})}
	b := NewBlocks(behind)
	k := testWindow(1)
	limits := aiproxy.Units{req: 1_000_000_000}
	for range 1000 {
		r := res(k, aiproxy.Units{req: 1, chars: 7}, time.Now().Add(time.Hour))
		mustReserve(t, b, r, limits, true)
		if err := b.Commit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if n := behind.reserves.Load(); n != 4 {
		t.Errorf("1000 requests made %d reservations behind, want 4 blocks of 256", n)
	}
	mustUsed(t, b, k, aiproxy.Units{req: 1024, chars: 7 * 1024})
}

// TestBlocksLeaveSmallBudgetsToTheLedgerBehind: a budget too small for blocks of 16
// requests is reserved request by request, exactly.
func TestBlocksLeaveSmallBudgetsToTheLedgerBehind(t *testing.T) {
	behind := &countingLedger{Ledger: NewStoreLedger(newMemStore(), Options{})}
	b := NewBlocks(behind)
	k := testWindow(1)
	limits := aiproxy.Units{chars: 1009}
	granted := int64(0)
	for {
		r := res(k, aiproxy.Units{req: 1, chars: 40}, time.Now().Add(time.Hour))
		ok, _, err := b.Reserve(context.Background(), r, limits)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		granted += 40
		if err := b.Commit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if granted != 1000 || behind.reserves.Load() != 26 {
		t.Errorf("granted %d characters in %d reservations, want 1000 in 26 (one each, then a refusal)", granted, behind.reserves.Load())
	}
	mustUsed(t, b, k, aiproxy.Units{req: 25, chars: 1000})
}

// TestBlocksGiveReleasedUnitsBackToTheBlock: a request the upstream refused gives its
// units back to the block, once.
func TestBlocksGiveReleasedUnitsBackToTheBlock(t *testing.T) {
	behind := &countingLedger{Ledger: NewStoreLedger(newMemStore(), Options{})}
	b := NewBlocks(behind)
	k := testWindow(1)
	limits := aiproxy.Units{req: 1_000_000}
	rs := make([]*aiproxy.BudgetReservation, 256)
	for i := range rs {
		rs[i] = res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour))
		mustReserve(t, b, rs[i], limits, true)
	}
	ctx := context.Background()
	for range 2 {
		if err := b.Release(ctx, rs[0]); err != nil {
			t.Fatal(err)
		}
	}
	mustReserve(t, b, res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour)), limits, true)
	if n := behind.reserves.Load(); n != 1 {
		t.Errorf("%d reservations behind, want 1: the released unit served the 257th request", n)
	}
	mustReserve(t, b, res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour)), limits, true)
	if n := behind.reserves.Load(); n != 2 {
		t.Errorf("%d reservations behind, want 2: a second release of one request gave back nothing", n)
	}
}

// TestBlocksNeverGoOverALimitAcrossReplicas: replicas racing for a large budget never take
// more than it, stop taking blocks in its last tenth, and leave at most a block each
// unspent.
func TestBlocksNeverGoOverALimitAcrossReplicas(t *testing.T) {
	store := NewStoreLedger(newMemStore(), Options{})
	const replicas = 3
	var ledgers []*Blocks
	for range replicas {
		ledgers = append(ledgers, NewBlocks(store))
	}
	k := testWindow(1)
	const limit = 200_000
	limits := aiproxy.Units{chars: limit}
	var (
		wg      sync.WaitGroup
		granted atomic.Int64
	)
	for i := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[i%replicas]
			size := int64(5 + i%11)
			for misses := 0; misses < 3; {
				r := res(k, aiproxy.Units{req: 1, chars: size}, time.Now().Add(time.Hour))
				ok, _, err := l.Reserve(context.Background(), r, limits)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					misses++
					continue
				}
				granted.Add(size)
				if err := l.Commit(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	used, err := store.Used(context.Background(), k.org, k.service, k.window)
	if err != nil {
		t.Fatal(err)
	}
	g := granted.Load()
	if g > limit || used[chars] > limit {
		t.Fatalf("granted %d, counted %d: over the limit of %d", g, used[chars], limit)
	}
	// A block is at most a thousandth of the limit: what is left unspent is at most one
	// per replica, plus less than the largest request.
	if left := limit - g; left > replicas*limit/BlockShare+15 {
		t.Errorf("%d of %d characters left unspent, want at most a block per replica", left, limit)
	}
	t.Logf("granted %d of %d characters (counted %d)", g, limit, used[chars])
}

// TestBlocksStartAfreshInANewWindow: credit left in last month's block is not spent in
// this month's window.
func TestBlocksStartAfreshInANewWindow(t *testing.T) {
	behind := &countingLedger{Ledger: NewStoreLedger(newMemStore(), Options{})}
	b := NewBlocks(behind)
	limits := aiproxy.Units{req: 1_000_000}
	k := testWindow(1)
	mustReserve(t, b, res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour)), limits, true)
	next := k
	next.window = "2099-01"
	mustReserve(t, b, res(next, aiproxy.Units{req: 1}, time.Now().Add(time.Hour)), limits, true)
	if n := behind.reserves.Load(); n != 2 {
		t.Errorf("%d reservations behind, want a block in each window", n)
	}
	mustUsed(t, b, next, aiproxy.Units{req: 256})
}
