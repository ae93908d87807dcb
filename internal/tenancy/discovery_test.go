package tenancy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func slugs(eps []*catalog.Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.Slug
	}
	return out
}

func discovered(ds []tenancy.Discovered) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Service.Slug
	}
	return out
}

func TestGloballyDisabledServiceIsNotFound(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	member, _ := e.key(acme, aiproxy.RoleMember)
	_, err := e.m.UpdateSettings(e.ctx, tenancy.CLI, "heygen", nil, tenancy.SettingsChange{Enabled: ptr(false)})
	mustNot(t, err)
	// The org switching it on does not help: off platform-wide is off.
	_, err = e.m.UpdateSettings(e.ctx, tenancy.CLI, "heygen", acme, tenancy.SettingsChange{Enabled: ptr(true)})
	mustNot(t, err)

	for _, a := range []tenancy.Actor{member, tenancy.CLI} {
		_, err = e.m.DiscoverService(e.ctx, a, acme, "heygen")
		wantErr(t, err, aiproxy.ENOTFOUND, "External proxy service 'heygen' not found or disabled.")
		_, ep, err := e.m.Action(e.ctx, a, acme, "heygen", "list-avatars")
		if ep != nil {
			t.Fatalf("got an endpoint")
		}
		wantErr(t, err, aiproxy.ENOTFOUND, "External proxy service 'heygen' not found or disabled.")
		ds, err := e.m.Discover(e.ctx, a, acme)
		mustNot(t, err)
		if got := discovered(ds); !slices.Equal(got, []string{"elevenlabs"}) {
			t.Fatalf("Discover lists %q", got)
		}
	}
	// An unknown service reads the same.
	_, err = e.m.DiscoverService(e.ctx, member, acme, "openai")
	wantErr(t, err, aiproxy.ENOTFOUND, "External proxy service 'openai' not found or disabled.")
	_, _, err = e.m.Action(e.ctx, member, acme, "openai", "chat")
	wantErr(t, err, aiproxy.ENOTFOUND, "External proxy service 'openai' not found or disabled.")
	_, err = e.m.Service("openai")
	wantErr(t, err, aiproxy.ENOTFOUND, "External proxy service 'openai' not found or disabled.")
}

func TestServiceDisabledForTheOrgIsForbidden(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	acmeAdmin, _ := e.key(acme, aiproxy.RoleAdmin)
	acmeMember, _ := e.key(acme, aiproxy.RoleMember)
	globexMember, _ := e.key(globex, aiproxy.RoleMember)
	_, err := e.m.UpdateSettings(e.ctx, acmeAdmin, "elevenlabs", acme, tenancy.SettingsChange{Enabled: ptr(false)})
	mustNot(t, err)

	_, err = e.m.DiscoverService(e.ctx, acmeMember, acme, "elevenlabs")
	wantForbidden(t, err)
	_, _, err = e.m.Action(e.ctx, acmeMember, acme, "elevenlabs", "tts")
	wantForbidden(t, err)
	// Even an unknown action of it: the service check comes first.
	_, _, err = e.m.Action(e.ctx, acmeMember, acme, "elevenlabs", "no-such-action")
	wantForbidden(t, err)
	ds, err := e.m.Discover(e.ctx, acmeMember, acme)
	mustNot(t, err)
	if got := discovered(ds); !slices.Equal(got, []string{"heygen"}) {
		t.Fatalf("acme discovers %q", got)
	}

	// Another org is not affected.
	if _, _, err := e.m.Action(e.ctx, globexMember, globex, "elevenlabs", "tts"); err != nil {
		t.Fatalf("globex: %v", err)
	}
	ds, err = e.m.Discover(e.ctx, globexMember, globex)
	mustNot(t, err)
	if got := discovered(ds); !slices.Equal(got, []string{"elevenlabs", "heygen"}) {
		t.Fatalf("globex discovers %q", got)
	}
}

func TestUnknownOrDisabledActionIsNotFound(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	member, _ := e.key(acme, aiproxy.RoleMember)
	heygen := e.service("heygen")
	var disabled string
	for _, ep := range heygen.Endpoints {
		if !ep.Enabled {
			disabled = ep.Slug
			break
		}
	}
	if disabled == "" {
		t.Fatal("the catalog has no disabled heygen action to test with")
	}
	for _, action := range []string{"no-such-action", disabled, ""} {
		st, ep, err := e.m.Action(e.ctx, member, acme, "heygen", action)
		if ep != nil {
			t.Fatalf("%q: got an endpoint", action)
		}
		wantErr(t, err, aiproxy.ENOTFOUND, "Endpoint '"+action+"' not found for external proxy service 'heygen'.")
		if st.Service != heygen {
			t.Fatalf("%q: the state is not returned with the error", action)
		}
	}
}

func TestOutOfScopeActionIsForbidden(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	scoped, _ := e.key(acme, aiproxy.RoleMember, "heygen:list-*")

	st, ep, err := e.m.Action(e.ctx, scoped, acme, "heygen", "list-avatars")
	mustNot(t, err)
	if ep == nil || ep.Slug != "list-avatars" || st.Service.Slug != "heygen" || st.Policy != aiproxy.TenantOnly {
		t.Fatalf("got %+v %+v", st, ep)
	}
	_, ep, err = e.m.Action(e.ctx, scoped, acme, "heygen", "generate-video")
	wantForbidden(t, err)
	if ep == nil || ep.Slug != "generate-video" {
		t.Fatalf("the endpoint is not returned with ErrForbidden: %v", ep)
	}
	_, _, err = e.m.Action(e.ctx, scoped, acme, "elevenlabs", "tts")
	wantForbidden(t, err)
	// An unknown action is not found, scopes or not.
	_, _, err = e.m.Action(e.ctx, scoped, acme, "heygen", "list-nothing")
	wantErr(t, err, aiproxy.ENOTFOUND, "Endpoint 'list-nothing' not found for external proxy service 'heygen'.")

	// A token narrowed further sees less still.
	token, _ := e.mint(scoped, acme, tenancy.TokenRequest{Scopes: &[]string{"heygen:list-voices"}})
	_, _, err = e.m.Action(e.ctx, token, acme, "heygen", "list-avatars")
	wantForbidden(t, err)
	if _, _, err := e.m.Action(e.ctx, token, acme, "heygen", "list-voices"); err != nil {
		t.Fatalf("list-voices: %v", err)
	}
}

func TestScopedKeysSeeOnlyTheirEndpoints(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	unscoped, _ := e.key(acme, aiproxy.RoleMember)
	tts, _ := e.key(acme, aiproxy.RoleMember, "elevenlabs:tts*")
	heygenLists, _ := e.key(acme, aiproxy.RoleMember, "heygen:list-*", "heygen:video-status")

	enabled := func(service string, keep func(string) bool) []string {
		var out []string
		for _, ep := range e.service(service).EnabledEndpoints() {
			if keep(ep.Slug) {
				out = append(out, ep.Slug)
			}
		}
		return out
	}
	all := func(string) bool { return true }

	for _, tc := range []struct {
		name string
		a    tenancy.Actor
		want map[string][]string // service → visible endpoints, in catalog order
	}{
		{"unscoped", unscoped, map[string][]string{"elevenlabs": enabled("elevenlabs", all), "heygen": enabled("heygen", all)}},
		{"the command line", tenancy.CLI, map[string][]string{"elevenlabs": enabled("elevenlabs", all), "heygen": enabled("heygen", all)}},
		{"elevenlabs:tts*", tts, map[string][]string{"elevenlabs": enabled("elevenlabs", func(s string) bool { return strings.HasPrefix(s, "tts") })}},
		{"heygen lists", heygenLists, map[string][]string{"heygen": enabled("heygen", func(s string) bool {
			return strings.HasPrefix(s, "list-") || s == "video-status"
		})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := e.m.Discover(e.ctx, tc.a, acme)
			mustNot(t, err)
			var services []string
			for _, d := range ds {
				services = append(services, d.Service.Slug)
				want := tc.want[d.Service.Slug]
				if got := slugs(d.Endpoints); len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("%s: endpoints %q, want %q", d.Service.Slug, got, want)
				}
				for _, ep := range d.Endpoints {
					if !ep.Enabled {
						t.Errorf("%s: disabled endpoint %s listed", d.Service.Slug, ep.Slug)
					}
				}
				if !d.Enabled() {
					t.Errorf("%s: a disabled service listed", d.Service.Slug)
				}
			}
			var wantServices []string
			for s := range tc.want {
				wantServices = append(wantServices, s)
			}
			slices.Sort(wantServices)
			if !slices.Equal(services, wantServices) {
				t.Fatalf("services %q, want %q (sorted)", services, wantServices)
			}
			// DiscoverService agrees, and shows a service without visible endpoints as empty.
			for _, svc := range []string{"elevenlabs", "heygen"} {
				d, err := e.m.DiscoverService(e.ctx, tc.a, acme, svc)
				mustNot(t, err)
				if got := slugs(d.Endpoints); !slices.Equal(got, tc.want[svc]) && !(len(got) == 0 && len(tc.want[svc]) == 0) {
					t.Errorf("DiscoverService %s: %q, want %q", svc, got, tc.want[svc])
				}
			}
		})
	}
	if n := len(enabled("elevenlabs", func(s string) bool { return strings.HasPrefix(s, "tts") })); n < 2 {
		t.Fatalf("the catalog has %d tts actions; the scoped case means little", n)
	}
}

func TestDiscoveryOfAnotherOrgIsForbidden(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	globexAdmin, _ := e.key(globex, aiproxy.RoleAdmin)
	_, err := e.m.Discover(e.ctx, globexAdmin, acme)
	wantForbidden(t, err)
	_, err = e.m.DiscoverService(e.ctx, globexAdmin, acme, "heygen")
	wantForbidden(t, err)
	// Forbidden comes before not found: another org learns nothing about acme's settings.
	_, err = e.m.DiscoverService(e.ctx, globexAdmin, acme, "openai")
	wantForbidden(t, err)
	_, _, err = e.m.Action(e.ctx, globexAdmin, acme, "heygen", "list-avatars")
	wantForbidden(t, err)
}
