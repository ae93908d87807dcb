package budgets

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy"
)

// syncHold is how long past its window a store reservation that carries units committed in
// Redis may stay uncommitted (if the replica died between reserving and committing it)
// before the store's sweeper gives it back: long after anyone checks the window.
const syncHold = 366 * 24 * time.Hour

// flushTimeout bounds one flush of the syncer.
const flushTimeout = 5 * time.Second

// warnEvery bounds how often the same warning is logged.
const warnEvery = 10 * time.Second

// syncKey names units to add to one window's store counters: epoch is the epoch of the
// Redis counters they were committed in, whose p they are to leave once in the store; ""
// for units Redis does not count in p.
type syncKey struct {
	winKey
	epoch string
}

// acked is what a syncer put in the store of the units committed in one window and epoch,
// and how much of it Redis was told.
type acked struct {
	written, told aiproxy.Units
	end           time.Time // of the window
}

// syncer adds units committed in Redis to the store's counters, in batches like the
// gateway's touch batcher: per window, one store reservation without limits committed at
// once, every SyncEvery. Then it tells Redis (ack) that those units are in the store, so
// that the Redis counters can be raised to the store's without counting them twice (see
// rebaseScript); it tells Redis the totals it has written, not the batches, so that an
// acknowledgement that timed out yet ran can be sent again safely. What the store does not
// take stays pending and is tried again.
type syncer struct {
	store  Store
	redis  *RedisLedger
	logger *slog.Logger
	grace  time.Duration

	mu      sync.Mutex
	pending map[syncKey]aiproxy.Units // not in the store yet
	open    []string                  // store reservations taken but not committed yet

	id      string // names this syncer's acknowledgements in Redis
	flushMu sync.Mutex
	acks    map[syncKey]*acked // under flushMu

	lastWarn  atomicTime
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

func newSyncer(store Store, redis *RedisLedger, o Options) *syncer {
	s := &syncer{
		store: store, redis: redis, logger: o.Logger, id: newEpoch(), grace: o.KeyGrace,
		pending: map[syncKey]aiproxy.Units{}, acks: map[syncKey]*acked{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.loop(o.SyncEvery)
	return s
}

func (s *syncer) add(k syncKey, units aiproxy.Units) {
	s.mu.Lock()
	defer s.mu.Unlock()
	merge(s.pending, k, units)
}

func merge(m map[syncKey]aiproxy.Units, k syncKey, units aiproxy.Units) {
	if len(units) == 0 {
		return
	}
	sum := m[k]
	if sum == nil {
		sum = aiproxy.Units{}
		m[k] = sum
	}
	for u, n := range units {
		sum[u] += n
	}
}

// write adds units to the window's store counters now.
func (s *syncer) write(ctx context.Context, k winKey, units aiproxy.Units) error {
	end, err := windowEnd(k.window)
	if err != nil {
		return err
	}
	r := &aiproxy.BudgetReservation{ID: "sync:" + newID(), OrgID: k.org, Service: k.service, Window: k.window,
		Units: units, ExpiresAt: end.Add(syncHold)}
	ok, _, err := s.store.ReserveBudget(ctx, r, nil)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("budgets: the store refused to count %v without limits", units)
	}
	if err := s.store.CommitBudget(ctx, r.ID); err != nil {
		// Counted already; only the commit is tried again (reserving again would count twice).
		s.mu.Lock()
		s.open = append(s.open, r.ID)
		s.mu.Unlock()
	}
	return nil
}

// flush writes what is pending to the store, then (acks) tells Redis. It returns the first
// error; what failed stays pending.
func (s *syncer) flush(ctx context.Context, acks bool) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	pending, open := s.pending, s.open
	s.pending, s.open = map[syncKey]aiproxy.Units{}, nil
	s.mu.Unlock()

	var first error
	for k, units := range pending {
		if first == nil {
			if first = s.write(ctx, k.winKey, units); first == nil {
				if k.epoch != "" {
					s.wrote(k, units)
				}
				continue
			}
		}
		s.add(k, units) // after a failure the rest waits for the next flush
	}
	for _, id := range open {
		if err := s.store.CommitBudget(ctx, id); err != nil {
			s.mu.Lock()
			s.open = append(s.open, id)
			s.mu.Unlock()
			if first == nil {
				first = err
			}
		}
	}
	if acks {
		now := time.Now()
		for k, a := range s.acks {
			if !equalCounts(a.written, a.told) {
				if err := s.redis.ack(ctx, k, s.id, a.written, a.told); err != nil {
					if first == nil {
						first = err
					}
					break // Redis is away: the rest waits too
				}
				a.told = maps.Clone(a.written)
			}
			if now.After(a.end.Add(s.grace)) {
				delete(s.acks, k) // the window's keys are gone
			}
		}
	}
	return first
}

// wrote records that units committed in k.epoch are in the store (under flushMu).
func (s *syncer) wrote(k syncKey, units aiproxy.Units) {
	a := s.acks[k]
	if a == nil {
		end, _ := windowEnd(k.window)
		a = &acked{written: aiproxy.Units{}, told: aiproxy.Units{}, end: end}
		s.acks[k] = a
	}
	for u, n := range units {
		a.written[u] += n
	}
}

func equalCounts(a, b aiproxy.Units) bool {
	if len(a) != len(b) {
		return false
	}
	for u, n := range a {
		if m, ok := b[u]; !ok || m != n {
			return false
		}
	}
	return true
}

func (s *syncer) loop(every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			if err := s.flush(ctx, true); err != nil && s.lastWarn.advance(time.Now(), warnEvery) {
				s.logger.Warn("budgets: adding units committed in Redis to the store's counters failed; will retry",
					slog.String("error", err.Error()))
			}
			cancel()
		case <-s.stop:
			return
		}
	}
}

// close stops the loop and flushes a last time.
func (s *syncer) close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		s.closeErr = s.flush(ctx, true)
	})
	return s.closeErr
}

// atomicTime is a time that advances by compare-and-swap.
type atomicTime struct{ ns atomic.Int64 }

// advance sets the time to now and reports true if it was unset or at least every before.
func (a *atomicTime) advance(now time.Time, every time.Duration) bool {
	last, n := a.ns.Load(), now.UnixNano()
	if last != 0 && n-last < int64(every) {
		return false
	}
	return a.ns.CompareAndSwap(last, n)
}
