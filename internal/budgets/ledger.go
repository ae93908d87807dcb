package budgets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Ledger keeps the counters of budget windows and the reservations taken from them.
//
// Reserve adds r.Units to the counters of (r.OrgID, r.Service, r.Window) if, for every
// unit of r.Units that has a limit, used + n stays within it (units without a limit are
// counted but never refuse), atomically across replicas; it returns whether it reserved
// and the window's counters after (as they were, when refused), the units not zero. r gets
// a random ID when it has none, and a ledger may rewrite r.ID to record where the
// reservation is kept: Commit and Release need the r that Reserve returned.
//
// Commit keeps the reservation's units spent and Release gives them back; both forget the
// reservation, and both are no-ops for a reservation already committed, released or
// expired. A reservation neither committed nor released is given back after its
// ExpiresAt. Commit and Release ignore the cancellation of ctx (a client that hangs up
// after the upstream accepted its call has still spent the units).
type Ledger interface {
	Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (ok bool, used aiproxy.Units, err error)
	Commit(ctx context.Context, r *aiproxy.BudgetReservation) error
	Release(ctx context.Context, r *aiproxy.BudgetReservation) error
	Used(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error)
}

// Store is what the ledgers need of an aiproxy.Store: its budget counters and
// reservations (see aiproxy.Store for each method's contract).
type Store interface {
	ReserveBudget(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (ok bool, used aiproxy.Units, err error)
	CommitBudget(ctx context.Context, id string) error
	ReleaseBudget(ctx context.Context, id string) error
	ExpireBudgetReservations(ctx context.Context, now time.Time) (int, error)
	BudgetUsed(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error)
}

var (
	_ Store  = aiproxy.Store(nil)
	_ Ledger = (*StoreLedger)(nil)
	_ Ledger = (*RedisLedger)(nil)
	_ Ledger = (*Failover)(nil)
)

// DefaultPrefix is put before every key the Redis ledger writes.
const DefaultPrefix = "aiproxy:budget:"

// Periods of a budget (aiproxy.Budget.Period).
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Options configure the ledgers; the zero value is usable.
type Options struct {
	// Prefix is put before every Redis key (default DefaultPrefix).
	Prefix string
	// Timeout bounds each Redis call (default 300 ms), whatever the client's own timeouts:
	// past it the call counts as failed (and Failover turns to the store).
	Timeout time.Duration
	// RetryAfter is how long Failover keeps to the store after Redis failed before it tries
	// Redis again (default 1 s).
	RetryAfter time.Duration
	// SyncEvery is how often units committed in Redis are added to the store's counters
	// (default 1 s).
	SyncEvery time.Duration
	// KeyGrace is how long a window's Redis keys outlive the window (default 48 h).
	KeyGrace time.Duration
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock reservations expire by (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = 300 * time.Millisecond
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = time.Second
	}
	if o.KeyGrace <= 0 {
		o.KeyGrace = 48 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Window returns the window of a budget period that t falls in, in UTC, and when it ends
// (the next window starts): for "day", "2026-12-02" and the next midnight; for "month",
// "2026-12" and the first of the next month at midnight. An unknown period returns "" and
// the zero time.
func Window(period string, t time.Time) (window string, resetsAt time.Time) {
	t = t.UTC()
	switch period {
	case PeriodDay:
		start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start.Format(time.DateOnly), start.AddDate(0, 0, 1)
	case PeriodMonth:
		start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start.Format("2006-01"), start.AddDate(0, 1, 0)
	}
	return "", time.Time{}
}

// windowEnd returns when a window written by Window ends.
func windowEnd(window string) (time.Time, error) {
	switch len(window) {
	case len(time.DateOnly):
		if t, err := time.Parse(time.DateOnly, window); err == nil {
			return t.AddDate(0, 0, 1), nil
		}
	case len("2006-01"):
		if t, err := time.Parse("2006-01", window); err == nil {
			return t.AddDate(0, 1, 0), nil
		}
	}
	return time.Time{}, aiproxy.Errorf(aiproxy.EINVALID, "Budget window %q is not a day (2026-12-02) or a month (2026-12).", window)
}

// knownUnits are the units a budget may count (as the stores accept them).
var knownUnits = []string{aiproxy.UnitCharacters, aiproxy.UnitRequests, aiproxy.UnitSeconds}

// check returns EINVALID unless r names a service and a window, reserves known units,
// none negative, and expires, and limits name known units; it gives r an ID if it has
// none. The stores check the same, so that a reservation a ledger takes is one the store
// would take.
func check(r *aiproxy.BudgetReservation, limits aiproxy.Units) error {
	if r == nil {
		return aiproxy.Errorf(aiproxy.EINVALID, "No budget reservation.")
	}
	if r.Service == "" {
		return aiproxy.Errorf(aiproxy.EINVALID, "A budget reservation must name a service.")
	}
	if _, err := windowEnd(r.Window); err != nil {
		return err
	}
	for u := range r.Units {
		if !slices.Contains(knownUnits, u) {
			return aiproxy.Errorf(aiproxy.EINVALID, "budget reservation: unknown unit %q (use requests, characters or seconds).", u)
		}
		if r.Units[u] < 0 {
			return aiproxy.Errorf(aiproxy.EINVALID, "budget reservation: %s must not be negative.", u)
		}
	}
	for u := range limits {
		if !slices.Contains(knownUnits, u) {
			return aiproxy.Errorf(aiproxy.EINVALID, "budget limits: unknown unit %q (use requests, characters or seconds).", u)
		}
	}
	if r.ExpiresAt.IsZero() {
		return aiproxy.Errorf(aiproxy.EINVALID, "A budget reservation must expire.")
	}
	if r.ID == "" {
		r.ID = newID()
	}
	return nil
}

// newID returns a random reservation id (128 bits, hex).
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// Where a Failover reservation is kept is written at the start of its ID.
const (
	redisTag = "redis:" // redis:<epoch>:<id>, kept in Redis (epoch: of the window's counters)
	storeTag = "store:" // store:<id>, kept in the store
)

func redisID(epoch, id string) string { return redisTag + epoch + ":" + id }

// parseRedisID splits an ID given by RedisLedger.Reserve.
func parseRedisID(s string) (epoch, id string, ok bool) {
	rest, ok := strings.CutPrefix(s, redisTag)
	if !ok {
		return "", "", false
	}
	epoch, id, ok = strings.Cut(rest, ":")
	return epoch, id, ok && epoch != "" && id != ""
}

// winKey names one window of one budget.
type winKey struct {
	org     int64
	service string
	window  string
}

func keyOf(r *aiproxy.BudgetReservation) winKey { return winKey{r.OrgID, r.Service, r.Window} }

// nonZero returns the units of us that are not zero, never nil.
func nonZero(us aiproxy.Units) aiproxy.Units {
	out := aiproxy.Units{}
	for u, n := range us {
		if n != 0 {
			out[u] = n
		}
	}
	return out
}

// StoreLedger is a Ledger on the store alone: its counters are the store's, and a
// reservation is a row the store's transaction checks and adds in one step.
type StoreLedger struct {
	store     Store
	now       func() time.Time
	lastSweep atomicTime
}

// NewStoreLedger returns a ledger on s (of o, only Now is used).
func NewStoreLedger(s Store, o Options) *StoreLedger {
	o = o.withDefaults()
	return &StoreLedger{store: s, now: o.Now}
}

// sweepOnRefusalEvery bounds how often a refused reservation makes the store ledger give
// back expired reservations before it answers.
const sweepOnRefusalEvery = time.Second

// Reserve implements Ledger. When the store refuses, expired reservations (which still
// fill the window until someone sweeps) are given back, at most once a second, and the
// reservation is tried again: a refusal is then never due to a reservation that had
// expired more than a second before.
func (l *StoreLedger) Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	if err := check(r, limits); err != nil {
		return false, nil, err
	}
	ok, used, err := l.store.ReserveBudget(ctx, r, limits)
	if err != nil || ok {
		return ok, used, err
	}
	if now := l.now(); l.lastSweep.advance(now, sweepOnRefusalEvery) {
		if n, err := l.store.ExpireBudgetReservations(ctx, now); err == nil && n > 0 {
			return l.store.ReserveBudget(ctx, r, limits)
		}
	}
	return false, used, nil
}

// Commit implements Ledger.
func (l *StoreLedger) Commit(ctx context.Context, r *aiproxy.BudgetReservation) error {
	return l.store.CommitBudget(context.WithoutCancel(ctx), r.ID)
}

// Release implements Ledger.
func (l *StoreLedger) Release(ctx context.Context, r *aiproxy.BudgetReservation) error {
	return l.store.ReleaseBudget(context.WithoutCancel(ctx), r.ID)
}

// Used implements Ledger.
func (l *StoreLedger) Used(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error) {
	return l.store.BudgetUsed(ctx, orgID, service, window)
}

// Sweep gives back the reservations past their ExpiresAt and returns how many.
func (l *StoreLedger) Sweep(ctx context.Context) (int, error) {
	return l.store.ExpireBudgetReservations(ctx, l.now())
}
