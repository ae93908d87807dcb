package budgets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/redis/go-redis/v9"
)

// ErrRedis is in the chain of every error that says Redis did not answer as it should
// (unreachable, too slow, or an unexpected reply). Failover turns to the store on it.
var ErrRedis = errors.New("budgets: Redis did not answer")

type redisError struct{ err error }

func (e *redisError) Error() string        { return "budgets: Redis: " + e.err.Error() }
func (e *redisError) Unwrap() error        { return e.err }
func (e *redisError) Is(target error) bool { return target == ErrRedis }

// Keys of one window (base: prefix + org + ":" + service + ":" + window, the service and
// the window query-escaped, so that no value can make a key of another window, and none
// holds a glob character):
//
//	base:c  hash: u:<unit> counters (reserved + committed), i:<unit> units reserved and in
//	        flight, p:<unit> units committed here but not yet added to the store's
//	        counters, e the epoch (random, new each time the counters are created), g a
//	        generation bumped by every change of p or u that is not a reservation
//	base:r  hash: reservation id → its units (JSON object of decimal strings)
//	base:x  sorted set: reservation id by ExpiresAt (Unix ms)
//
// and prefix + "windows", a sorted set of the bases by when their keys expire (Sweep).
//
// Counts are Redis integers (HINCRBY); only comparisons go through Lua numbers, exact to
// 2^53, far above any limit (tenancy caps limits at 10^15).

// luaPrelude is shared by the scripts that may create a window's counters. KEYS: c, r, x,
// windows. ARGV: now (ms), the keys' expiry (ms), base, a new epoch, init (0|1), then the
// store's counters as a count and unit/value pairs; arg() reads what follows.
const luaPrelude = `
local c, r, x, idx = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, target = tonumber(ARGV[1]), tonumber(ARGV[2])
local pos = 3
local function arg() local v = ARGV[pos]; pos = pos + 1; return v end
local function pairs_arg()
	local n, t, order = tonumber(arg()), {}, {}
	for _ = 1, n do local u = arg(); t[u] = arg(); order[#order + 1] = u end
	return t, order
end
local base, epoch, init = arg(), arg(), arg()
local initvals = pairs_arg()
-- extend sets a key's expiry to target unless it is set later already.
local function extend(k)
	local ttl = redis.call('PTTL', k)
	if ttl == -1 or (ttl >= 0 and ttl < target - now) then redis.call('PEXPIREAT', k, target) end
end
-- ensure creates the counters from the store's values, once: false when they do not exist
-- and no values were given (the caller reads the store and calls again).
local function ensure()
	if redis.call('EXISTS', c) == 1 then return true end
	if init ~= '1' then return false end
	redis.call('DEL', r, x) -- reservations of counters that are gone
	redis.call('HSET', c, 'e', epoch, 'g', '0')
	for u, v in pairs(initvals) do
		if v ~= '0' then redis.call('HSET', c, 'u:' .. u, v) end
	end
	redis.call('ZADD', idx, target, base)
	extend(c)
	return true
end
` + luaExpire + luaCounters

// luaExpire gives back reservations past their expiry (at most max of them, all when nil).
const luaExpire = `
local function expire(c, r, x, now, max)
	local ids
	if max then
		ids = redis.call('ZRANGEBYSCORE', x, '-inf', '(' .. now, 'LIMIT', 0, max)
	else
		ids = redis.call('ZRANGEBYSCORE', x, '-inf', '(' .. now)
	end
	for _, id in ipairs(ids) do
		local rec = redis.call('HGET', r, id)
		if rec then
			for u, v in pairs(cjson.decode(rec)) do
				redis.call('HINCRBY', c, 'u:' .. u, '-' .. v)
				redis.call('HINCRBY', c, 'i:' .. u, '-' .. v)
			end
			redis.call('HDEL', r, id)
		end
		redis.call('ZREM', x, id)
	end
	return #ids
end
`

// luaCounters appends the window's counters (unit, value, …) to out.
const luaCounters = `
local function counters(c, out)
	local all = redis.call('HGETALL', c)
	for k = 1, #all, 2 do
		if string.sub(all[k], 1, 2) == 'u:' then
			out[#out + 1] = string.sub(all[k], 3)
			out[#out + 1] = all[k + 1]
		end
	end
	return out
end
`

// reserveScript: ARGV after the prelude's: id, expiry (ms), units, limits (each a count and
// pairs). Returns {-1} (counters missing), {-2, epoch} (id taken), or {0|1, epoch,
// counters…}: refused or reserved. Expired reservations are given back first; then every
// unit of the request that has a limit is checked, and only if all fit are all added.
var reserveScript = redis.NewScript(luaPrelude + `
local id, exp = arg(), arg()
local units, uorder = pairs_arg()
local limits = pairs_arg()
if not ensure() then return {-1} end
expire(c, r, x, ARGV[1], nil)
local e = redis.call('HGET', c, 'e')
if redis.call('HEXISTS', r, id) == 1 then return {-2, e} end
for _, u in ipairs(uorder) do
	local limit = limits[u]
	if limit and tonumber(redis.call('HGET', c, 'u:' .. u) or '0') + tonumber(units[u]) > tonumber(limit) then
		return counters(c, {0, e})
	end
end
local rec = {}
for _, u in ipairs(uorder) do
	local v = units[u]
	if v ~= '0' then
		redis.call('HINCRBY', c, 'u:' .. u, v)
		redis.call('HINCRBY', c, 'i:' .. u, v)
		rec[u] = v
	end
end
redis.call('HSET', r, id, cjson.encode(rec))
redis.call('ZADD', x, exp, id)
extend(c); extend(r); extend(x)
return counters(c, {1, e})
`)

// commitScript: ARGV after the prelude's: id, the epoch the reservation was taken in, its
// units. Returns {-1} (counters missing), {0, epoch} (nothing to commit: committed,
// released or expired already), {1, epoch, units} (committed: its units move from in
// flight to not yet in the store), or {2, epoch, units}: the reservation was lost with the
// counters it was taken from (Redis lost them; the new counters started from the store's,
// which never saw it), so its units are counted now.
var commitScript = redis.NewScript(luaPrelude + `
local id, resepoch = arg(), arg()
local units = pairs_arg()
if not ensure() then return {-1} end
local e = redis.call('HGET', c, 'e')
local rec = redis.call('HGET', r, id)
if rec then
	for u, v in pairs(cjson.decode(rec)) do
		redis.call('HINCRBY', c, 'i:' .. u, '-' .. v)
		redis.call('HINCRBY', c, 'p:' .. u, v)
	end
	redis.call('HDEL', r, id)
	redis.call('ZREM', x, id)
	return {1, e, rec}
end
if e == resepoch then return {0, e} end
local late = {}
for u, v in pairs(units) do
	if v ~= '0' then
		redis.call('HINCRBY', c, 'u:' .. u, v)
		redis.call('HINCRBY', c, 'p:' .. u, v)
		late[u] = v
	end
end
extend(c)
return {2, e, cjson.encode(late)}
`)

// releaseScript: KEYS c, r, x; ARGV id. Returns 1 if it gave the reservation back, 0 if
// there was none (idempotent).
var releaseScript = redis.NewScript(`
local c, r, x = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', c) == 0 then return 0 end
local rec = redis.call('HGET', r, ARGV[1])
if not rec then return 0 end
for u, v in pairs(cjson.decode(rec)) do
	redis.call('HINCRBY', c, 'u:' .. u, '-' .. v)
	redis.call('HINCRBY', c, 'i:' .. u, '-' .. v)
end
redis.call('HDEL', r, ARGV[1])
redis.call('ZREM', x, ARGV[1])
return 1
`)

// usedScript: KEYS c, r, x; ARGV now. Returns {-1} (no counters) or {1, counters…}, after
// giving back expired reservations.
var usedScript = redis.NewScript(luaExpire + luaCounters + `
local c, r, x = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', c) == 0 then return {-1} end
expire(c, r, x, ARGV[1], nil)
return counters(c, {1})
`)

// expireScript: KEYS c, r, x; ARGV now, max. Gives back at most max expired reservations
// and returns how many it looked at.
var expireScript = redis.NewScript(luaExpire + `
local c, r, x = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', c) == 0 then redis.call('DEL', r, x); return 0 end
return expire(c, r, x, ARGV[1], tonumber(ARGV[2]))
`)

// ackScript: KEYS c; ARGV the epoch some units were committed in, the syncer's id, and per
// unit (a count, then unit, total, told) the units of that epoch the syncer has put in the
// store's counters so far and how many of them Redis had confirmed. Totals, not batches,
// so that an acknowledgement applied twice — it timed out yet ran, and was sent again —
// counts once. What is new since the last acknowledgement leaves p: it is in the store
// now. If the counters were lost and created again since (another epoch), they started
// from the store's, which held at least what had been confirmed, but maybe not the rest:
// the rest is added to u (counting twice rather than not at all). Returns 0 (no
// counters), 1 or 2 (another epoch).
var ackScript = redis.NewScript(`
local c = KEYS[1]
if redis.call('EXISTS', c) == 0 then return 0 end
local same = redis.call('HGET', c, 'e') == ARGV[1]
local n = tonumber(ARGV[3])
for k = 0, n - 1 do
	local u, total, told = ARGV[4 + 3 * k], ARGV[5 + 3 * k], ARGV[6 + 3 * k]
	local f = 's:' .. ARGV[2] .. ':' .. ARGV[1] .. ':' .. u
	local d = tonumber(total) - tonumber(redis.call('HGET', c, f) or told)
	if d > 0 then
		redis.call('HSET', c, f, total)
		if not same then
			redis.call('HINCRBY', c, 'u:' .. u, string.format('%.0f', d))
		elseif redis.call('HINCRBY', c, 'p:' .. u, string.format('%.0f', -d)) < 0 then
			redis.call('HSET', c, 'p:' .. u, '0')
		end
	end
end
redis.call('HINCRBY', c, 'g', 1)
if same then return 1 end
return 2
`)

// rebaseScript: KEYS c; ARGV epoch, generation (as read before the store was), the store's
// counters (a count and pairs). Raises every counter to what the store counts plus what
// only Redis knows (units in flight here, units committed here but not in the store yet),
// never lowers one. Returns 0 if the counters changed in a way the store's values may not
// reflect (try again), 1 when done (or when there are no counters: they will start from
// the store's).
var rebaseScript = redis.NewScript(`
local c = KEYS[1]
if redis.call('EXISTS', c) == 0 then return 1 end
if redis.call('HGET', c, 'e') ~= ARGV[1] or redis.call('HGET', c, 'g') ~= ARGV[2] then return 0 end
local n = tonumber(ARGV[3])
for k = 0, n - 1 do
	local u = ARGV[4 + 2 * k]
	local want = tonumber(ARGV[5 + 2 * k]) + tonumber(redis.call('HGET', c, 'i:' .. u) or '0')
		+ tonumber(redis.call('HGET', c, 'p:' .. u) or '0')
	if want > tonumber(redis.call('HGET', c, 'u:' .. u) or '0') then
		redis.call('HSET', c, 'u:' .. u, string.format('%.0f', want))
	end
end
redis.call('HINCRBY', c, 'g', 1)
return 1
`)

// RedisLedger is a Ledger on Redis, shared by every replica: one Lua script checks and
// reserves, so concurrent reservations never overshoot. A window's counters start from the
// store's; units committed here are added to the store's counters in batches (see the
// package comment). It fails closed: when Redis does not answer, its methods return an
// error wrapping ErrRedis (Failover turns to the store then). It is safe for concurrent
// use; Close it to write what is pending.
type RedisLedger struct {
	client      *redis.Client
	store       Store
	o           Options
	ctxTimeouts bool // the client honours context deadlines by itself
	sync        *syncer
}

// NewRedisLedger returns a ledger on client whose windows start from store's counters, and
// starts adding units committed in Redis to store every o.SyncEvery.
func NewRedisLedger(client *redis.Client, store Store, o Options) *RedisLedger {
	o = o.withDefaults()
	l := &RedisLedger{client: client, store: store, o: o, ctxTimeouts: client.Options().ContextTimeoutEnabled}
	l.sync = newSyncer(store, l, o)
	return l
}

// Close writes the units committed in Redis that the store does not count yet, and stops.
func (l *RedisLedger) Close() error { return l.sync.close() }

func (l *RedisLedger) base(k winKey) string {
	return l.o.Prefix + strconv.FormatInt(k.org, 10) + ":" + url.QueryEscape(k.service) + ":" + url.QueryEscape(k.window)
}

func (l *RedisLedger) keys(k winKey) []string {
	b := l.base(k)
	return []string{b + ":c", b + ":r", b + ":x", l.o.Prefix + "windows"}
}

// do runs f with the per-call timeout (see call).
func (l *RedisLedger) do(ctx context.Context, f func(context.Context) error) error {
	_, err := call(ctx, l, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// call runs f with the per-call timeout. When the client would not honour the deadline
// (ContextTimeoutEnabled off, as redislimit.NewClient leaves it), f runs in a goroutine of
// its own that is abandoned at the deadline; it ends by the client's own timeouts. An error
// is ctx's when ctx ended, else a redisError.
func call[T any](ctx context.Context, l *RedisLedger, f func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	cctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	var r result
	if l.ctxTimeouts {
		r.v, r.err = f(cctx)
	} else {
		done := make(chan result, 1)
		go func() {
			v, err := f(cctx)
			done <- result{v, err}
		}()
		select {
		case r = <-done:
		case <-cctx.Done():
			r.err = cctx.Err()
		}
	}
	if r.err == nil {
		return r.v, nil
	}
	if ctx.Err() != nil {
		return zero, ctx.Err()
	}
	return zero, &redisError{r.err}
}

func (l *RedisLedger) script(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]any, error) {
	return call(ctx, l, func(ctx context.Context) ([]any, error) {
		return s.Run(ctx, l.client, keys, args...).Slice()
	})
}

func (l *RedisLedger) scriptInt(ctx context.Context, s *redis.Script, keys []string, args ...any) (int64, error) {
	return call(ctx, l, func(ctx context.Context) (int64, error) {
		return s.Run(ctx, l.client, keys, args...).Int64()
	})
}

// withInit runs one of the scripts with luaPrelude; when the window's counters do not
// exist, it reads the store's and runs it again with them (the script creates the
// counters only if they still do not exist: two replicas doing so at once count once).
func (l *RedisLedger) withInit(ctx context.Context, s *redis.Script, k winKey, target time.Time, tail []any) ([]any, error) {
	keys := l.keys(k)
	head := []any{l.o.Now().UnixMilli(), target.UnixMilli(), l.base(k), newEpoch(), "0", 0}
	res, err := l.script(ctx, s, keys, append(head, tail...)...)
	if err != nil || status(res) != -1 {
		return res, err
	}
	used, err := l.store.BudgetUsed(ctx, k.org, k.service, k.window)
	if err != nil {
		return nil, fmt.Errorf("budgets: reading the store's counters of %d/%s/%s: %w", k.org, k.service, k.window, err)
	}
	head = append(head[:4], "1")
	head = appendUnits(head, used)
	res, err = l.script(ctx, s, keys, append(head, tail...)...)
	if err == nil && status(res) == -1 {
		err = &redisError{errors.New("the window's counters are missing after they were created")}
	}
	return res, err
}

// Reserve implements Ledger. On success r.ID becomes "redis:<epoch>:<id>".
func (l *RedisLedger) Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	if err := check(r, limits); err != nil {
		return false, nil, err
	}
	end, _ := windowEnd(r.Window)
	tail := []any{r.ID, r.ExpiresAt.UnixMilli()}
	tail = appendUnits(tail, r.Units)
	tail = appendUnits(tail, limits)
	res, err := l.withInit(ctx, reserveScript, keyOf(r), later(end, r.ExpiresAt).Add(l.o.KeyGrace), tail)
	if err != nil {
		return false, nil, err
	}
	switch status(res) {
	case -2:
		return false, nil, aiproxy.Errorf(aiproxy.ECONFLICT, "Budget reservation %q exists.", r.ID)
	case 0, 1:
	default:
		return false, nil, &redisError{fmt.Errorf("unexpected answer %v", res)}
	}
	if len(res) < 2 {
		return false, nil, &redisError{fmt.Errorf("unexpected answer %v", res)}
	}
	used, err := parseCounters(res[2:])
	if err != nil {
		return false, nil, &redisError{err}
	}
	if status(res) == 0 {
		return false, used, nil
	}
	r.ID = redisID(fmt.Sprint(res[1]), r.ID)
	return true, used, nil
}

// Commit implements Ledger. The units committed are added to the store's counters within
// SyncEvery.
func (l *RedisLedger) Commit(ctx context.Context, r *aiproxy.BudgetReservation) error {
	return l.commit(context.WithoutCancel(ctx), r, false)
}

// commit commits r in Redis. again says an earlier try of this commit failed without an
// answer: it may have run, and then this one finds no reservation to commit; its units are
// then counted in Redis as committed but not in the store yet, and are given to the syncer
// as the earlier try would have (were they not, the store would never count them).
func (l *RedisLedger) commit(ctx context.Context, r *aiproxy.BudgetReservation, again bool) error {
	epoch, id, ok := parseRedisID(r.ID)
	if !ok {
		return aiproxy.Errorf(aiproxy.EINVALID, "Budget reservation %q was not taken in Redis.", r.ID)
	}
	end, err := windowEnd(r.Window)
	if err != nil {
		return err
	}
	tail := appendUnits([]any{id, epoch}, r.Units)
	res, err := l.withInit(ctx, commitScript, keyOf(r), end.Add(l.o.KeyGrace), tail)
	if err != nil {
		return err
	}
	switch st := status(res); {
	case st == 0:
		if again {
			l.sync.add(syncKey{keyOf(r), epoch}, nonZero(r.Units))
		}
		return nil
	case (st == 1 || st == 2) && len(res) == 3:
		var units map[string]string
		if err := json.Unmarshal([]byte(fmt.Sprint(res[2])), &units); err != nil {
			return &redisError{fmt.Errorf("reservation %q: %w", id, err)}
		}
		us := aiproxy.Units{}
		for u, v := range units {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return &redisError{fmt.Errorf("reservation %q: %w", id, err)}
			}
			us[u] = n
		}
		l.sync.add(syncKey{keyOf(r), fmt.Sprint(res[1])}, us)
		return nil
	default:
		return &redisError{fmt.Errorf("unexpected answer %v", res)}
	}
}

// Release implements Ledger.
func (l *RedisLedger) Release(ctx context.Context, r *aiproxy.BudgetReservation) error {
	_, id, ok := parseRedisID(r.ID)
	if !ok {
		return aiproxy.Errorf(aiproxy.EINVALID, "Budget reservation %q was not taken in Redis.", r.ID)
	}
	_, err := l.scriptInt(context.WithoutCancel(ctx), releaseScript, l.keys(keyOf(r))[:3], id)
	return err
}

// Used implements Ledger: the window's counters in Redis (reserved and committed), after
// giving back expired reservations; the store's when Redis has none for the window.
func (l *RedisLedger) Used(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error) {
	k := winKey{orgID, service, window}
	res, err := l.script(ctx, usedScript, l.keys(k)[:3], l.o.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	switch status(res) {
	case -1:
		return l.store.BudgetUsed(ctx, orgID, service, window)
	case 1:
	default:
		return nil, &redisError{fmt.Errorf("unexpected answer %v", res)}
	}
	used, err := parseCounters(res[1:])
	if err != nil {
		return nil, &redisError{err}
	}
	return used, nil
}

// sweepBatch bounds the reservations one script gives back.
const sweepBatch = 500

// Sweep gives back the reservations past their ExpiresAt in every window, and returns how
// many. (Reserve and Used give back those of their window anyway; Sweep catches windows
// nobody uses any more.)
func (l *RedisLedger) Sweep(ctx context.Context) (int, error) {
	idx := l.o.Prefix + "windows"
	now := l.o.Now().UnixMilli()
	bases, err := call(ctx, l, func(ctx context.Context) ([]string, error) {
		bases, err := l.client.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, ByScore: true, Start: "(" + strconv.FormatInt(now, 10), Stop: "+inf"}).Result()
		if err != nil {
			return nil, err
		}
		return bases, l.client.ZRemRangeByScore(ctx, idx, "-inf", "("+strconv.FormatInt(now, 10)).Err()
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, b := range bases {
		for {
			n, err := l.scriptInt(ctx, expireScript, []string{b + ":c", b + ":r", b + ":x"}, now, sweepBatch)
			if err != nil {
				return total, err
			}
			total += int(n)
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
}

// ack tells Redis that the syncer has put total units committed in k.epoch in the store's
// counters, told of them confirmed already (see ackScript).
func (l *RedisLedger) ack(ctx context.Context, k syncKey, syncer string, total, told aiproxy.Units) error {
	args := []any{k.epoch, syncer, len(total)}
	for _, u := range slices.Sorted(maps.Keys(total)) {
		args = append(args, u, strconv.FormatInt(total[u], 10), strconv.FormatInt(told[u], 10))
	}
	_, err := l.scriptInt(ctx, ackScript, l.keys(k.winKey)[:1], args...)
	return err
}

// rebaseTries bounds how often rebase reads the store again because the counters moved.
const rebaseTries = 5

// rebase raises the window's counters to the store's plus what only Redis knows (see
// rebaseScript): Failover calls it when Redis answers again, for every window it reserved
// in the store meanwhile. The epoch and generation are read before the store, and the
// script applies the store's counters only if neither changed since: a batch of units
// that reached the store after the read would otherwise be counted by neither.
func (l *RedisLedger) rebase(ctx context.Context, k winKey) error {
	c := l.keys(k)[0]
	for range rebaseTries {
		v, err := call(ctx, l, func(ctx context.Context) ([]any, error) {
			return l.client.HMGet(ctx, c, "e", "g").Result()
		})
		if err != nil {
			return err
		}
		if len(v) != 2 || v[0] == nil || v[1] == nil {
			return nil // no counters: they will start from the store's
		}
		used, err := l.store.BudgetUsed(ctx, k.org, k.service, k.window)
		if err != nil {
			return err
		}
		n, err := l.scriptInt(ctx, rebaseScript, []string{c}, appendUnits([]any{v[0], v[1]}, used)...)
		if err != nil || n == 1 {
			return err
		}
	}
	return &redisError{fmt.Errorf("the counters of %s kept changing", c)}
}

// ping reports whether Redis answers.
func (l *RedisLedger) ping(ctx context.Context) error {
	return l.do(ctx, func(ctx context.Context) error { return l.client.Ping(ctx).Err() })
}

// appendUnits appends a count and unit/value pairs, in unit order.
func appendUnits(args []any, us aiproxy.Units) []any {
	args = append(args, len(us))
	for _, u := range slices.Sorted(maps.Keys(us)) {
		args = append(args, u, strconv.FormatInt(us[u], 10))
	}
	return args
}

func status(res []any) int64 {
	if len(res) == 0 {
		return -100
	}
	n, ok := res[0].(int64)
	if !ok {
		return -100
	}
	return n
}

// parseCounters reads unit/value pairs, keeping the units not zero.
func parseCounters(flat []any) (aiproxy.Units, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("odd counters %v", flat)
	}
	used := aiproxy.Units{}
	for k := 0; k < len(flat); k += 2 {
		n, err := strconv.ParseInt(fmt.Sprint(flat[k+1]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("counter %v: %w", flat[k], err)
		}
		if n != 0 {
			used[fmt.Sprint(flat[k])] = n
		}
	}
	return used, nil
}

func newEpoch() string { return newID()[:12] }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
