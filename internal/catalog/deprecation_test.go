package catalog

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadLifecycle(t *testing.T) {
	old := endpoint("slug", "get-thing-v1", "deprecated", "true", "sunset", `"2026-10-31"`,
		"successor", "get-thing", "note", "Use get-thing, which answers the v2 envelope.",
		"next_action", "list-things", "aliases", "[thing-details, get-thing-old]")
	c, err := Load(files("acme.yaml", header+okEndpoint+old+endpoint("slug", "list-things", "path", "/v1/things")))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Service("acme")
	e := s.Endpoint("get-thing-v1")
	sunset := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)
	if !e.Deprecated || !e.Sunset.Equal(sunset) || e.Successor != "get-thing" || e.NextAction != "list-things" ||
		e.Note != "Use get-thing, which answers the v2 envelope." || !slices.Equal(e.Aliases, []string{"thing-details", "get-thing-old"}) {
		t.Fatalf("endpoint = %+v", e)
	}
	if !e.DeprecationDate().Equal(sunset) {
		t.Errorf("DeprecationDate = %v, want the sunset date", e.DeprecationDate())
	}
	for _, a := range []string{"thing-details", "get-thing-old"} {
		if s.Endpoint(a) != e {
			t.Errorf("Endpoint(%q) = %v, want the aliased action", a, s.Endpoint(a))
		}
	}
	if got := e.Names(); !slices.Equal(got, []string{"get-thing-v1", "thing-details", "get-thing-old"}) {
		t.Errorf("Names = %v", got)
	}
	// Aliases are not endpoints: the list and the enabled list hold each action once.
	if n := len(s.EnabledEndpoints()); n != 3 {
		t.Errorf("%d enabled endpoints, want 3", n)
	}
	if cur := s.Endpoint("get-thing"); cur.Deprecated || !cur.Sunset.IsZero() || !cur.DeprecationDate().IsZero() || cur.Aliases != nil {
		t.Errorf("current endpoint = %+v", cur)
	}

	// deprecated_since, when given, is the deprecation date.
	c, err = Load(files("acme.yaml", header+endpoint("deprecated", "true", "deprecated_since", `"2026-03-01"`, "sunset", `"2026-10-31"`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Service("acme").Endpoint("get-thing").DeprecationDate(); !got.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("DeprecationDate = %v", got)
	}
}

func TestLoadRejectsLifecycle(t *testing.T) {
	other := endpoint("slug", "list-things", "path", "/v1/things")
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"sunset not a date", endpoint("deprecated", "true", "sunset", "next-year"), `sunset "next-year": want a date YYYY-MM-DD`},
		{"sunset with a time", endpoint("deprecated", "true", "sunset", `"2026-10-31T00:00:00Z"`), `want a date`},
		{"sunset without deprecated", endpoint("sunset", `"2026-10-31"`), "need deprecated: true"},
		{"successor without deprecated", endpoint("successor", "list-things") + other, "need deprecated: true"},
		{"deprecated_since after sunset", endpoint("deprecated", "true", "deprecated_since", `"2026-11-02"`, "sunset", `"2026-10-31"`), "is after sunset"},
		{"unknown successor", endpoint("deprecated", "true", "successor", "get-thing-v3"), `successor "get-thing-v3": no such action`},
		{"successor is itself", endpoint("deprecated", "true", "successor", "get-thing"), "successor is the action itself"},
		{"unknown next_action", endpoint("next_action", "upload-thing"), `next_action "upload-thing": no such action`},
		{"next_action is itself", endpoint("next_action", "get-thing"), "next_action is the action itself"},
		{"successor names an alias", endpoint("deprecated", "true", "successor", "things") + endpoint("slug", "list-things", "path", "/v1/things", "aliases", "[things]"), `successor "things": no such action`},
		{"alias is a slug", endpoint("aliases", "[list-things]") + other, `alias "list-things" collides with endpoint "list-things"`},
		{"alias is its own slug", endpoint("aliases", "[get-thing]"), `alias "get-thing" is given twice or is its own slug`},
		{"alias given twice", endpoint("aliases", "[a, a]"), `alias "a" is given twice`},
		{"alias of two actions", endpoint("aliases", "[thing]") + endpoint("slug", "list-things", "path", "/v1/things", "aliases", "[thing]"), `alias "thing" collides with endpoint "get-thing"`},
		{"alias not a slug", endpoint("aliases", "[Get_Thing]"), `alias "Get_Thing" must be lowercase`},
		{"note on two lines", endpoint("note", `"one\ntwo"`), "note must be one line"},
		{"blank note", endpoint("note", `"  "`), "note is blank"},
	} {
		_, err := Load(files("acme.yaml", header+c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// The built-in HeyGen file: every v1/v2 action is deprecated with the sunset 2026-10-31,
// every successor is a v3 action, and the renamed photo avatar details keep their slug.
func TestBuiltinHeyGenLifecycle(t *testing.T) {
	s := mustBuiltin(t).Service("heygen")
	sunset := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)
	for _, e := range s.Endpoints {
		v3 := strings.HasPrefix(e.Path.String(), "/v3/")
		switch {
		case v3 && e.Deprecated:
			t.Errorf("%s: a v3 action is deprecated", e.Slug)
		case !v3 && (!e.Deprecated || !e.Sunset.Equal(sunset)):
			t.Errorf("%s: deprecated %v, sunset %v", e.Slug, e.Deprecated, e.Sunset)
		case e.Successor != "" && !strings.HasPrefix(s.Endpoint(e.Successor).Path.String(), "/v3/"):
			t.Errorf("%s: successor %s is not a v3 action", e.Slug, e.Successor)
		}
	}
	if e := s.Endpoint("photo-avatar-train-status"); e == nil || e.Slug != "get-photo-avatar" {
		t.Errorf("photo-avatar-train-status resolves to %v", e)
	}
}
