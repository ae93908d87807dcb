package budgets

import (
	"context"
	"maps"
	"strings"
	"sync"

	"github.com/aiproxy/aiproxy"
)

// Blocks is a Ledger in front of another that takes units in blocks while a budget is far
// from its limit, so that most requests cost a map update instead of a database
// transaction or two Redis scripts.
//
// While more than BlockReserve (a tenth) of every limit of the request would remain after
// the block, a replica reserves and at once commits a block worth BlockRequests requests
// of the shape at hand (but never more than BlockShare, a thousandth, of any limit) from
// the ledger behind it, and then serves requests from that credit in memory. Once a block
// would cut into the last tenth of a limit, no more blocks are taken: every request
// reserves its own units from the ledger behind, exactly as without Blocks.
//
// What it keeps and what it gives up:
//
//   - Never over a limit: a block is reserved like any request (atomically across
//     replicas, refused if it does not fit) and counted as spent from the start, so the
//     requests it serves were all counted before they ran.
//   - Never fails open on a crash: a replica that dies loses the rest of its block, which
//     stays counted as spent.
//   - The price: a replica's unspent credit is counted but not used by others. When a
//     budget runs out, up to one block per replica (a thousandth of the limit each) may be
//     left unspent. A budget too small for blocks of at least MinBlockRequests requests
//     is never taken in blocks.
//   - Release of a request served from a block gives its units back to the block.
//   - The used counters a block-served Reserve returns are those after the block's
//     reserve, which count the whole block: what is left is shown a little lower than it
//     is (X-Budget-Remaining), never higher.
type Blocks struct {
	next Ledger
	mu   sync.Mutex
	keys map[blockKey]*credit
}

// The block sizes (see Blocks).
const (
	BlockRequests    = 256  // requests a block is worth, at most
	MinBlockRequests = 16   // fewer than this and requests reserve one by one
	BlockShare       = 1000 // a block is at most 1/BlockShare of a limit
	BlockReserve     = 10   // blocks stop when less than 1/BlockReserve of a limit would remain
)

// blockTag marks the IDs of reservations served from a block: blockServed until released,
// then blockTag alone. (Nothing looks them up: a block-served reservation carries its
// units and window.)
const (
	blockTag    = "block:"
	blockServed = blockTag + "served"
)

type blockKey struct {
	org     int64
	service string
}

// credit is what a replica holds of a budget window, taken in blocks and not yet served.
type credit struct {
	mu     sync.Mutex // held while a block is reserved, so that one caller refills
	window string
	units  aiproxy.Units
	used   aiproxy.Units // the window's counters after the last block (which count it whole)
}

// NewBlocks puts block reservations in front of next.
func NewBlocks(next Ledger) *Blocks {
	return &Blocks{next: next, keys: map[blockKey]*credit{}}
}

func (b *Blocks) credit(r *aiproxy.BudgetReservation) *credit {
	k := blockKey{r.OrgID, r.Service}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.keys[k]
	if c == nil {
		c = &credit{}
		b.keys[k] = c
	}
	return c
}

// Reserve implements Ledger.
func (b *Blocks) Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	if err := check(r, limits); err != nil {
		return false, nil, err
	}
	m := blockSize(r.Units, limits)
	if m < MinBlockRequests {
		return b.next.Reserve(ctx, r, limits)
	}
	c := b.credit(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.window != r.Window {
		// A new window: what was left of the last one stays spent in it.
		c.window, c.units, c.used = r.Window, aiproxy.Units{}, nil
	}
	if !c.covers(r.Units) {
		// Reserve a block, on the condition that a tenth of each limit remains after it.
		block := &aiproxy.BudgetReservation{OrgID: r.OrgID, Service: r.Service, Window: r.Window, ExpiresAt: r.ExpiresAt,
			Units: aiproxy.Units{}}
		for u, n := range r.Units {
			block.Units[u] = n * m
		}
		guarded := aiproxy.Units{}
		for u, limit := range limits {
			guarded[u] = limit - limit/BlockReserve
		}
		ok, used, err := b.next.Reserve(ctx, block, guarded)
		if err != nil {
			return false, nil, err
		}
		if !ok {
			// Near the limit: this request on its own, exactly.
			return b.next.Reserve(ctx, r, limits)
		}
		if err := b.next.Commit(ctx, block); err != nil {
			return false, nil, err
		}
		for u, n := range block.Units {
			c.units[u] += n
		}
		c.used = maps.Clone(used)
	}
	for u, n := range r.Units {
		c.units[u] -= n
	}
	r.ID = blockServed
	return true, maps.Clone(c.used), nil
}

// covers reports whether the credit holds every unit of want.
func (c *credit) covers(want aiproxy.Units) bool {
	for u, n := range want {
		if c.units[u] < n {
			return false
		}
	}
	return true
}

// blockSize is how many requests of units a block is worth under limits: BlockRequests,
// but no more than a BlockShare-th of any limit allows; 0 when a unit with a limit is
// worth more than that share.
func blockSize(units, limits aiproxy.Units) int64 {
	m := int64(BlockRequests)
	for u, limit := range limits {
		n := units[u]
		if n <= 0 {
			continue
		}
		m = min(m, limit/BlockShare/n)
	}
	return max(m, 0)
}

// Commit implements Ledger: a request served from a block was counted with the block.
func (b *Blocks) Commit(ctx context.Context, r *aiproxy.BudgetReservation) error {
	if strings.HasPrefix(r.ID, blockTag) {
		return nil
	}
	return b.next.Commit(ctx, r)
}

// Release implements Ledger: a request served from a block gives its units back to the
// block (its window's, if that is still the current one).
func (b *Blocks) Release(ctx context.Context, r *aiproxy.BudgetReservation) error {
	if !strings.HasPrefix(r.ID, blockTag) {
		return b.next.Release(ctx, r)
	}
	if r.ID == blockTag {
		return nil // released already
	}
	c := b.credit(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.window == r.Window {
		for u, n := range r.Units {
			c.units[u] += n
		}
	}
	r.ID = blockTag // released: a second Release is a no-op
	return nil
}

// Used implements Ledger: the counters of the ledger behind, which count blocks whole.
func (b *Blocks) Used(ctx context.Context, orgID int64, service, window string) (aiproxy.Units, error) {
	return b.next.Used(ctx, orgID, service, window)
}

// Sweep gives back expired reservations in the ledger behind, when it can.
func (b *Blocks) Sweep(ctx context.Context) (int, error) {
	if s, ok := b.next.(interface {
		Sweep(context.Context) (int, error)
	}); ok {
		return s.Sweep(ctx)
	}
	return 0, nil
}
