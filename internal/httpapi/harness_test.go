package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/ratelimit"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Provider keys distinctive enough to find anywhere they might leak.
const (
	heygenKey = "hg-tenant-secret-5f0c2a9e71"
	elevenKey = "el-tenant-secret-8b3d6f1c42"
)

// recorded is what a test upstream received.
type recorded struct {
	Method, Path, RawPath, RawQuery string // RawPath: the path exactly as sent
	Header                          http.Header
	Body                            []byte
}

// upstream is an httptest server that records requests and answers with a handler.
type upstream struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	handler http.HandlerFunc
	raw     http.HandlerFunc // when set, gets the request unrecorded (bodies too large to keep)
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		raw := u.raw
		u.mu.Unlock()
		if raw != nil {
			raw(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		rawPath, _, _ := strings.Cut(r.RequestURI, "?")
		u.reqs = append(u.reqs, recorded{r.Method, r.URL.Path, rawPath, r.URL.RawQuery, r.Header.Clone(), body})
		h := u.handler
		u.mu.Unlock()
		if h == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok": true}`))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) set(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

func (u *upstream) setRaw(h http.HandlerFunc) {
	u.mu.Lock()
	u.raw = h
	u.mu.Unlock()
}

func (u *upstream) last(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// countAll is the number of requests the upstream received, the watcher's too.
func (u *upstream) countAll() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// count is the number of requests clients' calls made: the job watcher's background reads
// (request id "watch-…", docs/jobs.md) are left out, as they come whenever a job is due.
func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, r := range u.reqs {
		if !strings.HasPrefix(r.Header.Get("X-Request-Id"), "watch-") {
			n++
		}
	}
	return n
}

// env is a running gateway with its store.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	api      *httpapi.Server
	store    aiproxy.Store
	mgr      *tenancy.Manager
	up       *upstream
	logs     *proctest.Buffer
	orgA     *aiproxy.Org
	orgB     *aiproxy.Org
	adminA   string // admin key of org A
	memberA  string
	adminB   string
	operator string
}

// testService is a catalog file for gateway-mechanics tests: short timeouts and every mode.
const testService = `
slug: testsvc
display_name: Test Service
service_type: test
base_url: https://api.test.invalid
auth: {mode: header, header: X-Test-Key}
timeout_seconds: 1
credential_name: testsvc
credential_policy: {allow_tenant_key: true, allow_platform_key: false, default_source: tenant, fallback_to_platform_key: false}
endpoints:
  - {slug: get-json, method: GET, path: "/v1/items", request_mode: raw, response_mode: json, account_scope: public}
  - {slug: post-json, method: POST, path: "/v1/items/{item_id}/do", request_mode: json, response_mode: json, account_scope: public}
  - {slug: download, method: GET, path: "/v1/blob", request_mode: raw, response_mode: passthrough, account_scope: public}
  - {slug: stream, method: POST, path: "/v1/stream", request_mode: json, response_mode: stream, account_scope: public}
  - {slug: upload-multipart, method: POST, path: "/v1/upload", request_mode: multipart, response_mode: json, account_scope: public}
  - {slug: upload-binary, method: POST, path: "/v1/binary", request_mode: binary, response_mode: json, account_scope: public}
  - {slug: upload-binary-stream, method: POST, path: "/v1/binary", request_mode: binary, response_mode: passthrough, account_scope: public}
  - {slug: two-params, method: GET, path: "/v1/a/{first}/b/{second}", request_mode: raw, response_mode: json, account_scope: public}
`

// envOptions adjust newEnv; the zero value is the usual env.
type envOptions struct {
	maxUpload        int64
	maxEnvelopeBytes int64
	limiter          ratelimit.Limiter
	defaultRateLimit int
	upstreamURL      string // "" means a recording upstream (e.up)
	masterKey        []byte // nil means random
	metrics          httpapi.Metrics
	extra            map[string]http.Handler
	logs             io.Writer         // besides e.logs
	gateway          **gateway.Gateway // when set, receives the env's gateway
	publicURL        string
	metricsHandler   http.Handler
	bodyIdle         time.Duration
	maxInflight      int
	realtime         httpapi.RealtimeLimits
}

func newEnv(t *testing.T, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "aiproxy.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := base.Override(fstest.MapFS{"testsvc.yaml": {Data: []byte(testService)}})
	if err != nil {
		t.Fatal(err)
	}
	mk := o.masterKey
	if mk == nil {
		mk = make([]byte, 32)
		_, _ = rand.Read(mk)
	}
	kr, err := masterkeys.NewKeyring(mk)
	if err != nil {
		t.Fatal(err)
	}
	vault := &providerkeys.Vault{Store: store, Keyring: kr}
	var up *upstream
	target := o.upstreamURL
	if target == "" {
		up = newUpstream(t)
		target = up.URL
	}
	u, _ := url.Parse(target)
	gw := gateway.New(gateway.Config{
		Upstreams:        map[string]*url.URL{"heygen": u, "elevenlabs": u, "testsvc": u},
		MaxUploadBytes:   o.maxUpload,
		MaxEnvelopeBytes: o.maxEnvelopeBytes,
	})
	t.Cleanup(gw.Close)
	if o.gateway != nil {
		*o.gateway = gw
	}
	logs := &proctest.Buffer{}
	var w io.Writer = logs
	if o.logs != nil {
		w = io.MultiWriter(logs, o.logs)
	}
	api := httpapi.New(httpapi.Config{
		Store: store, Catalog: cat, Gateway: gw, Vault: vault,
		Logger:  slog.New(slog.NewJSONHandler(w, nil)),
		Limiter: o.limiter, DefaultRateLimit: o.defaultRateLimit,
		Metrics: o.metrics, Extra: o.extra, MetricsHandler: o.metricsHandler,
		PublicURL: o.publicURL, BodyIdleTimeout: o.bodyIdle, MaxInflightPerKey: o.maxInflight,
		Realtime: o.realtime,
	})
	t.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, api: api, store: store, up: up, logs: logs,
		mgr: api.Tenancy()}
	e.orgA = e.org("org-a")
	e.orgB = e.org("org-b")
	e.adminA = e.key(e.orgA, aiproxy.RoleAdmin, nil)
	e.memberA = e.key(e.orgA, aiproxy.RoleMember, nil)
	e.adminB = e.key(e.orgB, aiproxy.RoleAdmin, nil)
	_, e.operator, err = e.mgr.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Role: aiproxy.RoleOperator})
	if err != nil {
		t.Fatal(err)
	}
	for svc, k := range map[string]string{"heygen": heygenKey, "elevenlabs": elevenKey, "testsvc": "test-tenant-key-123"} {
		e.cred(svc, aiproxy.SourceTenant, e.orgA, k)
	}
	return e
}

func (e *env) org(slug string) *aiproxy.Org {
	e.t.Helper()
	o, err := e.mgr.CreateOrg(context.Background(), tenancy.CLI, slug, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *env) key(o *aiproxy.Org, role aiproxy.Role, scopes []string) string {
	e.t.Helper()
	_, k, err := e.mgr.CreateKey(context.Background(), tenancy.CLI, tenancy.NewKey{Org: o, Role: role, Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func (e *env) cred(service string, src aiproxy.Source, o *aiproxy.Org, key string) {
	e.t.Helper()
	if src == aiproxy.SourcePlatform {
		o = nil
	}
	if _, err := e.mgr.SetCredential(context.Background(), tenancy.CLI, e.mgr.Catalog.Service(service), o, key); err != nil {
		e.t.Fatal(err)
	}
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request with an optional Authorization value.
func (e *env) do(method, path, authz string, body io.Reader, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// open POSTs body to an action of testsvc as org A's admin and returns the answer unread,
// for the tests that read it as it streams or leave early. The caller closes its body.
func (e *env) open(ctx context.Context, action string, body io.Reader) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/api/ai-proxy/orgs/org-a/services/testsvc/"+action+"/", body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Api-Key "+e.adminA)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// invoke posts a JSON envelope to an action of org A with A's admin key.
func (e *env) invoke(service, action, envelope string) response {
	e.t.Helper()
	return e.invokeAs(e.adminA, "org-a", service, action, envelope)
}

func (e *env) invokeAs(key, org, service, action, envelope string) response {
	e.t.Helper()
	return e.do("POST", "/api/ai-proxy/orgs/"+org+"/services/"+service+"/"+action+"/", "Api-Key "+key,
		bytes.NewBufferString(envelope), "Content-Type", "application/json")
}

// assertBody checks the status and that the body equals want as JSON.
func assertBody(t *testing.T, r response, status int, want string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d (body %s)", r.Status, status, r.Body)
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body is not JSON: %s", r.Body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %s", want)
	}
	g, _ := json.Marshal(got)
	x, _ := json.Marshal(exp)
	if !bytes.Equal(g, x) {
		t.Errorf("body = %s, want %s", g, x)
	}
}

var _ = time.Second

// assertJSONField checks one top-level field of a JSON object body.
func assertJSONField(t *testing.T, r response, field, want string) {
	t.Helper()
	got, _ := json.Marshal(r.json(t)[field])
	var exp any
	_ = json.Unmarshal([]byte(want), &exp)
	x, _ := json.Marshal(exp)
	if !bytes.Equal(got, x) {
		t.Errorf("%s = %s, want %s", field, got, x)
	}
}
