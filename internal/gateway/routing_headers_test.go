package gateway

import (
	"encoding/json"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// spellings returns name as clients may write it: canonical, lower, upper, with '_' for
// every '-' and for some, in odd case.
func spellings(name string) []string {
	out := []string{name, strings.ToLower(name), strings.ToUpper(name),
		strings.ReplaceAll(name, "-", "_"), strings.ToLower(strings.ReplaceAll(name, "-", "_")),
		strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		mixed := []byte(strings.ToLower(name[:i]) + "_" + strings.ToUpper(name[i+1:]))
		out = append(out, string(mixed))
	}
	return out
}

// Routing and client-address headers, and every known provider's credential header, never
// leave the gateway, however the client spells them.
func TestLookAlikeAndRoutingHeadersAreNotForwarded(t *testing.T) {
	svc := hiCatalog(t)
	g := New(Config{
		Upstreams:         map[string]*url.URL{"hisvc": mustURL(t, "http://127.0.0.1:9")},
		CredentialHeaders: []string{"X-Hi-Key", "X-Other-Provider-Key"},
	})
	t.Cleanup(g.Close)
	dropped := []string{
		"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-URL", "X-Rewrite-URL",
		"X-Real-IP", "True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Anything", "Forwarded", "Via",
		"X-Host", "X-Original-Host", "Proxy-Anything",
		// credential headers: the called service's, the built-in services', the deployment's
		"X-Hi-Key", "Xi-Api-Key", "X-Api-Key", "X-Other-Provider-Key",
	}
	for _, name := range dropped {
		for _, spelling := range spellings(name) {
			doc, _ := json.Marshal(map[string]any{"headers": map[string]string{spelling: "evil", "X-Kept": "ok"}})
			env, err := ParseJSONEnvelope(doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, action := range []string{"json", "binary"} {
				c := hiCall(t, svc, action)
				if action == "binary" {
					env.Files = []File{{Field: "f", Filename: "f", ContentType: "text/plain", Data: []byte("x")}}
				}
				p, err := prepareWire(t, g, c, env)
				if err != nil {
					t.Fatal(err)
				}
				for got, vs := range p.wire.Header {
					if sameHeaderName(got, name) && !(got == "X-Hi-Key" && slices.Equal(vs, []string{hiKey})) {
						t.Errorf("%s spelled %q reached the upstream as %s: %q", name, spelling, got, vs)
					}
					if slices.Contains(vs, "evil") {
						t.Errorf("%s spelled %q reached the upstream as %s", name, spelling, got)
					}
				}
				if p.wire.Header.Get("X-Kept") != "ok" || p.wire.Header.Get("X-Hi-Key") != hiKey {
					t.Errorf("%q: kept header or key missing: %v", spelling, p.wire.Header)
				}
			}
		}
	}
}

// The exported filter drops the credential headers it is given, and the built-in
// services', in any spelling, and keeps everything else.
func TestFilterRequestHeadersTakesEveryKnownCredentialHeader(t *testing.T) {
	in := map[string][]string{
		"x_other_key": {"a"}, "X-OTHER-KEY": {"b"}, "X_Api_Key": {"c"}, "xi_api_key": {"d"}, "XI-API-KEY": {"e"},
		"x-mine": {"f"}, "X_Mine": {"g"}, "X-Kept": {"h"}, "X_Kept_Too": {"i"},
	}
	out := FilterRequestHeaders(in, "X-Mine", "X-Other-Key")
	if len(out) != 2 || out.Get("X-Kept") != "h" || out.Get("X_kept_too") != "i" {
		t.Fatalf("filtered: %v", out)
	}
}

// The built-in credential headers are those of the built-in catalog.
func TestBuiltinCredentialHeadersAreTheCatalogs(t *testing.T) {
	cat, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range CredentialHeaderNames(cat.Services()) {
		if !slices.ContainsFunc(builtinCredentialHeaders, func(b string) bool { return sameHeaderName(b, h) }) {
			t.Errorf("the built-in catalog's credential header %q is not in builtinCredentialHeaders", h)
		}
	}
}

// forbiddenRequestHeaders holds every spelling of the fixed names.
func TestForbiddenRequestHeadersHoldEverySpelling(t *testing.T) {
	for _, name := range []string{"X_Forwarded_For", "X-Forwarded_for", "x_http_method_override", "Transfer_Encoding", "XI_API_KEY", "Via"} {
		if canon := textproto.CanonicalMIMEHeaderKey(name); !forbiddenRequestHeaders[canon] {
			t.Errorf("%q (%s) is not in forbiddenRequestHeaders", name, canon)
		}
	}
}
