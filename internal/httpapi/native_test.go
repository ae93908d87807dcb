package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

const nativeTest = "/api/ai-proxy/orgs/org-a/native/testsvc"

// TestNativeRouteAnswersAsTheProviderWithTheKeyInTheProvidersHeader: a request made as
// to the provider — its path, query, JSON body, and the gateway key in the provider's own
// credential header, as an SDK sends it — reaches the provider as that request, with the
// org's key in that header instead, and its answer comes back unchanged.
func TestNativeRouteAnswersAsTheProviderWithTheKeyInTheProvidersHeader(t *testing.T) {
	e := newEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"made":"item 7"}`))
	})
	body := `{"text": "Hello", "n": [1, 2.50]}`
	r := e.do("POST", nativeTest+"/v1/items/a%2Fb%20c/do?format=mp3&tag=x&tag=y", "", strings.NewReader(body),
		"X-Test-Key", e.memberA, "Content-Type", "application/json", "X-Custom", "kept",
		"X-Forwarded-For", "10.0.0.1", "Cookie", "session=1")
	if r.Status != 201 || string(r.Body) != `{"made":"item 7"}` {
		t.Fatalf("answer %d %s, want the provider's 201 unchanged", r.Status, r.Body)
	}
	got := e.up.last(t)
	if got.Method != "POST" || got.RawPath != "/v1/items/a%2Fb%20c/do" {
		t.Errorf("upstream %s %s", got.Method, got.RawPath)
	}
	if got.RawQuery != "format=mp3&tag=x&tag=y" {
		t.Errorf("upstream query %q", got.RawQuery)
	}
	if string(got.Body) != body && !jsonEqual(string(got.Body), body) {
		t.Errorf("upstream body %s, want %s", got.Body, body)
	}
	if k := got.Header.Get("X-Test-Key"); k != "test-tenant-key-123" {
		t.Errorf("upstream X-Test-Key = %q, want the org's key", k)
	}
	if got.Header.Get("X-Custom") != "kept" {
		t.Errorf("a plain client header was not passed on: %v", got.Header)
	}
	for _, h := range []string{"X-Forwarded-For", "Cookie", "Authorization"} {
		if got.Header.Get(h) != "" {
			t.Errorf("%s reached the provider: %q", h, got.Header.Get(h))
		}
	}
	for name, vs := range got.Header {
		if strings.Contains(strings.Join(vs, " "), e.memberA) {
			t.Errorf("the gateway key reached the provider in %s", name)
		}
	}
}

func jsonEqual(a, b string) bool {
	return compactJSON(a) == compactJSON(b)
}

func compactJSON(s string) string {
	var b bytes.Buffer
	if err := jsonCompact(&b, s); err != nil {
		return s
	}
	return b.String()
}

// TestNativeRouteAcceptsTheUsualAuthorizationAndRefusesAProviderKey: the gateway key
// works in Authorization as on every route; a provider's own key in its header is not a
// gateway key (401), and is never forwarded.
func TestNativeRouteAcceptsTheUsualAuthorizationAndRefusesAProviderKey(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", nativeTest+"/v1/items", "Api-Key "+e.adminA, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"ok"`) {
		t.Fatalf("Authorization: %d %s", r.Status, r.Body)
	}
	n := e.up.count()
	for _, header := range [][]string{{"X-Test-Key", "test-tenant-key-123"}, {"X-Test-Key", ""}, {}} {
		r := e.do("GET", nativeTest+"/v1/items", "", nil, header...)
		if r.Status != 401 {
			t.Errorf("%v: %d %s, want 401", header, r.Status, r.Body)
		}
	}
	if e.up.count() != n {
		t.Errorf("a refused request reached the provider")
	}
	// Another org's key in the provider header: that org's rules, not org A's.
	if r := e.do("GET", nativeTest+"/v1/items", "", nil, "X-Test-Key", e.adminB); r.Status != 403 {
		t.Errorf("org B's key on org A: %d %s", r.Status, r.Body)
	}
}

// TestNativeRouteServesOnlyTheCatalogsPaths: a path no action has is 404 and goes
// nowhere, whatever its spelling; a path of an action with another method is 405 naming
// the methods; an unknown service is the invoke route's 404.
func TestNativeRouteServesOnlyTheCatalogsPaths(t *testing.T) {
	e := newEnv(t)
	auth := "Api-Key " + e.adminA
	for _, p := range []string{"/v1/secret", "/v1/items/x", "/v1/items/x/do/more", "/", "/v1/items/%2e%2e/do"} {
		r := e.do("POST", nativeTest+p, auth, strings.NewReader(`{}`), "Content-Type", "application/json")
		if r.Status != 404 || !strings.Contains(string(r.Body), "native route serves only the catalog") {
			t.Errorf("POST %s: %d %s, want 404", p, r.Status, r.Body)
		}
	}
	r := e.do("DELETE", nativeTest+"/v1/items", auth, nil)
	if r.Status != 405 || r.Header.Get("Allow") != "GET" {
		t.Errorf("DELETE of a GET path: %d Allow %q %s", r.Status, r.Header.Get("Allow"), r.Body)
	}
	if r := e.do("GET", "/api/ai-proxy/orgs/org-a/native/nosuch/v1/items", auth, nil); r.Status != 404 || !strings.Contains(string(r.Body), "External proxy service 'nosuch' not found") {
		t.Errorf("unknown service: %d %s", r.Status, r.Body)
	}
	if e.up.count() != 0 {
		t.Errorf("%d requests reached the provider", e.up.count())
	}
}

// TestNativeRouteForwardsMultipartFormsAndBinaryUploads: a form (fields and a file) and a
// raw upload reach the provider as the form and the bytes the client sent.
func TestNativeRouteForwardsMultipartFormsAndBinaryUploads(t *testing.T) {
	e := newEnv(t)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "clip.wav")
	fw.Write([]byte("RIFF....WAVEfmt audio bytes"))
	mw.WriteField("model_id", "scribe_v1")
	mw.Close()
	r := e.do("POST", nativeTest+"/v1/upload", "", &form, "X-Test-Key", e.adminA, "Content-Type", mw.FormDataContentType())
	if r.Status != 200 {
		t.Fatalf("multipart: %d %s", r.Status, r.Body)
	}
	got := e.up.last(t)
	fields, files := parseForm(t, got)
	if fields["model_id"] != "scribe_v1" || files["file"] != "RIFF....WAVEfmt audio bytes" {
		t.Errorf("upstream form fields %v files %v", fields, files)
	}

	png := "\x89PNG\r\n\x1a\n binary \x00\xff"
	r = e.do("POST", nativeTest+"/v1/binary", "", strings.NewReader(png), "X-Test-Key", e.adminA, "Content-Type", "image/png")
	if r.Status != 200 {
		t.Fatalf("binary: %d %s", r.Status, r.Body)
	}
	got = e.up.last(t)
	if string(got.Body) != png || got.Header.Get("Content-Type") != "image/png" {
		t.Errorf("upstream binary %q %q", got.Header.Get("Content-Type"), got.Body)
	}

	if r := e.do("POST", nativeTest+"/v1/upload", "Api-Key "+e.adminA, strings.NewReader(`{}`), "Content-Type", "application/json"); r.Status != 400 || !strings.Contains(string(r.Body), "multipart/form-data") {
		t.Errorf("JSON to a multipart action: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", nativeTest+"/v1/items/1/do", "Api-Key "+e.adminA, strings.NewReader(`text`), "Content-Type", "text/plain"); r.Status != 400 {
		t.Errorf("text to a JSON action: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", nativeTest+"/v1/items/1/do", "Api-Key "+e.adminA, strings.NewReader(`{"a":`), "Content-Type", "application/json"); r.Status != 400 {
		t.Errorf("broken JSON: %d %s", r.Status, r.Body)
	}
}

func parseForm(t *testing.T, rec recorded) (fields, files map[string]string) {
	t.Helper()
	_, params, err := mime.ParseMediaType(rec.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("upstream Content-Type %q: %v", rec.Header.Get("Content-Type"), err)
	}
	fields, files = map[string]string{}, map[string]string{}
	mr := multipart.NewReader(bytes.NewReader(rec.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return fields, files
		}
		if err != nil {
			t.Fatalf("upstream form: %v", err)
		}
		b, _ := io.ReadAll(p)
		if p.FileName() != "" {
			files[p.FormName()] = string(b)
		} else {
			fields[p.FormName()] = string(b)
		}
	}
}

// TestNativeRouteRelaysTheProvidersWebSocketPath: the provider's WebSocket path, with the
// gateway key in the provider's header (as a server-side SDK dials), is relayed like the
// realtime route, path parameters from the path.
func TestNativeRouteRelaysTheProvidersWebSocketPath(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	h := http.Header{"Xi-Api-Key": {e.memberA}}
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.srv.URL, "http")+
		"/api/ai-proxy/orgs/org-a/native/elevenlabs/v1/text-to-speech/voice-9/stream-input?model_id=eleven_flash_v2_5",
		&websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	writeMsg(t, c, websocket.MessageText, `{"text":"Hi "}`)
	if _, got := readMsg(t, c); got != `{"text":"Hi "}` {
		t.Errorf("echo %s", got)
	}
	rec := e.up.last(t)
	if rec.Path != "/v1/text-to-speech/voice-9/stream-input" || rec.RawQuery != "model_id=eleven_flash_v2_5" || rec.Header.Get("xi-api-key") != elevenKey {
		t.Errorf("upstream handshake %s ?%s key %q", rec.Path, rec.RawQuery, rec.Header.Get("xi-api-key"))
	}
	c.Close(websocket.StatusNormalClosure, "")

	// Without an upgrade, the path is refused naming what to do; an unknown query too.
	if r := e.do("GET", "/api/ai-proxy/orgs/org-a/native/elevenlabs/v1/text-to-speech/voice-9/stream-input", "Api-Key "+e.memberA, nil); r.Status != 400 || !strings.Contains(string(r.Body), "WebSocket") {
		t.Errorf("plain GET: %d %s", r.Status, r.Body)
	}
	_, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.srv.URL, "http")+
		"/api/ai-proxy/orgs/org-a/native/elevenlabs/v1/text-to-speech/voice-9/stream-input?evil=1",
		&websocket.DialOptions{HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Errorf("unknown query: %v %v", err, resp)
	}
}

func jsonCompact(dst *bytes.Buffer, s string) error { return json.Compact(dst, []byte(s)) }

// TestNativeRouteReturnsTheProvidersRefusalAsTheProviderSentIt: a provider's 4xx or 5xx
// reaches an SDK with the provider's status and body (the key masked), not wrapped in the
// envelope route's 502, so that the SDK raises the error it knows.
func TestNativeRouteReturnsTheProvidersRefusalAsTheProviderSentIt(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		status     int
		ctype      string
		body       string
		retryAfter string
		want       string
	}{
		{404, "application/json", `{"detail":{"status":"voice_not_found","message":"no voice for test-tenant-key-123"}}`, "",
			`{"detail":{"status":"voice_not_found","message":"no voice for *******************"}}`},
		{422, "application/json", `{"detail":[{"loc":["body","text"],"msg":"field required"}]}`, "",
			`{"detail":[{"loc":["body","text"],"msg":"field required"}]}`},
		{429, "application/json", `{"detail":{"status":"too_many_concurrent_requests"}}`, "7",
			`{"detail":{"status":"too_many_concurrent_requests"}}`},
		{503, "text/plain", `overloaded`, "", `overloaded`},
	}
	for _, tt := range tests {
		e.up.set(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tt.ctype)
			if tt.retryAfter != "" {
				w.Header().Set("Retry-After", tt.retryAfter)
			}
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(tt.body))
		})
		r := e.do("POST", nativeTest+"/v1/items/1/do", "", strings.NewReader(`{}`), "X-Test-Key", e.adminA, "Content-Type", "application/json")
		if r.Status != tt.status || r.Header.Get("Retry-After") != tt.retryAfter {
			t.Errorf("provider %d: got %d Retry-After %q %s", tt.status, r.Status, r.Header.Get("Retry-After"), r.Body)
			continue
		}
		if got := string(r.Body); got != tt.want && !(strings.HasPrefix(tt.ctype, "application/json") && jsonEqual(got, tt.want)) {
			t.Errorf("provider %d: body %s, want %s", tt.status, got, tt.want)
		}
		if strings.Contains(string(r.Body), "test-tenant-key-123") {
			t.Errorf("the org's key reached the client")
		}
	}
	// The envelope route keeps the contract's 502.
	if r := e.invoke("testsvc", "post-json", `{"path_params":{"item_id":"1"},"body":{}}`); r.Status != 502 {
		t.Errorf("invoke of a refused call: %d %s", r.Status, r.Body)
	}
}
