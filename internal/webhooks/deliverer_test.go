package webhooks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/aiproxy/aiproxy"
)

const (
	testOrg   = 7
	testOwner = "replica-a"
)

// received is one request as a receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server that keeps what it receives and answers with handle
// (given the request's number, from 0), 204 when handle is nil.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	handle func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{handle: handle}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, received{r.Header.Clone(), body})
		rc.mu.Unlock()
		if rc.handle == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.handle(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// harness is a Deliverer on a fake store with one org whose webhook is url.
type harness struct {
	store   *fakeStore
	secret  string
	renders atomic.Int64
	d       *Deliverer
}

func newHarness(t *testing.T, url string) *harness {
	t.Helper()
	h := &harness{store: newFakeStore(), secret: NewSecret()}
	if url != "" {
		h.store.putWebhook(aiproxy.OrgWebhook{OrgID: testOrg, URL: url, Events: aiproxy.WebhookEvents})
	}
	h.d = h.deliverer(t, testOwner)
	return h
}

// deliverer returns another Deliverer on the harness's store.
func (h *harness) deliverer(t *testing.T, owner string) *Deliverer {
	return &Deliverer{
		Store: h.store,
		Secret: func(_ context.Context, orgID int64) (string, error) {
			if orgID != testOrg {
				return "", fmt.Errorf("no secret for org %d", orgID)
			}
			return h.secret, nil
		},
		Render: func(_ context.Context, d *aiproxy.WebhookDelivery) ([]byte, error) {
			n := h.renders.Add(1) // a second rendering would differ
			return fmt.Appendf(nil, `{"type":%q,"data":{"job_id":%d},"rendering":%d}`, d.Type, d.JobID, n), nil
		},
		Client:       newTestClient(t, true, 2*time.Second),
		Owner:        owner,
		AllowPrivate: true, // the receivers listen on 127.0.0.1
		Interval:     5 * time.Millisecond,
	}
}

func (h *harness) add(id string) {
	now := time.Now()
	h.store.add(aiproxy.WebhookDelivery{ID: id, OrgID: testOrg, JobID: 99, Type: aiproxy.EventJobCompleted,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
}

// attempt claims the delivery for the harness's Deliverer and makes one attempt.
func (h *harness) attempt(t *testing.T, id string) aiproxy.WebhookDelivery {
	t.Helper()
	if err := h.d.Attempt(t.Context(), h.store.claim(testOwner, id)); err != nil {
		t.Fatalf("Attempt: %v", err)
	}
	d, _ := h.store.delivery(id)
	return d
}

// run runs d until the test ends.
func run(t *testing.T, d *Deliverer) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRetryAfter500SendsTheSameIDAndBody(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			http.Error(w, "temporarily broken", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, rc.URL+"/hook")
	h.add("msg_retry")

	before := time.Now()
	d := h.attempt(t, "msg_retry")
	if d.State != aiproxy.DeliveryPending || d.Attempts != 1 || d.LastStatus != 500 {
		t.Fatalf("after a 500: state %s, attempts %d, status %d", d.State, d.Attempts, d.LastStatus)
	}
	if !strings.Contains(d.LastError, "500") || !strings.Contains(d.LastError, "temporarily broken") {
		t.Fatalf("LastError %q", d.LastError)
	}
	if wait := d.NextAttemptAt.Sub(before); wait < 4*time.Second || wait > 6*time.Second {
		t.Fatalf("next attempt in %v, want 5s ±10%%", wait)
	}
	if d.Payload == "" {
		t.Fatal("the rendered body is not kept")
	}

	d = h.attempt(t, "msg_retry")
	if d.State != aiproxy.DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 200 || d.LastError != "" {
		t.Fatalf("after a 200: %+v", d)
	}
	got := rc.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	for _, r := range got {
		if r.header.Get("webhook-id") != "msg_retry" || string(r.body) != d.Payload {
			t.Fatalf("request id %q body %s, want msg_retry %s", r.header.Get("webhook-id"), r.body, d.Payload)
		}
	}
	if n := h.renders.Load(); n != 1 {
		t.Fatalf("rendered %d times", n)
	}
	as := h.store.attemptsOf("msg_retry")
	if len(as) != 2 || as[0].N != 1 || as[0].Status != 500 || as[0].Error == "" || as[1].N != 2 || as[1].Status != 200 || as[1].Error != "" {
		t.Fatalf("attempts %+v", as)
	}
}

func TestDeliveredRequestCarriesAVerifiableSignature(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, rc.URL+"/hook")
	h.add("msg_signed")
	d := h.attempt(t, "msg_signed")
	if d.State != aiproxy.DeliveryDelivered || d.LastStatus != http.StatusNoContent {
		t.Fatalf("state %s status %d error %q", d.State, d.LastStatus, d.LastError)
	}
	r := rc.requests()[0]
	if err := Verify(h.secret, r.header, r.body, time.Now(), 0); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := Verify(NewSecret(), r.header, r.body, time.Now(), 0); err == nil {
		t.Fatal("Verify with another secret succeeded")
	}
	if ct, ua := r.header.Get("Content-Type"), r.header.Get("User-Agent"); ct != "application/json" || ua != "aiproxy-webhooks/1" {
		t.Fatalf("Content-Type %q User-Agent %q", ct, ua)
	}
	for _, v := range r.header {
		for _, s := range v {
			if strings.Contains(s, strings.TrimPrefix(h.secret, "whsec_")) {
				t.Fatal("the secret is in a header")
			}
		}
	}
}

func TestRedirectIsNotFollowedAndCountsAsFailure(t *testing.T) {
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	})
	h := newHarness(t, rc.URL+"/hook")
	h.add("msg_redirect")
	d := h.attempt(t, "msg_redirect")
	if d.State != aiproxy.DeliveryPending || d.LastStatus != http.StatusFound || !strings.Contains(d.LastError, "redirect") {
		t.Fatalf("state %s status %d error %q", d.State, d.LastStatus, d.LastError)
	}
	if n := len(target.requests()); n != 0 {
		t.Fatalf("the redirect's target got %d requests", n)
	}
}

func TestTimeoutIsRecordedAsAFailedAttempt(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes (cleanups run last first)
	h := newHarness(t, rc.URL+"/hook")
	h.d.Client = newTestClient(t, true, 100*time.Millisecond)
	h.add("msg_slow")
	start := time.Now()
	d := h.attempt(t, "msg_slow")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the attempt took %v", took)
	}
	if d.State != aiproxy.DeliveryPending || d.LastStatus != 0 || !strings.Contains(d.LastError, "did not answer within 100ms") {
		t.Fatalf("state %s status %d error %q", d.State, d.LastStatus, d.LastError)
	}
	if as := h.store.attemptsOf("msg_slow"); len(as) != 1 || as[0].Status != 0 || as[0].Duration < 100*time.Millisecond {
		t.Fatalf("attempts %+v", as)
	}
}

func TestNoWebhookFailsWithoutARequest(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, "") // the org has no webhook
	h.add("msg_orphan")
	d := h.attempt(t, "msg_orphan")
	if d.State != aiproxy.DeliveryFailed || d.LastError != "the org has no webhook" || d.Attempts != 1 {
		t.Fatalf("%+v", d)
	}
	if n := len(rc.requests()); n != 0 || h.renders.Load() != 0 {
		t.Fatalf("%d requests, %d renderings", n, h.renders.Load())
	}
}

func TestUnsubscribedEventFailsWithoutARequest(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, "")
	h.store.putWebhook(aiproxy.OrgWebhook{OrgID: testOrg, URL: rc.URL, Events: []string{aiproxy.EventJobFailed}})
	h.add("msg_unsubscribed")
	d := h.attempt(t, "msg_unsubscribed")
	if d.State != aiproxy.DeliveryFailed || d.LastError != "the webhook is no longer subscribed to job.completed" {
		t.Fatalf("%+v", d)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests", n)
	}
}

func TestPrivateURLIsRefusedAtAttemptTime(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, rc.URL+"/hook") // http://127.0.0.1:…
	h.d.AllowPrivate = false
	h.add("msg_private")
	d := h.attempt(t, "msg_private")
	if d.State != aiproxy.DeliveryPending || !strings.Contains(d.LastError, "must use https") {
		t.Fatalf("state %s error %q", d.State, d.LastError)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests", n)
	}
}

func TestClientRefusesLoopbackEvenWhenTheURLCheckIsBypassed(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, rc.URL+"/hook")
	h.d.AllowPrivate = true                             // the URL check lets 127.0.0.1 through…
	h.d.Client = newTestClient(t, false, 2*time.Second) // …but the client does not dial it
	h.add("msg_rebound")
	d := h.attempt(t, "msg_rebound")
	if d.State != aiproxy.DeliveryPending || d.LastStatus != 0 ||
		!strings.Contains(d.LastError, "resolves to a loopback address (127.0.0.1), which is refused") {
		t.Fatalf("state %s status %d error %q", d.State, d.LastStatus, d.LastError)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests", n)
	}
}

func TestDeliveryFailsWhenRetriesRunOut(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	h := newHarness(t, rc.URL)
	old := time.Now().Add(-24*time.Hour + time.Second)
	h.store.add(aiproxy.WebhookDelivery{ID: "msg_old", OrgID: testOrg, Type: aiproxy.EventJobFailed,
		NextAttemptAt: old, CreatedAt: old, Attempts: 9})
	d := h.attempt(t, "msg_old")
	if d.State != aiproxy.DeliveryFailed || d.Attempts != 10 || d.LastStatus != 503 {
		t.Fatalf("%+v", d)
	}
}

func TestErrorTextIsAShortCleanExcerptOfTheAnswer(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad\r\n\x1b[31mrequest\u202e\t"+strings.Repeat("é", 5000))
	})
	h := newHarness(t, rc.URL)
	h.add("msg_noisy")
	d := h.attempt(t, "msg_noisy")
	prefix := "the webhook answered 400 Bad Request: "
	if !strings.HasPrefix(d.LastError, prefix+"bad [31mrequest éé") {
		t.Fatalf("LastError %q", d.LastError)
	}
	if ex := strings.TrimPrefix(d.LastError, prefix); len(ex) > 200 {
		t.Fatalf("excerpt of %d bytes", len(ex))
	}
	for _, r := range d.LastError {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Fatalf("LastError has %U", r)
		}
	}
}

func TestLostLeaseIsAConflict(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, rc.URL)
	h.add("msg_taken")
	dl := h.store.claim(testOwner, "msg_taken")
	h.store.claim("replica-b", "msg_taken") // the lease expired and another replica took it
	if err := h.d.Attempt(t.Context(), dl); aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
		t.Fatalf("Attempt = %v, want ECONFLICT", err)
	}
	if d, owner := h.store.delivery("msg_taken"); d.Attempts != 0 || owner != "replica-b" {
		t.Fatalf("attempts %d owner %q", d.Attempts, owner)
	}
}

func TestRunDeliversDueDeliveriesAndWakesOnKick(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, rc.URL)
	h.d.Interval = time.Hour // only Kick wakes it after its first round
	h.add("msg_first")
	run(t, h.d)
	waitFor(t, "the first delivery", func() bool { return h.store.countState(aiproxy.DeliveryDelivered) == 1 })
	h.add("msg_second")
	h.d.Kick()
	waitFor(t, "the kicked delivery", func() bool { return h.store.countState(aiproxy.DeliveryDelivered) == 2 })
	// A future delivery is not sent.
	h.store.add(aiproxy.WebhookDelivery{ID: "msg_later", OrgID: testOrg, Type: aiproxy.EventJobCompleted,
		NextAttemptAt: time.Now().Add(time.Hour), CreatedAt: time.Now()})
	h.d.Kick()
	time.Sleep(50 * time.Millisecond)
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("%d requests", n)
	}
}

func TestTwoDeliverersNeverSendOneDeliveryTwiceAtOnce(t *testing.T) {
	const deliveries = 60
	var mu sync.Mutex
	inFlight, sent := map[string]bool{}, map[string]int{}
	var overlaps atomic.Int64
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if inFlight[id] {
			overlaps.Add(1)
		}
		inFlight[id] = true
		sent[id]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight[id] = false
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, rc.URL)
	for i := range deliveries {
		h.add(fmt.Sprintf("msg_%03d", i))
	}
	a, b := h.d, h.deliverer(t, "replica-b")
	a.Concurrency, b.Concurrency = 4, 4
	a.Interval, b.Interval = time.Millisecond, time.Millisecond
	run(t, a)
	run(t, b)
	waitFor(t, "every delivery", func() bool { return h.store.countState(aiproxy.DeliveryDelivered) == deliveries })
	mu.Lock()
	defer mu.Unlock()
	if overlaps.Load() != 0 {
		t.Fatalf("%d requests overlapped another of the same delivery", overlaps.Load())
	}
	for id, n := range sent {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	if len(sent) != deliveries {
		t.Fatalf("%d deliveries sent", len(sent))
	}
}

func TestRunSendsAtMostConcurrencyAtOnce(t *testing.T) {
	var now, peak atomic.Int64
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
	})
	h := newHarness(t, rc.URL)
	h.d.Concurrency = 3
	for i := range 12 {
		h.add(fmt.Sprintf("msg_%02d", i))
	}
	run(t, h.d)
	waitFor(t, "every delivery", func() bool { return h.store.countState(aiproxy.DeliveryDelivered) == 12 })
	if p := peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak concurrency %d, want at most 3 (and more than 1)", p)
	}
}

func TestRunCancelsInFlightAttemptsWhenStopped(t *testing.T) {
	arrived := make(chan struct{}, 1)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	h := newHarness(t, rc.URL)
	h.d.Client = newTestClient(t, true, time.Hour)
	h.add("msg_stuck")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.d.Run(ctx)
	}()
	<-arrived
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Nothing recorded: the delivery is claimed again once its lease expires.
	if d, owner := h.store.delivery("msg_stuck"); d.Attempts != 0 || d.State != aiproxy.DeliveryPending || owner != testOwner {
		t.Fatalf("attempts %d state %s owner %q", d.Attempts, d.State, owner)
	}
}

func TestExcerpt(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"  \n\t ":                "",
		"ok":                     "ok",
		"a\x00b\x7fc\u0085d":     "a b c d",
		"  lead  and  trail  ":   "lead and trail",
		"bad utf8 \xff\xfe here": "bad utf8 \uFFFD here",
		strings.Repeat("€", 100): strings.Repeat("€", 66),
	} {
		if got := excerpt([]byte(in)); got != want {
			t.Errorf("excerpt(%q) = %q, want %q", in, got, want)
		}
	}
}
