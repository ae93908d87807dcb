package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/ratelimit"
)

// manualClock drives the in-memory limiter in these tests.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLimitedEnv(t *testing.T, defaultRate int) (*env, *manualClock) {
	t.Helper()
	c := &manualClock{t: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, envOptions{limiter: ratelimit.NewMemory(c.now), defaultRateLimit: defaultRate})
	return e, c
}

const throttled20s = `{"detail": "Request was throttled. Expected available in 20 seconds."}`

func (e *env) setRateLimit(org string, n int) {
	e.t.Helper()
	r := e.admCall("PATCH", "/orgs/"+org+"/", e.operator, `{"rate_limit_per_minute": `+strconv.Itoa(n)+`}`)
	if r.Status != http.StatusOK {
		e.t.Fatalf("setting the rate limit: %d %s", r.Status, r.Body)
	}
}

func TestRateLimitRefusesOverLimitWithoutCallingUpstream(t *testing.T) {
	e, clock := newLimitedEnv(t, 0)
	e.setRateLimit("org-a", 3)
	for i := range 3 {
		r := e.invoke("testsvc", "get-json", `{}`)
		if r.Status != http.StatusOK {
			t.Fatalf("invoke %d within the limit: %d %s", i+1, r.Status, r.Body)
		}
		if got, want := r.Header.Get("X-RateLimit-Limit"), "3"; got != want {
			t.Errorf("invoke %d: X-RateLimit-Limit = %q, want %q", i+1, got, want)
		}
		if got, want := r.Header.Get("X-RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
			t.Errorf("invoke %d: X-RateLimit-Remaining = %q, want %q", i+1, got, want)
		}
	}
	r := e.invoke("testsvc", "get-json", `{}`)
	// 3 a minute refill one every 20 s.
	assertBody(t, r, http.StatusTooManyRequests, throttled20s)
	if got := r.Header.Get("Retry-After"); got != "20" {
		t.Errorf("Retry-After = %q, want 20", got)
	}
	if got := r.Header.Get("X-RateLimit-Remaining"); got != "0" {
		t.Errorf("X-RateLimit-Remaining on the 429 = %q, want 0", got)
	}
	if n := e.up.count(); n != 3 {
		t.Errorf("the upstream got %d calls, want 3: a throttled invoke must not reach it", n)
	}

	clock.advance(19 * time.Second)
	r = e.invoke("testsvc", "get-json", `{}`)
	assertBody(t, r, http.StatusTooManyRequests, `{"detail": "Request was throttled. Expected available in 1 second."}`)
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	clock.advance(time.Second)
	if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusOK {
		t.Fatalf("20 s later: %d %s, want 200", r.Status, r.Body)
	}
	if n := e.up.count(); n != 4 {
		t.Errorf("the upstream got %d calls, want 4", n)
	}
}

func TestRateLimitIsPerOrg(t *testing.T) {
	e, _ := newLimitedEnv(t, 0)
	e.cred("testsvc", aiproxy.SourceTenant, e.orgB, "test-tenant-key-b")
	e.setRateLimit("org-a", 1)
	if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusOK {
		t.Fatalf("first invoke of org A: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.invoke("testsvc", "get-json", `{}`), http.StatusTooManyRequests,
		`{"detail": "Request was throttled. Expected available in 60 seconds."}`)
	for i := range 5 {
		r := e.invokeAs(e.adminB, "org-b", "testsvc", "get-json", `{}`)
		if r.Status != http.StatusOK {
			t.Fatalf("org B invoke %d, while A is throttled: %d %s", i+1, r.Status, r.Body)
		}
		if h := r.Header.Get("X-RateLimit-Limit"); h != "" {
			t.Errorf("org B has no limit, yet X-RateLimit-Limit = %q", h)
		}
	}
}

func TestRateLimitDoesNotApplyToDiscovery(t *testing.T) {
	e, _ := newLimitedEnv(t, 0)
	e.setRateLimit("org-a", 1)
	e.invoke("testsvc", "get-json", `{}`)
	assertBody(t, e.invoke("testsvc", "get-json", `{}`), http.StatusTooManyRequests,
		`{"detail": "Request was throttled. Expected available in 60 seconds."}`)
	for _, path := range []string{"/api/ai-proxy/orgs/org-a/services/", "/api/ai-proxy/orgs/org-a/services/testsvc/"} {
		for range 3 {
			if r := e.do("GET", path, "Api-Key "+e.memberA, nil); r.Status != http.StatusOK {
				t.Fatalf("GET %s while invokes are throttled: %d %s", path, r.Status, r.Body)
			}
		}
	}
}

// TestRateLimitCountsOnlyInvokesThatPassTheChecks: refusals for scope, unknown actions
// and the like come first and spend nothing.
func TestRateLimitCountsOnlyInvokesThatPassTheChecks(t *testing.T) {
	e, _ := newLimitedEnv(t, 0)
	e.setRateLimit("org-a", 1)
	scoped := e.key(e.orgA, aiproxy.RoleMember, []string{"heygen:*"})
	for range 3 {
		if r := e.invokeAs(scoped, "org-a", "testsvc", "get-json", `{}`); r.Status != http.StatusForbidden {
			t.Fatalf("out-of-scope invoke: %d, want 403", r.Status)
		}
		if r := e.invoke("testsvc", "no-such-action", `{}`); r.Status != http.StatusNotFound {
			t.Fatalf("unknown action: %d, want 404", r.Status)
		}
	}
	if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusOK {
		t.Fatalf("the one allowed invoke: %d %s", r.Status, r.Body)
	}
}

func TestRateLimitDeploymentDefault(t *testing.T) {
	e, clock := newLimitedEnv(t, 2)
	for range 2 {
		if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "2" {
			t.Fatalf("within the default of 2: %d, X-RateLimit-Limit %q", r.Status, r.Header.Get("X-RateLimit-Limit"))
		}
	}
	assertBody(t, e.invoke("testsvc", "get-json", `{}`), http.StatusTooManyRequests,
		`{"detail": "Request was throttled. Expected available in 30 seconds."}`)

	// The org's own limit wins over the default, in either direction.
	clock.advance(time.Minute)
	e.setRateLimit("org-a", 4)
	for i := range 4 {
		if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "4" {
			t.Fatalf("invoke %d under the org's own 4: %d, X-RateLimit-Limit %q", i+1, r.Status, r.Header.Get("X-RateLimit-Limit"))
		}
	}
	if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusTooManyRequests {
		t.Fatalf("5th invoke under 4 a minute: %d", r.Status)
	}
	// 0 gives the org back to the default.
	clock.advance(time.Minute)
	e.setRateLimit("org-a", 0)
	if r := e.invoke("testsvc", "get-json", `{}`); r.Header.Get("X-RateLimit-Limit") != "2" {
		t.Fatalf("after setting 0: X-RateLimit-Limit %q, want the default 2", r.Header.Get("X-RateLimit-Limit"))
	}
}

// countingLimiter records calls and answers a fixed decision.
type countingLimiter struct {
	calls atomic.Int64
	d     ratelimit.Decision
}

func (l *countingLimiter) Allow(context.Context, string, int, time.Duration) (ratelimit.Decision, error) {
	l.calls.Add(1)
	return l.d, nil
}

func TestRateLimitUnlimitedOrgsSkipTheLimiter(t *testing.T) {
	l := &countingLimiter{d: ratelimit.Decision{Allowed: true}}
	e := newEnv(t, envOptions{limiter: l})
	for range 3 {
		r := e.invoke("testsvc", "get-json", `{}`)
		if r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("unlimited invoke: %d, X-RateLimit-Limit %q", r.Status, r.Header.Get("X-RateLimit-Limit"))
		}
	}
	if n := l.calls.Load(); n != 0 {
		t.Fatalf("the limiter was asked %d times for an org without a limit", n)
	}
}

func TestRateLimitWithoutLimiterIsOff(t *testing.T) {
	e := newEnv(t)
	e.setRateLimit("org-a", 1)
	for range 3 {
		if r := e.invoke("testsvc", "get-json", `{}`); r.Status != http.StatusOK {
			t.Fatalf("with no limiter configured: %d %s", r.Status, r.Body)
		}
	}
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want string
	}{
		{300 * time.Millisecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{59*time.Second + time.Microsecond, "60"},
	} {
		l := &countingLimiter{d: ratelimit.Decision{RetryAfter: tt.wait}}
		e := newEnv(t, envOptions{limiter: l, defaultRateLimit: 10})
		r := e.invoke("testsvc", "get-json", `{}`)
		unit := "seconds"
		if tt.want == "1" {
			unit = "second"
		}
		assertBody(t, r, http.StatusTooManyRequests, `{"detail": "Request was throttled. Expected available in `+tt.want+` `+unit+`."}`)
		if got := r.Header.Get("Retry-After"); got != tt.want {
			t.Errorf("wait %v: Retry-After = %q, want %q", tt.wait, got, tt.want)
		}
	}
}

// TestRateLimitUnknownRemainingIsNotSent: a limiter that could not count (Redis down,
// failing open) allows the invoke; the headers then give the limit but no made-up count.
func TestRateLimitUnknownRemainingIsNotSent(t *testing.T) {
	e := newEnv(t, envOptions{limiter: &countingLimiter{d: ratelimit.Unlimited}, defaultRateLimit: 10})
	r := e.invoke("testsvc", "get-json", `{}`)
	if r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "10" {
		t.Fatalf("%d, X-RateLimit-Limit %q", r.Status, r.Header.Get("X-RateLimit-Limit"))
	}
	if v, ok := r.Header["X-Ratelimit-Remaining"]; ok {
		t.Errorf("X-RateLimit-Remaining = %q for an uncounted request", v)
	}
}

// TestRateLimitHeadersReplaceTheProvidersWhenALimitApplies: the provider's own
// X-RateLimit-* are forwarded as before for unlimited orgs, and replaced by the gateway's
// (not doubled) for limited ones.
func TestRateLimitHeadersReplaceTheProvidersWhenALimitApplies(t *testing.T) {
	e, _ := newLimitedEnv(t, 0)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Limit", "1000")
		w.Header().Set("X-RateLimit-Remaining", "999")
		w.Header().Set("X-RateLimit-Reset", "1700000000")
		_, _ = w.Write([]byte(`{"ok": true}`))
	})
	r := e.invoke("testsvc", "get-json", `{}`)
	if got := r.Header.Values("X-RateLimit-Limit"); len(got) != 1 || got[0] != "1000" {
		t.Errorf("unlimited org: X-RateLimit-Limit = %q, want the provider's [1000]", got)
	}
	e.setRateLimit("org-a", 5)
	r = e.invoke("testsvc", "get-json", `{}`)
	if got := r.Header.Values("X-RateLimit-Limit"); len(got) != 1 || got[0] != "5" {
		t.Errorf("limited org: X-RateLimit-Limit = %q, want the gateway's [5]", got)
	}
	if got := r.Header.Values("X-RateLimit-Remaining"); len(got) != 1 || got[0] != "4" {
		t.Errorf("limited org: X-RateLimit-Remaining = %q, want [4]", got)
	}
	if got := r.Header.Get("X-RateLimit-Reset"); got != "1700000000" {
		t.Errorf("X-RateLimit-Reset = %q: the provider's headers the gateway does not set still pass", got)
	}
}

func TestRateLimitSetOnlyByOperators(t *testing.T) {
	e, _ := newLimitedEnv(t, 0)
	assertBody(t, e.admCall("PATCH", "/orgs/org-a/", e.adminA, `{"rate_limit_per_minute": 1000}`),
		http.StatusForbidden, `{"detail": "You do not have permission to perform this action."}`)
	assertBody(t, e.admCall("PATCH", "/orgs/org-a/", e.adminA, `{"cors_origins": ["https://a.example"], "rate_limit_per_minute": 0}`),
		http.StatusForbidden, `{"detail": "You do not have permission to perform this action."}`)
	if r := e.admCall("PATCH", "/orgs/org-a/", e.memberA, `{"rate_limit_per_minute": 5}`); r.Status != http.StatusForbidden {
		t.Errorf("member: %d, want 403", r.Status)
	}
	if r := e.admCall("PATCH", "/orgs/org-a/", e.adminB, `{"rate_limit_per_minute": 5}`); r.Status != http.StatusForbidden {
		t.Errorf("admin of another org: %d, want 403", r.Status)
	}
	got := e.admCall("GET", "/orgs/org-a/", e.adminA, "")
	assertJSONField(t, got, "rate_limit_per_minute", `0`)
	assertJSONField(t, got, "cors_origins", `[]`) // the refused PATCH changed nothing

	// Org admins still set their origins, and see the limit.
	r := e.admCall("PATCH", "/orgs/org-a/", e.adminA, `{"cors_origins": ["https://a.example"]}`)
	if r.Status != http.StatusOK {
		t.Fatalf("admin setting origins: %d %s", r.Status, r.Body)
	}

	r = e.admCall("PATCH", "/orgs/org-a/", e.operator, `{"rate_limit_per_minute": 120}`)
	if r.Status != http.StatusOK {
		t.Fatalf("operator: %d %s", r.Status, r.Body)
	}
	assertJSONField(t, r, "rate_limit_per_minute", `120`)
	assertJSONField(t, r, "cors_origins", `["https://a.example"]`)
	got = e.admCall("GET", "/orgs/org-a/", e.adminA, "")
	assertJSONField(t, got, "rate_limit_per_minute", `120`)

	org, err := e.store.OrgBySlug(context.Background(), "org-a")
	if err != nil || org.RateLimitPerMinute != 120 {
		t.Fatalf("stored limit = %v (%v), want 120", org, err)
	}
	audit, err := e.store.ListAudit(context.Background(), e.orgA.ID, 0, 1)
	if err != nil || len(audit) != 1 || audit[0].Action != "org.rate_limit" {
		t.Fatalf("newest audit entry = %+v (%v), want org.rate_limit", audit, err)
	}
}

func TestRateLimitPatchValidation(t *testing.T) {
	e, _ := newLimitedEnv(t, 0)
	const msg = `{"error": "Field 'rate_limit_per_minute' must be an integer from 0 to 1000000."}`
	for _, body := range []string{
		`{"rate_limit_per_minute": -1}`,
		`{"rate_limit_per_minute": 1000001}`,
		`{"rate_limit_per_minute": 1.5}`,
		`{"rate_limit_per_minute": "60"}`,
		`{"rate_limit_per_minute": true}`,
		`{"rate_limit_per_minute": 99999999999999999999}`,
		`{"cors_origins": ["https://a.example"], "rate_limit_per_minute": -1}`,
	} {
		assertBody(t, e.admCall("PATCH", "/orgs/org-a/", e.operator, body), http.StatusBadRequest, msg)
	}
	got := e.admCall("GET", "/orgs/org-a/", e.operator, "")
	assertJSONField(t, got, "cors_origins", `[]`) // nothing applied from a refused body
	// A bad origin next to a good limit changes neither.
	assertBody(t, e.admCall("PATCH", "/orgs/org-a/", e.operator, `{"cors_origins": ["*"], "rate_limit_per_minute": 5}`),
		http.StatusBadRequest, `{"error": "Field 'cors_origins' must list origins like https://app.example.com, not \"*\"."}`)
	assertJSONField(t, e.admCall("GET", "/orgs/org-a/", e.operator, ""), "rate_limit_per_minute", `0`)
}
