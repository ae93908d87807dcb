package elevenlabs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

const otherKey = "sk_test_bob_9876543210"

func createWebhookBody(name, url string) map[string]any {
	return map[string]any{"settings": map[string]any{"auth_type": "hmac", "name": name, "webhook_url": url}}
}

type createdWebhook struct {
	ID     string `json:"webhook_id"`
	Secret string `json:"webhook_secret"`
}

func mustCreateWebhook(t *testing.T, ts *httptest.Server, key string, body any) createdWebhook {
	t.Helper()
	r := call(t, ts, "POST", "/v1/workspace/webhooks", key, body)
	if r.status != 200 {
		t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	var c createdWebhook
	r.json(t, &c)
	if c.ID == "" || c.Secret == "" {
		t.Fatalf("create webhook answered %s", r.body)
	}
	return c
}

func listWebhooks(t *testing.T, ts *httptest.Server, key, query string) []map[string]any {
	t.Helper()
	r := call(t, ts, "GET", "/v1/workspace/webhooks"+query, key, nil)
	if r.status != 200 {
		t.Fatalf("list webhooks: %d %s", r.status, r.body)
	}
	var l struct {
		Webhooks []map[string]any `json:"webhooks"`
	}
	r.json(t, &l)
	if l.Webhooks == nil {
		t.Fatalf("list answered %s, want a webhooks array", r.body)
	}
	return l.Webhooks
}

func wantStatusOK(t *testing.T, r reply) {
	t.Helper()
	if r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Fatalf("got %d %s, want 200 {\"status\":\"ok\"}", r.status, r.body)
	}
}

// TestWorkspaceWebhooksLifecycle: create answers the id and secret once; the list has the
// SDK's WorkspaceWebhookResponseModel fields; PATCH renames and disables; DELETE removes;
// an unknown id, or another key's, is 404 webhook_not_found.
func TestWorkspaceWebhooksLifecycle(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	if l := listWebhooks(t, ts, testKey, ""); len(l) != 0 {
		t.Fatalf("a new key lists %v", l)
	}
	c := mustCreateWebhook(t, ts, testKey, createWebhookBody("Transcripts", "https://hooks.example.test/el"))
	if !strings.HasPrefix(c.Secret, "wsec_") || len(c.Secret) != len("wsec_")+32 {
		t.Errorf("secret %q, want wsec_ and 32 hex digits", c.Secret)
	}
	second := mustCreateWebhook(t, ts, testKey, createWebhookBody("Second", "http://127.0.0.1:9/el"))
	if second.ID == c.ID || second.Secret == c.Secret {
		t.Errorf("two webhooks share an id or a secret: %+v %+v", c, second)
	}

	l := listWebhooks(t, ts, testKey, "")
	if len(l) != 2 || l[0]["webhook_id"] != c.ID || l[1]["webhook_id"] != second.ID {
		t.Fatalf("list = %v, want both, oldest first", l)
	}
	h := l[0]
	want := []string{"auth_type", "created_at_unix", "is_auto_disabled", "is_disabled", "most_recent_failure_error_code",
		"most_recent_failure_timestamp", "name", "usage", "webhook_id", "webhook_url"}
	var got []string
	for k := range h {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("webhook fields %v, want %v", got, want)
	}
	if h["name"] != "Transcripts" || h["webhook_url"] != "https://hooks.example.test/el" || h["is_disabled"] != false ||
		h["is_auto_disabled"] != false || h["auth_type"] != "hmac" || h["usage"] != nil || h["secret"] != nil {
		t.Errorf("webhook = %v", h)
	}
	if ts, ok := h["created_at_unix"].(float64); !ok || time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("created_at_unix = %v", h["created_at_unix"])
	}
	if u := listWebhooks(t, ts, testKey, "?include_usages=true")[0]["usage"]; u == nil {
		t.Errorf("include_usages=true: usage = %v, want an array", u)
	}

	wantStatusOK(t, call(t, ts, "PATCH", "/v1/workspace/webhooks/"+c.ID, testKey, map[string]any{"is_disabled": true, "name": "Renamed"}))
	if h := listWebhooks(t, ts, testKey, "")[0]; h["is_disabled"] != true || h["name"] != "Renamed" {
		t.Errorf("after PATCH: %v", h)
	}

	// Another key sees none of them and cannot change them.
	if l := listWebhooks(t, ts, otherKey, ""); len(l) != 0 {
		t.Errorf("another key lists %v", l)
	}
	wantDetail(t, call(t, ts, "PATCH", "/v1/workspace/webhooks/"+c.ID, otherKey, map[string]any{"is_disabled": false, "name": "x"}), 404, "webhook_not_found")
	wantDetail(t, call(t, ts, "DELETE", "/v1/workspace/webhooks/"+c.ID, otherKey, nil), 404, "webhook_not_found")

	wantStatusOK(t, call(t, ts, "DELETE", "/v1/workspace/webhooks/"+c.ID, testKey, nil))
	if l := listWebhooks(t, ts, testKey, ""); len(l) != 1 || l[0]["webhook_id"] != second.ID {
		t.Errorf("after DELETE: %v", l)
	}
	wantDetail(t, call(t, ts, "DELETE", "/v1/workspace/webhooks/"+c.ID, testKey, nil), 404, "webhook_not_found")
	wantDetail(t, call(t, ts, "PATCH", "/v1/workspace/webhooks/nope", testKey, map[string]any{"is_disabled": false, "name": "x"}), 404, "webhook_not_found")
}

func TestWorkspaceWebhooksValidation(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	id := mustCreateWebhook(t, ts, testKey, createWebhookBody("ok", "https://hooks.example.test/")).ID
	settings := func(kv ...any) map[string]any {
		s := map[string]any{"auth_type": "hmac", "name": "n", "webhook_url": "https://hooks.example.test/"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(s, kv[i].(string))
			} else {
				s[kv[i].(string)] = kv[i+1]
			}
		}
		return map[string]any{"settings": s}
	}
	tests := []struct {
		name, method, path string
		body               any
		loc, typ           string
	}{
		{"no settings", "POST", "/v1/workspace/webhooks", map[string]any{}, "body.settings", "missing"},
		{"not hmac", "POST", "/v1/workspace/webhooks", settings("auth_type", "oauth2"), "body.settings.auth_type", "literal_error"},
		{"no auth_type", "POST", "/v1/workspace/webhooks", settings("auth_type", nil), "body.settings.auth_type", "missing"},
		{"no name", "POST", "/v1/workspace/webhooks", settings("name", nil), "body.settings.name", "missing"},
		{"no url", "POST", "/v1/workspace/webhooks", settings("webhook_url", nil), "body.settings.webhook_url", "missing"},
		{"relative url", "POST", "/v1/workspace/webhooks", settings("webhook_url", "/hook"), "body.settings.webhook_url", "url_parsing"},
		{"ftp url", "POST", "/v1/workspace/webhooks", settings("webhook_url", "ftp://hooks.example.test/"), "body.settings.webhook_url", "url_scheme"},
		{"name not a string", "POST", "/v1/workspace/webhooks", settings("name", 3), "body.settings.name", "string_type"},
		{"patch without is_disabled", "PATCH", "/v1/workspace/webhooks/" + id, map[string]any{"name": "x"}, "body.is_disabled", "missing"},
		{"patch without name", "PATCH", "/v1/workspace/webhooks/" + id, map[string]any{"is_disabled": true}, "body.name", "missing"},
		{"include_usages not a boolean", "GET", "/v1/workspace/webhooks?include_usages=maybe", nil, "query.include_usages", "bool_parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, ts, tt.method, tt.path, testKey, tt.body)
			var v struct {
				Detail []fieldError `json:"detail"`
			}
			r.json(t, &v)
			if r.status != 422 || len(v.Detail) == 0 {
				t.Fatalf("got %d %s, want 422", r.status, r.body)
			}
			var locs []string
			for _, d := range v.Detail {
				var parts []string
				for _, p := range d.Loc {
					parts = append(parts, toString(p))
				}
				locs = append(locs, strings.Join(parts, ".")+" "+d.Type)
			}
			if !slices.Contains(locs, tt.loc+" "+tt.typ) {
				t.Errorf("errors %v, want %s %s", locs, tt.loc, tt.typ)
			}
		})
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWorkspaceWebhooksAndControlRouteNeedAKey(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/workspace/webhooks"}, {"POST", "/v1/workspace/webhooks"},
		{"PATCH", "/v1/workspace/webhooks/x"}, {"DELETE", "/v1/workspace/webhooks/x"},
		{"POST", "/_sim/webhooks/send"},
	} {
		body := map[string]any{"type": "t", "data": map[string]any{}}
		wantDetail(t, call(t, ts, c.method, c.path, "", body), 401, "needs_authorization")
		wantDetail(t, call(t, ts, c.method, c.path, "invalid_key", body), 401, "invalid_api_key")
	}
	if r := call(t, ts, "PUT", "/v1/workspace/webhooks/x", testKey, nil); r.status != 405 {
		t.Errorf("PUT a webhook: %d %s, want 405", r.status, r.body)
	}
	if r := call(t, ts, "GET", "/_sim/webhooks/send", testKey, nil); r.status != 405 {
		t.Errorf("GET the control route: %d %s, want 405", r.status, r.body)
	}
}

// delivery is one request a test receiver got.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a webhook endpoint that answers with the statuses of answer in turn (200
// once they run out) and keeps what it got.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []delivery
	answers []int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	rc := &receiver{answers: answers}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: b, at: time.Now()})
		status := 200
		if len(rc.answers) > 0 {
			status, rc.answers = rc.answers[0], rc.answers[1:]
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
	return slices.Clone(rc.got)
}

// sendEvent calls the control route and returns delivered_to.
func sendEvent(t *testing.T, ts *httptest.Server, key, typ string, data map[string]any) int {
	t.Helper()
	r := call(t, ts, "POST", "/_sim/webhooks/send", key, map[string]any{"type": typ, "data": data})
	var v struct {
		DeliveredTo *int `json:"delivered_to"`
	}
	r.json(t, &v)
	if r.status != 200 || v.DeliveredTo == nil {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	return *v.DeliveredTo
}

// verifySignature checks header as the SDK's constructEvent does: t= and v0= parts, v0 the
// hex HMAC-SHA256 of "<t>.<body>" keyed with the secret, t no older than 30 minutes.
func verifySignature(t *testing.T, secret, header string, body []byte) time.Time {
	t.Helper()
	var ts, v0 string
	for _, part := range strings.Split(header, ",") {
		if s, ok := strings.CutPrefix(part, "t="); ok {
			ts = s
		}
		if s, ok := strings.CutPrefix(part, "v0="); ok {
			v0 = s
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || v0 == "" {
		t.Fatalf("signature header %q has no t= and v0=", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(v0), []byte(want)) {
		t.Errorf("v0 = %s, want %s", v0, want)
	}
	return time.Unix(sec, 0)
}

// TestSignedDeliveryVerifies: the control route sends {type, event_timestamp, data} to every
// enabled webhook of the key, signed so that the receiver's own HMAC matches, with a current
// t and the webhook's request headers; disabled webhooks and other keys' get nothing.
func TestSignedDeliveryVerifies(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	one, two, disabled, others := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	h1 := mustCreateWebhook(t, ts, testKey, map[string]any{"settings": map[string]any{
		"auth_type": "hmac", "name": "one", "webhook_url": one.URL + "/hook",
		"request_headers": map[string]any{"X-Receiver-Token": "abc", "X-Null": nil}}})
	h2 := mustCreateWebhook(t, ts, testKey, createWebhookBody("two", two.URL))
	hd := mustCreateWebhook(t, ts, testKey, createWebhookBody("disabled", disabled.URL))
	wantStatusOK(t, call(t, ts, "PATCH", "/v1/workspace/webhooks/"+hd.ID, testKey, map[string]any{"is_disabled": true, "name": "disabled"}))
	mustCreateWebhook(t, ts, otherKey, createWebhookBody("other key", others.URL))

	data := map[string]any{"transcription_id": "tr_123", "request_id": "req_456", "nested": map[string]any{"n": 1.5}}
	before := time.Now()
	if n := sendEvent(t, ts, testKey, "speech_to_text_transcription", data); n != 2 {
		t.Fatalf("delivered_to = %d, want 2", n)
	}
	if n := len(disabled.deliveries()) + len(others.deliveries()); n != 0 {
		t.Errorf("a disabled webhook or another key's got %d deliveries", n)
	}
	for _, c := range []struct {
		rc     *receiver
		secret string
	}{{one, h1.Secret}, {two, h2.Secret}} {
		got := c.rc.deliveries()
		if len(got) != 1 {
			t.Fatalf("%d deliveries, want 1", len(got))
		}
		d := got[0]
		sent := verifySignature(t, c.secret, d.header.Get("ElevenLabs-Signature"), d.body)
		if sent.Before(before.Truncate(time.Second)) || sent.After(d.at.Add(time.Second)) {
			t.Errorf("t = %v, want the time of sending (%v to %v)", sent, before, d.at)
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var ev struct {
			Type           string         `json:"type"`
			EventTimestamp int64          `json:"event_timestamp"`
			Data           map[string]any `json:"data"`
		}
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatalf("body %s: %v", d.body, err)
		}
		if ev.Type != "speech_to_text_transcription" || ev.Data["transcription_id"] != "tr_123" || ev.Data["request_id"] != "req_456" {
			t.Errorf("event = %s", d.body)
		}
		if d := time.Since(time.Unix(ev.EventTimestamp, 0)); d < 0 || d > time.Minute {
			t.Errorf("event_timestamp %d is not now", ev.EventTimestamp)
		}
		if !strings.HasPrefix(string(d.body), `{"type":"speech_to_text_transcription","event_timestamp":`) {
			t.Errorf("body %s: want type, event_timestamp, data in that order", d.body)
		}
	}
	if h := one.deliveries()[0].header; h.Get("X-Receiver-Token") != "abc" || h.Values("X-Null") != nil {
		t.Errorf("request_headers not sent as given: %v", h)
	}
	// A wrong secret does not verify.
	d := two.deliveries()[0]
	mac := hmac.New(sha256.New, []byte(h1.Secret))
	mac.Write(d.body)
	if strings.Contains(d.header.Get("ElevenLabs-Signature"), hex.EncodeToString(mac.Sum(nil))) {
		t.Error("the signature does not depend on the webhook's secret")
	}
}

// TestSignWebhookKnownValue pins SignWebhook to a value computed independently (Python's
// hmac module) from the scheme ElevenLabs documents.
func TestSignWebhookKnownValue(t *testing.T) {
	body := []byte(`{"type":"speech_to_text_transcription","event_timestamp":1767225600,"data":{"request_id":"r1"}}`)
	got := SignWebhook("wsec_0123456789abcdef", time.Unix(1767225600, 0), body)
	const want = "t=1767225600,v0=11371bd4b2a9f0d2d77aace98fa6ab6c12a530b954f3e953d21e9bc18a1a028f"
	if got != want {
		t.Errorf("SignWebhook = %s\nwant          %s", got, want)
	}
}

// TestDeliveryRetriesTransientFailuresOnly: a 503 is retried (and kept as the webhook's most
// recent failure), a 400 is not, and with retry_enabled false nothing is.
func TestDeliveryRetriesTransientFailuresOnly(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})

	flaky := newReceiver(t, 503)
	h := mustCreateWebhook(t, ts, testKey, createWebhookBody("flaky", flaky.URL))
	if n := sendEvent(t, ts, testKey, "t", map[string]any{}); n != 1 || len(flaky.deliveries()) != 2 {
		t.Errorf("503 then 200: delivered_to %d after %d attempts, want 1 after 2", n, len(flaky.deliveries()))
	}
	l := listWebhooks(t, ts, testKey, "")[0]
	if l["most_recent_failure_error_code"] != float64(503) || l["most_recent_failure_timestamp"] == nil {
		t.Errorf("after a 503: %v", l)
	}
	wantStatusOK(t, call(t, ts, "DELETE", "/v1/workspace/webhooks/"+h.ID, testKey, nil))

	refusing := newReceiver(t, 400, 400, 400)
	h = mustCreateWebhook(t, ts, testKey, createWebhookBody("refusing", refusing.URL))
	if n := sendEvent(t, ts, testKey, "t", map[string]any{}); n != 0 || len(refusing.deliveries()) != 1 {
		t.Errorf("400: delivered_to %d after %d attempts, want 0 after 1", n, len(refusing.deliveries()))
	}
	wantStatusOK(t, call(t, ts, "DELETE", "/v1/workspace/webhooks/"+h.ID, testKey, nil))

	down := newReceiver(t, 500, 500, 500, 500)
	h = mustCreateWebhook(t, ts, testKey, createWebhookBody("down", down.URL))
	if n := sendEvent(t, ts, testKey, "t", map[string]any{}); n != 0 || len(down.deliveries()) != 3 {
		t.Errorf("always 500: delivered_to %d after %d attempts, want 0 after 3", n, len(down.deliveries()))
	}
	wantStatusOK(t, call(t, ts, "PATCH", "/v1/workspace/webhooks/"+h.ID, testKey, map[string]any{"is_disabled": false, "name": "down", "retry_enabled": false}))
	if n := sendEvent(t, ts, testKey, "t", map[string]any{}); n != 0 || len(down.deliveries()) != 4 {
		t.Errorf("retry_enabled false: %d attempts in all, want 4", len(down.deliveries()))
	}
}

func TestControlRouteValidatesAndIgnoresPlannedFaults(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{})
	for _, body := range []any{
		map[string]any{"data": map[string]any{}},
		map[string]any{"type": "", "data": map[string]any{}},
		map[string]any{"type": "t"},
		map[string]any{"type": "t", "data": []any{1}},
	} {
		if r := call(t, ts, "POST", "/_sim/webhooks/send", testKey, body); r.status != 422 {
			t.Errorf("%v: %d %s, want 422", body, r.status, r.body)
		}
	}
	// No webhooks: nothing delivered.
	if n := sendEvent(t, ts, testKey, "t", map[string]any{}); n != 0 {
		t.Errorf("delivered_to %d without webhooks", n)
	}
	// A fault planned for the key's next call is left for the API.
	s.opts.Faults.Add(testKey, simcore.Fault{Kind: simcore.FaultRateLimit})
	sendEvent(t, ts, testKey, "t", map[string]any{})
	wantDetail(t, call(t, ts, "GET", "/v1/workspace/webhooks", testKey, nil), 429, "system_busy")
}

// TestCloseCancelsDeliveriesInFlight: Close does not wait for a receiver that never answers,
// and the control route then reports no delivery.
func TestCloseCancelsDeliveriesInFlight(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: 1})
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stuck.Close()
	defer close(release)
	mustCreateWebhook(t, ts, testKey, createWebhookBody("stuck", stuck.URL))
	answered := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequest("POST", ts.URL+"/_sim/webhooks/send", strings.NewReader(`{"type":"t","data":{}}`))
		req.Header.Set("xi-api-key", testKey)
		resp, err := ts.Client().Do(req)
		if err != nil {
			answered <- reply{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- reply{status: resp.StatusCode, body: b}
	}()
	time.Sleep(100 * time.Millisecond) // the delivery is in flight
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a receiver that never answers")
	}
	if r := <-answered; r.status != 200 || string(r.body) != `{"delivered_to":0}` {
		t.Errorf("control route after Close: %d %s", r.status, r.body)
	}
	// After Close, nothing is sent.
	if n := sendEvent(t, ts, testKey, "t", map[string]any{}); n != 0 {
		t.Errorf("delivered_to %d after Close", n)
	}
}
