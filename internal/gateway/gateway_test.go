package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// fuzzService is the catalog of the gateway's property tests: one endpoint per request mode,
// placeholders next to literal segments, and one endpoint on a host of its own (as HeyGen's
// uploads are).
const fuzzService = `
slug: fuzzsvc
display_name: Fuzz Service
service_type: test
base_url: https://api.fuzz.invalid
auth: {mode: header, header: X-Fuzz-Key}
timeout_seconds: 5
credential_name: fuzzsvc
credential_policy: {allow_tenant_key: true, allow_platform_key: false, default_source: tenant, fallback_to_platform_key: false}
endpoints:
  - {slug: two-params, method: POST, path: "/v1/voices/{voice_id}/samples/{sample_id}/audio", request_mode: json, response_mode: json}
  - {slug: raw-get, method: GET, path: "/v1/items/{item_id}", request_mode: raw, response_mode: passthrough}
  - {slug: other-host, method: POST, path: "/v1/asset/{name}", base_url: "https://upload.fuzz.invalid", request_mode: json, response_mode: json}
  - {slug: upload, method: POST, path: "/v1/upload", request_mode: multipart, response_mode: json}
  - {slug: binary, method: POST, path: "/v1/binary", request_mode: binary, response_mode: json}
`

// fuzzKey is the provider key the tests inject.
const fuzzKey = "fuzz-provider-key-7d41c09e"

func fuzzCatalog(t testing.TB) *catalog.Service {
	t.Helper()
	cat, err := catalog.Load(fstest.MapFS{"fuzzsvc.yaml": {Data: []byte(fuzzService)}})
	if err != nil {
		t.Fatal(err)
	}
	svc := cat.Service("fuzzsvc")
	if svc == nil {
		t.Fatal("fuzzsvc not loaded")
	}
	return svc
}

func fuzzCall(svc *catalog.Service, action string) Call {
	return Call{
		Service:    svc,
		Endpoint:   svc.Endpoint(action),
		RequestID:  "req-fuzz-1",
		Credential: func(context.Context) (string, error) { return fuzzKey, nil },
	}
}

// isForbiddenUpstreamHeader is contract §6's list, written independently of headers.go:
// what a client's envelope headers may never set on the upstream call.
func isForbiddenUpstreamHeader(name, credentialHeader string) bool {
	// Names compare in any case and with '_' for '-' (CGI-style servers merge the two).
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	n := norm(name)
	if n == norm(credentialHeader) {
		return true
	}
	switch n {
	case "authorization", "host", "cookie", "content-length", "transfer-encoding", "connection",
		"keep-alive", "te", "trailer", "upgrade", "forwarded", "proxy-authorization", "proxy-authenticate",
		"proxy-connection",
		// any known provider's credential header
		"x-api-key", "xi-api-key",
		// method overrides, URL rewrites, client addresses, host overrides
		"x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url",
		"x-real-ip", "true-client-ip", "x-client-ip", "x-cluster-client-ip", "cf-connecting-ip",
		"fastly-client-ip", "via", "x-host", "x-original-host":
		return true
	}
	return strings.HasPrefix(n, "proxy-") || strings.HasPrefix(n, "x-forwarded-")
}

// prepared is what the upstream receives from a prepared call, read back from the wire
// form of the request: what a server sees is what matters.
type prepared struct {
	req  *http.Request // as built by prepare
	wire *http.Request // as parsed back from its serialisation
}

// prepareWire runs prepare and serialises the request as the transport would, then parses
// it back as the upstream would.
func prepareWire(t testing.TB, g *Gateway, c Call, env *Envelope) (*prepared, error) {
	t.Helper()
	up, err := g.prepare(context.Background(), c, env)
	if err != nil {
		return nil, err
	}
	defer up.cancel(context.Canceled)
	defer up.watchdog.stop()
	var buf bytes.Buffer
	if err := up.req.Write(&buf); err != nil {
		t.Fatalf("writing the prepared request: %v", err)
	}
	wire, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("the prepared request does not parse back: %v\n%s", err, buf.String())
	}
	return &prepared{req: up.req, wire: wire}, nil
}

// checkPrepared asserts the properties every upstream request has: scheme and host are the
// base's, the path is the base path plus the template with each placeholder one segment
// holding its value, no dot segment, the query is the envelope's, no forbidden header, and
// the credential header is exactly the injected key.
func checkPrepared(t testing.TB, p *prepared, base *url.URL, c Call, env *Envelope) {
	t.Helper()
	u := p.req.URL
	if u.Scheme != base.Scheme || u.Host != base.Host || p.wire.Host != base.Host {
		t.Fatalf("upstream is %s://%s (wire Host %q), want %s://%s", u.Scheme, u.Host, p.wire.Host, base.Scheme, base.Host)
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		t.Fatalf("upstream URL %q has userinfo, fragment or opaque part", u)
	}
	// The path on the wire: base path segments, then the template's.
	requestURI := p.wire.RequestURI
	rawPath, rawQuery, _ := strings.Cut(requestURI, "?")
	basePath := strings.TrimSuffix(base.EscapedPath(), "/")
	if !strings.HasPrefix(rawPath, basePath+"/") {
		t.Fatalf("wire path %q does not start with the base path %q", rawPath, basePath)
	}
	got := strings.Split(strings.TrimPrefix(rawPath, basePath), "/")
	want := strings.Split(c.Endpoint.Path.String(), "/")
	if len(got) != len(want) {
		t.Fatalf("wire path %q has %d segments after the base, template %q has %d", rawPath, len(got), c.Endpoint.Path, len(want))
	}
	for i, seg := range want {
		if got[i] == "." || got[i] == ".." {
			t.Fatalf("wire path %q has a dot segment", rawPath)
		}
		if dec, err := url.PathUnescape(got[i]); err != nil || dec == "." || dec == ".." {
			if err == nil {
				t.Fatalf("wire path %q has a segment %q that decodes to a dot segment", rawPath, got[i])
			}
			t.Fatalf("wire path %q has a segment %q that does not unescape: %v", rawPath, got[i], err)
		}
		if !strings.HasPrefix(seg, "{") {
			if got[i] != seg {
				t.Fatalf("wire path %q changed literal segment %q to %q", rawPath, seg, got[i])
			}
			continue
		}
		name := seg[1 : len(seg)-1]
		v, _ := url.PathUnescape(got[i])
		if v != env.PathParams[name] {
			t.Fatalf("placeholder %s = %q arrives as %q (segment %q)", name, env.PathParams[name], v, got[i])
		}
	}
	// What a server's router sees: the same path, decoded segment by segment.
	if p.wire.URL.EscapedPath() != rawPath {
		t.Fatalf("wire path %q re-escapes as %q", rawPath, p.wire.URL.EscapedPath())
	}
	// The query is exactly the envelope's.
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("wire query %q does not parse: %v", rawQuery, err)
	}
	if !sameValues(q, env.Query) {
		t.Fatalf("wire query %q = %v, want %v", rawQuery, q, env.Query)
	}
	// Headers: none of the forbidden ones in what the gateway built, and on the wire the
	// framing is the transport's own (Content-Length is the body's real length).
	authHeader := c.Service.AuthHeader
	for name := range p.req.Header {
		if name != authHeader && isForbiddenUpstreamHeader(name, authHeader) {
			t.Fatalf("forbidden header %q reached the upstream: %q", name, p.req.Header[name])
		}
	}
	for name := range p.wire.Header {
		if name != authHeader && name != "Content-Length" && isForbiddenUpstreamHeader(name, authHeader) {
			t.Fatalf("forbidden header %q is on the wire: %q", name, p.wire.Header[name])
		}
	}
	if cl := p.wire.Header.Values("Content-Length"); len(cl) > 1 || len(cl) == 1 && cl[0] != strconv.FormatInt(p.wire.ContentLength, 10) {
		t.Fatalf("wire Content-Length %q, body length %d", cl, p.wire.ContentLength)
	}
	if n, _ := io.Copy(io.Discard, p.wire.Body); p.wire.ContentLength >= 0 && n != p.wire.ContentLength {
		t.Fatalf("wire body has %d bytes, Content-Length %d", n, p.wire.ContentLength)
	}
	var creds []string
	for name, vs := range p.wire.Header {
		if strings.EqualFold(name, authHeader) {
			creds = append(creds, vs...)
		}
	}
	if len(creds) != 1 || creds[0] != c.Service.AuthPrefix+fuzzKey {
		t.Fatalf("credential header %s = %q, want exactly [%q]", authHeader, creds, fuzzKey)
	}
	if p.wire.Header.Get("Authorization") != "" || p.wire.Header.Get("Cookie") != "" {
		t.Fatal("Authorization or Cookie reached the upstream")
	}
	if got := p.wire.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != c.RequestID {
		t.Fatalf("X-Request-Id = %q, want [%q]", got, c.RequestID)
	}
}

func sameValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if av[i] != bv[i] {
				return false
			}
		}
	}
	return true
}

// checkInvalid asserts a refused input is a client error: an *aiproxy.Error with code
// EINVALID and a sentence, which the HTTP layer renders as 400 {"error": sentence}.
func checkInvalid(t testing.TB, what string, err error) {
	t.Helper()
	var ae *aiproxy.Error
	if !errors.As(err, &ae) || ae.Code != aiproxy.EINVALID || ae.Message == "" {
		t.Fatalf("%s: error %T %v, want *aiproxy.Error EINVALID with a message", what, err, err)
	}
	if !strings.HasSuffix(ae.Message, ".") && !strings.HasPrefix(ae.Message, "Missing required path parameter: ") {
		t.Fatalf("%s: message %q is not a sentence", what, ae.Message)
	}
}

func TestPrepareKeepsHostPathHeadersAndKey(t *testing.T) {
	svc := fuzzCatalog(t)
	override, _ := url.Parse("http://127.0.0.1:9/mirror/base")
	for _, tc := range []struct {
		name, action, envelope string
		g                      *Gateway
		base                   string
	}{
		{"override", "two-params", `{"path_params": {"voice_id": "../../admin", "sample_id": "a/b?c#d"}, "query": {"x": ["1", "2"], "y": "a&b=c"}, "headers": {"x-fuzz-KEY": "stolen", "Host": "evil.test", "X-Forwarded-For": "1.2.3.4", "Proxy-Foo": "x", "Forwarded": "for=x", "Cookie": "a=b", "Connection": "close", "Keep-Alive": "1", "Te": "trailers", "Upgrade": "h2c", "Transfer-Encoding": "chunked", "Content-Length": "5", "Authorization": "Bearer x", "X-Ok": "kept"}}`,
			New(Config{Upstreams: map[string]*url.URL{"fuzzsvc": override}}), "http://127.0.0.1:9/mirror/base"},
		{"catalog base", "two-params", `{"path_params": {"voice_id": "%2e%2e", "sample_id": "\\evil.test"}}`, New(Config{}), "https://api.fuzz.invalid"},
		{"endpoint host", "other-host", `{"path_params": {"name": "@evil.test:80"}}`, New(Config{}), "https://upload.fuzz.invalid"},
		{"raw get", "raw-get", `{"path_params": {"item_id": "日本語 \u0000"}, "query": {"q": true, "n": 1.5e3}}`, New(Config{}), "https://api.fuzz.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ParseJSONEnvelope([]byte(tc.envelope))
			if err != nil {
				t.Fatal(err)
			}
			c := fuzzCall(svc, tc.action)
			p, err := prepareWire(t, tc.g, c, env)
			if err != nil {
				t.Fatal(err)
			}
			base, _ := url.Parse(tc.base)
			checkPrepared(t, p, base, c, env)
			if tc.name == "override" && p.wire.Header.Get("X-Ok") != "kept" {
				t.Errorf("allowed header X-Ok was dropped: %v", p.wire.Header)
			}
		})
	}
}

func TestMalformedEnvelopesAreEINVALID(t *testing.T) {
	for _, s := range []string{`[]`, `"x"`, `{`, `{"query": 1}`, `{"query": {"a": {}}}`, `{"headers": {"a b": "x"}}`,
		`{"headers": {"a": "x\ny"}}`, `{"path_params": {"a": 1.5}}`, `{"files": {"f": {"data": "!!"}}}`, `{} {}`, `null`} {
		_, err := ParseJSONEnvelope([]byte(s))
		checkInvalid(t, s, err)
	}
}
