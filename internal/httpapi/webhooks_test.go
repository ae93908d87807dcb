package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
	"github.com/aiproxy/aiproxy/internal/tenancy"
	"github.com/aiproxy/aiproxy/internal/webhooks"
)

// receiver records the deliveries an org's webhook receives; answers[i] is the status of
// the i-th (204 once they run out).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []delivery
	answers []int
}

type delivery struct {
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	rc := &receiver{answers: answers}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, delivery{r.Header.Clone(), b})
		status := http.StatusNoContent
		if n < len(rc.answers) {
			status = rc.answers[n]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// putWebhook sets org A's webhook to url and returns the secret it answered.
func (e *acctEnv) putWebhook(url string) string {
	e.t.Helper()
	r := e.do("PUT", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, strings.NewReader(`{"url": "`+url+`"}`), "Content-Type", "application/json")
	if r.Status != 200 {
		e.t.Fatalf("PUT webhook: %d %s", r.Status, r.Body)
	}
	secret, _ := r.json(e.t)["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(secret, "*") {
		e.t.Fatalf("PUT webhook answered secret %q, want the whole whsec_ secret once", secret)
	}
	return secret
}

type deliveryView struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	JobID    int64  `json:"job_id"`
	State    string `json:"state"`
	Attempts []struct {
		Attempt        int    `json:"attempt"`
		ResponseStatus *int   `json:"response_status"`
		Error          string `json:"error"`
	} `json:"attempts"`
}

func (e *acctEnv) deliveries(key string) []deliveryView {
	e.t.Helper()
	r := e.do("GET", admAPI+"/orgs/org-a/webhook/deliveries/", "Api-Key "+key, nil)
	if r.Status != 200 {
		e.t.Fatalf("GET deliveries: %d %s", r.Status, r.Body)
	}
	var page struct {
		Results []deliveryView `json:"results"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Results
}

// TestOrgWebhookGetsOneSignedJobCompletedWithNobodyWaiting: a video nobody waits on ends; the
// org's webhook receives one job.completed, signed as Standard Webhooks says, whose data is
// the job's view with the provider's result; the delivery is listed as delivered.
func TestOrgWebhookGetsOneSignedJobCompletedWithNobodyWaiting(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o.withSim())
		s, _ := simtest.Start(t, simcore.Options{Seed: 7, Speed: 20}, sim.New)
		e.up.set(s.ServeHTTP)
		e.api.SetJobPollInterval(50 * time.Millisecond)
		rc := newReceiver(t)
		secret := e.putWebhook(rc.URL + "/hook")

		vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
		simtest.WaitFor(t, "the webhook delivery", 15*time.Second, 20*time.Millisecond, func() bool { return len(rc.deliveries()) > 0 })
		time.Sleep(300 * time.Millisecond) // a second delivery would come now
		got := rc.deliveries()
		if len(got) != 1 {
			t.Fatalf("%d deliveries, want exactly 1", len(got))
		}
		d := got[0]
		if err := webhooks.Verify(secret, d.Header, d.Body, time.Now(), 5*time.Minute); err != nil {
			t.Fatalf("the delivery's signature does not verify: %v (headers %v)", err, d.Header)
		}
		if id := d.Header.Get("webhook-id"); !strings.HasPrefix(id, "msg_") {
			t.Errorf("webhook-id %q, want msg_…", id)
		}
		var ev struct {
			Type      string `json:"type"`
			Timestamp string `json:"timestamp"`
			Data      struct {
				ID            int64          `json:"id"`
				UpstreamJobID string         `json:"upstream_job_id"`
				Status        string         `json:"status"`
				Result        map[string]any `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Fatalf("body %s: %v", d.Body, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", ev.Timestamp, err)
		}
		if ev.Type != "job.completed" || ev.Data.UpstreamJobID != vid || ev.Data.Status != "completed" || ev.Data.Result["video_url"] == nil {
			t.Fatalf("delivery body %s: want job.completed of video %s with its video_url", d.Body, vid)
		}
		ds := e.deliveries(e.adminA)
		if len(ds) != 1 || ds[0].State != "delivered" || ds[0].ID != d.Header.Get("webhook-id") || len(ds[0].Attempts) != 1 ||
			ds[0].Attempts[0].ResponseStatus == nil || *ds[0].Attempts[0].ResponseStatus != 204 {
			t.Fatalf("deliveries %+v, want one delivered with one attempt answered 204", ds)
		}
		// A member may not read them: deliveries are the admins'.
		if r := e.do("GET", admAPI+"/orgs/org-a/webhook/deliveries/", "Api-Key "+e.memberA, nil); r.Status != 403 {
			t.Errorf("deliveries as a member: %d", r.Status)
		}
		// The secret is shown masked from now on.
		r := e.do("GET", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), secret) || !strings.Contains(string(r.Body), `"secret":"whsec_****`) {
			t.Errorf("GET webhook: %d %s", r.Status, r.Body)
		}
	})
}

// TestOrgWebhookRetriesWithTheSameIDAndBody: a receiver that fails first gets the delivery
// again about five seconds later with the same webhook-id and body, and both attempts are
// listed; a retry asked through the API sends it once more, at once, still the same.
func TestOrgWebhookRetriesWithTheSameIDAndBody(t *testing.T) {
	e := newAcctEnv(t)
	rc := newReceiver(t, 500)
	e.putWebhook(rc.URL)
	id := completeJob(e, "retried-video")
	simtest.WaitFor(t, "the retry", 12*time.Second, 50*time.Millisecond, func() bool { return len(rc.deliveries()) >= 2 })
	got := rc.deliveries()
	if got[0].Header.Get("webhook-id") != got[1].Header.Get("webhook-id") || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("the retry differs: ids %q %q", got[0].Header.Get("webhook-id"), got[1].Header.Get("webhook-id"))
	}
	ds := e.deliveries(e.adminA)
	if len(ds) != 1 || ds[0].State != "delivered" || len(ds[0].Attempts) != 2 || *ds[0].Attempts[0].ResponseStatus != 500 || *ds[0].Attempts[1].ResponseStatus != 204 {
		t.Fatalf("deliveries %+v, want one delivered after attempts answered 500 then 204", ds)
	}
	if ds[0].JobID != id {
		t.Errorf("job_id %d, want %d", ds[0].JobID, id)
	}
	r := e.do("POST", admAPI+"/orgs/org-a/webhook/deliveries/"+ds[0].ID+"/retry/", "Api-Key "+e.adminA, nil)
	if r.Status != 202 {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	simtest.WaitFor(t, "the asked retry", 5*time.Second, 20*time.Millisecond, func() bool { return len(rc.deliveries()) >= 3 })
	if got := rc.deliveries(); got[2].Header.Get("webhook-id") != ds[0].ID || string(got[2].Body) != string(got[0].Body) {
		t.Errorf("the asked retry differs from the first attempt")
	}
	// Another org's admin cannot see or retry it.
	if r := e.do("POST", admAPI+"/orgs/org-b/webhook/deliveries/"+ds[0].ID+"/retry/", "Api-Key "+e.adminB, nil); r.Status != 404 {
		t.Errorf("retry of org A's delivery as org B: %d %s", r.Status, r.Body)
	}
}

// completeJob records a job of org A and moves it to completed, as a status read would; it
// returns the job's id.
func completeJob(e *acctEnv, upstreamID string) int64 {
	e.t.Helper()
	ctx := context.Background()
	j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: upstreamID,
		Source: aiproxy.SourceTenant, CreatedAt: time.Now()}
	if err := e.store.CreateJob(ctx, j); err != nil {
		e.t.Fatal(err)
	}
	j.Status, j.ProviderStatus, j.Result, j.UpdatedAt = aiproxy.JobCompleted, "completed", `{"video_url":"https://example.com/v.mp4"}`, time.Now()
	if err := e.store.UpdateJobStatus(ctx, j); err != nil {
		e.t.Fatal(err)
	}
	return j.ID
}

// TestOrgWebhookURLIsRefusedUnlessHTTPSAndPublic: a deployment refuses webhook URLs that
// are not https or that aim at its own network, each with a 400 naming the problem, and
// stores nothing.
func TestOrgWebhookURLIsRefusedUnlessHTTPSAndPublic(t *testing.T) {
	e := newAcctEnv(t, acctOptions{strictWebhooks: true})
	for _, c := range []struct{ body, want string }{
		{`{"url": "http://hooks.example.com/x"}`, "https"},
		{`{"url": "https://127.0.0.1/x"}`, "'url'"},
		{`{"url": "https://[::1]/x"}`, "'url'"},
		{`{"url": "https://10.1.2.3/x"}`, "'url'"},
		{`{"url": "https://169.254.169.254/latest/meta-data"}`, "'url'"},
		{`{"url": "https://localhost/x"}`, "'url'"},
		{`{"url": "https://user:pw@hooks.example.com/x"}`, "'url'"},
		{`{"url": "not a url"}`, "'url'"},
		{`{}`, "'url'"},
		{`{"url": 5}`, "'url'"},
		{`{"url": "https://hooks.example.com/x", "events": ["video.done"]}`, "'events'"},
		{`{"url": "https://hooks.example.com/x", "events": []}`, "'events'"},
		{`{"url": "https://hooks.example.com/x", "extra": 1}`, "extra"},
		{`[1]`, "JSON object"},
	} {
		r := e.do("PUT", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, strings.NewReader(c.body), "Content-Type", "application/json")
		if r.Status != 400 || !strings.Contains(string(r.Body), c.want) {
			t.Errorf("PUT %s: %d %s, want 400 naming %s", c.body, r.Status, r.Body, c.want)
		}
	}
	if r := e.do("GET", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, nil); r.Status != 404 {
		t.Errorf("after refusals GET webhook: %d %s, want 404", r.Status, r.Body)
	}
	if r := e.do("PUT", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, strings.NewReader(`{"url": "https://hooks.example.com/x"}`), "Content-Type", "application/json"); r.Status != 200 {
		t.Fatalf("a public https URL: %d %s", r.Status, r.Body)
	}
	// DELETE removes it, and its secret.
	if r := e.do("DELETE", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, nil); r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, nil); r.Status != 404 || !strings.Contains(string(r.Body), "no webhook") {
		t.Errorf("GET after DELETE: %d %s", r.Status, r.Body)
	}
	if _, err := e.store.GetCredential(context.Background(), aiproxy.WebhookOutService, aiproxy.SourceTenant, e.orgA.ID); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Errorf("the secret outlived its webhook: %v", err)
	}
}

// TestOrgWebhookSecretIsShownOnceAndKeptUnlessRotated: a second PUT keeps the secret and
// does not show it; rotate_secret makes and shows a new one.
func TestOrgWebhookSecretIsShownOnceAndKeptUnlessRotated(t *testing.T) {
	e := newAcctEnv(t)
	first := e.putWebhook("https://hooks.example.com/a")
	r := e.do("PUT", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, strings.NewReader(`{"url": "https://hooks.example.com/b"}`), "Content-Type", "application/json")
	if r.Status != 200 || strings.Contains(string(r.Body), first) || !strings.Contains(string(r.Body), "/b") {
		t.Fatalf("second PUT: %d %s", r.Status, r.Body)
	}
	r = e.do("PUT", admAPI+"/orgs/org-a/webhook/", "Api-Key "+e.adminA, strings.NewReader(`{"url": "https://hooks.example.com/b", "rotate_secret": true}`), "Content-Type", "application/json")
	second, _ := r.json(t)["secret"].(string)
	if r.Status != 200 || !strings.HasPrefix(second, "whsec_") || second == first || strings.Contains(second, "*") {
		t.Fatalf("rotating PUT: %d %s", r.Status, r.Body)
	}
	if got, err := e.mgr.OrgWebhookSecret(context.Background(), e.orgA.ID); err != nil || got != second {
		t.Errorf("the stored secret is not the rotated one (%v)", err)
	}
}

// registerHeyGen registers the gateway's receiver with the simulator for org A's own HeyGen
// account, as the command line does, and returns the receiver URL.
func registerHeyGen(t *testing.T, e *acctEnv) string {
	t.Helper()
	url := e.srv.URL + httpapi.DefaultPrefix + "/webhooks/heygen/"
	id, err := e.mgr.RegisterWebhook(context.Background(), tenancy.CLI, e.mgr.Catalog.Service("heygen"), e.orgA, url, httpapi.UpstreamCall(e.gw))
	if err != nil || id == "" {
		t.Fatalf("register: %q %v", id, err)
	}
	return url
}

// TestProviderWebhookCompletesTheJobLongBeforeThePollWould: with the receiver registered,
// the simulator's signed avatar_video.success makes the gateway read the job at once: it is
// completed (with the status action's result) long before the next poll would come.
func TestProviderWebhookCompletesTheJobLongBeforeThePollWould(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o.withSim())
		s, _ := simtest.Start(t, simcore.Options{Seed: 7, Speed: 20}, sim.New)
		e.up.set(s.ServeHTTP)
		e.api.SetJobPollInterval(time.Minute)
		registerHeyGen(t, e)
		vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
		j := e.jobOf("heygen", vid)
		start := time.Now()
		simtest.WaitFor(t, "the job to be completed", 10*time.Second, 20*time.Millisecond, func() bool {
			cur, err := e.store.JobByUpstreamID(context.Background(), "heygen", vid)
			return err == nil && cur.Status == aiproxy.JobCompleted
		})
		cur, _ := e.store.JobByUpstreamID(context.Background(), "heygen", vid)
		if !strings.Contains(cur.Result, "video_url") {
			t.Errorf("result %s, want the status action's video_url", cur.Result)
		}
		if calls := e.statusCalls(); calls > 2 {
			t.Errorf("%d status reads; the webhook should have made one (plus the watcher's first)", calls)
		}
		t.Logf("job %d completed %v after creation, by webhook (poll interval 1 min)", j.ID, time.Since(start))
	})
}

// heygenEvent is a HeyGen event about video vid, signed with secret as the simulator signs.
func heygenEvent(secret, vid, eventID string) (http.Header, string) {
	body := fmt.Sprintf(`{"event_type":"avatar_video.success","event_data":{"video_id":%q,"url":"https://x/v.mp4","callback_id":null}}`, vid)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	h := http.Header{"Content-Type": {"application/json"}, "X-Signature": {hex.EncodeToString(mac.Sum(nil))},
		"Heygen-Event-Id": {eventID}, "Heygen-Timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
	return h, body
}

func (e *acctEnv) postWebhook(service string, h http.Header, body string) response {
	e.t.Helper()
	var pairs []string
	for k, v := range h {
		pairs = append(pairs, k, v[0])
	}
	return e.do("POST", admAPI+"/webhooks/"+service+"/", "", strings.NewReader(body), pairs...)
}

// TestProviderWebhookRefusesBadSignaturesReplaysAndMalformedEvents: a wrong signature, none,
// a tampered body or a stale timestamp is 401 and changes nothing (the job is not read, and
// the genuine event is still accepted after); the same event twice is 409; a signed body that
// is not an event is 400; an event signed by another account's secret is not news of the job.
func TestProviderWebhookRefusesBadSignaturesReplaysAndMalformedEvents(t *testing.T) {
	e := newAcctEnv(t)
	e.api.StopWatching()
	ctx := context.Background()
	secret := "whsec_orgAsecret0123456789"
	if _, err := e.mgr.Vault.Set(ctx, tenancy.WebhookInService("heygen"), aiproxy.SourceTenant, e.orgA.ID, secret); err != nil {
		t.Fatal(err)
	}
	otherSecret := "whsec_orgBsecret9876543210"
	if _, err := e.mgr.Vault.Set(ctx, tenancy.WebhookInService("heygen"), aiproxy.SourceTenant, e.orgB.ID, otherSecret); err != nil {
		t.Fatal(err)
	}
	j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: "vid-hooked", Source: aiproxy.SourceTenant, CreatedAt: time.Now()}
	if err := e.store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	h, body := heygenEvent(secret, "vid-hooked", "evt-1")
	before := e.up.countAll()

	bad := h.Clone()
	bad.Set("X-Signature", strings.Repeat("0", 64))
	none := h.Clone()
	none.Del("X-Signature")
	stale := h.Clone()
	stale.Set("Heygen-Timestamp", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
	for name, c := range map[string]struct {
		h    http.Header
		body string
	}{
		"wrong signature": {bad, body},
		"no signature":    {none, body},
		"tampered body":   {h, strings.Replace(body, "x/v.mp4", "evil/v.mp4", 1)},
		"stale":           {stale, body},
	} {
		if r := e.postWebhook("heygen", c.h, c.body); r.Status != 401 {
			t.Errorf("%s: %d %s, want 401", name, r.Status, r.Body)
		}
	}
	if e.up.countAll() != before {
		t.Fatalf("a refused event reached the provider")
	}
	if r := e.postWebhook("heygen", h, body); r.Status != 200 || !strings.Contains(string(r.Body), `"status":"accepted"`) {
		t.Fatalf("the genuine event after the refusals: %d %s", r.Status, r.Body)
	}
	if e.up.countAll() == before {
		t.Errorf("the accepted event did not make the gateway read the job")
	}
	if r := e.postWebhook("heygen", h, body); r.Status != 409 {
		t.Errorf("the same event again: %d %s, want 409", r.Status, r.Body)
	}
	// A new event id with the same body is the same event.
	again := h.Clone()
	again.Set("Heygen-Event-Id", "evt-2")
	if r := e.postWebhook("heygen", again, body); r.Status != 409 {
		t.Errorf("the same body under a new event id: %d %s, want 409", r.Status, r.Body)
	}
	// Signed, but not an event.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("not json"))
	junk := http.Header{"X-Signature": {hex.EncodeToString(mac.Sum(nil))}}
	if r := e.postWebhook("heygen", junk, "not json"); r.Status != 400 {
		t.Errorf("signed non-JSON: %d %s, want 400", r.Status, r.Body)
	}
	// Org B's secret cannot speak for org A's job.
	n := e.up.count()
	hb, bodyB := heygenEvent(otherSecret, "vid-hooked", "evt-b")
	bodyB = strings.Replace(bodyB, "x/v.mp4", "x/w.mp4", 1)
	mac = hmac.New(sha256.New, []byte(otherSecret))
	mac.Write([]byte(bodyB))
	hb.Set("X-Signature", hex.EncodeToString(mac.Sum(nil)))
	if r := e.postWebhook("heygen", hb, bodyB); r.Status != 200 || !strings.Contains(string(r.Body), `"status":"ignored"`) {
		t.Errorf("org B's event about org A's job: %d %s, want 200 ignored", r.Status, r.Body)
	}
	if e.up.count() != n {
		t.Errorf("org B's event made the gateway read org A's job")
	}
	// Unknown service; a service without webhooks.
	if r := e.postWebhook("nope", h, body); r.Status != 404 {
		t.Errorf("unknown service: %d", r.Status)
	}
	if r := e.postWebhook("testsvc", h, body); r.Status != 404 {
		t.Errorf("a service without webhooks: %d %s", r.Status, r.Body)
	}
}

// TestProviderWebhookElevenLabsSignatureIsCheckedWithItsTolerance: ElevenLabs' t=,v0= scheme;
// a t older than 30 minutes is refused even with a valid signature.
func TestProviderWebhookElevenLabsSignatureIsCheckedWithItsTolerance(t *testing.T) {
	e := newAcctEnv(t)
	secret := "wsec_platform_secret_42"
	if _, err := e.mgr.Vault.Set(context.Background(), tenancy.WebhookInService("elevenlabs"), aiproxy.SourcePlatform, 0, secret); err != nil {
		t.Fatal(err)
	}
	body := `{"type":"speech_to_text_transcription","event_timestamp":1764000000,"data":{"request_id":"req-1"}}`
	sign := func(ts time.Time, b string) http.Header {
		t := strconv.FormatInt(ts.Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(t + "." + b))
		return http.Header{"Elevenlabs-Signature": {"t=" + t + ",v0=" + hex.EncodeToString(mac.Sum(nil))}}
	}
	if r := e.postWebhook("elevenlabs", sign(time.Now().Add(-31*time.Minute), body), body); r.Status != 401 || !strings.Contains(string(r.Body), "timestamp") {
		t.Errorf("stale: %d %s", r.Status, r.Body)
	}
	if r := e.postWebhook("elevenlabs", sign(time.Now(), body), body); r.Status != 200 || !strings.Contains(string(r.Body), `"status":"ignored"`) {
		t.Errorf("fresh (no job of ours): %d %s", r.Status, r.Body)
	}
	if r := e.postWebhook("elevenlabs", sign(time.Now(), body), body); r.Status != 409 {
		t.Errorf("replayed with a new t: %d %s", r.Status, r.Body)
	}
}

// TestJobReadAfterItsResultLinkExpiredGetsFreshLinks: a completed video whose video_url has
// expired is read from the provider again when the job is read, and the view carries the new,
// unexpired links; a second read at once does not read the provider again.
func TestJobReadAfterItsResultLinkExpiredGetsFreshLinks(t *testing.T) {
	e := waitEnv(t, 20, 50*time.Millisecond)
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	simtest.WaitFor(t, "the job to be completed", 10*time.Second, 20*time.Millisecond, func() bool {
		cur, err := e.store.JobByUpstreamID(context.Background(), "heygen", vid)
		return err == nil && cur.Status == aiproxy.JobCompleted
	})
	cur, _ := e.store.JobByUpstreamID(context.Background(), "heygen", vid)
	past := time.Now().Add(-time.Hour).Unix()
	cur.Result = fmt.Sprintf(`{"video_url":"https://cdn.example.com/%s.mp4?Expires=%d","thumbnail_url":null}`, vid, past)
	cur.UpdatedAt = time.Now()
	if err := e.store.UpdateJobStatus(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	before := e.statusCalls()
	status, v, body, err := e.getJob(context.Background(), e.memberA, j.ID, "")
	if err != nil || status != 200 {
		t.Fatalf("GET job: %d %s %v", status, body, err)
	}
	var result struct {
		VideoURL string `json:"video_url"`
	}
	if err := json.Unmarshal(v.Result, &result); err != nil {
		t.Fatal(err)
	}
	exp, ok := httpapi.LinkExpiry(result.VideoURL)
	if !ok || !exp.After(time.Now().Add(time.Hour)) {
		t.Fatalf("video_url %q after the read: want a fresh link", result.VideoURL)
	}
	if e.statusCalls() != before+1 {
		t.Errorf("%d status reads for the refresh, want 1", e.statusCalls()-before)
	}
	e.getJob(context.Background(), e.memberA, j.ID, "")
	if e.statusCalls() != before+1 {
		t.Errorf("a read of fresh links read the provider again")
	}
}

// TestOrgWebhookDeliverySurvivesTheReplicaThatTriedIt: a delivery whose first attempt
// failed is in the store, not in a process: with that replica's sender gone, another
// replica on the same store delivers it, with the same webhook-id and body.
func TestOrgWebhookDeliverySurvivesTheReplicaThatTriedIt(t *testing.T) {
	e := newAcctEnv(t)
	rc := newReceiver(t, 503)
	e.putWebhook(rc.URL)
	completeJob(e, "restarted-video")
	simtest.WaitFor(t, "the first attempt", 5*time.Second, 20*time.Millisecond, func() bool { return len(rc.deliveries()) == 1 })
	e.api.StopDelivering()
	other := httpapi.New(httpapi.Config{Store: e.store, Catalog: e.mgr.Catalog, Gateway: e.gw, Vault: e.mgr.Vault,
		WebhookAllowPrivate: true})
	defer other.Close()
	deadline := time.Now().Add(12 * time.Second)
	for len(rc.deliveries()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the other replica never sent it: deliveries %+v", e.deliveries(e.adminA))
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := rc.deliveries()
	if got[0].Header.Get("webhook-id") != got[1].Header.Get("webhook-id") || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("the other replica's attempt differs from the first")
	}
	// The receiver has the request before the sender records its answer.
	var ds []deliveryView
	simtest.WaitFor(t, "the second attempt to be recorded", 5*time.Second, 20*time.Millisecond, func() bool {
		ds = e.deliveries(e.adminA)
		return len(ds) == 1 && ds[0].State != "pending"
	})
	if len(ds) != 1 || ds[0].State != "delivered" || len(ds[0].Attempts) != 2 {
		t.Fatalf("deliveries %+v, want one delivered after two attempts", ds)
	}
}
