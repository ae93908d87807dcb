package budgets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/redislimit"
	"github.com/redis/go-redis/v9"
)

// memStore implements Store in memory, atomically under one mutex, as the SQL stores do
// in a transaction.
type memStore struct {
	mu       sync.Mutex
	counters map[winKey]aiproxy.Units
	res      map[string]*aiproxy.BudgetReservation
	failing  atomic.Bool // every call fails (the database is down)
}

func newMemStore() *memStore {
	return &memStore{counters: map[winKey]aiproxy.Units{}, res: map[string]*aiproxy.BudgetReservation{}}
}

var errStoreDown = aiproxy.Errorf(aiproxy.EUNAVAILABLE, "the test store is down")

func (s *memStore) ReserveBudget(_ context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	if s.failing.Load() {
		return false, nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == "" {
		r.ID = newID()
	}
	if _, ok := s.res[r.ID]; ok {
		return false, nil, aiproxy.Errorf(aiproxy.ECONFLICT, "Budget reservation %q exists.", r.ID)
	}
	k := keyOf(r)
	c := s.counters[k]
	if c == nil {
		c = aiproxy.Units{}
		s.counters[k] = c
	}
	for u, n := range r.Units {
		if limit, ok := limits[u]; ok && c[u]+n > limit {
			return false, nonZero(c), nil
		}
	}
	for u, n := range r.Units {
		c[u] += n
	}
	cp := *r
	cp.Units = nonZero(r.Units)
	s.res[r.ID] = &cp
	return true, nonZero(c), nil
}

func (s *memStore) CommitBudget(_ context.Context, id string) error {
	if s.failing.Load() {
		return errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.res, id)
	return nil
}

func (s *memStore) ReleaseBudget(_ context.Context, id string) error {
	if s.failing.Load() {
		return errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(id)
	return nil
}

func (s *memStore) release(id string) {
	r, ok := s.res[id]
	if !ok {
		return
	}
	for u, n := range r.Units {
		s.counters[keyOf(r)][u] -= n
	}
	delete(s.res, id)
}

func (s *memStore) ExpireBudgetReservations(_ context.Context, now time.Time) (int, error) {
	if s.failing.Load() {
		return 0, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.res {
		if r.ExpiresAt.Before(now) {
			s.release(id)
			n++
		}
	}
	return n, nil
}

func (s *memStore) BudgetUsed(_ context.Context, orgID int64, service, window string) (aiproxy.Units, error) {
	if s.failing.Load() {
		return nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return nonZero(s.counters[winKey{orgID, service, window}]), nil
}

// clock is a clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testRedis returns a client of the Redis at AIPROXY_TEST_REDIS_ADDR and a key prefix of
// the test's own, whose keys are deleted when the test ends. Without the variable the test
// is skipped; with it, a Redis that does not answer fails the test.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := redisAddr(t)
	c := newClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("AIPROXY_TEST_REDIS_ADDR=%s does not answer: %v", addr, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "aiproxy-test:budget:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return c, prefix
}

func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("AIPROXY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("AIPROXY_TEST_REDIS_ADDR is not set: skipping the Redis budget tests (e.g. AIPROXY_TEST_REDIS_ADDR=127.0.0.1:6379)")
	}
	return addr
}

// newClient returns a client as the gateway makes them (short timeouts, no retries).
func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c, err := redislimit.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Proxy modes.
const (
	forward   = iota // pass bytes both ways
	refuse           // close every connection at once
	blackhole        // accept, and never answer
)

// proxy is a TCP proxy to Redis that a test can cut.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	mode   int
	conns  map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		p.set(refuse)
	})
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case refuse:
		c.Close()
		return
	case blackhole:
		p.conns[c] = struct{}{}
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	go pipe(up, c)
	go pipe(c, up)
}

// set changes the mode and closes every open connection.
func (p *proxy) set(mode int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// outcome is what one racing reservation got.
type outcome struct {
	units aiproxy.Units
	ok    bool
}

// raceReserve has 64 goroutines reserve against limits in window k of ledgers (taken in
// turn, as replicas), never releasing, and checks: no unit over its limit, the counters
// equal to what was granted (plus initial, what the window held before), and no refused
// request that would have fit in what is left at the end. With commit, every granted
// reservation is committed at once. It returns what was granted.
func raceReserve(t *testing.T, ledgers []Ledger, k winKey, limits, initial aiproxy.Units, commit bool) aiproxy.Units {
	t.Helper()
	const goroutines, each = 64, 12
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes []outcome
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[g%len(ledgers)]
			for range each {
				units := aiproxy.Units{aiproxy.UnitRequests: 1, aiproxy.UnitCharacters: 1 + randInt(40)}
				r := &aiproxy.BudgetReservation{OrgID: k.org, Service: k.service, Window: k.window,
					Units: units, ExpiresAt: time.Now().Add(time.Hour)}
				ok, _, err := l.Reserve(context.Background(), r, limits)
				if err != nil {
					t.Errorf("reserve: %v", err)
					return
				}
				if ok && commit {
					if err := l.Commit(context.Background(), r); err != nil {
						t.Errorf("commit: %v", err)
					}
				}
				mu.Lock()
				outcomes = append(outcomes, outcome{units, ok})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	granted := aiproxy.Units{}
	refused := 0
	for _, o := range outcomes {
		if o.ok {
			for u, n := range o.units {
				granted[u] += n
			}
		} else {
			refused++
		}
	}
	want := aiproxy.Units{}
	for _, us := range []aiproxy.Units{granted, initial} {
		for u, n := range us {
			want[u] += n
		}
	}
	used, err := ledgers[0].Used(context.Background(), k.org, k.service, k.window)
	if err != nil {
		t.Fatal(err)
	}
	if !equalUnits(used, want) {
		t.Fatalf("the counters are %v, want %v (granted %v + %v before)", used, want, granted, initial)
	}
	for u, limit := range limits {
		if used[u] > limit {
			t.Fatalf("%s: %d used, over the limit of %d", u, used[u], limit)
		}
	}
	for _, o := range outcomes {
		if o.ok {
			continue
		}
		fits := true
		for u, n := range o.units {
			if limit, ok := limits[u]; ok && n > limit-used[u] {
				fits = false
			}
		}
		if fits {
			t.Fatalf("a request of %v was refused, yet it fits in what is left (used %v, limits %v)", o.units, used, limits)
		}
	}
	if refused == 0 || refused == len(outcomes) {
		t.Fatalf("%d of %d refused: the limits do not bind, the test proves nothing", refused, len(outcomes))
	}
	t.Logf("%d granted, %d refused; used %v of %v", len(outcomes)-refused, refused, used, limits)
	return granted
}

// raceLimits are limits that 64×12 requests of 1..40 characters go over, each unit
// coming close to binding.
var raceLimits = aiproxy.Units{aiproxy.UnitRequests: 400, aiproxy.UnitCharacters: 8100}

func randInt(n int64) int64 {
	v, _ := rand.Int(rand.Reader, big.NewInt(n))
	return v.Int64()
}

func equalUnits(a, b aiproxy.Units) bool {
	a, b = nonZero(a), nonZero(b)
	if len(a) != len(b) {
		return false
	}
	for u, n := range a {
		if b[u] != n {
			return false
		}
	}
	return true
}

// testWindow returns a window key of its own.
func testWindow(org int64) winKey {
	w, _ := Window(PeriodMonth, time.Now())
	return winKey{org, "elevenlabs", w}
}

func res(k winKey, units aiproxy.Units, expires time.Time) *aiproxy.BudgetReservation {
	return &aiproxy.BudgetReservation{OrgID: k.org, Service: k.service, Window: k.window, Units: units, ExpiresAt: expires}
}

func mustReserve(t *testing.T, l Ledger, r *aiproxy.BudgetReservation, limits aiproxy.Units, want bool) aiproxy.Units {
	t.Helper()
	ok, used, err := l.Reserve(context.Background(), r, limits)
	if err != nil {
		t.Fatalf("reserve %v: %v", r.Units, err)
	}
	if ok != want {
		t.Fatalf("reserve %v: ok = %v, want %v (used %v, limits %v)", r.Units, ok, want, used, limits)
	}
	return used
}

func mustUsed(t *testing.T, l Ledger, k winKey, want aiproxy.Units) {
	t.Helper()
	used, err := l.Used(context.Background(), k.org, k.service, k.window)
	if err != nil {
		t.Fatal(err)
	}
	if !equalUnits(used, want) {
		t.Fatalf("used = %v, want %v", used, want)
	}
}

func isRedisErr(err error) bool { return errors.Is(err, ErrRedis) }

// quiet drops go-redis's own log lines (a dial refused for every try against a closed
// port), which the tests provoke on purpose.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}
