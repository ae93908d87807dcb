package budgets

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/redis/go-redis/v9"
)

func newFailover(t *testing.T, addr string, store Store, o Options) *Failover {
	t.Helper()
	f := NewFailover(newClient(t, addr), store, o)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFailoverArithmetic(t *testing.T) {
	_, prefix := testRedis(t)
	clk := newClock()
	f := newFailover(t, redisAddr(t), newMemStore(), Options{Prefix: prefix, Now: clk.Now})
	testArithmetic(t, f, testWindow(1), clk)
	if f.Degraded() {
		t.Fatal("the ledger turned to the store with Redis up")
	}
}

func TestFailoverArithmeticRedisDown(t *testing.T) {
	clk := newClock()
	f := newFailover(t, closedAddr(t), newMemStore(), Options{Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	testArithmetic(t, f, testWindow(1), clk)
	if !f.Degraded() {
		t.Fatal("the ledger did not turn to the store with Redis down")
	}
}

func TestFailoverRace(t *testing.T) {
	_, prefix := testRedis(t)
	// A timeout long enough that a slow machine does not fail over in the middle (that
	// is TestFailoverRaceAcrossOutages).
	f := newFailover(t, redisAddr(t), newMemStore(), Options{Prefix: prefix, Timeout: 5 * time.Second})
	raceReserve(t, []Ledger{f}, testWindow(1), raceLimits, nil, false)
	if f.Degraded() {
		t.Fatal("the ledger turned to the store with Redis up")
	}
}

func TestFailoverRaceRedisDown(t *testing.T) {
	f := newFailover(t, closedAddr(t), newMemStore(), Options{Logger: slog.New(slog.DiscardHandler)})
	raceReserve(t, []Ledger{f}, testWindow(1), raceLimits, nil, false)
	if !f.Degraded() {
		t.Fatal("the ledger did not turn to the store with Redis down")
	}
}

// TestFailoverRedisDownNeverFailsOpen: with nothing listening where Redis should be, every
// reservation goes to the store at once (no wait), the limit holds, the switch is logged
// once, and with the store down too nothing is granted.
func TestFailoverRedisDownNeverFailsOpen(t *testing.T) {
	var logs bytes.Buffer
	store := newMemStore()
	const timeout = 300 * time.Millisecond
	f := newFailover(t, closedAddr(t), store, Options{Timeout: timeout, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	k := testWindow(1)
	limits := aiproxy.Units{req: 3}
	for i := range 5 { // the first is committed, the second released: the fifth is one too many
		r := res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour))
		start := time.Now()
		ok, _, err := f.Reserve(context.Background(), r, limits)
		if took := time.Since(start); took >= timeout {
			t.Fatalf("reserve %d took %v, want less than the Redis timeout %v", i+1, took, timeout)
		}
		if err != nil || ok != (i < 4) {
			t.Fatalf("reserve %d = %v, %v; want %v", i+1, ok, err, i < 4)
		}
		if ok && !strings.HasPrefix(r.ID, storeTag) {
			t.Fatalf("reservation %q was not taken in the store", r.ID)
		}
		if ok && i == 0 {
			if err := f.Commit(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		if ok && i == 1 {
			if err := f.Release(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustUsed(t, f, k, aiproxy.Units{req: 3})
	if used, _ := store.BudgetUsed(context.Background(), k.org, k.service, k.window); !equalUnits(used, aiproxy.Units{req: 3}) {
		t.Fatalf("the store counts %v, want 3 requests", used)
	}
	if n := strings.Count(logs.String(), "failing over, not open"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}

	store.failing.Store(true)
	ok, _, err := f.Reserve(context.Background(), res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour)), nil)
	if ok || aiproxy.ErrorCode(err) != aiproxy.EUNAVAILABLE {
		t.Fatalf("with Redis and the store down: %v, %v; want refused with EUNAVAILABLE", ok, err)
	}
}

// TestFailoverTimeout: a Redis that accepts connections and never answers costs one
// request the timeout, then requests go to the store without waiting.
func TestFailoverTimeout(t *testing.T) {
	testRedis(t) // skipped without Redis, failed with one that does not answer
	p := newProxy(t, redisAddr(t))
	p.set(blackhole)
	const timeout = 200 * time.Millisecond
	f := newFailover(t, p.Addr(), newMemStore(), Options{Timeout: timeout, Logger: slog.New(slog.DiscardHandler)})
	k := testWindow(1)
	for i, most := range []time.Duration{timeout + 300*time.Millisecond, 50 * time.Millisecond} {
		r := res(k, aiproxy.Units{req: 1}, time.Now().Add(time.Hour))
		start := time.Now()
		ok, _, err := f.Reserve(context.Background(), r, aiproxy.Units{req: 10})
		if took := time.Since(start); took > most {
			t.Fatalf("reserve %d took %v, want at most %v", i+1, took, most)
		}
		if !ok || err != nil || !strings.HasPrefix(r.ID, storeTag) {
			t.Fatalf("reserve %d = %v, %v, ID %q; want reserved in the store", i+1, ok, err, r.ID)
		}
	}
}

// TestFailoverOutage: Redis goes away with reservations in flight and comes back. Across
// both switches nothing is granted past the limit, Redis's counters include what was
// spent through the store (for this replica and for one that never lost Redis), and the
// store counts everything in the end.
func TestFailoverOutage(t *testing.T) {
	c, prefix := testRedis(t)
	p := newProxy(t, redisAddr(t))
	store := newMemStore()
	o := Options{Prefix: prefix, RetryAfter: 50 * time.Millisecond, SyncEvery: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	f := newFailover(t, p.Addr(), store, o)
	other := NewFailover(c, store, o) // a replica that keeps Redis
	defer other.Close()
	ctx := context.Background()
	k := testWindow(1)
	limits := aiproxy.Units{req: 100}
	one := aiproxy.Units{req: 1}
	later := time.Now().Add(time.Hour)
	reserve := func(l Ledger, tag string, want bool) *aiproxy.BudgetReservation {
		t.Helper()
		r := res(k, one, later)
		mustReserve(t, l, r, limits, want)
		if want && !strings.HasPrefix(r.ID, tag) {
			t.Fatalf("reservation %q, want it taken by %s", r.ID, tag)
		}
		return r
	}
	commit := func(r *aiproxy.BudgetReservation) {
		t.Helper()
		if err := f.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	for range 30 {
		commit(reserve(f, redisTag, true))
	}
	// Five held in Redis when it goes: four expire soon, one does not.
	soon := time.Now().Add(2 * time.Second)
	var held []*aiproxy.BudgetReservation
	for i := range 5 {
		r := res(k, one, later)
		if i < 4 {
			r.ExpiresAt = soon
		}
		mustReserve(t, f, r, limits, true)
		if !strings.HasPrefix(r.ID, redisTag) {
			t.Fatalf("reservation %q, want it taken in Redis", r.ID)
		}
		held = append(held, r)
	}

	p.set(refuse)
	// 100 - 30 spent - 5 held: 65 fit in the store.
	n := 0
	for {
		r := res(k, one, later)
		ok, _, err := f.Reserve(ctx, r, limits)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if !strings.HasPrefix(r.ID, storeTag) {
			t.Fatalf("reservation %q during the outage, want it in the store", r.ID)
		}
		commit(r)
		n++
	}
	if n != 65 || !f.Degraded() {
		t.Fatalf("%d granted during the outage (degraded %v), want 65", n, f.Degraded())
	}
	// Three held ones commit (into the store), one is released (left to expire in Redis):
	// one more fits.
	for _, r := range held[:3] {
		commit(r)
	}
	if err := f.Release(ctx, held[3]); err != nil {
		t.Fatal(err)
	}
	commit(reserve(f, storeTag, true))
	reserve(f, storeTag, false)
	const spent = 30 + 65 + 3 + 1 + 1 // + held[4], still in flight

	p.set(forward)
	time.Sleep(o.RetryAfter + 10*time.Millisecond)
	reserve(f, redisTag, false) // brings Redis back, with the store's counts
	if f.Degraded() {
		t.Fatal("Redis is back but the ledger still uses the store")
	}
	for name, l := range map[string]Ledger{"this replica": f, "the other replica": other} {
		used, err := l.Used(ctx, k.org, k.service, k.window)
		if err != nil {
			t.Fatal(err)
		}
		// 4 more than spent: the reservations left in Redis, until they expire.
		if used[req] != spent+4 {
			t.Fatalf("%s: Redis counts %v after the outage, want %d (%d spent + 4 left in Redis)", name, used, spent+4, spent)
		}
		reserve(l, redisTag, false)
	}
	time.Sleep(time.Until(soon) + 50*time.Millisecond)
	mustUsed(t, other, k, aiproxy.Units{req: spent})
	reserve(other, redisTag, false)
	commit(held[4])
	mustUsed(t, f, k, aiproxy.Units{req: spent})

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if used, _ := store.BudgetUsed(ctx, k.org, k.service, k.window); !equalUnits(used, aiproxy.Units{req: spent}) {
		t.Fatalf("the store counts %v, want %d requests", used, spent)
	}
}

// TestFailoverRaceAcrossOutages: 64 goroutines reserve and commit while Redis is up, cut
// (connections refused), back, made silent (never answering), and back until the budget is
// spent: one replica never grants past the limit, and after it Redis and the store count
// at least what was granted (the store exactly: nothing is written to it twice).
func TestFailoverRaceAcrossOutages(t *testing.T) {
	_, prefix := testRedis(t)
	p := newProxy(t, redisAddr(t))
	store := newMemStore()
	o := Options{Prefix: prefix, Timeout: 100 * time.Millisecond, RetryAfter: 20 * time.Millisecond,
		SyncEvery: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	f := newFailover(t, p.Addr(), store, o)
	ctx := context.Background()
	k := testWindow(1)
	limits := aiproxy.Units{req: 3000, chars: 1_000_000}

	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		granted     = aiproxy.Units{}
		byTag       = map[string]int{}
		last        atomic.Bool  // the last phase: Redis is back for good
		refusedLast atomic.Int64 // refusals in it
		stop        = make(chan struct{})
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				units := aiproxy.Units{req: 1, chars: 1 + randInt(40)}
				r := res(k, units, time.Now().Add(time.Hour))
				late := last.Load()
				ok, _, err := f.Reserve(ctx, r, limits)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					if late {
						refusedLast.Add(1)
					}
					continue
				}
				if err := f.Commit(ctx, r); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for u, n := range units {
					granted[u] += n
				}
				tag := r.ID[:strings.IndexByte(r.ID, ':')]
				byTag[tag]++
				if late {
					byTag[tag+" after"]++
				}
				mu.Unlock()
			}
		}()
	}
	// Each phase lasts until enough is granted through the ledger it is about (whatever
	// the speed of the machine), 1800 of the 3000 in all: the rest is spent in Redis.
	count := func(tag string) int {
		mu.Lock()
		defer mu.Unlock()
		return byTag[tag]
	}
	for _, step := range []struct {
		mode int
		tag  string
		n    int
	}{{forward, "redis", 300}, {refuse, "store", 600}, {forward, "redis", 600}, {blackhole, "store", 1200}} {
		p.set(step.mode)
		for deadline := time.Now().Add(20 * time.Second); count(step.tag) < step.n; {
			if time.Now().After(deadline) || t.Failed() {
				close(stop)
				wg.Wait()
				t.Fatalf("only %v granted in 20 s, want %d through %s", byTag, step.n, step.tag)
			}
			time.Sleep(time.Millisecond)
		}
	}
	p.set(forward)
	time.Sleep(o.RetryAfter + o.Timeout)
	last.Store(true)
	for deadline := time.Now().Add(20 * time.Second); refusedLast.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("granted %v of %v; by ledger: %v", granted, limits, byTag)
	if byTag["store"] == 0 || byTag["redis after"] == 0 || refusedLast.Load() == 0 {
		t.Fatalf("granted %v, %d refused at the end: the budget should be spent through both ledgers, the last of it in Redis",
			byTag, refusedLast.Load())
	}
	for u, limit := range limits {
		if granted[u] > limit {
			t.Fatalf("%s: %d granted, over the limit of %d", u, granted[u], limit)
		}
	}
	// On a loaded machine a Redis call of the last phase may have overrun its timeout and
	// sent the ledger back to the store for a moment: wait for it to return to Redis.
	var (
		used aiproxy.Units
		err  error
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		used, err = f.Used(ctx, k.org, k.service, k.window)
		if err == nil && !f.Degraded() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Used: %v (degraded %v)", err, f.Degraded())
		}
	}
	for u, n := range granted {
		if used[u] < n {
			t.Fatalf("Redis counts %v, less than granted %v", used, granted)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if stored, _ := store.BudgetUsed(ctx, k.org, k.service, k.window); !equalUnits(stored, granted) {
		t.Fatalf("the store counts %v, want what was granted: %v", stored, granted)
	}
}

// slowThenGone is a Redis client hook: the first command waits until its context ends (a
// reservation whose outcome in Redis is not known yet), every later one fails at once (Redis
// is gone).
type slowThenGone struct {
	calls   atomic.Int64
	waiting chan struct{} // closed once the first command waits
}

func (h *slowThenGone) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slowThenGone) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *slowThenGone) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.calls.Add(1) == 1 {
			close(h.waiting)
			<-ctx.Done()
			return ctx.Err()
		}
		return errors.New("connection refused")
	}
}

// TestFailoverSwitchWaitsForReservationsBeingTakenInRedis: when Redis fails while another
// reservation of the replica is still being tried there, the store does not count that one
// as held in Redis before its outcome is known (it may never be taken: here its client
// hangs up). Counting it refused a request that fit, with a 402 saying more was used than
// the limit; the switch now waits for reservations being tried (each bounded by the
// timeout) and the store then counts exactly what Redis holds.
func TestFailoverSwitchWaitsForReservationsBeingTakenInRedis(t *testing.T) {
	client := newClient(t, closedAddr(t))
	h := &slowThenGone{waiting: make(chan struct{})}
	client.AddHook(h)
	f := NewFailover(client, newMemStore(), Options{Timeout: 10 * time.Second, RetryAfter: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { f.Close() })
	k := testWindow(1)
	limits := aiproxy.Units{chars: 10}

	type result struct {
		ok   bool
		used aiproxy.Units
		err  error
	}
	slowCtx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	slowDone := make(chan result, 1)
	go func() {
		ok, used, err := f.Reserve(slowCtx, res(k, aiproxy.Units{chars: 5}, time.Now().Add(time.Hour)), limits)
		slowDone <- result{ok, used, err}
	}()
	<-h.waiting // the slow reservation is being tried in Redis

	fast := res(k, aiproxy.Units{chars: 10}, time.Now().Add(time.Hour))
	fastDone := make(chan result, 1)
	go func() {
		ok, used, err := f.Reserve(context.Background(), fast, limits)
		fastDone <- result{ok, used, err}
	}()
	var r result
	answered := false
	select {
	case r = <-fastDone: // before the slow one's outcome was known (what the fix rules out)
		answered = true
	case <-time.After(200 * time.Millisecond):
	}
	hangUp() // the slow one's client leaves: it is never taken anywhere
	if s := <-slowDone; s.ok || !errors.Is(s.err, context.Canceled) {
		t.Fatalf("the slow reservation: %v, %v; want context.Canceled", s.ok, s.err)
	}
	if !answered {
		r = <-fastDone
	}
	if r.err != nil || !r.ok || !strings.HasPrefix(fast.ID, storeTag) || !equalUnits(r.used, aiproxy.Units{chars: 10}) {
		t.Fatalf("the fast reservation: ok %v, used %v, err %v, ID %q; want 10 of 10 characters reserved in the store",
			r.ok, r.used, r.err, fast.ID)
	}
}

// loseCommitAnswer is a Redis client hook: the first commit script runs, and its answer is
// lost (as when it comes back after the timeout).
type loseCommitAnswer struct{ lost atomic.Bool }

func (h *loseCommitAnswer) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *loseCommitAnswer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *loseCommitAnswer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if a := cmd.Args(); len(a) > 1 && a[1] == commitScript.Hash() && h.lost.CompareAndSwap(false, true) {
			return errors.New("i/o timeout (the answer is lost)")
		}
		return err
	}
}

// TestRedisCommitTriedAgainAfterALostAnswerReachesTheStore: a commit that ran in Redis but
// whose answer was lost is tried again (Failover does, once Redis answers again); the
// second try finds no reservation, and the units must still reach the store, once. They
// never did: Redis counted them as committed, the store never.
func TestRedisCommitTriedAgainAfterALostAnswerReachesTheStore(t *testing.T) {
	c, prefix := testRedis(t)
	h := &loseCommitAnswer{}
	c.AddHook(h)
	store := newMemStore()
	l := NewRedisLedger(c, store, Options{Prefix: prefix, SyncEvery: time.Hour})
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	k := testWindow(1)
	r := res(k, aiproxy.Units{chars: 7, req: 1}, time.Now().Add(time.Hour))
	mustReserve(t, l, r, aiproxy.Units{chars: 100}, true)
	if err := l.commit(ctx, r, false); !isRedisErr(err) {
		t.Fatalf("the commit whose answer is lost: %v, want a Redis error", err)
	}
	if err := l.commit(ctx, r, true); err != nil {
		t.Fatalf("the commit tried again: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := aiproxy.Units{chars: 7, req: 1}
	if stored, _ := store.BudgetUsed(ctx, k.org, k.service, k.window); !equalUnits(stored, want) {
		t.Fatalf("the store counts %v, want %v", stored, want)
	}
	mustUsed(t, l, k, want)
}
