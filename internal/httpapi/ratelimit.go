package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Rate-limit headers on invoke answers when a limit applies. They take the place of the
// provider's headers of the same names (the gateway forwards those otherwise): the
// gateway's budget is the one this client draws on directly.
const (
	headerRateLimit     = "X-Ratelimit-Limit"
	headerRateRemaining = "X-Ratelimit-Remaining"
)

// rateLimit is the invokes per minute allowed to org: its own limit if it has one, else
// the deployment default; 0 means unlimited, as does having no limiter.
func (s *Server) rateLimit(org *aiproxy.Org) int {
	switch {
	case s.limiter == nil:
		return 0
	case org.RateLimitPerMinute > 0:
		return org.RateLimitPerMinute
	}
	return s.defRate
}

// throttle counts one invoke against the org's budget, sets the rate-limit headers, and
// refuses the invoke (429) when the budget is spent. Without a limit it does nothing, not
// even allocate.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, org *aiproxy.Org) error {
	limit := s.rateLimit(org)
	if limit <= 0 {
		return nil
	}
	d, err := s.limiter.Allow(r.Context(), "org:"+org.Slug, limit, time.Minute)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set(headerRateLimit, strconv.Itoa(limit))
	if d.Remaining >= 0 { // negative: the limiter could not count (failing open)
		h.Set(headerRateRemaining, strconv.Itoa(d.Remaining))
	}
	if !d.Allowed {
		return errThrottled(max(1, int((d.RetryAfter+time.Second-1)/time.Second)))
	}
	return nil
}

// errThrottled is an invoke refused by the org's rate limit: 429 with the text and the
// Retry-After header Django REST framework's Throttled gives, which clients know. wait is
// in whole seconds, at least 1.
func errThrottled(wait int) error {
	// DRF: 'Expected available in {wait} second.' / '… seconds.', by ngettext.
	unit := "seconds"
	if wait == 1 {
		unit = "second"
	}
	return &aiproxy.Error{Code: aiproxy.ETHROTTLED, RetryAfter: strconv.Itoa(wait),
		Message: fmt.Sprintf("Request was throttled. Expected available in %d %s.", wait, unit)}
}
