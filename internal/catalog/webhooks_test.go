package catalog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/elevenlabs"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// TestBuiltinWebhooks pins each built-in service's webhooks block: what the gateway's
// receiver reads and how `aiproxy webhooks register` registers it.
func TestBuiltinWebhooks(t *testing.T) {
	c := mustBuiltin(t)
	tests := []struct {
		service, signature, eventType string
		jobIDs                        []string
		action                        string
		body                          map[string]any
		secret, endpointID            string
	}{
		{"heygen", SignatureHeyGen, "/event_type",
			[]string{"/event_data/session_id", "/event_data/video_id", "/event_data/video_translate_id", "/event_data/id"},
			"v3-create-webhook-endpoint", map[string]any{"url": "{url}"}, "/data/secret", "/data/endpoint_id"},
		{"elevenlabs", SignatureElevenLabs, "/type",
			[]string{"/data/transcription_id", "/data/request_id", "/data/dubbing_id", "/data/conversation_id"},
			"create-workspace-webhook",
			map[string]any{"settings": map[string]any{"auth_type": "hmac", "name": "aiproxy", "webhook_url": "{url}"}},
			"/webhook_secret", "/webhook_id"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			w := c.Service(tt.service).Webhooks
			if w == nil {
				t.Fatal("no webhooks block")
			}
			if w.Signature != tt.signature || w.EventType != tt.eventType || !slices.Equal(w.JobIDs, tt.jobIDs) {
				t.Errorf("signature %q, event_type %q, job_ids %q", w.Signature, w.EventType, w.JobIDs)
			}
			r := w.Register
			if r == nil {
				t.Fatal("no register")
			}
			if r.Action != tt.action || r.Secret != tt.secret || r.EndpointID != tt.endpointID || !reflect.DeepEqual(r.Body, tt.body) {
				t.Errorf("register = %+v", r)
			}
			if e := c.Service(tt.service).Endpoint(r.Action); e == nil || !e.Enabled || e.HTTPMethod != http.MethodPost {
				t.Errorf("register action %q is not an enabled POST action", r.Action)
			}
		})
	}
}

func TestWebhookRegisterBodyForReplacesEveryURLInACopy(t *testing.T) {
	c, err := Load(files("acme.yaml", strings.Replace(header, "endpoints:\n", `webhooks:
  signature: heygen
  event_type: /event
  job_ids: [/data/id]
  register:
    action: add-hook
    body:
      url: "{url}"
      nested: {target: "{url}", kept: "{url}/x", n: 3, on: true, none: null}
      list: ["{url}", {u: "{url}"}, 1.5]
    secret: /secret
endpoints:
`, 1)+endpoint("slug", "add-hook", "method", "POST", "path", "/hooks", "request_mode", "json")))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Service("acme").Webhooks.Register
	got := r.BodyFor("https://gw.example.test/api/ai-proxy/webhooks/acme/")
	const u = "https://gw.example.test/api/ai-proxy/webhooks/acme/"
	want := map[string]any{
		"url":    u,
		"nested": map[string]any{"target": u, "kept": "{url}/x", "n": float64(3), "on": true, "none": nil},
		"list":   []any{u, map[string]any{"u": u}, 1.5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BodyFor =\n %#v\nwant\n %#v", got, want)
	}
	// A deep copy: changing the result, at any depth, leaves Body as loaded.
	got["nested"].(map[string]any)["target"] = "changed"
	got["list"].([]any)[1].(map[string]any)["u"] = "changed"
	again := r.BodyFor(u)
	if !reflect.DeepEqual(again, want) {
		t.Errorf("BodyFor after changing an earlier result = %#v", again)
	}
	if r.Body["url"] != "{url}" || r.Body["nested"].(map[string]any)["target"] != "{url}" {
		t.Errorf("Body changed: %v", r.Body)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("BodyFor is not JSON: %v", err)
	}
}

func TestWebhookLookups(t *testing.T) {
	c := mustBuiltin(t)
	hg, el := c.Service("heygen").Webhooks, c.Service("elevenlabs").Webhooks
	decode := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		spec            *WebhookSpec
		event           string
		eventType, job  string
		hasType, hasJob bool
	}{
		{hg, `{"event_type": "avatar_video.success", "event_data": {"video_id": "v1", "url": "u"}}`, "avatar_video.success", "v1", true, true},
		{hg, `{"event_type": "video_translate.fail", "event_data": {"video_translate_id": "t1"}}`, "video_translate.fail", "t1", true, true},
		{hg, `{"event_type": "live_avatar.success", "event_data": {"session_id": "s1"}}`, "live_avatar.success", "s1", true, true},
		{hg, `{"event_type": "x", "event_data": {"video_id": "", "id": 42}}`, "x", "42", true, true},
		{hg, `{"event_data": {"video_id": null}}`, "", "", false, false},
		{el, `{"type": "speech_to_text_transcription", "data": {"request_id": "r1", "transcription_id": "tr1"}}`, "speech_to_text_transcription", "tr1", true, true},
		{el, `{"type": "post_call_transcription", "data": {"conversation_id": "c1", "agent_id": "a1"}}`, "post_call_transcription", "c1", true, true},
		{el, `{"type": "", "data": {"agent_id": "a1"}}`, "", "", false, false},
		{el, `[1, 2]`, "", "", false, false},
	} {
		ev := decode(tt.event)
		if typ, ok := tt.spec.EventTypeOf(ev); typ != tt.eventType || ok != tt.hasType {
			t.Errorf("EventTypeOf(%s) = %q, %v", tt.event, typ, ok)
		}
		if id, ok := tt.spec.JobIDOf(ev); id != tt.job || ok != tt.hasJob {
			t.Errorf("JobIDOf(%s) = %q, %v", tt.event, id, ok)
		}
	}
	answer := decode(`{"data": {"endpoint_id": "ep1", "secret": "whsec_x", "url": "u"}}`)
	if s, ok := hg.Register.SecretOf(answer); s != "whsec_x" || !ok {
		t.Errorf("SecretOf = %q, %v", s, ok)
	}
	if id, ok := hg.Register.EndpointIDOf(answer); id != "ep1" || !ok {
		t.Errorf("EndpointIDOf = %q, %v", id, ok)
	}
	if _, ok := el.Register.SecretOf(answer); ok {
		t.Error("SecretOf found a secret where there is none")
	}
	if _, ok := hg.Register.SecretOf(decode(`{"data": {"secret": null}}`)); ok {
		t.Error("SecretOf took null for a secret")
	}
	noID := &WebhookRegister{}
	if _, ok := noID.EndpointIDOf(answer); ok {
		t.Error("EndpointIDOf without endpoint_id found an id")
	}
}

// webhooksBlock is a valid webhooks block for "acme" whose register action is add-hook,
// with the given lines replaced: "key: value" replaces that key's line (keys are unique
// here), "key: -" drops it.
func webhooksBlock(changes ...string) string {
	lines := []string{
		"webhooks:",
		"  signature: heygen",
		"  event_type: /event",
		"  job_ids: [/data/id]",
		"  register:",
		"    action: add-hook",
		`    body: {url: "{url}"}`,
		"    secret: /secret",
		"    endpoint_id: /id",
	}
	for _, c := range changes {
		key, value, _ := strings.Cut(c, ": ")
		for i, l := range lines {
			if strings.TrimSpace(strings.SplitN(l, ":", 2)[0]) == key {
				if value == "-" {
					lines = slices.Delete(lines, i, i+1)
				} else {
					lines[i] = l[:strings.Index(l, key)] + key + ": " + value
				}
				break
			}
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// withWebhooks is the acme service with a webhooks block and the action add-hook, whose
// line key: value pairs replace the defaults (see endpoint).
func withWebhooks(block string, hook ...string) string {
	fields := append([]string{"slug", "add-hook", "method", "POST", "path", "/hooks", "request_mode", "json"}, hook...)
	return strings.Replace(header, "endpoints:\n", block+"endpoints:\n", 1) + okEndpoint + endpoint(fields...)
}

func TestLoadAcceptsAWebhooksBlockWithoutEndpointIDOrRegister(t *testing.T) {
	for name, block := range map[string]string{
		"no endpoint_id": webhooksBlock("endpoint_id: -"),
		"no register":    "webhooks:\n  signature: elevenlabs\n  event_type: /type\n  job_ids: [/data/id]\n",
	} {
		c, err := Load(files("acme.yaml", withWebhooks(block)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if w := c.Service("acme").Webhooks; w == nil || (w.Register != nil && w.Register.EndpointID != "") {
			t.Errorf("%s: webhooks = %+v", name, w)
		}
	}
	c, err := Load(files("acme.yaml", header+okEndpoint))
	if err != nil || c.Service("acme").Webhooks != nil {
		t.Errorf("a service without a webhooks block: %v, %+v", err, c)
	}
}

// TestOverrideReplacesTheWebhooksBlockWhole: a file that gives webhooks replaces the
// block; one that does not keeps the base's.
func TestOverrideReplacesTheWebhooksBlockWhole(t *testing.T) {
	base := mustBuiltin(t)
	kept, err := base.Override(files("heygen.yaml", "slug: heygen\ntimeout_seconds: 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	if kept.Service("heygen").Webhooks != base.Service("heygen").Webhooks {
		t.Error("an override without webhooks changed the block")
	}
	replaced, err := base.Override(files("heygen.yaml", `slug: heygen
webhooks:
  signature: heygen
  event_type: /type
  job_ids: [/data/video_id]
`))
	if err != nil {
		t.Fatal(err)
	}
	if w := replaced.Service("heygen").Webhooks; w.EventType != "/type" || w.Register != nil || !slices.Equal(w.JobIDs, []string{"/data/video_id"}) {
		t.Errorf("overridden block = %+v", w)
	}
	// The register action is checked against the merged service's actions.
	if _, err := base.Override(files("heygen.yaml", `slug: heygen
webhooks:
  signature: heygen
  event_type: /type
  job_ids: [/data/video_id]
  register: {action: add-webhook, body: {url: "{url}"}, secret: /data/secret}
`)); err != nil {
		t.Errorf("register through a base action: %v", err)
	}
}

// ---- against the simulators ----

// hookSink is a webhook receiver that hands every delivery to the test.
type hookSink struct {
	*httptest.Server
	got  chan hookDelivery
	seen []hookDelivery // received, not yet taken by next
}

type hookDelivery struct {
	header http.Header
	body   []byte
}

func newHookSink(t *testing.T) *hookSink {
	t.Helper()
	s := &hookSink{got: make(chan hookDelivery, 64)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.got <- hookDelivery{header: r.Header.Clone(), body: b}
	}))
	t.Cleanup(s.Close)
	return s
}

// next takes the first delivery, in the order they came, whose event (decoded) satisfies
// match, waiting for it if need be.
func (s *hookSink) next(t *testing.T, what string, match func(event any) bool) (hookDelivery, any) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		for i == len(s.seen) {
			select {
			case d := <-s.got:
				s.seen = append(s.seen, d)
			case <-deadline:
				t.Fatalf("no delivery of %s", what)
			}
		}
		d := s.seen[i]
		var ev any
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatalf("a delivery that is not JSON: %v: %s", err, d.body)
		}
		if match(ev) {
			s.seen = slices.Delete(s.seen, i, i+1)
			return d, ev
		}
	}
}

// register invokes the service's register action with BodyFor(url) and returns the secret
// and the endpoint id its answer holds.
func (d *simDriver) register(t *testing.T, service, url string) (secret, endpointID string) {
	t.Helper()
	r := d.cat.Service(service).Webhooks.Register
	answer := d.invoke(t, service, r.Action, simRequest{body: r.BodyFor(url)})
	secret, ok := r.SecretOf(answer)
	if !ok {
		t.Fatalf("%s: secret %s finds nothing in %v", r.Action, r.Secret, answer)
	}
	endpointID, ok = r.EndpointIDOf(answer)
	if !ok {
		t.Fatalf("%s: endpoint_id %s finds nothing in %v", r.Action, r.EndpointID, answer)
	}
	return secret, endpointID
}

// TestBuiltinWebhooksAgainstTheSimulators: registering through each service's register
// action gives a secret and an endpoint id where the block says; the simulators' deliveries
// then verify with that secret under the block's signature scheme, and event_type and
// job_ids find the type and the id of the job the event is about.
func TestBuiltinWebhooksAgainstTheSimulators(t *testing.T) {
	_, srv := simtest.Start(t, simcore.Options{Seed: 7}, sim.New)
	d := &simDriver{cat: mustBuiltin(t), base: srv.URL, created: map[string]bool{}, exercised: map[string]bool{}, refsFound: map[string]bool{}}

	t.Run("heygen", func(t *testing.T) {
		const hg = "heygen"
		spec := d.cat.Service(hg).Webhooks
		sink := newHookSink(t)
		secret, id := d.register(t, hg, sink.URL+"/heygen")
		if !strings.HasPrefix(secret, "whsec_") {
			t.Errorf("secret %q", secret)
		}
		if !slices.ContainsFunc(simtest.Get(d.invoke(t, hg, "v3-list-webhook-endpoints", simRequest{}), "data").([]any),
			func(e any) bool { return simtest.Get(e, "endpoint_id") == id }) {
			t.Errorf("endpoint %s is not listed", id)
		}
		video := d.create(t, hg, "v3-create-video", simRequest{body: map[string]any{
			"type": "avatar", "avatar_id": simAvatar, "script": "Hello.", "voice_id": simVoice, "test": true}}, 1)[0]
		translation := d.create(t, hg, "v3-create-video-translation", simRequest{body: map[string]any{
			"video":            map[string]any{"type": "url", "url": "https://media.example.test/talk.mp4"},
			"output_languages": simtest.Get(d.invoke(t, hg, "v3-list-translation-languages", simRequest{}), "data", "languages").([]any)[:1]}}, 1)[0]
		// A Video Agent session's events name the session (and its video): the session is found.
		session := d.create(t, hg, "v3-create-video-agent", simRequest{body: map[string]any{"prompt": "A product demo"}}, 2)[0]
		for job, event := range map[string]string{video: "avatar_video.success", translation: "video_translate.success", session: "video_agent.success"} {
			dl, ev := sink.next(t, event, func(ev any) bool { id, _ := spec.JobIDOf(ev); return id == job })
			if typ, _ := spec.EventTypeOf(ev); typ != event {
				t.Errorf("event_type %s finds %q, want %q", spec.EventType, typ, event)
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(dl.body)
			if got := dl.header.Get("X-Signature"); got != hex.EncodeToString(mac.Sum(nil)) {
				t.Errorf("%s: signature %q does not verify under the heygen scheme", event, got)
			}
		}
	})

	t.Run("elevenlabs", func(t *testing.T) {
		const el = "elevenlabs"
		spec := d.cat.Service(el).Webhooks
		sink := newHookSink(t)
		secret, id := d.register(t, el, sink.URL+"/elevenlabs")
		if !slices.ContainsFunc(simtest.Get(d.invoke(t, el, "list-workspace-webhooks", simRequest{}), "webhooks").([]any),
			func(e any) bool { return simtest.Get(e, "webhook_id") == id && simtest.Get(e, "name") == "aiproxy" }) {
			t.Errorf("webhook %s is not listed", id)
		}
		for _, c := range []struct {
			typ  string
			data map[string]any
			job  string
		}{
			{"speech_to_text_transcription", map[string]any{"request_id": "req1", "transcription_id": "tr1"}, "tr1"},
			{"post_call_transcription", map[string]any{"agent_id": "a1", "conversation_id": "conv1"}, "conv1"},
			{"dubbing_done", map[string]any{"dubbing_id": "dub1"}, "dub1"},
		} {
			b, _ := json.Marshal(map[string]any{"type": c.typ, "data": c.data})
			resp, body := simtest.Do(t, http.DefaultClient, http.MethodPost, srv.URL+"/_sim/webhooks/send", strings.NewReader(string(b)),
				"xi-api-key", "org-a-shared-key", "Content-Type", "application/json")
			if resp.StatusCode != 200 || string(body) != `{"delivered_to":1}` {
				t.Fatalf("send %s: %d %s", c.typ, resp.StatusCode, body)
			}
			dl, ev := sink.next(t, c.typ, func(any) bool { return true })
			if typ, _ := spec.EventTypeOf(ev); typ != c.typ {
				t.Errorf("event_type %s finds %q, want %q", spec.EventType, typ, c.typ)
			}
			if job, _ := spec.JobIDOf(ev); job != c.job {
				t.Errorf("job_ids find %q in %s, want %q", job, dl.body, c.job)
			}
			sig := dl.header.Get(elevenlabs.SignatureHeader)
			ts, _, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || sig != elevenlabs.SignWebhook(secret, time.Unix(sec, 0), dl.body) {
				t.Errorf("signature %q does not verify under the elevenlabs scheme", sig)
			}
		}
	})
}
