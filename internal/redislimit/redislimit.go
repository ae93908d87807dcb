// Package redislimit is a ratelimit.Limiter shared by every replica through Redis: the
// GCRA of package ratelimit, run as one Lua script so that checking and counting a request
// is a single atomic step, whichever replica serves it.
//
// When Redis cannot answer, requests are allowed (the limiter fails open) and a warning is
// logged at most once every ten seconds. The limit protects provider credits, not the
// gateway itself: an outage of the counter should not become an outage of the API, and a
// few minutes of unmetered traffic cost less than refusing every paying request. After a
// failure Redis is left alone for a second, so that an outage does not add a connection
// timeout to every request.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy/internal/ratelimit"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is put before every key this limiter writes in Redis.
const DefaultPrefix = "aiproxy:ratelimit:"

const (
	// warnEvery bounds how often an unreachable Redis is logged.
	warnEvery = 10 * time.Second
	// pauseAfterFailure is how long requests skip Redis (and are allowed) after a failure.
	pauseAfterFailure = time.Second
)

// gcra is ratelimit's GCRA step (see gcra in ratelimit.go) on the Redis server's clock, in
// microseconds: the server's clock, not each replica's, so that replicas whose clocks
// disagree still share one schedule. KEYS[1] holds the key's theoretical arrival time
// (TAT) and expires when it passes (an expired TAT and none mean the same). ARGV: the
// interval (window/limit) and the window. Returns {allowed 0|1, remaining, retry after}.
// Needs Redis 5 or later (a script that reads TIME may write since then).
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
	return {0, 0, allow_at - now}
end
-- '%.0f': a Lua number passed as is would be written with 14 significant digits.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((window - (new_tat - now)) / interval), 0}
`)

// Limiter is a ratelimit.Limiter on Redis. It is safe for concurrent use.
type Limiter struct {
	client redis.Scripter
	prefix string
	logger *slog.Logger
	now    func() time.Time

	pausedUntil atomic.Int64 // unix nanoseconds; requests before then skip Redis
	lastWarn    atomic.Int64 // unix nanoseconds of the last warning
	unmetered   atomic.Int64 // requests allowed without Redis since the last warning
}

// Options configure a Limiter; the zero value is usable.
type Options struct {
	// Prefix is put before every key (default DefaultPrefix).
	Prefix string
	// Logger receives the fail-open warnings (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock of the warnings and the pause (default time.Now); the budget itself
	// runs on the Redis server's clock.
	Now func() time.Time
}

// New returns a limiter that keeps its counts through client.
func New(client redis.Scripter, o Options) *Limiter {
	l := &Limiter{client: client, prefix: o.Prefix, logger: o.Logger, now: o.Now}
	if l.prefix == "" {
		l.prefix = DefaultPrefix
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Allow implements ratelimit.Limiter. It returns an error only when ctx has ended; when
// Redis fails it allows the request with Remaining -1 (unknown).
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (ratelimit.Decision, error) {
	if limit <= 0 {
		return ratelimit.Unlimited, nil
	}
	if now := l.now().UnixNano(); now < l.pausedUntil.Load() {
		l.failOpen(now, nil)
		return ratelimit.Unlimited, nil
	}
	w := max(window.Microseconds(), 1)
	res, err := gcra.Run(ctx, l.client, []string{l.prefix + key}, ratelimit.Interval(limit, w), w).Int64Slice()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("unexpected script answer %v", res)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ratelimit.Decision{}, ctx.Err()
		}
		now := l.now().UnixNano()
		l.pausedUntil.Store(now + int64(pauseAfterFailure))
		l.failOpen(now, err)
		return ratelimit.Unlimited, nil
	}
	if res[0] != 1 {
		return ratelimit.Decision{RetryAfter: time.Duration(res[2]) * time.Microsecond}, nil
	}
	return ratelimit.Decision{Allowed: true, Remaining: min(int(res[1]), limit-1)}, nil
}

// failOpen counts a request allowed without Redis, and warns unless it did in the last
// warnEvery. err is nil for requests that skipped Redis during the pause.
func (l *Limiter) failOpen(now int64, err error) {
	l.unmetered.Add(1)
	last := l.lastWarn.Load()
	if err == nil || (last != 0 && now-last < int64(warnEvery)) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.logger.Warn("rate limit: Redis did not answer; allowing requests without counting them (failing open)",
		slog.String("error", err.Error()), slog.Int64("unmetered_requests", l.unmetered.Swap(0)))
}

// NewClient returns a Redis client for addr, either host:port or a redis:// or rediss://
// URL (for a password, a database number or TLS). Its timeouts are short, and it never
// retries a command: a retried script could count one request twice, and a slow counter
// must not hold up requests (see the package comment).
func NewClient(addr string) (*redis.Client, error) {
	var opts *redis.Options
	if strings.Contains(addr, "://") {
		var err error
		if opts, err = redis.ParseURL(addr); err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL, which may hold a password
			}
			return nil, fmt.Errorf("redis address: %w", err)
		}
	} else {
		if addr == "" || !strings.Contains(addr, ":") {
			return nil, errors.New("redis address: want host:port or a redis:// URL")
		}
		opts = &redis.Options{Addr: addr}
	}
	opts.DialTimeout = 500 * time.Millisecond
	opts.DialerRetries = 1
	opts.ReadTimeout = 500 * time.Millisecond
	opts.WriteTimeout = 500 * time.Millisecond
	opts.MaxRetries = -1
	opts.DisableIdentity = true // no CLIENT SETINFO: older servers and proxies refuse it
	return redis.NewClient(opts), nil
}
