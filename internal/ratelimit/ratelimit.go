// Package ratelimit decides whether a request may go ahead under a budget of limit requests
// per window. Memory is the in-process limiter (one replica, or SQLite); package redislimit
// shares one budget between replicas through Redis. Both implement the same algorithm, so a
// deployment can move from one to the other without clients noticing.
//
// The algorithm is GCRA, the generic cell rate algorithm (ITU-T I.371; the "leaky bucket as
// a meter"): a budget of limit per window admits one request every window/limit on average,
// with bursts of up to limit at once. Per key it keeps a single time, the theoretical
// arrival time (TAT) of the next request, so its state is one number and a refusal says
// exactly when the next request would be admitted.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Limiter decides whether one more request under key fits a budget of limit per window.
type Limiter interface {
	// Allow counts one request under key if it fits, and reports the decision. A refused
	// request is not counted. limit <= 0 means no limit: always allowed. An error means
	// the limiter could not decide (the caller's context ended, for example).
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
}

// Decision is the answer to one Allow call.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests would be admitted right now: the burst left.
	// It is negative when the limiter could not count (see redislimit: failing open).
	Remaining int
	// RetryAfter is, for a refused request, how long until one more would be admitted.
	RetryAfter time.Duration
}

// Unlimited is the decision for a request under no limit.
var Unlimited = Decision{Allowed: true, Remaining: -1}

// gcra is one step of the algorithm, shared by every implementation (redislimit runs the
// same arithmetic in Lua). now and tat are times on one clock, in any unit, as long as
// interval (window/limit, at least 1) and window are in that unit too; tat is the stored
// theoretical arrival time, or anything <= now for a key never seen. It returns the
// decision, in that unit for RetryAfter, and the TAT to store when allowed.
func gcra(now, tat, interval, window int64) (allowed bool, remaining int, retryAfter int64, newTAT int64) {
	if tat < now {
		tat = now
	}
	newTAT = tat + interval
	if allowAt := newTAT - window; now < allowAt {
		return false, 0, allowAt - now, tat
	}
	return true, int((window - (newTAT - now)) / interval), 0, newTAT
}

// Interval is the time between two admitted requests at the sustained rate: window/limit,
// at least one unit.
func Interval(limit int, window int64) int64 {
	if iv := window / int64(limit); iv > 0 {
		return iv
	}
	return 1
}

// sweepEvery is how often Memory drops the keys whose state has expired.
const sweepEvery = time.Minute

// Memory is a Limiter for one process. It is safe for concurrent use. A key's state
// expires when its TAT has passed (it is then the same as no state), and expired keys are
// dropped once a minute, so memory stays proportional to the keys used in the last window.
type Memory struct {
	now   func() time.Time
	start time.Time

	mu        sync.Mutex
	tats      map[string]int64 // nanoseconds since start
	lastSweep int64
}

// NewMemory returns an in-memory limiter on the clock now (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, start: now(), tats: map[string]int64{}}
}

// Allow implements Limiter; it never returns an error.
func (m *Memory) Allow(_ context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if limit <= 0 {
		return Unlimited, nil
	}
	now := int64(m.now().Sub(m.start)) // monotonic with time.Now
	w := int64(window)
	m.mu.Lock()
	defer m.mu.Unlock()
	if now-m.lastSweep >= int64(sweepEvery) {
		m.sweep(now)
	}
	allowed, remaining, retry, tat := gcra(now, m.tats[key], Interval(limit, w), w)
	if !allowed {
		return Decision{RetryAfter: time.Duration(retry)}, nil
	}
	m.tats[key] = tat
	return Decision{Allowed: true, Remaining: min(remaining, limit-1)}, nil
}

func (m *Memory) sweep(now int64) {
	for k, tat := range m.tats {
		if tat <= now {
			delete(m.tats, k)
		}
	}
	m.lastSweep = now
}

// Len reports how many keys hold state (for tests of the expiry).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tats)
}
