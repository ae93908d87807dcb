package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

const listAvatars = "/api/ai-proxy/orgs/org-a/services/heygen/list-avatars/"

func TestAuthenticationErrorsHaveContractBodies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	revoked := e.key(e.orgA, aiproxy.RoleAdmin, nil)
	if err := e.mgr.RevokeKey(ctx, tenancy.CLI, nil, revoked[:12]); err != nil {
		t.Fatal(err)
	}
	_, expiring, err := e.mgr.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Org: e.orgA, Role: aiproxy.RoleAdmin,
		ExpiresAt: ptr(time.Now().Add(1200 * time.Millisecond))})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1300 * time.Millisecond)

	const notProvided = `{"detail": "Authentication credentials were not provided."}`
	const invalid = `{"detail": "Invalid token."}`
	const forbidden = `{"detail": "You do not have permission to perform this action."}`
	for _, tc := range []struct {
		name, authz string
		status      int
		body        string
	}{
		{"no header", "", 401, notProvided},
		{"unknown scheme", "Basic " + e.adminA, 401, notProvided},
		{"scheme without key", "Api-Key", 401, notProvided},
		{"unknown key", "Api-Key aip_notakey", 401, invalid},
		{"revoked key", "Api-Key " + revoked, 401, invalid},
		{"expired key", "Api-Key " + expiring, 401, invalid},
		{"another org's key", "Api-Key " + e.adminB, 403, forbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertBody(t, e.do("POST", listAvatars, tc.authz, strings.NewReader("{}")), tc.status, tc.body)
		})
	}
}

func TestEveryDocumentedSchemeAuthenticates(t *testing.T) {
	e := newEnv(t)
	for _, scheme := range []string{"Api-Key", "Api-Token", "Token", "Bearer", "api-key", "TOKEN", "bearer"} {
		r := e.do("POST", listAvatars, scheme+" "+e.adminA, strings.NewReader("{}"))
		if r.Status != 200 {
			t.Errorf("scheme %q: status %d: %s", scheme, r.Status, r.Body)
		}
	}
}

func TestClientAuthorizationIsNeverForwarded(t *testing.T) {
	e := newEnv(t)
	e.invoke("heygen", "list-avatars", `{"headers": {"Authorization": "Bearer evil", "X-Api-Key": "override"}}`)
	got := e.up.last(t)
	if got.Header.Get("Authorization") != "" {
		t.Errorf("Authorization reached the upstream: %q", got.Header.Get("Authorization"))
	}
	if got.Header.Get("X-Api-Key") != heygenKey {
		t.Errorf("X-Api-Key = %q, want the stored tenant key", got.Header.Get("X-Api-Key"))
	}
}

func TestOtherMethodsOnRoutesAre405NamingTheMethod(t *testing.T) {
	e := newEnv(t)
	assertBody(t, e.do("GET", listAvatars, "Api-Key "+e.adminA, nil), 405, `{"detail": "Method \"GET\" not allowed."}`)
	assertBody(t, e.do("DELETE", "/api/ai-proxy/orgs/org-a/services/", "Api-Key "+e.adminA, nil), 405, `{"detail": "Method \"DELETE\" not allowed."}`)
	assertBody(t, e.do("PUT", "/api/ai-proxy/orgs/org-a/services/heygen/", "Api-Key "+e.adminA, nil), 405, `{"detail": "Method \"PUT\" not allowed."}`)
}

func TestTrailingSlashIsOptional(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/api/ai-proxy/orgs/org-a/services", "/api/ai-proxy/orgs/org-a/services/heygen"} {
		if r := e.do("GET", p, "Api-Key "+e.adminA, nil); r.Status != 200 {
			t.Errorf("GET %s: %d %s", p, r.Status, r.Body)
		}
	}
	r := e.do("POST", strings.TrimSuffix(listAvatars, "/"), "Api-Key "+e.adminA, strings.NewReader("{}"))
	if r.Status != 200 {
		t.Errorf("invoke without slash: %d %s", r.Status, r.Body)
	}
}

func TestNotFoundAndDisabledErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	off := false
	if _, err := e.mgr.UpdateSettings(ctx, tenancy.CLI, "testsvc", nil, tenancy.SettingsChange{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.UpdateSettings(ctx, tenancy.CLI, "elevenlabs", e.orgA, tenancy.SettingsChange{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, key string
		status          int
		body            string
	}{
		{"unknown service", "/api/ai-proxy/orgs/org-a/services/unknown/x/", e.adminA, 404, `{"detail": "External proxy service 'unknown' not found or disabled."}`},
		{"globally disabled service", "/api/ai-proxy/orgs/org-a/services/testsvc/get-json/", e.adminA, 404, `{"detail": "External proxy service 'testsvc' not found or disabled."}`},
		{"service disabled for the org", "/api/ai-proxy/orgs/org-a/services/elevenlabs/list-voices/", e.adminA, 403, `{"detail": "You do not have permission to perform this action."}`},
		{"unknown action", "/api/ai-proxy/orgs/org-a/services/heygen/x/", e.adminA, 404, `{"detail": "Endpoint 'x' not found for external proxy service 'heygen'."}`},
		{"disabled action", "/api/ai-proxy/orgs/org-a/services/heygen/get-asset/", e.adminA, 404, `{"detail": "Endpoint 'get-asset' not found for external proxy service 'heygen'."}`},
		{"unknown org to an operator", "/api/ai-proxy/orgs/nope/services/heygen/list-avatars/", e.operator, 404, `{"detail": "Organization 'nope' not found."}`},
		{"unknown org to an org key", "/api/ai-proxy/orgs/nope/services/heygen/list-avatars/", e.adminA, 403, `{"detail": "You do not have permission to perform this action."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertBody(t, e.do("POST", tc.path, "Api-Key "+tc.key, strings.NewReader("{}")), tc.status, tc.body)
		})
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("%d calls reached the upstream", n)
	}
	// Discovery leaves out what this org cannot use.
	r := e.do("GET", "/api/ai-proxy/orgs/org-a/services/", "Api-Key "+e.adminA, nil)
	if strings.Contains(string(r.Body), `"elevenlabs"`) || strings.Contains(string(r.Body), `"testsvc"`) {
		t.Errorf("discovery lists disabled services: %s", r.Body)
	}
}

func TestMalformedEnvelopesAre400NamingTheProblem(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ envelope, want string }{
		{`[]`, `{"error": "Request body must be a JSON object."}`},
		{`"x"`, `{"error": "Request body must be a JSON object."}`},
		{`{"a":`, `{"error": "Request body must be a JSON object."}`},
		{`{} {}`, `{"error": "Request body must be a JSON object."}`},
		{`{"query": []}`, `{"error": "Field 'query' must be an object."}`},
		{`{"query": {"a": {"b": 1}}}`, `{"error": "Query parameter 'a' must be a string, number, boolean or an array of them."}`},
		{`{"headers": "x"}`, `{"error": "Field 'headers' must be an object."}`},
		{`{"headers": {"X-A": 1}}`, `{"error": "Header 'X-A' must be a string."}`},
		{`{"headers": {"X-A": "a\r\nB: c"}}`, `{"error": "Header 'X-A' has a value with control characters."}`},
		{`{"headers": {"X A": "a"}}`, `{"error": "Header name 'X A' is not a valid HTTP header name."}`},
		{`{"path_params": [1]}`, `{"error": "Field 'path_params' must be an object."}`},
		{`{"path_params": {"item_id": 1.5}}`, `{"error": "Path parameter 'item_id' must be a string or an integer."}`},
		{`{"path_params": {"item_id": true}}`, `{"error": "Path parameter 'item_id' must be a string or an integer."}`},
		{`{"files": {"f": {"data": "%%%"}}}`, `{"error": "File 'f' has 'data' that is not valid base64."}`},
	} {
		t.Run(tc.envelope, func(t *testing.T) {
			assertBody(t, e.invoke("testsvc", "post-json", tc.envelope), 400, tc.want)
		})
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("%d malformed calls reached the upstream", n)
	}
}

func TestPathParametersStayInTheirSegment(t *testing.T) {
	e := newEnv(t)
	assertBody(t, e.invoke("elevenlabs", "tts", `{"body": {"text": "hi"}}`), 400, `{"error": "Missing required path parameter: voice_id"}`)
	assertBody(t, e.invoke("testsvc", "two-params", `{"path_params": {"second": "x"}}`), 400, `{"error": "Missing required path parameter: first"}`)
	for _, v := range []string{"", ".", ".."} {
		r := e.invoke("testsvc", "post-json", `{"path_params": {"item_id": "`+v+`"}}`)
		if r.Status != 400 || !strings.Contains(r.json(t)["error"].(string), "'item_id'") {
			t.Errorf("value %q: %d %s", v, r.Status, r.Body)
		}
	}
	for _, tc := range []struct{ value, rawPath string }{
		{"../../admin", "/v1/items/..%2F..%2Fadmin/do"},
		{"a/b?c#d", "/v1/items/a%2Fb%3Fc%23d/do"},
		{"%2e%2e", "/v1/items/%252e%252e/do"},
		{`a\b`, "/v1/items/a%5Cb/do"},
		{"x y", "/v1/items/x%20y/do"},
		{"42", "/v1/items/42/do"},
	} {
		r := e.invoke("testsvc", "post-json", `{"path_params": {"item_id": `+jsonString(tc.value)+`}}`)
		if r.Status != 200 {
			t.Fatalf("value %q: %d %s", tc.value, r.Status, r.Body)
		}
		got := e.up.last(t)
		if raw := got.RawPath; raw != tc.rawPath {
			t.Errorf("value %q: upstream path %q, want %q", tc.value, raw, tc.rawPath)
		}
	}
	r := e.invoke("testsvc", "post-json", `{"path_params": {"item_id": 42}}`)
	if r.Status != 200 || e.up.last(t).Path != "/v1/items/42/do" {
		t.Errorf("integer path parameter: %d, path %q", r.Status, e.up.last(t).Path)
	}
}

func TestHeaderFilterKeepsOnlyWhatMayReachTheUpstream(t *testing.T) {
	e := newEnv(t)
	r := e.invoke("testsvc", "get-json", `{"headers": {
		"X-Custom": "kept", "Accept-Language": "fr",
		"x-test-key": "stolen", "Authorization": "a", "Host": "evil.example", "Content-Length": "5",
		"Transfer-Encoding": "chunked", "Connection": "close", "Keep-Alive": "1", "Upgrade": "h2c", "TE": "trailers",
		"Cookie": "c=1", "Proxy-Authorization": "p", "Proxy-Foo": "p", "Forwarded": "for=1.2.3.4",
		"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Host": "evil"}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	h := e.up.last(t).Header
	if h.Get("X-Custom") != "kept" || h.Get("Accept-Language") != "fr" {
		t.Errorf("allowed headers were dropped: %v", h)
	}
	if h.Get("X-Test-Key") != "test-tenant-key-123" {
		t.Errorf("credential header = %q", h.Get("X-Test-Key"))
	}
	for _, name := range []string{"Authorization", "Cookie", "Proxy-Authorization", "Proxy-Foo", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "Keep-Alive", "Upgrade", "Te"} {
		if v := h.Get(name); v != "" {
			t.Errorf("forbidden header %s reached the upstream: %q", name, v)
		}
	}
	if rid := h.Get("X-Request-Id"); rid == "" || rid != r.Header.Get("X-Request-Id") {
		t.Errorf("request id not propagated: upstream %q, client %q", rid, r.Header.Get("X-Request-Id"))
	}
}

func TestQueryIsEncodedFromScalarsAndArrays(t *testing.T) {
	e := newEnv(t)
	r := e.invoke("testsvc", "get-json", `{"query": {"s": "a b&c=d", "n": 10, "f": 1.5, "b": true, "list": ["x", 2], "skip": null}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if got, want := e.up.last(t).RawQuery, "b=true&f=1.5&list=x&list=2&n=10&s=a+b%26c%3Dd"; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
}

func TestUpstreamResultsMapAsTheContractSays(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
		body    string
		header  [2]string
	}{
		{"2xx json unchanged", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			w.Write([]byte(`{"data": {"video_id": "v1"}, "error": null}`))
		}, 201, `{"data": {"video_id": "v1"}, "error": null}`, [2]string{}},
		{"429 keeps Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(429)
			w.Write([]byte(`{"detail": {"status": "too_many_concurrent_requests"}}`))
		}, 429, `{"detail": "The upstream external service rate limit was exceeded.", "upstream_status": 429, "upstream_body": {"detail": {"status": "too_many_concurrent_requests"}}}`, [2]string{"Retry-After", "7"}},
		{"4xx becomes 502 with the provider's error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			w.Write([]byte(`{"code": 40031, "message": "video not found"}`))
		}, 502, `{"detail": "The upstream external service request failed.", "upstream_status": 404, "upstream_body": {"code": 40031, "message": "video not found"}}`, [2]string{}},
		{"5xx text body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			w.Write([]byte(`upstream down`))
		}, 502, `{"detail": "The upstream external service request failed.", "upstream_status": 503, "upstream_body": "upstream down"}`, [2]string{}},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://evil.example/steal", http.StatusFound)
		}, 502, "", [2]string{}},
		{"invalid JSON in json mode", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"data": `))
		}, 502, `{"detail": "The upstream external service request failed."}`, [2]string{}},
		{"timeout is 504", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}, 504, `{"detail": "The upstream external service did not respond in time."}`, [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.up.set(tc.handler)
			r := e.invoke("testsvc", "get-json", `{}`)
			if tc.body == "" {
				if r.Status != tc.status || r.json(t)["upstream_status"] != float64(302) {
					t.Errorf("got %d %s", r.Status, r.Body)
				}
				return
			}
			assertBody(t, r, tc.status, tc.body)
			if tc.header[0] != "" && r.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s = %q, want %q", tc.header[0], r.Header.Get(tc.header[0]), tc.header[1])
			}
		})
	}
	t.Run("long text error is cut to 8 KiB", func(t *testing.T) {
		e.up.set(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			w.Write([]byte(strings.Repeat("x", 20000)))
		})
		r := e.invoke("testsvc", "get-json", `{}`)
		if got := len(r.json(t)["upstream_body"].(string)); got != 8192 {
			t.Errorf("upstream_body has %d bytes, want 8192", got)
		}
	})
	t.Run("unreachable upstream is 502", func(t *testing.T) {
		e.up.Close()
		assertBody(t, e.invoke("testsvc", "get-json", `{}`), 502, `{"detail": "The upstream external service request failed."}`)
	})
}

func TestInjectedKeyIsScrubbedFromUpstreamEchoes(t *testing.T) {
	e := newEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("xi-api-key")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req-"+key)
		if r.URL.Path == "/v1/history/h1/audio" {
			w.Header().Set("Content-Type", "audio/mpeg")
			w.Write([]byte("audio bytes " + key + " end"))
			return
		}
		if r.URL.Path == "/v1/voices" {
			w.WriteHeader(401)
		}
		w.Write([]byte(`{"user_id": "u1", "xi_api_key": "` + key + `", "xi_api_key_preview": "el-t...c42"}`))
	})
	for _, tc := range []struct{ action, envelope string }{
		{"get-user", `{}`},
		{"list-voices", `{}`},
		{"get-history-audio", `{"path_params": {"history_item_id": "h1"}}`},
	} {
		r := e.invoke("elevenlabs", tc.action, tc.envelope)
		all := string(r.Body)
		for k, v := range r.Header {
			all += k + ": " + strings.Join(v, ",") + "\n"
		}
		if strings.Contains(all, elevenKey) {
			t.Errorf("%s: the provider key leaked: %s", tc.action, all)
		}
		if !strings.Contains(all, strings.Repeat("*", len(elevenKey))) {
			t.Errorf("%s: expected the key masked in the echo: %s", tc.action, all)
		}
	}
}

func TestRequestLogHasOneLinePerRequestAndNoSecret(t *testing.T) {
	e := newEnv(t)
	r := e.invoke("heygen", "list-avatars", `{}`)
	e.do("GET", "/api/ai-proxy/orgs/org-a/services/", "Api-Key aip_wrong", nil)
	logs := e.logs.String()
	for _, want := range []string{`"request_id":"` + r.Header.Get("X-Request-Id") + `"`, `"org":"org-a"`, `"service":"heygen"`,
		`"action":"list-avatars"`, `"status":200`, `"upstream_status":200`, `"duration_ms"`, `"bytes"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{heygenKey, e.adminA, "aip_wrong"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
