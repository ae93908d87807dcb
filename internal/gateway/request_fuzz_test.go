package gateway

import (
	"encoding/json"
	"net/url"
	"testing"
)

// FuzzUpstreamRequest drives the whole preparation of an upstream call (envelope parsing,
// path rendering, URL building, header filtering, key injection) and reads the request back
// from its wire form. Properties, for a deployment override and for the catalog's own
// hosts alike: scheme and host never change; the path has the template's segments, each
// placeholder one segment round-tripping to its value, no dot segment; the query is the
// envelope's; no forbidden header reaches the upstream and the credential header is exactly
// the injected key. Refusals are EINVALID (400 {"error"}) and happen exactly for the empty,
// "." and ".." values.
func FuzzUpstreamRequest(f *testing.F) {
	for _, s := range [][6]string{
		{"21m00Tcm4TlvDq8ikWAM", "sample", "output_format", "mp3_44100_128", "X-Custom", "v"},
		{"../../v2/admin", "a/b", "a&b", "c=d#e", "x-fuzz-key", "stolen"},
		{"..", ".", "", "", "Host", "evil.test"},
		{"%2e%2e", "%2F", "q", "%00", "X-Forwarded-Host", "evil.test"},
		{"@evil.test:80", "\\\\evil.test", "next", "//evil.test", "Proxy-Authorization", "Basic x"},
		{"a?b", "c#d", "?", "#", "Transfer-Encoding", "chunked"},
		{"\r\nHost: evil", "\x00", "\xff", "日本語", "Cookie", "a=b"},
		{"", "x", "k", "v", "Authorization", "Bearer x"},
		{"..%2F", "...", "a", "b", "Connection", "close"},
		{"x", "y", "z", "w", "Content-Length", "0"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	svc := fuzzCatalog(f)
	bases := []struct {
		g      *Gateway
		action string
		base   string
	}{
		{New(Config{Upstreams: map[string]*url.URL{"fuzzsvc": mustURL(f, "http://127.0.0.1:9/mirror/v0")}}), "two-params", "http://127.0.0.1:9/mirror/v0"},
		{New(Config{Upstreams: map[string]*url.URL{"fuzzsvc": mustURL(f, "http://127.0.0.1:9/mirror/v0")}}), "other-host", "http://127.0.0.1:9/mirror/v0"},
		{New(Config{}), "two-params", "https://api.fuzz.invalid"},
		{New(Config{}), "other-host", "https://upload.fuzz.invalid"},
		{New(Config{}), "raw-get", "https://api.fuzz.invalid"},
	}
	f.Fuzz(func(t *testing.T, voice, sample, qName, qValue, hName, hValue string) {
		doc, _ := json.Marshal(map[string]any{
			"path_params": map[string]string{"voice_id": voice, "sample_id": sample, "name": voice, "item_id": sample},
			"query":       map[string]any{qName: qValue, "fixed": []string{qValue, voice}},
			"headers":     map[string]string{hName: hValue, "X-Fuzz-Key": "stolen-too"},
			"body":        map[string]string{"text": voice},
		})
		env, err := ParseJSONEnvelope(doc)
		if err != nil {
			checkInvalid(t, "envelope", err)
			if validHeaderName(hName) && validHeaderValue(hValue) {
				t.Fatalf("envelope with valid headers refused: %v\n%s", err, doc)
			}
			return
		}
		for _, b := range bases {
			c := fuzzCall(svc, b.action)
			p, err := prepareWire(t, b.g, c, env)
			refused := false
			for _, name := range c.Endpoint.Path.Params() {
				if v := env.PathParams[name]; v == "" || v == "." || v == ".." {
					refused = true
				}
			}
			if refused {
				if err == nil {
					t.Fatalf("%s: path params %q accepted: %s", b.action, env.PathParams, p.req.URL)
				}
				checkInvalid(t, b.action, err)
				continue
			}
			if err != nil {
				t.Fatalf("%s: prepare: %v", b.action, err)
			}
			checkPrepared(t, p, mustURL(t, b.base), c, env)
		}
	})
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
