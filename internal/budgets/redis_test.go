package budgets

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func newRedisLedger(t *testing.T, store Store, o Options) *RedisLedger {
	t.Helper()
	c, prefix := testRedis(t)
	o.Prefix = prefix
	l := NewRedisLedger(c, store, o)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestRedisArithmetic(t *testing.T) {
	clk := newClock()
	l := newRedisLedger(t, newMemStore(), Options{Now: clk.Now})
	testArithmetic(t, l, testWindow(1), clk)
}

func TestRedisRace(t *testing.T) {
	l := newRedisLedger(t, newMemStore(), Options{})
	raceReserve(t, []Ledger{l}, testWindow(1), raceLimits, nil, false)
}

// TestRedisRaceReplicasFromStore: two replicas (clients of their own) race on a window
// Redis has never seen, whose store counters are not zero: the counters start from the
// store's, once, whoever creates them.
func TestRedisRaceReplicasFromStore(t *testing.T) {
	store := newMemStore()
	k := testWindow(7)
	initial := aiproxy.Units{req: 40, chars: 1000}
	if ok, _, err := store.ReserveBudget(context.Background(), res(k, initial, time.Now().Add(time.Hour)), nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	l1 := newRedisLedger(t, store, Options{SyncEvery: time.Hour})
	l2 := NewRedisLedger(newClient(t, redisAddr(t)), store, Options{Prefix: l1.o.Prefix, SyncEvery: time.Hour})
	defer l2.Close()
	raceReserve(t, []Ledger{l1, l2}, k, raceLimits, initial, true)
}

func TestRedisStartsFromTheStore(t *testing.T) {
	store := newMemStore()
	k := testWindow(3)
	later := time.Now().Add(time.Hour)
	if ok, _, err := store.ReserveBudget(context.Background(), res(k, aiproxy.Units{chars: 500}, later), nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	l := newRedisLedger(t, store, Options{})
	limits := aiproxy.Units{chars: 550}
	if used := mustReserve(t, l, res(k, aiproxy.Units{chars: 100}, later), limits, false); !equalUnits(used, aiproxy.Units{chars: 500}) {
		t.Fatalf("used %v, want the store's 500 characters", used)
	}
	mustReserve(t, l, res(k, aiproxy.Units{chars: 50}, later), limits, true)
	mustUsed(t, l, k, aiproxy.Units{chars: 550})
}

// TestRedisCommitsReachTheStore: committed units are added to the store's counters (and
// only those), and Redis is told, so its "not yet in the store" counters go back to 0.
func TestRedisCommitsReachTheStore(t *testing.T) {
	store := newMemStore()
	l := newRedisLedger(t, store, Options{SyncEvery: time.Hour})
	ctx := context.Background()
	k := testWindow(1)
	later := time.Now().Add(time.Hour)
	var committed []*aiproxy.BudgetReservation
	for i := range 5 {
		r := res(k, aiproxy.Units{req: 1, chars: int64(10 * (i + 1))}, later)
		mustReserve(t, l, r, nil, true)
		committed = append(committed, r)
	}
	released := res(k, aiproxy.Units{req: 1, chars: 1000}, later)
	mustReserve(t, l, released, nil, true)
	inflight := res(k, aiproxy.Units{req: 1, chars: 7}, later)
	mustReserve(t, l, inflight, nil, true)
	for _, r := range committed {
		if err := l.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Release(ctx, released); err != nil {
		t.Fatal(err)
	}
	if used, _ := store.BudgetUsed(ctx, k.org, k.service, k.window); len(used) != 0 {
		t.Fatalf("the store counts %v before any flush", used)
	}
	if err := l.sync.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if used, _ := store.BudgetUsed(ctx, k.org, k.service, k.window); !equalUnits(used, aiproxy.Units{req: 5, chars: 150}) {
		t.Fatalf("the store counts %v, want the 5 commits: {requests 5, characters 150}", used)
	}
	if len(store.res) != 0 {
		t.Fatalf("the store holds reservations %v: the batch was not committed", store.res)
	}
	h := l.client.HGetAll(ctx, l.keys(k)[0]).Val()
	if h["p:requests"] != "0" || h["p:characters"] != "0" || h["i:characters"] != "7" || h["u:characters"] != "157" {
		t.Fatalf("Redis counters %v, want p 0 (acknowledged), i 7, u 157", h)
	}
	mustUsed(t, l, k, aiproxy.Units{req: 6, chars: 157})
}

func TestRedisSQLiteStore(t *testing.T) {
	c, prefix := testRedis(t)
	store := openSQLite(t)
	ctx := context.Background()
	k := testWindow(1)
	later := time.Now().Add(time.Hour)
	if ok, _, err := store.ReserveBudget(ctx, res(k, aiproxy.Units{chars: 100}, later), nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	l := NewRedisLedger(c, store, Options{Prefix: prefix, SyncEvery: 10 * time.Millisecond})
	r := res(k, aiproxy.Units{req: 1, chars: 50}, later)
	if used := mustReserve(t, l, r, aiproxy.Units{chars: 150}, true); !equalUnits(used, aiproxy.Units{req: 1, chars: 150}) {
		t.Fatalf("used %v", used)
	}
	if err := l.Commit(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if used, err := store.BudgetUsed(ctx, k.org, k.service, k.window); err != nil || !equalUnits(used, aiproxy.Units{req: 1, chars: 150}) {
		t.Fatalf("sqlite counts %v (%v), want {requests 1, characters 150}", used, err)
	}
}

// TestRedisLostCounters: Redis loses a window's keys (restarted without persistence,
// flushed, evicted) with a reservation in flight and a commit not yet in the store. The
// counters start again from the store's; the reservation is counted when it commits, the
// commit when its batch reaches the store.
func TestRedisLostCounters(t *testing.T) {
	store := newMemStore()
	l := newRedisLedger(t, store, Options{SyncEvery: time.Hour})
	ctx := context.Background()
	k := testWindow(1)
	later := time.Now().Add(time.Hour)
	// 100 characters spent, in the store and acknowledged, before anything is lost.
	d := res(k, aiproxy.Units{chars: 100}, later)
	mustReserve(t, l, d, nil, true)
	if err := l.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := l.sync.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	a := res(k, aiproxy.Units{chars: 10}, later)
	b := res(k, aiproxy.Units{chars: 20}, later)
	mustReserve(t, l, a, nil, true)
	mustReserve(t, l, b, nil, true)
	if err := l.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := l.client.Del(ctx, l.keys(k)[:3]...).Err(); err != nil {
		t.Fatal(err)
	}
	mustUsed(t, l, k, aiproxy.Units{chars: 100}) // the store's
	if err := l.Commit(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustUsed(t, l, k, aiproxy.Units{chars: 110})
	// b reaches the store and is added to the new counters, once; d is not added again.
	for range 2 {
		if err := l.sync.flush(ctx, true); err != nil {
			t.Fatal(err)
		}
		mustUsed(t, l, k, aiproxy.Units{chars: 130})
	}
	if used, _ := store.BudgetUsed(ctx, k.org, k.service, k.window); !equalUnits(used, aiproxy.Units{chars: 130}) {
		t.Fatalf("the store counts %v, want 130 characters", used)
	}
	// A commit of a reservation of the lost counters that was released: nothing.
	c := res(k, aiproxy.Units{chars: 5}, later)
	mustReserve(t, l, c, nil, true)
	if err := l.Release(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	mustUsed(t, l, k, aiproxy.Units{chars: 130})
}

func TestRedisSweep(t *testing.T) {
	clk := newClock()
	l := newRedisLedger(t, newMemStore(), Options{Now: clk.Now})
	ctx := context.Background()
	k1, k2 := testWindow(1), testWindow(2)
	mustReserve(t, l, res(k1, aiproxy.Units{chars: 5}, clk.Now().Add(time.Minute)), nil, true)
	mustReserve(t, l, res(k1, aiproxy.Units{chars: 7}, clk.Now().Add(time.Hour)), nil, true)
	mustReserve(t, l, res(k2, aiproxy.Units{chars: 9}, clk.Now().Add(time.Minute)), nil, true)
	if n, err := l.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v; want 0", n, err)
	}
	clk.Add(2 * time.Minute)
	if n, err := l.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	for k, want := range map[winKey]string{k1: "7", k2: "0"} {
		if got := l.client.HGet(ctx, l.keys(k)[0], "u:characters").Val(); got != want {
			t.Errorf("%v: %s characters after the sweep, want %s", k, got, want)
		}
	}
}

// TestRedisKeys: keys are under the prefix, values are escaped (no window can reach
// another's keys), and they expire KeyGrace after the window ends.
func TestRedisKeys(t *testing.T) {
	l := newRedisLedger(t, newMemStore(), Options{KeyGrace: time.Hour})
	ctx := context.Background()
	day, resets := Window(PeriodDay, time.Now())
	a := winKey{1, "a:b", day}
	b := winKey{1, "a", "b:" + day}
	if l.base(a) == l.base(b) {
		t.Fatalf("%v and %v share keys %q", a, b, l.base(a))
	}
	for _, k := range []winKey{a, {1, "x*?[]{}", day}} {
		if base := l.base(k); strings.ContainsAny(strings.TrimPrefix(base, l.o.Prefix), "*?[]{} ") {
			t.Errorf("key %q holds a glob character", base)
		}
	}
	r := res(a, aiproxy.Units{chars: 1}, time.Now().Add(time.Minute))
	mustReserve(t, l, r, nil, true)
	if !strings.HasPrefix(r.ID, redisTag) {
		t.Fatalf("ID %q does not say the reservation is in Redis", r.ID)
	}
	for _, key := range l.keys(a)[:3] {
		if !strings.HasPrefix(key, l.o.Prefix) {
			t.Errorf("key %q is not under the prefix", key)
		}
		ttl := l.client.PTTL(ctx, key).Val()
		if want := time.Until(resets.Add(time.Hour)); ttl <= 0 || ttl > want+time.Second || ttl < want-time.Minute {
			t.Errorf("%s expires in %v, want %v (an hour after the window ends)", key, ttl, want)
		}
	}
	// A duplicate ID is refused without counting.
	dup := res(a, aiproxy.Units{chars: 1}, time.Now().Add(time.Minute))
	_, id, _ := parseRedisID(r.ID)
	dup.ID = id
	if _, _, err := l.Reserve(ctx, dup, nil); aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
		t.Fatalf("a taken ID: %v, want ECONFLICT", err)
	}
	mustUsed(t, l, a, aiproxy.Units{chars: 1})
}

// TestRedisUnreachableFailsClosed: alone, the Redis ledger returns errors, never grants.
func TestRedisUnreachableFailsClosed(t *testing.T) {
	l := NewRedisLedger(newClient(t, closedAddr(t)), newMemStore(), Options{})
	defer l.Close()
	ok, _, err := l.Reserve(context.Background(), res(testWindow(1), aiproxy.Units{chars: 1}, time.Now().Add(time.Minute)), nil)
	if ok || !isRedisErr(err) {
		t.Fatalf("reserve = %v, %v; want an ErrRedis error", ok, err)
	}
}

// TestRedisAckTwiceCountsOnce: an acknowledgement that timed out yet ran is sent again;
// Redis's "not yet in the store" must not go down twice (it would under-count when the
// window is next raised to the store's counters).
func TestRedisAckTwiceCountsOnce(t *testing.T) {
	l := newRedisLedger(t, newMemStore(), Options{SyncEvery: time.Hour})
	ctx := context.Background()
	k := testWindow(1)
	later := time.Now().Add(time.Hour)
	a, b := res(k, aiproxy.Units{chars: 10}, later), res(k, aiproxy.Units{chars: 20}, later)
	mustReserve(t, l, a, nil, true)
	mustReserve(t, l, b, nil, true)
	if err := l.Commit(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := l.sync.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	c := l.keys(k)[0]
	if p := l.client.HGet(ctx, c, "p:characters").Val(); p != "20" {
		t.Fatalf("p = %s, want 20 (b, not in the store yet)", p)
	}
	epoch, _, _ := parseRedisID(a.ID)
	for range 2 { // a's acknowledgement again
		if err := l.ack(ctx, syncKey{k, epoch}, l.sync.id, aiproxy.Units{chars: 10}, aiproxy.Units{}); err != nil {
			t.Fatal(err)
		}
	}
	if p := l.client.HGet(ctx, c, "p:characters").Val(); p != "20" {
		t.Fatalf("p = %s after a's acknowledgement was repeated, want 20", p)
	}
	if err := l.sync.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if p := l.client.HGet(ctx, c, "p:characters").Val(); p != "0" {
		t.Fatalf("p = %s after b reached the store, want 0", p)
	}
}
