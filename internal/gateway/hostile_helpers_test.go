package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// hiService is the catalog of the hostile-input tests (limits_test.go, parts_test.go,
// envelope_stream_test.go, routing_headers_test.go): one endpoint per request mode that
// takes files, one with a placeholder, one that takes none.
const hiService = `
slug: hisvc
display_name: Hostile Input
service_type: test
base_url: http://127.0.0.1:9
auth: {mode: header, header: X-Hi-Key}
timeout_seconds: 60
credential_name: hisvc
credential_policy: {allow_tenant_key: true, allow_platform_key: false, default_source: tenant, fallback_to_platform_key: false}
endpoints:
  - {slug: json, method: POST, path: "/json", request_mode: json, response_mode: json}
  - {slug: upload, method: POST, path: "/upload", request_mode: multipart, response_mode: json}
  - {slug: voice-upload, method: POST, path: "/voices/{voice_id}/upload", request_mode: multipart, response_mode: json}
  - {slug: binary, method: POST, path: "/binary", request_mode: binary, response_mode: json}
  - {slug: image, method: POST, path: "/image", request_mode: binary, response_mode: json, content_types: [image/png]}
`

const hiKey = "hi-provider-key-5b7e21"

func hiCatalog(t testing.TB) *catalog.Service {
	t.Helper()
	cat, err := catalog.Load(fstest.MapFS{"hisvc.yaml": {Data: []byte(hiService)}})
	if err != nil {
		t.Fatal(err)
	}
	return cat.Service("hisvc")
}

func hiCall(t testing.TB, svc *catalog.Service, action string) Call {
	t.Helper()
	ep := svc.Endpoint(action)
	if ep == nil {
		t.Fatalf("no action %q", action)
	}
	return Call{Service: svc, Endpoint: ep, RequestID: "req-hi",
		Credential: func(context.Context) (string, error) { return hiKey, nil }}
}

// hiPart is one part of a multipart body as the upstream received it.
type hiPart struct {
	name, filename, contentType string
	n                           int64
	sum                         [32]byte
	text                        string // the first 64 KiB
}

// hiRequest is one request as the upstream received it.
type hiRequest struct {
	method, path, rawQuery string
	header                 http.Header
	started                time.Time
	complete               bool // the whole body arrived (a multipart body up to its closing boundary)
	n                      int64
	sum                    [32]byte
	parts                  []hiPart
}

// hiUpstream records what reaches it, hashing bodies as they stream (it never holds one).
type hiUpstream struct {
	url     string
	started atomic.Int32
	mu      sync.Mutex
	done    []*hiRequest
}

func newHiUpstream(t testing.TB) *hiUpstream {
	u := &hiUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

func (u *hiUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.started.Add(1)
	req := &hiRequest{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, header: r.Header.Clone(), started: time.Now()}
	defer func() {
		u.mu.Lock()
		u.done = append(u.done, req)
		u.mu.Unlock()
	}()
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				req.complete = true
				break
			}
			if err != nil {
				break
			}
			part := hiPart{name: p.FormName(), filename: p.FileName(), contentType: p.Header.Get("Content-Type")}
			h := sha256.New()
			var text bytes.Buffer
			n, err := io.Copy(io.MultiWriter(h, &hiCapped{&text, 64 << 10}), p)
			part.n, part.text = n, text.String()
			copy(part.sum[:], h.Sum(nil))
			req.parts = append(req.parts, part)
			if err != nil {
				break
			}
		}
	} else {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		req.n, req.complete = n, err == nil
		copy(req.sum[:], h.Sum(nil))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

// settle waits until every request that reached the upstream has been read to its end (or
// its break), and returns them.
func (u *hiUpstream) settle(t testing.TB) []*hiRequest {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u.mu.Lock()
		n := len(u.done)
		out := append([]*hiRequest(nil), u.done...)
		u.mu.Unlock()
		if n == int(u.started.Load()) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream still reads %d requests", int(u.started.Load())-n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noneComplete asserts that no request reached the upstream whole.
func (u *hiUpstream) noneComplete(t testing.TB) {
	t.Helper()
	for _, r := range u.settle(t) {
		if r.complete {
			t.Fatalf("the upstream received a complete request (%s %s, %d parts)", r.method, r.path, len(r.parts))
		}
	}
}

// notCalled asserts that no request reached the upstream at all.
func (u *hiUpstream) notCalled(t testing.TB) {
	t.Helper()
	if n := u.started.Load(); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
}

type hiCapped struct {
	b   *bytes.Buffer
	max int
}

func (c *hiCapped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// hiGateway is a gateway that sends hisvc to up.
func hiGateway(t testing.TB, up *hiUpstream, cfg Config) *Gateway {
	t.Helper()
	u, err := url.Parse(up.url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstreams = map[string]*url.URL{"hisvc": u}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = t.TempDir()
	}
	g := New(cfg)
	t.Cleanup(g.Close)
	return g
}

// hiInvoke performs one invoke with body as the client's request body.
func hiInvoke(t testing.TB, g *Gateway, svc *catalog.Service, action string, body io.Reader, contentType string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	req := httptest.NewRequest("POST", "/invoke", body)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	_, err := g.Invoke(rec, req, hiCall(t, svc, action))
	return rec, err
}

// wantError asserts err is an *aiproxy.Error with code and, unless message is "", that
// message.
func hiWantError(t testing.TB, err error, code, message string) {
	t.Helper()
	ae := aiproxy.AsError(err)
	if ae == nil || ae.Code != code || message != "" && ae.Message != message {
		t.Fatalf("error %v, want %s %q", err, code, message)
	}
}

// multipartBody builds a multipart envelope: each part is {name, filename, content type,
// content}; a part with a filename is a file.
func hiMultipart(t testing.TB, parts ...[4]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := make(map[string][]string)
		cd := `form-data; name="` + p[0] + `"`
		if p[1] != "" {
			cd += `; filename="` + p[1] + `"`
		}
		h["Content-Disposition"] = []string{cd}
		if p[2] != "" {
			h["Content-Type"] = []string{p[2]}
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, p[3])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func hiJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < ' ':
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
