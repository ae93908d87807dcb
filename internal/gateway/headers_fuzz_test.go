package gateway

import (
	"encoding/json"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

// FuzzFilterRequestHeaders: whatever headers a client names in its envelope, none of the
// forbidden ones (contract §6) survives the filter, every other one survives with its
// values, and the output is canonical. Headers go through the envelope parser first, as in
// production; names it accepts are also given to the filter raw, in the case the client
// wrote them.
func FuzzFilterRequestHeaders(f *testing.F) {
	for _, s := range [][3]string{
		{"X-Custom", "v", "X-Api-Key"},
		{"x-api-KEY", "stolen", "X-Api-Key"},
		{"xi-api-key", "stolen", "xi-api-key"},
		{"proxy-authorization", "Basic x", "X-Api-Key"},
		{"X-FORWARDED-FOR", "1.2.3.4", "X-Api-Key"},
		{"forwarded", "for=1.2.3.4", "xi-api-key"},
		{"transfer-encoding", "chunked", "X-Api-Key"},
		{"Content-Length", "0", "X-Api-Key"},
		{"Host", "evil.test", "X-Api-Key"},
		{"cookie", "a=b", "X-Api-Key"},
		{"te", "trailers", "X-Api-Key"},
		{"Upgrade", "websocket", "X-Api-Key"},
		{"X-A", "a\r\nInjected: yes", "X-Api-Key"},
		{"bad name", "x", "X-Api-Key"},
		{"Accept", "", "Authorization"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, value, credHeader string) {
		if !validHeaderName(credHeader) {
			return // the catalog's own header name: validated when the catalog loads
		}
		doc := map[string]string{name: value, "X-Forwarded-Host": "evil.test", strings.ToUpper(credHeader): "stolen", "Proxy-Foo": "x"}
		raw, _ := json.Marshal(map[string]any{"headers": doc})
		env, err := ParseJSONEnvelope(raw)
		if err != nil {
			checkInvalid(t, "headers envelope", err)
			var back map[string]map[string]string
			_ = json.Unmarshal(raw, &back)
			for n, v := range back["headers"] {
				if !validHeaderName(n) || !validHeaderValue(v) {
					return // refused for a reason
				}
			}
			t.Fatalf("envelope with valid headers %q refused: %v", raw, err)
		}
		checkFiltered(t, env.Headers, FilterRequestHeaders(env.Headers, credHeader), credHeader)
		if validHeaderName(name) {
			in := http.Header{name: {value}, strings.ToLower(credHeader): {"stolen"}}
			checkFiltered(t, in, FilterRequestHeaders(in, credHeader), credHeader)
		}
	})
}

func checkFiltered(t *testing.T, in, out http.Header, credHeader string) {
	t.Helper()
	for name, vs := range out {
		if name != textproto.CanonicalMIMEHeaderKey(name) {
			t.Fatalf("output header %q is not canonical", name)
		}
		if isForbiddenUpstreamHeader(name, credHeader) {
			t.Fatalf("forbidden header %q = %q passed the filter (credential header %q)", name, vs, credHeader)
		}
	}
	for name, vs := range in {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if isForbiddenUpstreamHeader(name, credHeader) || forbiddenRequestHeaders[canon] {
			continue // also the gateway-owned ones (Content-Type, Accept-Encoding, X-Request-Id…)
		}
		for _, v := range vs {
			if !containsString(out[canon], v) {
				t.Fatalf("allowed header %q value %q was dropped: %v", name, v, out)
			}
		}
	}
}

func containsString(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// FuzzQueryEncoding: the envelope's query (scalars and arrays of scalars) reaches the
// upstream URL exactly, whatever the names and values hold, and never changes the host or
// the path. raw is any JSON text given as one more parameter's value.
func FuzzQueryEncoding(f *testing.F) {
	for _, s := range [][4]string{
		{"video_id", "abc", "def", `1`},
		{"a&b=c", "x#y", "?z", `true`},
		{"", "", "", `null`},
		{"../..", "%2F", "+ +", `1e400`},
		{"日本", "\xff\xfe", "a\x00b", `[1, "two", false]`},
		{"q", "@evil.test", "//evil.test/x", `{"nested": 1}`},
		{"n", "-0", "1.50", `-12.5e-3`},
		{"list", "a", "b", `[[1]]`},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	svc := fuzzCatalog(f)
	c := fuzzCall(svc, "raw-get")
	override, _ := url.Parse("http://mirror.fuzz.invalid:8443/base")
	g := New(Config{Upstreams: map[string]*url.URL{"fuzzsvc": override}})
	f.Fuzz(func(t *testing.T, name, v1, v2, raw string) {
		qn, _ := json.Marshal(name)
		a, _ := json.Marshal(v1)
		b, _ := json.Marshal(v2)
		doc := `{"query": {` + string(qn) + `: [` + string(a) + `, ` + string(b) + `], "raw": ` + raw + `}}`
		env, err := ParseJSONEnvelope([]byte(doc))
		if err != nil {
			checkInvalid(t, "query envelope", err)
			if name == "raw" {
				return
			}
			var probe any
			if json.Unmarshal([]byte(raw), &probe) == nil {
				switch probe.(type) {
				case string, float64, bool, nil:
					t.Fatalf("scalar raw value %q refused: %v", raw, err)
				}
			}
			return
		}
		if name != "raw" {
			var n1, n2 string // the values as JSON carried them (invalid UTF-8 becomes U+FFFD)
			_ = json.Unmarshal(a, &n1)
			_ = json.Unmarshal(b, &n2)
			var nn string
			_ = json.Unmarshal(qn, &nn)
			if got := env.Query[nn]; len(got) != 2 || got[0] != n1 || got[1] != n2 {
				t.Fatalf("query %q = %q, want [%q %q]", nn, got, n1, n2)
			}
		}
		u, err := g.upstreamURL(c, "/v1/items/x", env.Query)
		if err != nil {
			t.Fatalf("upstreamURL: %v", err)
		}
		back, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("upstream URL %q does not parse: %v", u, err)
		}
		if back.Scheme != "http" || back.Host != "mirror.fuzz.invalid:8443" || back.EscapedPath() != "/base/v1/items/x" || back.Fragment != "" {
			t.Fatalf("query changed the URL outside the query: %q", u)
		}
		q, err := url.ParseQuery(back.RawQuery)
		if err != nil || !sameValues(q, env.Query) {
			t.Fatalf("query %v arrives as %v (%q), %v", env.Query, q, back.RawQuery, err)
		}
	})
}
