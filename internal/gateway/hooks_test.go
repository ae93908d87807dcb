package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// hooksService is the catalog of the hook tests: a timeout of one second, so that a silent
// upstream is quick to give up on.
const hooksService = `
slug: hooks
display_name: Hooks
service_type: test
base_url: http://127.0.0.1:9
auth: {mode: header, header: X-Hook-Key}
timeout_seconds: 1
credential_name: hooks
credential_policy: {allow_tenant_key: true, allow_platform_key: false, default_source: tenant, fallback_to_platform_key: false}
endpoints:
  - {slug: json, method: POST, path: "/json", request_mode: json, response_mode: json}
  - {slug: get, method: GET, path: "/items/{item_id}", request_mode: raw, response_mode: json}
  - {slug: delete, method: DELETE, path: "/items/{item_id}", request_mode: raw, response_mode: json}
  - {slug: upload, method: POST, path: "/upload", request_mode: multipart, response_mode: json}
  - {slug: passthrough, method: POST, path: "/passthrough", request_mode: json, response_mode: passthrough}
  - {slug: stream, method: POST, path: "/stream", request_mode: json, response_mode: stream}
`

const hooksKey = "hooks-provider-key-91b2c7"

func hooksCatalog(t testing.TB) *catalog.Service {
	t.Helper()
	cat, err := catalog.Load(fstest.MapFS{"hooks.yaml": {Data: []byte(hooksService)}})
	if err != nil {
		t.Fatal(err)
	}
	return cat.Service("hooks")
}

func hooksGateway(t testing.TB, upstream string, cfg Config) *Gateway {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstreams = map[string]*url.URL{"hooks": u}
	g := New(cfg)
	t.Cleanup(g.Close)
	return g
}

func hooksCall(t testing.TB, svc *catalog.Service, action string) Call {
	t.Helper()
	ep := svc.Endpoint(action)
	if ep == nil {
		t.Fatalf("no action %q", action)
	}
	return Call{Service: svc, Endpoint: ep, RequestID: "req-hooks",
		Credential: func(context.Context) (string, error) { return hooksKey, nil }}
}

// invokeCall performs one invoke of c with body as the client's request body.
func invokeCall(t testing.TB, g *Gateway, c Call, body io.Reader, contentType string) (*httptest.ResponseRecorder, Result, error) {
	t.Helper()
	req := httptest.NewRequest("POST", "/invoke", body)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	res, err := g.Invoke(rec, req, c)
	return rec, res, err
}

// nothingWritten asserts the client was sent nothing: no status, header or byte.
func nothingWritten(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Fatalf("the client was sent %d bytes and headers %v", rec.Body.Len(), rec.Header())
	}
}

// ---- Before --------------------------------------------------------------------------

// beforeCases are the envelope kinds, as the upstream of hisvc takes them.
func beforeCases(t testing.TB) []struct {
	name, action, ct string
	body             func() io.Reader
} {
	file := base64Of(strings.Repeat("file bytes ", 1000))
	mp := func(parts ...[4]string) (func() io.Reader, string) {
		b, ct := hiMultipart(t, parts...)
		data := b.Bytes()
		return func() io.Reader { return bytes.NewReader(data) }, ct
	}
	jsonBody := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	mpUpload, ctUpload := mp([4]string{"query", "", "", `{"q": "1"}`}, [4]string{"file", "a.txt", "text/plain", "abc"})
	mpBinary, ctBinary := mp([4]string{"file", "a.png", "image/png", "png bytes"})
	return []struct {
		name, action, ct string
		body             func() io.Reader
	}{
		{"json", "json", "application/json", jsonBody(`{"body": {"n": 1}, "query": {"q": "1"}}`)},
		{"json files streamed", "upload", "application/json",
			jsonBody(`{"query": {}, "headers": {}, "files": {"file": {"filename": "a", "content_type": "text/plain", "data": "` + file + `"}}}`)},
		{"json files spooled", "upload", "application/json",
			jsonBody(`{"files": {"file": {"filename": "a", "content_type": "text/plain", "data": "` + file + `"}}, "query": {}}`)},
		{"json binary streamed", "binary", "application/json",
			jsonBody(`{"query": {}, "headers": {}, "files": {"file": {"content_type": "text/plain", "data": "` + file + `"}}}`)},
		{"multipart", "upload", ctUpload, mpUpload},
		{"multipart binary", "image", ctBinary, mpBinary},
	}
}

func base64Of(s string) string {
	b, _ := json.Marshal([]byte(s)) // a JSON string of the standard base64
	return string(b[1 : len(b)-1])
}

// Before runs before any byte goes upstream: when it refuses, the upstream sees nothing,
// the credential is never resolved, and the invoke fails with Before's error as is.
func TestBeforeRefusesBeforeAnyUpstreamByte(t *testing.T) {
	svc := hiCatalog(t)
	refused := aiproxy.Errorf(aiproxy.EFORBIDDEN, "not yours")
	for _, tc := range beforeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			up := newHiUpstream(t)
			g := hiGateway(t, up, Config{})
			c := hiCall(t, svc, tc.action)
			var credentials, befores atomic.Int32
			c.Credential = func(context.Context) (string, error) { credentials.Add(1); return hiKey, nil }
			c.Before = func(ctx context.Context, env *Envelope) error {
				befores.Add(1)
				return refused
			}
			rec, res, err := invokeCall(t, g, c, tc.body(), tc.ct)
			if err != refused {
				t.Fatalf("error %v, want Before's", err)
			}
			if befores.Load() != 1 || credentials.Load() != 0 {
				t.Fatalf("Before ran %d times, the credential was resolved %d times", befores.Load(), credentials.Load())
			}
			if res.Sent || res.Answered || res.UpstreamStatus != 0 {
				t.Fatalf("result %+v for a call refused by Before", res)
			}
			nothingWritten(t, rec)
			time.Sleep(50 * time.Millisecond) // a request under way would have arrived by now
			up.notCalled(t)

			// Allowed, the same request goes through; Before ran before the upstream saw it.
			c.Before = func(ctx context.Context, env *Envelope) error {
				if n := up.started.Load(); n != 0 {
					t.Errorf("the upstream had %d requests when Before ran", n)
				}
				return nil
			}
			if _, res, err := invokeCall(t, g, c, tc.body(), tc.ct); err != nil || !res.Sent || !res.Answered {
				t.Fatalf("allowed: %+v, %v", res, err)
			}
			if reqs := up.settle(t); len(reqs) != 1 || !reqs[0].complete {
				t.Fatalf("allowed: the upstream got %d requests", len(reqs))
			}
		})
	}
}

// What Before sees of each kind of envelope (the rules are Call.Before's comment).
func TestBeforeSeesTheEnvelopesNonFileParts(t *testing.T) {
	svc := hiCatalog(t)
	file := base64Of("some file bytes")
	fileMember := `"files": {"file": {"filename": "a.txt", "content_type": "text/plain", "data": "` + file + `"}}`
	type seen struct {
		body, voice, q string
		files          int
		streaming      bool
	}
	mp := func(parts ...[4]string) (io.Reader, string) { return hiMultipart(t, parts...) }
	for _, tc := range []struct {
		name, action string
		body         func() (io.Reader, string)
		want         seen
	}{
		{"json", "json", func() (io.Reader, string) {
			return strings.NewReader(`{"body": {"text": "hi"}, "query": {"q": ["1", "2"]}}`), "application/json"
		}, seen{body: `{"text": "hi"}`, q: "1"}},
		{"json, files streamed, body first", "voice-upload", func() (io.Reader, string) {
			return strings.NewReader(`{"body": {"name": "v"}, "path_params": {"voice_id": "v9"}, "query": {"q": "1"}, "headers": {}, ` + fileMember + `}`), "application/json"
		}, seen{body: `{"name": "v"}`, voice: "v9", q: "1", streaming: true}},
		{"json, files streamed, body after them", "voice-upload", func() (io.Reader, string) {
			return strings.NewReader(`{"path_params": {"voice_id": "v9"}, "query": {"q": "1"}, "headers": {}, ` + fileMember + `, "body": {"name": "v"}}`), "application/json"
		}, seen{voice: "v9", q: "1", streaming: true}},
		{"json, files spooled", "voice-upload", func() (io.Reader, string) {
			return strings.NewReader(`{` + fileMember + `, "path_params": {"voice_id": "v9"}, "body": {"name": "v"}}`), "application/json"
		}, seen{body: `{"name": "v"}`, voice: "v9", files: 1}},
		{"multipart, body first", "voice-upload", func() (io.Reader, string) {
			return mp([4]string{"body", "", "", `{"name": "v"}`}, [4]string{"path_params", "", "", `{"voice_id": "v9"}`},
				[4]string{"query", "", "", `{"q": "1"}`}, [4]string{"file", "a.txt", "text/plain", "abc"})
		}, seen{body: `{"name": "v"}`, voice: "v9", q: "1", streaming: true}},
		{"multipart, body after the file", "voice-upload", func() (io.Reader, string) {
			return mp([4]string{"path_params", "", "", `{"voice_id": "v9"}`}, [4]string{"file", "a.txt", "text/plain", "abc"},
				[4]string{"body", "", "", `{"name": "v"}`})
		}, seen{voice: "v9", streaming: true}},
		{"multipart without files", "voice-upload", func() (io.Reader, string) {
			return mp([4]string{"path_params", "", "", `{"voice_id": "v9"}`}, [4]string{"body", "", "", `{"name": "v"}`})
		}, seen{body: `{"name": "v"}`, voice: "v9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newHiUpstream(t)
			g := hiGateway(t, up, Config{})
			c := hiCall(t, svc, tc.action)
			var got seen
			c.Before = func(ctx context.Context, env *Envelope) error {
				got = seen{body: string(env.Body), voice: env.PathParams["voice_id"], q: env.Query.Get("q"),
					files: len(env.Files), streaming: env.Streaming()}
				return nil
			}
			body, ct := tc.body()
			if _, _, err := invokeCall(t, g, c, body, ct); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Before saw %+v, want %+v", got, tc.want)
			}
		})
	}
}

// ---- TransformJSON -------------------------------------------------------------------

// TransformJSON sees the validated, scrubbed answer and may filter it; what it returns is
// what the client gets, with its length. An output that is not JSON is a 502 of our own
// making, an error is the invoke's error, and in both cases the client was sent nothing.
func TestTransformJSON(t *testing.T) {
	const list = `{"items": [{"id": "a", "owner": "org-1"}, {"id": "b", "owner": "org-2", "echo": "` + hooksKey + `"}]}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/items/missing" {
			w.WriteHeader(404)
			w.Write([]byte(`{"detail": "no such item"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(list))
	}))
	defer up.Close()
	svc := hooksCatalog(t)
	g := hooksGateway(t, up.URL, Config{})

	// Filtering a list to the caller's own items.
	c := hooksCall(t, svc, "json")
	var sawStatus int
	var sawBody string
	c.TransformJSON = func(status int, body []byte) ([]byte, error) {
		sawStatus, sawBody = status, string(body)
		var v struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		own := v.Items[:0]
		for _, it := range v.Items {
			if it["owner"] == "org-1" {
				own = append(own, it)
			}
		}
		v.Items = own
		return json.Marshal(v)
	}
	rec, res, err := invokeCall(t, g, c, strings.NewReader(`{}`), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"items":[{"id":"a","owner":"org-1"}]}`; rec.Body.String() != want || rec.Code != 201 || res.Status != 201 {
		t.Fatalf("client got %d %s, want 201 %s", rec.Code, rec.Body.String(), want)
	}
	if rec.Header().Get("Content-Length") != "38" || res.BytesOut != 38 {
		t.Fatalf("Content-Length %q, BytesOut %d, want 38", rec.Header().Get("Content-Length"), res.BytesOut)
	}
	if sawStatus != 201 || strings.Contains(sawBody, hooksKey) || !strings.Contains(sawBody, `"echo": "*****`) {
		t.Fatalf("the transform saw %d %s: want the upstream status and the scrubbed answer", sawStatus, sawBody)
	}

	// Reading ids and returning the body unchanged.
	var ids []string
	c.TransformJSON = func(status int, body []byte) ([]byte, error) {
		var v struct{ Items []struct{ ID string } }
		_ = json.Unmarshal(body, &v)
		for _, it := range v.Items {
			ids = append(ids, it.ID)
		}
		return body, nil
	}
	rec, _, err = invokeCall(t, g, c, strings.NewReader(`{}`), "application/json")
	if err != nil || len(ids) != 2 || !strings.Contains(rec.Body.String(), `"id": "b"`) {
		t.Fatalf("unchanged: %v, ids %v, body %s", err, ids, rec.Body.String())
	}

	// An output that is not JSON: a 502, the bug surfaced safely.
	for _, out := range []string{``, `{"items": [`, `{} {}`, "\xff"} {
		c.TransformJSON = func(int, []byte) ([]byte, error) { return []byte(out), nil }
		rec, _, err = invokeCall(t, g, c, strings.NewReader(`{}`), "application/json")
		ae := aiproxy.AsError(err)
		if ae == nil || ae.Code != aiproxy.EUPSTREAM || !errors.Is(err, errTransform) || !strings.Contains(err.Error(), "transform produced invalid JSON") {
			t.Fatalf("output %q: error %v, want EUPSTREAM caused by the transform", out, err)
		}
		nothingWritten(t, rec)
	}

	// An error is the invoke's.
	sentinel := errors.New("transform failed")
	c.TransformJSON = func(int, []byte) ([]byte, error) { return nil, sentinel }
	rec, _, err = invokeCall(t, g, c, strings.NewReader(`{}`), "application/json")
	if err != sentinel {
		t.Fatalf("error %v, want the transform's", err)
	}
	nothingWritten(t, rec)

	// Error answers are not transformed.
	called := false
	c = hooksCall(t, svc, "get")
	c.TransformJSON = func(_ int, body []byte) ([]byte, error) { called = true; return body, nil }
	_, res, err = invokeCall(t, g, c, strings.NewReader(`{"path_params": {"item_id": "missing"}}`), "application/json")
	if ae := aiproxy.AsError(err); ae == nil || ae.Code != aiproxy.EUPSTREAM || called || res.UpstreamStatus != 404 {
		t.Fatalf("a 404: error %v, transform called %v", err, called)
	}
}

// ---- Sent and Answered ---------------------------------------------------------------

// Result.Sent and Result.Answered tell a call the provider cannot have run from one it may
// have run, and from one it answered.
func TestSentAndAnswered(t *testing.T) {
	svc := hooksCatalog(t)

	// A port nobody listens on: the connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the whole request arrives; the answer never does
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer silent.Close()
	answers := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.URL.Path, "/missing") || r.URL.Path == "/json" {
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok": true}`))
	}))
	defer answers.Close()

	const getItem = `{"path_params": {"item_id": "i1"}}`
	for _, tc := range []struct {
		name, upstream, action, envelope string
		before                           bool
		code                             string
		sent, answered                   bool
	}{
		{"refused by Before", answers.URL, "json", `{}`, true, aiproxy.EFORBIDDEN, false, false},
		{"connection refused, POST", closed, "json", `{"body": {"a": 1}}`, false, aiproxy.EUPSTREAM, false, false},
		{"connection refused, GET", closed, "get", getItem, false, aiproxy.EUPSTREAM, false, false},
		{"connection refused, DELETE", closed, "delete", getItem, false, aiproxy.EUPSTREAM, false, false},
		{"timeout after sending, POST", silent.URL, "json", `{"body": {"a": 1}}`, false, aiproxy.EUPSTREAMTIMEOUT, true, false},
		{"timeout after sending, GET", silent.URL, "get", getItem, false, aiproxy.EUPSTREAMTIMEOUT, true, false},
		{"timeout after sending, DELETE", silent.URL, "delete", getItem, false, aiproxy.EUPSTREAMTIMEOUT, true, false},
		{"4xx, POST", answers.URL, "json", `{}`, false, aiproxy.EUPSTREAM, true, true},
		{"4xx, GET", answers.URL, "get", `{"path_params": {"item_id": "missing"}}`, false, aiproxy.EUPSTREAM, true, true},
		{"2xx, GET", answers.URL, "get", getItem, false, "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := hooksGateway(t, tc.upstream, Config{})
			c := hooksCall(t, svc, tc.action)
			if tc.before {
				c.Before = func(context.Context, *Envelope) error { return aiproxy.Errorf(aiproxy.EFORBIDDEN, "no") }
			}
			_, res, err := invokeCall(t, g, c, strings.NewReader(tc.envelope), "application/json")
			if code := modesErrCode(err); code != tc.code || (tc.code == "") != (err == nil) {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if res.Sent != tc.sent || res.Answered != tc.answered {
				t.Fatalf("Sent %v, Answered %v; want %v, %v", res.Sent, res.Answered, tc.sent, tc.answered)
			}
			if tc.answered && res.UpstreamStatus == 0 {
				t.Fatalf("answered without an upstream status: %+v", res)
			}
		})
	}
}

// ---- benchmarks ----------------------------------------------------------------------

// benchAnswer is a 20 KB JSON list, the shape of a voices listing.
var benchAnswer = func() []byte {
	var b strings.Builder
	b.WriteString(`{"voices": [`)
	for i := 0; b.Len() < 20<<10; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"voice_id": "v` + strings.Repeat("x", 18) + `", "name": "Voice", "category": "premade"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}()

// BenchmarkInvokeGateway is one invoke through the gateway alone, every hook nil: a JSON
// envelope to a json and a passthrough endpoint, and a multipart upload.
func BenchmarkInvokeGateway(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(benchAnswer)
	}))
	defer up.Close()
	svc := hiCatalog(b)
	u, _ := url.Parse(up.URL)
	g := New(Config{Upstreams: map[string]*url.URL{"hisvc": u}, SpoolDir: b.TempDir()})
	defer g.Close()
	mods := modesCatalog(b)
	gm := modesGateway(b, up.URL, Config{})
	run := func(b *testing.B, g *Gateway, c Call, ct string, body []byte) {
		b.Helper()
		once := func() {
			req := httptest.NewRequest("POST", "/invoke", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			if _, err := g.Invoke(rec, req, c); err != nil || rec.Code != 200 {
				b.Fatalf("status %d, err %v", rec.Code, err)
			}
		}
		once()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			once()
		}
	}
	env := []byte(`{"body": {"text": "hello", "model_id": "m1", "voice_settings": {"stability": 0.5}}, "query": {"output_format": "mp3"}, "headers": {"Accept-Language": "en"}}`)
	b.Run("json", func(b *testing.B) { run(b, g, hiCall(b, svc, "json"), "application/json", env) })
	b.Run("passthrough", func(b *testing.B) {
		c := Call{Service: mods, Endpoint: mods.Endpoint("passthrough"), RequestID: "r",
			Credential: func(context.Context) (string, error) { return "bench-key-123456", nil }}
		run(b, gm, c, "application/json", env)
	})
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("body", `{"name": "v"}`)
	fw, _ := mw.CreateFormFile("file", "a.mp3")
	fw.Write(bytes.Repeat([]byte{0xAB}, 64<<10))
	mw.Close()
	b.Run("multipart", func(b *testing.B) { run(b, g, hiCall(b, svc, "upload"), mw.FormDataContentType(), mp.Bytes()) })

	// The same json invoke with every hook set: what they cost when used.
	b.Run("json-hooks", func(b *testing.B) {
		c := hiCall(b, svc, "json")
		c.Before = func(context.Context, *Envelope) error { return nil }
		c.Capture = &Capture{Limit: 64 << 10}
		c.TransformJSON = func(_ int, body []byte) ([]byte, error) { return body, nil }
		h := sha256.New()
		c.Fingerprint = h
		run(b, g, c, "application/json", env)
	})
}
