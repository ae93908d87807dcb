package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/ratelimit"
)

// clock is a manual clock for the in-memory limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)} }

func allow(t *testing.T, l ratelimit.Limiter, key string, limit int, window time.Duration) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, limit, window)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMemoryRefusesOverLimitWithRetryAfter(t *testing.T) {
	c := newClock()
	l := ratelimit.NewMemory(c.now)
	for i := range 3 {
		d := allow(t, l, "org:a", 3, time.Minute)
		if !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 2-i)
		}
	}
	d := allow(t, l, "org:a", 3, time.Minute)
	// A burst of 3 per minute refills one request every 20 s.
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != 20*time.Second {
		t.Fatalf("4th request: %+v, want refused with RetryAfter 20s", d)
	}
	c.advance(5 * time.Second)
	if d := allow(t, l, "org:a", 3, time.Minute); d.Allowed || d.RetryAfter != 15*time.Second {
		t.Fatalf("5 s later: %+v, want refused with RetryAfter 15s (refusals are not counted)", d)
	}
	if d := allow(t, l, "org:b", 3, time.Minute); !d.Allowed {
		t.Fatalf("another key was refused: %+v", d)
	}
}

func TestMemoryAllowsAgainAfterRetryAfter(t *testing.T) {
	c := newClock()
	l := ratelimit.NewMemory(c.now)
	for range 2 {
		allow(t, l, "k", 2, time.Minute)
	}
	d := allow(t, l, "k", 2, time.Minute)
	if d.Allowed {
		t.Fatal("3rd request of a budget of 2 was allowed")
	}
	c.advance(d.RetryAfter - time.Millisecond)
	if allow(t, l, "k", 2, time.Minute).Allowed {
		t.Fatal("allowed before RetryAfter passed")
	}
	c.advance(time.Millisecond)
	if d := allow(t, l, "k", 2, time.Minute); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after RetryAfter: %+v, want allowed with 0 remaining", d)
	}
	c.advance(time.Minute)
	for i := range 2 {
		if d := allow(t, l, "k", 2, time.Minute); !d.Allowed {
			t.Fatalf("a whole window later, request %d refused: %+v", i+1, d)
		}
	}
}

func TestMemoryNoLimit(t *testing.T) {
	l := ratelimit.NewMemory(nil)
	for range 100 {
		if d := allow(t, l, "k", 0, time.Minute); !d.Allowed {
			t.Fatal("limit 0 refused a request")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("limit 0 kept state for %d keys", l.Len())
	}
}

func TestMemoryExpiredKeysAreDropped(t *testing.T) {
	c := newClock()
	l := ratelimit.NewMemory(c.now)
	for i := range 1000 {
		allow(t, l, fmt.Sprintf("org:%d", i), 10, time.Minute)
	}
	if l.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", l.Len())
	}
	c.advance(2 * time.Minute)
	allow(t, l, "fresh", 10, time.Minute)
	if l.Len() != 1 {
		t.Fatalf("after the state expired, Len = %d, want 1", l.Len())
	}
}

// TestMemoryConcurrentCallersNeverExceedLimit: with an hour's window no request refills
// during the test, so exactly limit of many concurrent callers get through.
func TestMemoryConcurrentCallersNeverExceedLimit(t *testing.T) {
	l := ratelimit.NewMemory(nil)
	const limit, callers, each = 25, 40, 10
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				d, err := l.Allow(context.Background(), "org:busy", limit, time.Hour)
				if err != nil {
					t.Error(err)
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

func BenchmarkMemoryAllow(b *testing.B) {
	l := ratelimit.NewMemory(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = l.Allow(ctx, "org:bench", 1_000_000, time.Minute)
	}
}
