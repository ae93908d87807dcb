package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Deprecated actions (issue 13): discovery shows the lifecycle fields of every endpoint, and
// an answer to a deprecated action carries Deprecation (RFC 9745), Sunset (RFC 8594) and
// Link rel="successor-version"; an alias invokes its action, under its action's scopes.

var heygenSunset = time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)

type lifecycleView struct {
	Slug       string   `json:"slug"`
	Deprecated *bool    `json:"deprecated"`
	Sunset     *string  `json:"sunset"`
	Successor  *string  `json:"successor"`
	Note       *string  `json:"note"`
	NextAction *string  `json:"next_action"`
	Aliases    []string `json:"aliases"`
}

func discoverLifecycle(t *testing.T, e *env, key string) (map[string]lifecycleView, []byte) {
	t.Helper()
	r := e.do("GET", "/api/ai-proxy/orgs/org-a/services/heygen/", "Api-Key "+key, nil)
	if r.Status != 200 {
		t.Fatalf("discovery: %d %s", r.Status, r.Body)
	}
	var d struct {
		Endpoints []json.RawMessage `json:"endpoints"`
	}
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]lifecycleView{}
	for _, raw := range d.Endpoints {
		var v lifecycleView
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		// Every endpoint has every field, null when not given; aliases is an array.
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		for _, f := range []string{"deprecated", "sunset", "successor", "note", "next_action", "aliases"} {
			if _, ok := m[f]; !ok {
				t.Errorf("%s: no %q in %s", v.Slug, f, raw)
			}
		}
		if v.Deprecated == nil || v.Aliases == nil {
			t.Errorf("%s: deprecated or aliases null: %s", v.Slug, raw)
		}
		out[v.Slug] = v
	}
	return out, d.Endpoints[0]
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

func TestDiscoveryShowsLifecycle(t *testing.T) {
	e := newEnv(t)
	eps, first := discoverLifecycle(t, e, e.adminA)

	for _, c := range []struct {
		slug, sunset, successor, note, next string
		deprecated                          bool
		aliases                             []string
	}{
		{"generate-video", "2026-10-31", "v3-create-video", "<null>", "<null>", true, nil},
		{"video-status", "2026-10-31", "v3-get-video", "<null>", "<null>", true, nil},
		{"list-assets", "2026-10-31", "<null>", "<null>", "<null>", true, nil},
		{"create-photo-avatar", "2026-10-31", "v3-create-avatar", "", "train-photo-avatar", true, nil},
		{"get-photo-avatar", "2026-10-31", "v3-get-avatar-look", "<null>", "<null>", true, []string{"photo-avatar-train-status"}},
		{"v3-create-video", "<null>", "<null>", "<null>", "<null>", false, nil},
	} {
		v, ok := eps[c.slug]
		if !ok {
			t.Errorf("%s: not in discovery", c.slug)
			continue
		}
		if *v.Deprecated != c.deprecated || str(v.Sunset) != c.sunset || str(v.Successor) != c.successor ||
			str(v.NextAction) != c.next || len(v.Aliases) != len(c.aliases) {
			t.Errorf("%s: deprecated %v sunset %s successor %s next_action %s aliases %v", c.slug,
				*v.Deprecated, str(v.Sunset), str(v.Successor), str(v.NextAction), v.Aliases)
		}
		if c.note == "" && v.Note == nil || c.note == "<null>" && v.Note != nil {
			t.Errorf("%s: note %s", c.slug, str(v.Note))
		}
		for i, a := range c.aliases {
			if i < len(v.Aliases) && v.Aliases[i] != a {
				t.Errorf("%s: aliases %v, want %v", c.slug, v.Aliases, c.aliases)
			}
		}
	}
	// An alias is not an endpoint of its own.
	if _, ok := eps["photo-avatar-train-status"]; ok {
		t.Error("discovery lists the alias photo-avatar-train-status as an endpoint")
	}
	// Every v1/v2 action is deprecated, every v3 one is not.
	for slug, v := range eps {
		v3 := len(slug) > 3 && slug[:3] == "v3-"
		if *v.Deprecated == v3 {
			t.Errorf("%s: deprecated = %v", slug, *v.Deprecated)
		}
	}
	// The new fields come after every existing one, in this order.
	order := []string{`"slug"`, `"path_template"`, `"account_scope"`, `"shared_account"`, `"deprecated"`,
		`"sunset"`, `"successor"`, `"note"`, `"next_action"`, `"aliases"`}
	at := -1
	for _, k := range order {
		i := bytes.Index(first, []byte(k+":"))
		if i <= at {
			t.Errorf("field %s out of order in %s", k, first)
		}
		at = i
	}
}

func TestDeprecationHeaders(t *testing.T) {
	e := newEnv(t)
	// HeyGen's own legacy headers are not RFC 9745's: the gateway's replace them.
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Deprecation", "true")
		w.Header().Set("Sunset", "Sat, 01 Nov 2026 00:00:00 GMT")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v2/photo_avatar/missing" {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error": {"code": "not_found", "message": "Photo avatar not found"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"error": null, "data": {}}`))
	})
	want := func(t *testing.T, r response, status int, successor string) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
		}
		if got, w := r.Header.Values("Deprecation"), "@"+strconv.FormatInt(heygenSunset.Unix(), 10); len(got) != 1 || got[0] != w {
			t.Errorf("Deprecation = %q, want %q", got, w)
		}
		if got := r.Header.Values("Sunset"); len(got) != 1 || got[0] != "Sat, 31 Oct 2026 00:00:00 GMT" {
			t.Errorf("Sunset = %q", got)
		}
		link := `</api/ai-proxy/orgs/org-a/services/heygen/` + successor + `/>; rel="successor-version"`
		if got := r.Header.Values("Link"); len(got) != 1 || got[0] != link {
			t.Errorf("Link = %q, want %q", got, link)
		}
	}

	t.Run("deprecated action", func(t *testing.T) {
		want(t, e.invoke("heygen", "list-voices", `{}`), 200, "v3-list-voices")
	})
	t.Run("alias", func(t *testing.T) {
		r := e.invoke("heygen", "photo-avatar-train-status", `{"path_params": {"photo_avatar_id": "pa1"}}`)
		want(t, r, 200, "v3-get-avatar-look")
		if got := e.up.last(t); got.Method != "GET" || got.Path != "/v2/photo_avatar/pa1" {
			t.Errorf("upstream got %s %s", got.Method, got.Path)
		}
	})
	t.Run("error answer", func(t *testing.T) {
		// The provider's 404 is the gateway's 502 with upstream_status (contract §8).
		want(t, e.invoke("heygen", "get-photo-avatar", `{"path_params": {"photo_avatar_id": "missing"}}`), 502, "v3-get-avatar-look")
	})
	t.Run("idempotent replay", func(t *testing.T) {
		send := func() response {
			return e.do("POST", "/api/ai-proxy/orgs/org-a/services/heygen/list-webhooks/", "Api-Key "+e.adminA,
				bytes.NewBufferString(`{}`), "Content-Type", "application/json", "Idempotency-Key", "dep-replay-1")
		}
		want(t, send(), 200, "v3-list-webhook-endpoints")
		r := send()
		if r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("second call not replayed: %v", r.Header)
		}
		want(t, r, 200, "v3-list-webhook-endpoints")
	})
	t.Run("current action", func(t *testing.T) {
		r := e.invoke("heygen", "v3-list-voices", `{}`)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		for _, h := range []string{"Deprecation", "Sunset", "Link"} {
			if v := r.Header.Values(h); len(v) != 0 {
				t.Errorf("%s = %q on a current action", h, v)
			}
		}
	})
	t.Run("deprecated without successor", func(t *testing.T) {
		r := e.invoke("heygen", "list-assets", `{}`)
		if r.Status != 200 || r.Header.Get("Sunset") == "" || r.Header.Get("Link") != "" {
			t.Errorf("%d Sunset %q Link %q", r.Status, r.Header.Get("Sunset"), r.Header.Get("Link"))
		}
	})
}

func TestAliasScopes(t *testing.T) {
	e := newEnv(t)
	envl := `{"path_params": {"photo_avatar_id": "pa1"}}`
	for _, c := range []struct {
		scope, action string
		status        int
	}{
		{"heygen:get-photo-avatar", "photo-avatar-train-status", 200}, // the alias invokes its action
		{"heygen:get-photo-avatar", "get-photo-avatar", 200},
		{"heygen:photo-avatar-train-status", "get-photo-avatar", 200}, // a key scoped to the old slug keeps it
		{"heygen:photo-avatar-train-status", "photo-avatar-train-status", 200},
		{"heygen:list-voices", "photo-avatar-train-status", 403},
		{"heygen:v3-*", "photo-avatar-train-status", 403},
	} {
		key := e.key(e.orgA, aiproxy.RoleMember, []string{c.scope})
		if r := e.invokeAs(key, "org-a", "heygen", c.action, envl); r.Status != c.status {
			t.Errorf("scope %s, invoke %s: %d, want %d (%s)", c.scope, c.action, r.Status, c.status, r.Body)
		}
	}
	// Discovery lists the action, under its own slug, to a key scoped to its old one.
	key := e.key(e.orgA, aiproxy.RoleMember, []string{"heygen:photo-avatar-train-status"})
	eps, _ := discoverLifecycle(t, e, key)
	if len(eps) != 1 || eps["get-photo-avatar"].Slug == "" {
		t.Errorf("discovery for a key scoped to the alias: %v", eps)
	}
	// An unknown slug is still the 404 of an unknown action.
	if r := e.invoke("heygen", "photo-avatar-details", envl); r.Status != 404 {
		t.Errorf("unknown action: %d %s", r.Status, r.Body)
	}
}
