package budgets

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/redis/go-redis/v9"
)

// recoverTimeout bounds bringing Redis's counters up to the store's when it answers again.
const recoverTimeout = 5 * time.Second

// Failover is the Ledger the gateway uses with Redis: reservations are kept in Redis, and
// in the store while Redis does not answer (it fails over, never open). See the package
// comment for how the counters stay complete across the switches, and the bound of what
// may still overshoot. It is safe for concurrent use; Close it to write what is pending.
type Failover struct {
	redis *RedisLedger
	store *StoreLedger
	o     Options

	// mu orders the switches (held to write) against reservations being taken in Redis
	// and what the store does for Redis while it is away (held to read): reserving in the
	// store, committing Redis reservations.
	mu         sync.RWMutex
	down       atomic.Bool  // Redis is away: reserve in the store
	retryAt    atomic.Int64 // unix nanoseconds; Redis is not tried before while down
	recovering atomic.Bool

	dmu   sync.Mutex
	dirty map[winKey]struct{} // windows the store counted for Redis while it was away

	tmu      sync.Mutex
	inflight map[string]inflight // reservations taken (or being taken) in Redis, by id

	lastWarn atomicTime
	outages  atomic.Int64 // Redis failures seen since the last warning
}

// inflight is a reservation held in Redis, as this replica knows it.
type inflight struct {
	key     winKey
	units   aiproxy.Units
	expires time.Time
}

// NewFailover returns the Redis-first ledger over client and store.
func NewFailover(client *redis.Client, store Store, o Options) *Failover {
	o = o.withDefaults()
	return &Failover{
		redis:    NewRedisLedger(client, store, o),
		store:    NewStoreLedger(store, o),
		o:        o,
		dirty:    map[winKey]struct{}{},
		inflight: map[string]inflight{},
	}
}

// Close writes the units committed in Redis that the store does not count yet.
func (f *Failover) Close() error { return f.redis.Close() }

// Degraded reports whether reservations go to the store because Redis did not answer.
func (f *Failover) Degraded() bool { return f.down.Load() }

// switchTries bounds how often one call follows a switch between Redis and the store.
const switchTries = 4

// Reserve implements Ledger. r.ID becomes "redis:<epoch>:<id>" or "store:<id>" (with
// another <id> when a try in Redis failed).
func (f *Failover) Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	if err := check(r, limits); err != nil {
		return false, nil, err
	}
	id := r.ID
	for range switchTries {
		if f.redisUp() {
			if ok, used, tried, err := f.reserveInRedis(ctx, r, id, limits); tried {
				if err == nil {
					return ok, used, nil
				}
				if ctx.Err() != nil || !errors.Is(err, ErrRedis) {
					return false, nil, err
				}
				f.fail(err)
				// If the script ran after all, its reservation is never used and expires;
				// the next try (Redis may be back before the store is tried) takes another
				// ID.
				id = newID()
				r.ID = id
				continue
			}
		}
		if ok, used, done, err := f.reserveInStore(ctx, r, id, limits); done {
			return ok, used, err
		}
	}
	return false, nil, aiproxy.Errorf(aiproxy.EUNAVAILABLE, "Budgets are unavailable: Redis keeps coming and going.")
}

// reserveInRedis reserves in Redis unless it went away meanwhile (tried false). The read
// lock keeps a switch to the store from being made while the reservation is being taken:
// when the store starts reserving, what this replica holds in Redis is then known, not
// guessed from tries whose outcome is not (counting those refused requests that fit, and
// said more was used than the limit). A switch waits for the tries in progress, each
// bounded by Options.Timeout.
func (f *Failover) reserveInRedis(ctx context.Context, r *aiproxy.BudgetReservation, id string, limits aiproxy.Units) (ok bool, used aiproxy.Units, tried bool, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.down.Load() {
		return false, nil, false, nil
	}
	f.track(id, r)
	ok, used, err = f.redis.Reserve(ctx, r, limits)
	if err != nil || !ok {
		f.untrack(id)
	}
	return ok, used, true, err
}

// reserveInStore reserves in the store while Redis is away (done false: it is back). The
// limits are lowered by what this replica holds in Redis for the window: reservations
// taken there before the switch, which the store does not count until they commit.
func (f *Failover) reserveInStore(ctx context.Context, r *aiproxy.BudgetReservation, id string, limits aiproxy.Units) (ok bool, used aiproxy.Units, done bool, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.down.Load() {
		return false, nil, false, nil
	}
	k := keyOf(r)
	held := f.held(k)
	lowered := aiproxy.Units{}
	for u, n := range limits {
		lowered[u] = n - held[u]
	}
	f.markDirty(k)
	r.ID = storeTag + id
	ok, used, err = f.store.Reserve(ctx, r, lowered)
	if err != nil || !ok {
		r.ID = id
	}
	if err != nil {
		return false, nil, true, err
	}
	all := aiproxy.Units{}
	for _, us := range []aiproxy.Units{used, held} {
		for u, n := range us {
			all[u] += n
		}
	}
	return ok, nonZero(all), true, nil
}

// Commit implements Ledger. A reservation taken in Redis is committed there; while Redis is
// away its units are written to the store's counters at once instead (the reservation
// left in Redis expires there, and the window is brought up to the store's when Redis is
// back).
func (f *Failover) Commit(ctx context.Context, r *aiproxy.BudgetReservation) error {
	ctx = context.WithoutCancel(ctx)
	if strings.HasPrefix(r.ID, storeTag) {
		return f.store.Commit(ctx, r)
	}
	_, id, ok := parseRedisID(r.ID)
	if !ok {
		return aiproxy.Errorf(aiproxy.EINVALID, "Budget reservation %q was not taken by this ledger.", r.ID)
	}
	again := false // a try in Redis failed without an answer: it may have run
	for range switchTries {
		if !f.down.Load() {
			err := f.redis.commit(ctx, r, again)
			if err == nil {
				f.committedInRedis(ctx, id)
				return nil
			}
			if !errors.Is(err, ErrRedis) {
				return err
			}
			again = true
			f.fail(err)
		}
		if done, err := f.commitInStore(ctx, r, id); done {
			return err
		}
	}
	return aiproxy.Errorf(aiproxy.EUNAVAILABLE, "Budgets are unavailable: Redis keeps coming and going.")
}

// committedInRedis forgets a reservation committed in Redis. If Redis went away meanwhile,
// the store reserves now and must count these units before they stop counting as held:
// the batch is written at once.
func (f *Failover) committedInRedis(ctx context.Context, id string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.down.Load() {
		fctx, cancel := context.WithTimeout(ctx, flushTimeout)
		_ = f.redis.sync.flush(fctx, false) // what fails stays pending, and the store is failing then
		cancel()
	}
	f.untrack(id)
}

// commitInStore writes a Redis reservation's units to the store while Redis is away (done
// false: it is back).
func (f *Failover) commitInStore(ctx context.Context, r *aiproxy.BudgetReservation, id string) (done bool, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.down.Load() {
		return false, nil
	}
	k := keyOf(r)
	units := r.Units
	f.tmu.Lock()
	if t, ok := f.inflight[id]; ok {
		units = t.units
	}
	f.tmu.Unlock()
	f.markDirty(k)
	if err := f.redis.sync.write(ctx, k, nonZero(units)); err != nil {
		f.redis.sync.add(syncKey{winKey: k}, nonZero(units)) // written with the next batch
		f.warn("budgets: could not write a commit to the store; will retry", err)
	}
	f.untrack(id)
	return true, nil
}

// Release implements Ledger. While Redis is away a reservation taken there is left to
// expire there (until then Redis counts it: more, never less).
func (f *Failover) Release(ctx context.Context, r *aiproxy.BudgetReservation) error {
	ctx = context.WithoutCancel(ctx)
	if strings.HasPrefix(r.ID, storeTag) {
		return f.store.Release(ctx, r)
	}
	_, id, ok := parseRedisID(r.ID)
	if !ok {
		return aiproxy.Errorf(aiproxy.EINVALID, "Budget reservation %q was not taken by this ledger.", r.ID)
	}
	defer f.untrack(id)
	if f.down.Load() {
		return nil
	}
	err := f.redis.Release(ctx, r)
	if err != nil && errors.Is(err, ErrRedis) {
		f.fail(err)
		return nil
	}
	return err
}

// Used implements Ledger: Redis's counters, or the store's while Redis is away.
func (f *Failover) Used(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error) {
	if f.redisUp() {
		used, err := f.redis.Used(ctx, orgID, service, window)
		if err == nil || ctx.Err() != nil || !errors.Is(err, ErrRedis) {
			return used, err
		}
		f.fail(err)
	}
	return f.store.Used(ctx, orgID, service, window)
}

// Sweep gives back expired reservations, in the store and in Redis, and returns how many.
// Run it now and then (it also tries Redis again when it was away and nothing else did).
func (f *Failover) Sweep(ctx context.Context) (int, error) {
	n, err := f.store.Sweep(ctx)
	if err != nil {
		return n, err
	}
	now := f.o.Now()
	f.tmu.Lock()
	for id, t := range f.inflight {
		if t.expires.Before(now) {
			delete(f.inflight, id)
		}
	}
	f.tmu.Unlock()
	if !f.redisUp() {
		return n, nil
	}
	m, err := f.redis.Sweep(ctx)
	if err != nil && errors.Is(err, ErrRedis) && ctx.Err() == nil {
		f.fail(err)
		err = nil
	}
	return n + m, err
}

// redisUp reports whether to use Redis; while it is away, the first caller after
// RetryAfter tries it and, if it answers, brings it back.
func (f *Failover) redisUp() bool {
	if !f.down.Load() {
		return true
	}
	if f.o.Now().UnixNano() < f.retryAt.Load() || !f.recovering.CompareAndSwap(false, true) {
		return false
	}
	defer f.recovering.Store(false)
	return f.recover()
}

// fail switches to the store. Before the first reservation there, units committed in Redis
// that the store does not count yet are written (as much as the store takes).
func (f *Failover) fail(err error) {
	f.outages.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAt.Store(f.o.Now().Add(f.o.RetryAfter).UnixNano())
	if f.down.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if ferr := f.redis.sync.flush(ctx, false); ferr != nil {
		f.o.Logger.Warn("budgets: could not write units committed in Redis to the store before failing over",
			slog.String("error", ferr.Error()))
	}
	f.down.Store(true)
	f.warn("budgets: Redis did not answer; reserving budgets in the store until it does (failing over, not open)", err)
}

// recover brings Redis back if it answers: with reservations to the store stopped, units
// pending for the store are written (and acknowledged to Redis), and every window the store counted for Redis
// meanwhile has its Redis counters raised to the store's (rebase). If anything fails,
// Redis stays away for another RetryAfter.
func (f *Failover) recover() bool {
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	retry := func(err error) bool {
		f.retryAt.Store(f.o.Now().Add(f.o.RetryAfter).UnixNano())
		if err != nil {
			f.warn("budgets: Redis is still away; reserving budgets in the store", err)
		}
		return false
	}
	if err := f.redis.ping(ctx); err != nil {
		return retry(nil)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down.Load() {
		return true
	}
	// Acknowledged too: batches written while Redis was away would otherwise be counted
	// both in the store's counters and in Redis's "not yet in the store".
	if err := f.redis.sync.flush(ctx, true); err != nil {
		return retry(err)
	}
	f.dmu.Lock()
	dirty := make([]winKey, 0, len(f.dirty))
	for k := range f.dirty {
		dirty = append(dirty, k)
	}
	f.dmu.Unlock()
	for _, k := range dirty {
		if err := f.redis.rebase(ctx, k); err != nil {
			return retry(err)
		}
		f.dmu.Lock()
		delete(f.dirty, k)
		f.dmu.Unlock()
	}
	f.down.Store(false)
	f.o.Logger.Info("budgets: Redis answers again; reserving budgets there",
		slog.Int("windows_brought_up_to_the_store", len(dirty)))
	return true
}

func (f *Failover) markDirty(k winKey) {
	f.dmu.Lock()
	f.dirty[k] = struct{}{}
	f.dmu.Unlock()
}

func (f *Failover) track(id string, r *aiproxy.BudgetReservation) {
	f.tmu.Lock()
	f.inflight[id] = inflight{key: keyOf(r), units: nonZero(r.Units), expires: r.ExpiresAt}
	f.tmu.Unlock()
}

func (f *Failover) untrack(id string) {
	f.tmu.Lock()
	delete(f.inflight, id)
	f.tmu.Unlock()
}

// held sums the units this replica holds in Redis for k, expired reservations aside.
func (f *Failover) held(k winKey) aiproxy.Units {
	now := f.o.Now()
	sum := aiproxy.Units{}
	f.tmu.Lock()
	defer f.tmu.Unlock()
	for _, t := range f.inflight {
		if t.key == k && !t.expires.Before(now) {
			for u, n := range t.units {
				sum[u] += n
			}
		}
	}
	return sum
}

// warn logs at most once every warnEvery.
func (f *Failover) warn(msg string, err error) {
	if !f.lastWarn.advance(f.o.Now(), warnEvery) {
		return
	}
	f.o.Logger.Warn(msg, slog.String("error", err.Error()), slog.Int64("redis_failures", f.outages.Swap(0)))
}
