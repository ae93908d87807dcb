package redislimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Realtime sessions in progress, counted across replicas (docs/realtime.md, "Limits"): per
// org, a sorted set of session ids scored by the end of their lease, in milliseconds of
// the Redis server's clock. A session enters (an atomic prune, check and add), renews its
// lease while it runs, and leaves; a session whose replica died stops renewing, and its
// entry is pruned once its lease ended. The key itself expires with the longest lease.
//
// Unlike rate limits, these methods return Redis's errors: the caller decides (the
// gateway then counts on the replica alone).

// sessionEnter prunes expired leases, then adds ARGV[1] with a lease of ARGV[3] ms unless
// the set already holds ARGV[2] others (ARGV[2] < 0: no limit, a renewal). Returns 1 when
// the session holds a lease, 0 when refused.
var sessionEnter = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if limit >= 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= limit then
	return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then
	redis.call('PEXPIRE', KEYS[1], lease)
end
return 1
`)

var sessionLeave = redis.NewScript(`return redis.call('ZREM', KEYS[1], ARGV[1])`)

func (l *Limiter) sessionKey(org int64) string {
	return l.prefix + "realtime-sessions:" + strconv.FormatInt(org, 10)
}

// EnterSession takes one of org's sessions for id, with a lease, unless limit sessions
// (with unexpired leases) are in progress already: ok false.
func (l *Limiter) EnterSession(ctx context.Context, org int64, id string, limit int, lease time.Duration) (bool, error) {
	n, err := sessionEnter.Run(ctx, l.client, []string{l.sessionKey(org)}, id, max(limit, 0), max(lease.Milliseconds(), 1)).Int64()
	if err != nil {
		return false, fmt.Errorf("realtime sessions: %w", err)
	}
	return n == 1, nil
}

// RenewSession extends id's lease (adding it again, whatever the count, should it have
// expired meanwhile: the session is running).
func (l *Limiter) RenewSession(ctx context.Context, org int64, id string, lease time.Duration) error {
	if err := sessionEnter.Run(ctx, l.client, []string{l.sessionKey(org)}, id, -1, max(lease.Milliseconds(), 1)).Err(); err != nil {
		return fmt.Errorf("realtime sessions: %w", err)
	}
	return nil
}

// LeaveSession gives id's session back.
func (l *Limiter) LeaveSession(ctx context.Context, org int64, id string) error {
	if err := sessionLeave.Run(ctx, l.client, []string{l.sessionKey(org)}, id).Err(); err != nil {
		return fmt.Errorf("realtime sessions: %w", err)
	}
	return nil
}
