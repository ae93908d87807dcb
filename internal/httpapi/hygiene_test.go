package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/aiproxy/aiproxy"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/prom"
)

// hygieneMasterKey is the env's master key: 32 distinctive bytes.
var hygieneMasterKey = []byte("MASTER-hygiene-key-5a1f09c3e7b2d")

// Provider keys set over the admin API during the flow.
const (
	rotatedElevenKey = "el-rotated-secret-77aa01bc9d"
	platformHeyGen   = "hg-platform-secret-3e9b51d07c"
	testsvcKey       = "test-tenant-key-123" // newEnv's testsvc key
)

// capture collects everything a flow shows to the outside.
type capture struct {
	e    *env
	seen []captured
}

type captured struct {
	what       string
	text       string
	apiKeyShow bool // the one answer allowed to show a new API key (key creation, token)
}

func (c *capture) call(method, path, authz, body string, header ...string) response {
	c.e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	if len(header) == 0 && body != "" {
		header = []string{"Content-Type", "application/json"}
	}
	r := c.e.do(method, path, authz, rd, header...)
	c.add(method+" "+path, r, false)
	return r
}

func (c *capture) add(what string, r response, apiKeyShow bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", r.Status)
	for k, vs := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	b.Write(r.Body)
	c.seen = append(c.seen, captured{what: what, text: b.String(), apiKeyShow: apiKeyShow})
}

// echoingUpstream answers like a careless provider: it puts the injected key it received in
// JSON bodies, forwarded and other headers, streamed chunks (split across writes), binary
// bodies and error answers.
func echoingUpstream(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Test-Key") + r.Header.Get("Xi-Api-Key") + r.Header.Get("X-Api-Key")
	w.Header().Set("Request-Id", "req-"+key)
	w.Header().Set("X-Trace-Id", key)
	w.Header().Set("X-Echo-Key", key) // not forwarded at all
	w.Header().Set("Set-Cookie", "session="+key)
	switch fault := r.URL.Query().Get("fault"); fault {
	case "500", "404", "401":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(map[string]int{"500": 500, "404": 404, "401": 401}[fault])
		_, _ = fmt.Fprintf(w, `{"error": {"message": "invalid api key %s", "key": %q}}`, key, key)
		return
	case "text":
		w.WriteHeader(503)
		_, _ = io.WriteString(w, "upstream text error for key="+key+strings.Repeat(".", 9000))
		return
	case "429":
		w.Header().Set("Retry-After", "3 "+key)
		w.WriteHeader(429)
		_, _ = io.WriteString(w, "slow down "+key)
		return
	case "badjson":
		_, _ = io.WriteString(w, `{"key": "`+key+`", `)
		return
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/stream"):
		w.Header().Set("Content-Type", "text/event-stream")
		half := len(key) / 2
		for _, part := range []string{"data: " + key[:half], key[half:] + "\n\n", "data: done " + key + "\n\n"} {
			_, _ = io.WriteString(w, part)
			http.NewResponseController(w).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	case r.URL.Path == "/v1/blob" || strings.HasPrefix(r.URL.Path, "/v1/text-to-speech/"):
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = io.WriteString(w, "ID3 audio bytes "+key+" end")
	default:
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"xi_api_key": key, "api_key": key, "path": r.URL.Path, "received": len(body)})
	}
}

// TestSecretHygiene runs a broad flow (every request and response mode, upstream errors,
// admin calls) and looks for every secret, plain and in base64 and hex, in every log line,
// every response header and body, every error string and the /metrics output.
func TestSecretHygiene(t *testing.T) {
	metrics := prom.New()
	var gw *gateway.Gateway
	e := newEnv(t, envOptions{
		masterKey: hygieneMasterKey, metrics: metrics, gateway: &gw,
		extra: map[string]http.Handler{"GET /metrics": metrics.Handler()},
	})
	e.up.set(echoingUpstream)
	c := &capture{e: e}
	admin := "Api-Key " + e.adminA
	op := "Api-Key " + e.operator
	const api = "/api/ai-proxy"
	invoke := func(service, action, envelope string) response {
		t.Helper()
		return c.call("POST", api+"/orgs/org-a/services/"+service+"/"+action+"/", admin, envelope)
	}
	expect := func(r response, status int, what string) {
		t.Helper()
		if r.Status != status {
			t.Errorf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
		}
	}

	// Discovery.
	expect(c.call("GET", api+"/orgs/org-a/services/", admin, ""), 200, "list")
	for _, s := range []string{"heygen", "elevenlabs", "testsvc"} {
		expect(c.call("GET", api+"/orgs/org-a/services/"+s+"/", admin, ""), 200, "detail "+s)
	}
	// Every mode, with the upstream echoing the key.
	expect(invoke("testsvc", "get-json", `{}`), 200, "raw→json")
	expect(invoke("testsvc", "post-json", `{"path_params": {"item_id": "1"}, "body": {"a": 1}, "headers": {"X-Test-Key": "client-tries-its-own"}}`), 200, "json→json")
	expect(invoke("testsvc", "download", `{}`), 200, "passthrough")
	expect(invoke("testsvc", "stream", `{"body": {}}`), 200, "stream")
	expect(invoke("testsvc", "upload-multipart", `{"body": {"name": "x"}, "files": {"file": {"filename": "a.txt", "data": "aGVsbG8="}}}`), 200, "multipart (JSON files)")
	expect(invoke("testsvc", "upload-binary", `{"files": {"file": {"filename": "a.bin", "content_type": "application/octet-stream", "data": "aGVsbG8="}}}`), 200, "binary")
	{
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("body", `{"name": "voice"}`)
		fw, _ := mw.CreateFormFile("files", "a.mp3")
		_, _ = fw.Write([]byte("ID3 sample"))
		_ = mw.Close()
		expect(c.call("POST", api+"/orgs/org-a/services/testsvc/upload-multipart/", admin, buf.String(), "Content-Type", mw.FormDataContentType()), 200, "multipart (real)")
	}
	expect(invoke("elevenlabs", "get-user", `{}`), 200, "elevenlabs get-user")
	expect(invoke("elevenlabs", "tts", `{"path_params": {"voice_id": "v1"}, "body": {"text": "hi"}}`), 200, "elevenlabs tts")
	expect(invoke("heygen", "list-avatars", `{}`), 200, "heygen list-avatars")
	// Upstream errors of every kind, all echoing the key.
	for fault, status := range map[string]int{"500": 502, "404": 502, "401": 502, "text": 502, "429": 429, "badjson": 502, "slow": 504} {
		expect(invoke("testsvc", "get-json", `{"query": {"fault": "`+fault+`"}}`), status, "fault "+fault)
	}
	// Client errors, including a provider key sent where an API key belongs.
	expect(invoke("testsvc", "post-json", `{}`), 400, "missing path param")
	expect(invoke("testsvc", "get-json", `[1]`), 400, "malformed envelope")
	expect(invoke("nope", "x", `{}`), 404, "unknown service")
	expect(c.call("POST", api+"/orgs/org-a/services/elevenlabs/get-user/", "Api-Key "+elevenKey, `{}`), 401, "provider key as API key")
	expect(c.call("POST", api+"/orgs/org-a/services/elevenlabs/get-user/", "Bearer "+string(hygieneMasterKey), `{}`), 401, "master key as API key")
	expect(c.call("GET", api+"/orgs/org-b/services/", admin, ""), 403, "other org")

	// Admin calls: credentials in, masked views out.
	expect(c.call("PUT", api+"/orgs/org-a/credentials/elevenlabs/", admin, `{"key": "`+rotatedElevenKey+`"}`), 200, "rotate tenant credential")
	expect(c.call("GET", api+"/orgs/org-a/credentials/elevenlabs/", admin, ""), 200, "read tenant credential")
	expect(c.call("PUT", api+"/orgs/org-a/credentials/elevenlabs/", admin, `{"key": "bad key with spaces `+rotatedElevenKey+`"}`), 400, "invalid credential")
	expect(invoke("elevenlabs", "get-user", `{}`), 200, "invoke with the rotated key")
	expect(c.call("PUT", api+"/platform-credentials/heygen/", op, `{"key": "`+platformHeyGen+`"}`), 200, "platform credential")
	expect(c.call("GET", api+"/platform-credentials/heygen/", op, ""), 200, "read platform credential")
	expect(c.call("PUT", api+"/services/heygen/settings/", op, `{"credential_policy": {"allow_platform_key": true, "default_source": "platform"}}`), 200, "platform policy")
	expect(invoke("heygen", "list-avatars", `{}`), 200, "invoke with the platform key")
	{
		r := e.do("POST", api+"/orgs/org-a/keys/", admin, strings.NewReader(`{"name": "ci", "role": "member"}`), "Content-Type", "application/json")
		expect(r, 201, "create key")
		c.add("POST keys", r, true)
		r = e.do("POST", api+"/orgs/org-a/tokens/", admin, strings.NewReader(`{"ttl_seconds": 60}`), "Content-Type", "application/json")
		expect(r, 201, "mint token")
		c.add("POST tokens", r, true)
	}
	expect(c.call("GET", api+"/orgs/org-a/keys/", admin, ""), 200, "list keys")
	expect(c.call("GET", api+"/orgs/org-a/audit/", admin, ""), 200, "org audit")
	expect(c.call("GET", api+"/audit/", op, ""), 200, "platform audit")
	expect(c.call("GET", api+"/orgs/", op, ""), 200, "list orgs")
	expect(c.call("DELETE", api+"/orgs/org-a/credentials/elevenlabs/", admin, ""), 204, "delete tenant credential")

	// Error strings, straight from the gateway, for the same faults.
	var errs []string
	svc := e.mgr.Catalog.Service("testsvc")
	for _, fault := range []string{"500", "text", "429", "badjson", "slow"} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(`{"query": {"fault": "`+fault+`"}}`))
		req.Header.Set("Content-Type", "application/json")
		_, err := gw.Invoke(httptest.NewRecorder(), req, gateway.Call{
			Service: svc, Endpoint: svc.Endpoint("get-json"), RequestID: "r1",
			Credential: func(context.Context) (string, error) { return testsvcKey, nil },
		})
		if err == nil {
			t.Errorf("fault %s: no error", fault)
			continue
		}
		errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		if ue := aiproxy.AsError(err); ue != nil {
			b, _ := json.Marshal(ue.Fields)
			errs = append(errs, string(b), ue.RetryAfter)
		}
	}

	// /metrics.
	mr := e.do("GET", "/metrics", "", nil)
	if mr.Status != 200 || !strings.Contains(string(mr.Body), "aiproxy_requests_total") {
		t.Fatalf("/metrics: %d %.200s", mr.Status, mr.Body)
	}

	// Every log line is JSON.
	logs := e.logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line is not JSON: %s", l)
		}
	}

	providerKeys := map[string]string{"heygen tenant key": heygenKey, "elevenlabs tenant key": elevenKey, "testsvc tenant key": testsvcKey,
		"rotated elevenlabs key": rotatedElevenKey, "platform heygen key": platformHeyGen, "master key": string(hygieneMasterKey)}
	apiKeys := map[string]string{"admin key": e.adminA, "member key": e.memberA, "org-b admin key": e.adminB, "operator key": e.operator}
	type haystack struct {
		what       string
		text       string
		apiKeyShow bool
	}
	var hay []haystack
	for _, s := range c.seen {
		hay = append(hay, haystack{"response to " + s.what, s.text, s.apiKeyShow})
	}
	for i, l := range lines {
		hay = append(hay, haystack{fmt.Sprintf("log line %d", i+1), l, false})
	}
	for i, s := range errs {
		hay = append(hay, haystack{fmt.Sprintf("error string %d", i+1), s, false})
	}
	hay = append(hay, haystack{"/metrics", string(mr.Body), false})
	scanned, bytesScanned, hits := 0, 0, 0
	for _, h := range hay {
		scanned++
		bytesScanned += len(h.text)
		check := func(name, secret string) {
			for form, v := range proctest.SecretForms([]byte(secret)) {
				if strings.Contains(h.text, v) {
					hits++
					t.Errorf("%s holds the %s (%s form): %.300s", h.what, name, form, h.text)
				}
			}
		}
		for name, k := range providerKeys {
			check(name, k)
		}
		if !h.apiKeyShow {
			for name, k := range apiKeys {
				check(name, k)
			}
		}
	}
	// The echoes were there to be scrubbed: the masks show they were met.
	masked := 0
	for _, s := range c.seen {
		masked += strings.Count(s.text, strings.Repeat("*", len(testsvcKey)))
	}
	if masked == 0 {
		t.Error("no masked echo in any response: the upstream echoes did not happen")
	}
	t.Logf("scanned %d texts (%d responses, %d log lines, %d error strings, /metrics), %d bytes, %d secrets × 7 forms: %d hits; %d masked echoes",
		scanned, len(c.seen), len(lines), len(errs), bytesScanned, len(providerKeys)+len(apiKeys), hits, masked)
}
