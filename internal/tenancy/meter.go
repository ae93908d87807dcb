package tenancy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// usageStore is the part of the store the meter writes to.
type usageStore interface {
	AddUsage(ctx context.Context, deltas []aiproxy.UsageDelta) error
}

// meterFlush is how often the meter writes what it collected.
const meterFlush = time.Second

// Meter collects usage in memory and writes it to the store in one transaction a second
// (and at Close), so that metering costs an invoke a map update rather than a database
// write. What a crash can lose is the last second of usage records; budgets do not depend
// on it (their reservations are written before the upstream call).
type Meter struct {
	store  usageStore
	logger *slog.Logger

	mu      sync.Mutex
	pending map[usageKey]*aiproxy.UsageDelta
	stop    chan struct{}
	done    chan struct{}
}

type usageKey struct {
	org             int64
	service, action string
	source          aiproxy.Source
	day             string
}

// NewMeter starts a meter writing to store. Close it to write what is pending.
func NewMeter(store usageStore, logger *slog.Logger) *Meter {
	if logger == nil {
		logger = slog.Default()
	}
	m := &Meter{store: store, logger: logger, pending: map[usageKey]*aiproxy.UsageDelta{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	return m
}

// Record adds d to what will be written (d.Day is set from at when empty).
func (m *Meter) Record(d aiproxy.UsageDelta, at time.Time) {
	if m == nil {
		return
	}
	if d.Day == "" {
		d.Day = at.UTC().Format(time.DateOnly)
	}
	k := usageKey{d.OrgID, d.Service, d.Action, d.Source, d.Day}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pending[k]
	if p == nil {
		p = &aiproxy.UsageDelta{OrgID: d.OrgID, Service: d.Service, Action: d.Action, Source: d.Source, Day: d.Day}
		m.pending[k] = p
	}
	p.Calls += d.Calls
	p.BillableCalls += d.BillableCalls
	p.FailedCalls += d.FailedCalls
	p.Refused += d.Refused
	p.Replayed += d.Replayed
	for u, n := range d.Units {
		if n == 0 {
			continue
		}
		if p.Units == nil {
			p.Units = aiproxy.Units{}
		}
		p.Units[u] += n
	}
}

func (m *Meter) loop() {
	defer close(m.done)
	t := time.NewTicker(meterFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Flush(context.Background())
		case <-m.stop:
			m.Flush(context.Background())
			return
		}
	}
}

// Flush writes what is pending now. On failure the deltas are kept for the next flush
// (a store outage delays usage records, it does not lose them while the process runs).
func (m *Meter) Flush(ctx context.Context) {
	m.mu.Lock()
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return
	}
	batch := m.pending
	m.pending = map[usageKey]*aiproxy.UsageDelta{}
	m.mu.Unlock()
	deltas := make([]aiproxy.UsageDelta, 0, len(batch))
	for _, d := range batch {
		deltas = append(deltas, *d)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.store.AddUsage(ctx, deltas); err != nil {
		m.logger.Warn("recording usage failed; kept for the next attempt", slog.String("error", err.Error()))
		for _, d := range deltas {
			m.Record(d, time.Time{})
		}
	}
}

// Close writes what is pending and stops the meter.
func (m *Meter) Close() {
	if m == nil {
		return
	}
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}
