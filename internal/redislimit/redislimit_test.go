package redislimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/ratelimit"
	"github.com/aiproxy/aiproxy/internal/redislimit"
	"github.com/redis/go-redis/v9"
)

var _ ratelimit.Limiter = (*redislimit.Limiter)(nil)

// testRedis returns a client of the Redis at AIPROXY_TEST_REDIS_ADDR and a key prefix of
// its own, whose keys are deleted when the test ends. Without the variable the test is
// skipped; with it, a Redis that does not answer fails the test.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("AIPROXY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("AIPROXY_TEST_REDIS_ADDR is not set: skipping the Redis limiter tests (e.g. AIPROXY_TEST_REDIS_ADDR=127.0.0.1:6379)")
	}
	c := newClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("AIPROXY_TEST_REDIS_ADDR=%s does not answer: %v", addr, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "aiproxy-test:" + hex.EncodeToString(b) + ":"
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

func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c, err := redislimit.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func allow(t *testing.T, l ratelimit.Limiter, key string, limit int, window time.Duration) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, limit, window)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRedisRefusesOverLimitWithRetryAfter(t *testing.T) {
	c, prefix := testRedis(t)
	l := redislimit.New(c, redislimit.Options{Prefix: prefix})
	for i := range 3 {
		d := allow(t, l, "org:a", 3, time.Minute)
		if !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 2-i)
		}
	}
	d := allow(t, l, "org:a", 3, time.Minute)
	// A burst of 3 per minute refills one request every 20 s; some of it has passed.
	if d.Allowed || d.RetryAfter <= 19*time.Second || d.RetryAfter > 20*time.Second {
		t.Fatalf("4th request: %+v, want refused with RetryAfter just under 20s", d)
	}
	if d := allow(t, l, "org:b", 3, time.Minute); !d.Allowed {
		t.Fatalf("another key was refused: %+v", d)
	}
	ttl, err := c.PTTL(context.Background(), prefix+"org:a").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the key's TTL is %v (%v), want at most the window: state must expire", ttl, err)
	}
}

func TestRedisAllowsAgainAfterRetryAfter(t *testing.T) {
	c, prefix := testRedis(t)
	l := redislimit.New(c, redislimit.Options{Prefix: prefix})
	const window = 400 * time.Millisecond // 2 per 400 ms: one every 200 ms
	for range 2 {
		if !allow(t, l, "k", 2, window).Allowed {
			t.Fatal("a request within the budget was refused")
		}
	}
	d := allow(t, l, "k", 2, window)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 200*time.Millisecond {
		t.Fatalf("3rd request: %+v, want refused with 0 < RetryAfter <= 200ms", d)
	}
	time.Sleep(d.RetryAfter + 20*time.Millisecond)
	if d := allow(t, l, "k", 2, window); !d.Allowed {
		t.Fatalf("after RetryAfter: %+v, want allowed", d)
	}
}

// TestRedisReplicasShareOneBudget: two limiters with their own connections, as two
// replicas would have, draw from one budget.
func TestRedisReplicasShareOneBudget(t *testing.T) {
	c1, prefix := testRedis(t)
	c2 := newClient(t, os.Getenv("AIPROXY_TEST_REDIS_ADDR"))
	replicas := []*redislimit.Limiter{
		redislimit.New(c1, redislimit.Options{Prefix: prefix}),
		redislimit.New(c2, redislimit.Options{Prefix: prefix}),
	}
	allowed := [2]int{}
	for i := range 10 {
		if allow(t, replicas[i%2], "org:shared", 6, time.Hour).Allowed {
			allowed[i%2]++
		}
	}
	if allowed != [2]int{3, 3} {
		t.Fatalf("allowed per replica = %v, want [3 3]: one budget of 6 between them", allowed)
	}
}

func TestRedisConcurrentCallersNeverExceedLimit(t *testing.T) {
	c, prefix := testRedis(t)
	c2 := newClient(t, os.Getenv("AIPROXY_TEST_REDIS_ADDR"))
	ls := []*redislimit.Limiter{redislimit.New(c, redislimit.Options{Prefix: prefix}), redislimit.New(c2, redislimit.Options{Prefix: prefix})}
	const limit, callers, each = 25, 40, 10
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				d, err := ls[i%2].Allow(context.Background(), "org:busy", limit, time.Hour)
				if err != nil {
					t.Error(err)
				}
				if d.Remaining < 0 {
					t.Error("the limiter failed open: Redis did not answer")
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != limit {
		t.Fatalf("%d requests allowed, want exactly %d", n, limit)
	}
}

// TestRedisUnreachableFailsOpen: with nothing listening, requests are allowed and the
// warning is logged once, not once per request.
func TestRedisUnreachableFailsOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a port nobody listens on
	var logs bytes.Buffer
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := redislimit.New(newClient(t, addr), redislimit.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock,
	})
	for i := range 20 {
		d := allow(t, l, "org:a", 1, time.Minute)
		if !d.Allowed || d.Remaining != -1 {
			t.Fatalf("request %d: %+v, want allowed with Remaining -1 (unknown)", i+1, d)
		}
		mu.Lock()
		now = now.Add(100 * time.Millisecond) // 20 requests over 2 s: past the pause, within 10 s
		mu.Unlock()
	}
	if n := strings.Count(logs.String(), "failing open"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	allow(t, l, "org:a", 1, time.Minute)
	if n := strings.Count(logs.String(), "failing open"); n != 2 {
		t.Fatalf("%d warnings after 10 s more, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "unmetered_requests=20") {
		t.Errorf("the second warning does not count the 20 requests allowed since the first:\n%s", logs.String())
	}
}

func TestRedisCanceledContextIsAnError(t *testing.T) {
	c, prefix := testRedis(t)
	l := redislimit.New(c, redislimit.Options{Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Allow(ctx, "k", 1, time.Minute); err == nil {
		t.Fatal("a canceled request was decided; want its context's error")
	}
}

func TestNewClientAddresses(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6379", true},
		{"redis://:secret@redis.internal:6379/2", true},
		{"rediss://redis.internal:6380", true},
		{"redis.internal", false},
		{"", false},
		{"http://redis.internal:6379", false},
		{"redis://:secret@redis.internal:port/0", false},
	} {
		c, err := redislimit.NewClient(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("NewClient(%q) error = %v, want ok=%v", tt.addr, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("NewClient(%q) error repeats the password: %v", tt.addr, err)
		}
		if c != nil {
			c.Close()
		}
	}
}
