package catalog_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// TestMatchFindsTheActionOfAProviderPath pins how a provider-native path names its
// action: literals before placeholders, decoded values, one trailing slash ignored, and
// no match for anything the catalog does not list.
func TestMatchFindsTheActionOfAProviderPath(t *testing.T) {
	c, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	el, hg := c.Service("elevenlabs"), c.Service("heygen")
	tests := []struct {
		svc          *catalog.Service
		method, path string
		want         string
		params       map[string]string
		allow        []string
	}{
		{el, "POST", "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb", "tts", map[string]string{"voice_id": "JBFqnCBsd6RMkjVDRZzb"}, nil},
		{el, "POST", "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream/", "tts-stream", map[string]string{"voice_id": "JBFqnCBsd6RMkjVDRZzb"}, nil},
		{el, "GET", "/v1/voices/settings/default", "get-default-voice-settings", map[string]string{}, nil},
		{el, "GET", "/v1/voices/abc/settings", "get-voice-settings", map[string]string{"voice_id": "abc"}, nil},
		{el, "GET", "/v1/voices/a%2Fb", "get-voice", map[string]string{"voice_id": "a/b"}, nil},
		{el, "GET", "/v1/text-to-speech/v1/stream-input", "tts-websocket", map[string]string{"voice_id": "v1"}, nil},
		{hg, "GET", "/v3/avatars/looks", "v3-list-avatar-looks", map[string]string{}, nil},
		{hg, "GET", "/v3/avatars/grp_1", "v3-get-avatar-group", map[string]string{"group_id": "grp_1"}, nil},
		{hg, "GET", "/v1/video_status.get", "video-status", map[string]string{}, nil},
		// A path of the catalog with another method: no action, the methods it has.
		{el, "PUT", "/v1/voices/abc", "", nil, []string{"DELETE", "GET"}},
		// Not in the catalog, or not a clean path: nothing.
		{el, "GET", "/v1/admin/keys", "", nil, nil},
		{el, "GET", "/v1/voices//settings", "", nil, nil},
		{el, "GET", "/v1/voices/../user", "", nil, nil},
		{el, "GET", "/v1/voices/%2e%2e/settings", "", nil, nil},
		{el, "GET", "/v1/voices/%zz", "", nil, nil},
		{el, "GET", "v1/voices", "", nil, nil},
		{el, "GET", "/", "", nil, nil},
		{el, "GET", "/v1/voices/abc/settings/extra", "", nil, nil},
	}
	for _, tt := range tests {
		ep, params, allow := tt.svc.Match(tt.method, tt.path)
		got := ""
		if ep != nil {
			got = ep.Slug
		}
		if got != tt.want || !maps.Equal(params, tt.params) || !slices.Equal(allow, tt.allow) {
			t.Errorf("%s %s %s: got %q %v allow %v, want %q %v allow %v", tt.svc.Slug, tt.method, tt.path, got, params, allow, tt.want, tt.params, tt.allow)
		}
	}
}

// TestMatchPrefersTheCurrentActionOfAPathTwoActionsShare: when a deprecated action and
// its successor have the same method and path, the native route runs the current one.
func TestMatchPrefersTheCurrentActionOfAPathTwoActionsShare(t *testing.T) {
	c, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range c.Services() {
		for _, e := range svc.Endpoints {
			if e.WebSocket() || len(e.Path.Params()) > 0 {
				continue
			}
			ep, _, _ := svc.Match(e.HTTPMethod, e.Path.String())
			if ep == nil {
				t.Errorf("%s %s %s: its own path does not match", svc.Slug, e.HTTPMethod, e.Path)
				continue
			}
			if ep != e && (ep.Deprecated || !e.Deprecated) {
				t.Errorf("%s %s %s: matched %s", svc.Slug, e.HTTPMethod, e.Path, ep.Slug)
			}
		}
	}
}

// FuzzMatchProviderPath: whatever path a native request names, Match never panics, and
// what it matches is an action of that method whose placeholders all got one value, none
// of them empty, "." or ".." — the values that would change the provider path's shape.
func FuzzMatchProviderPath(f *testing.F) {
	c, err := catalog.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{"/v1/voices/abc", "/v1/voices/%2e%2e", "/v3/avatars/looks/", "//", "/v1/text-to-speech/a%2Fb/stream", "/v1/video_status.get"} {
		f.Add("GET", p)
		f.Add("POST", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		for _, svc := range c.Services() {
			ep, params, allow := svc.Match(method, path)
			if ep == nil {
				if params != nil {
					t.Fatalf("no action but params %v", params)
				}
				continue
			}
			if ep.HTTPMethod != method || len(allow) != 0 {
				t.Fatalf("%s %s matched %s %s (allow %v)", method, path, ep.HTTPMethod, ep.Slug, allow)
			}
			for _, name := range ep.Path.Params() {
				v, ok := params[name]
				if !ok || v == "" || v == "." || v == ".." {
					t.Fatalf("%s %s: %s's {%s} = %q", method, path, ep.Slug, name, v)
				}
			}
			if _, err := ep.Path.Render(params); err != nil {
				t.Fatalf("%s %s: the matched values do not render: %v", method, path, err)
			}
		}
	})
}
