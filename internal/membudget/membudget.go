// Package membudget bounds the bytes the gateway holds in memory for requests in flight,
// summed over all of them: a request that must buffer (a JSON envelope's body object, a
// json-mode answer) reserves what it holds first, and is refused when the deployment-wide
// budget is spent, rather than letting the process grow until the kernel kills it.
package membudget

import (
	"sync/atomic"

	"github.com/aiproxy/aiproxy"
)

// DefaultLimit is the deployment-wide budget unless configured (--max-buffered-bytes): with
// the Go runtime's own overhead on top, sixteen requests that each try to hold as much as
// they may keep the process within about 384 MiB of its idle size.
const DefaultLimit = 256 << 20

// ErrExhausted is the answer to a request that would take the budget past its limit:
// 503 with Retry-After, the process stays within its bound and the client tries again.
var ErrExhausted = &aiproxy.Error{Code: aiproxy.EUNAVAILABLE, RetryAfter: "1",
	Message: "The gateway is holding as much request data in memory as it may; try again shortly."}

// Budget counts reserved bytes against a limit. The zero value is unusable: use New. A nil
// *Budget has no limit.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// New returns a budget of limit bytes (DefaultLimit when limit <= 0).
func New(limit int64) *Budget {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Budget{limit: limit}
}

// Limit is the budget's size in bytes (0 for a nil budget: unlimited).
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Used is how many bytes are reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Reserve takes n bytes from the budget, or returns ErrExhausted (taking nothing) if that
// would pass the limit. Every successful Reserve must be matched by a Release of n.
func (b *Budget) Reserve(n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return ErrExhausted
		}
		if b.used.CompareAndSwap(used, used+n) {
			return nil
		}
	}
}

// Release returns n bytes to the budget.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
}

// Holder reserves bytes as a buffer grows and releases them all at once: one per request.
type Holder struct {
	b    *Budget
	held int64
}

// NewHolder returns a holder drawing on b.
func (b *Budget) NewHolder() *Holder { return &Holder{b: b} }

// Grow reserves n more bytes for the holder.
func (h *Holder) Grow(n int64) error {
	if err := h.b.Reserve(n); err != nil {
		return err
	}
	h.held += n
	return nil
}

// Held is how many bytes the holder has reserved.
func (h *Holder) Held() int64 { return h.held }

// Release returns everything the holder reserved. It may be called more than once.
func (h *Holder) Release() {
	h.b.Release(h.held)
	h.held = 0
}
