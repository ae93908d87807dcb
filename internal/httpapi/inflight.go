package httpapi

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/aiproxy/aiproxy"
)

// inflight counts each key's requests in progress, so that one key cannot hold more than
// its share of the gateway (connections, goroutines, upstream calls) at once. A counter
// per key, kept for the life of the process: keys are few and a counter is small.
type inflight struct {
	limit int64 // 0: no limit
	n     sync.Map
}

func newInflight(limit int) *inflight { return &inflight{limit: int64(limit)} }

// enter counts one more request of the key, or refuses it (ETHROTTLED) when the key has
// limit in progress already. Every successful enter is matched by a leave.
func (f *inflight) enter(keyID int64) error {
	if f.limit <= 0 {
		return nil
	}
	c, ok := f.n.Load(keyID)
	if !ok {
		c, _ = f.n.LoadOrStore(keyID, new(atomic.Int64))
	}
	if c.(*atomic.Int64).Add(1) > f.limit {
		c.(*atomic.Int64).Add(-1)
		return &aiproxy.Error{Code: aiproxy.ETHROTTLED, RetryAfter: "1",
			Message: "Too many requests in progress with this key (the limit is " + strconv.FormatInt(f.limit, 10) + "); wait for one to finish."}
	}
	return nil
}

func (f *inflight) leave(keyID int64) {
	if f.limit <= 0 {
		return
	}
	if c, ok := f.n.Load(keyID); ok {
		c.(*atomic.Int64).Add(-1)
	}
}
