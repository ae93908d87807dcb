package gateway

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// modesService has one endpoint per response mode: the catalog of the hostile-answer tests
// (compressed_test.go, informational_test.go, budget_test.go). TIMEOUT is its timeout in
// seconds.
const modesService = `
slug: modes
display_name: Modes
service_type: test
base_url: http://127.0.0.1:9
auth: {mode: header, header: X-Key}
timeout_seconds: TIMEOUT
credential_name: modes
credential_policy: {allow_tenant_key: true, allow_platform_key: false, default_source: tenant, fallback_to_platform_key: false}
endpoints:
  - {slug: json, method: POST, path: "/json", request_mode: json, response_mode: json}
  - {slug: passthrough, method: POST, path: "/passthrough", request_mode: json, response_mode: passthrough}
  - {slug: stream, method: POST, path: "/stream", request_mode: json, response_mode: stream}
`

// modesCatalog is modesService with a timeout of 10 s: time enough on a loaded machine.
func modesCatalog(t testing.TB) *catalog.Service {
	t.Helper()
	return modesCatalogTimeout(t, 10*time.Second)
}

func modesCatalogTimeout(t testing.TB, timeout time.Duration) *catalog.Service {
	t.Helper()
	yaml := strings.Replace(modesService, "TIMEOUT", strconv.Itoa(int(timeout/time.Second)), 1)
	cat, err := catalog.Load(fstest.MapFS{"modes.yaml": {Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	return cat.Service("modes")
}

// modesGateway is a gateway that sends the modes service to upstream.
func modesGateway(t testing.TB, upstream string, cfg Config) *Gateway {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstreams = map[string]*url.URL{"modes": u}
	g := New(cfg)
	t.Cleanup(g.Close)
	return g
}

type modesResult struct {
	rec  *httptest.ResponseRecorder
	res  Result
	err  error
	took time.Duration
}

// invokeMode performs one invoke of action with key as the provider key.
func invokeMode(t testing.TB, g *Gateway, svc *catalog.Service, action, key string) modesResult {
	t.Helper()
	req := httptest.NewRequest("POST", "/invoke", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	ep := svc.Endpoint(action)
	if ep == nil {
		t.Fatalf("no action %q", action)
	}
	c := Call{Service: svc, Endpoint: ep, RequestID: "req-modes",
		Credential: func(context.Context) (string, error) { return key, nil }}
	start := time.Now()
	res, err := g.Invoke(rec, req, c)
	return modesResult{rec: rec, res: res, err: err, took: time.Since(start)}
}

// modesErrCode is the domain error code of err ("" if none).
func modesErrCode(err error) string {
	var ae *aiproxy.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// upstreamFields returns the upstream_status and upstream_body of an upstream error.
func upstreamFields(t testing.TB, err error) (any, any) {
	t.Helper()
	var ae *aiproxy.Error
	if !errors.As(err, &ae) || ae.Fields == nil {
		t.Fatalf("error %v has no upstream fields", err)
	}
	return ae.Fields["upstream_status"], ae.Fields["upstream_body"]
}
