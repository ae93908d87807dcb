package tenancy_test

import (
	"fmt"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// level is what an operation needs of its actor on org acme.
type level int

const (
	anyKey   level = iota // any key of the org: discover, invoke
	mint                  // any key of the org that is not a token (not the command line)
	admin                 // an admin key of the org
	operator              // platform-wide: operators and the command line
)

// roleFixture is one org, acme, with a key of every kind, and another org.
type roleFixture struct {
	*env
	acme, globex *aiproxy.Org
	actors       map[string]tenancy.Actor
	n            int
}

func newRoleFixture(t *testing.T) *roleFixture {
	e := newEnv(t)
	f := &roleFixture{env: e, acme: e.org("acme"), globex: e.org("globex")}
	acmeAdmin, _ := e.key(f.acme, aiproxy.RoleAdmin)
	acmeToken, _ := e.mint(acmeAdmin, f.acme, tenancy.TokenRequest{})
	f.actors = map[string]tenancy.Actor{
		"operator":     e.operator(),
		"cli":          tenancy.CLI,
		"admin":        acmeAdmin,
		"member":       first(e.key(f.acme, aiproxy.RoleMember)),
		"token":        acmeToken,
		"other admin":  first(e.key(f.globex, aiproxy.RoleAdmin)),
		"other member": first(e.key(f.globex, aiproxy.RoleMember)),
	}
	_, err := e.m.SetCredential(e.ctx, tenancy.CLI, e.service("heygen"), f.acme, "hg-acme-key")
	mustNot(t, err)
	return f
}

func first[A, B any](a A, _ B) A { return a }

// fresh returns a new unique slug.
func (f *roleFixture) fresh(prefix string) string {
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

// may reports whether an actor of that kind may do an operation needing l on acme.
func may(kind string, l level) bool {
	switch kind {
	case "operator":
		return true
	case "cli":
		return l != mint // the command line has no key to mint from
	case "admin":
		return l != operator
	case "member":
		return l == anyKey || l == mint
	case "token":
		return l == anyKey // a token may not mint
	}
	return false // another org's keys
}

func TestRoleTable(t *testing.T) {
	f := newRoleFixture(t)
	ctx := f.ctx
	heygen := f.service("heygen")
	ops := []struct {
		name string
		need level
		do   func(a tenancy.Actor) error
	}{
		{"Org AnyKey", anyKey, func(a tenancy.Actor) error { _, err := f.m.Org(ctx, a, "acme", tenancy.AnyKey); return err }},
		{"Discover", anyKey, func(a tenancy.Actor) error { _, err := f.m.Discover(ctx, a, f.acme); return err }},
		{"DiscoverService", anyKey, func(a tenancy.Actor) error {
			_, err := f.m.DiscoverService(ctx, a, f.acme, "heygen")
			return err
		}},
		{"Action", anyKey, func(a tenancy.Actor) error {
			_, _, err := f.m.Action(ctx, a, f.acme, "heygen", "list-avatars")
			return err
		}},
		{"MintToken", mint, func(a tenancy.Actor) error {
			_, _, err := f.m.MintToken(ctx, a, f.acme, tenancy.TokenRequest{})
			return err
		}},
		{"Org Admin", admin, func(a tenancy.Actor) error { _, err := f.m.Org(ctx, a, "acme", tenancy.Admin); return err }},
		{"CreateKey", admin, func(a tenancy.Actor) error {
			_, _, err := f.m.CreateKey(ctx, a, tenancy.NewKey{Org: f.acme, Role: aiproxy.RoleMember})
			return err
		}},
		{"ListKeys", admin, func(a tenancy.Actor) error { _, err := f.m.ListKeys(ctx, a, f.acme); return err }},
		{"RevokeKey", admin, func(a tenancy.Actor) error {
			victim, _ := f.key(f.acme, aiproxy.RoleMember)
			return f.m.RevokeKey(ctx, a, f.acme, victim.Key.Prefix)
		}},
		{"UpdateOrg origins", admin, func(a tenancy.Actor) error {
			_, err := f.m.UpdateOrg(ctx, a, f.acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://app.acme.example"}})
			return err
		}},
		{"SetCredential tenant", admin, func(a tenancy.Actor) error {
			_, err := f.m.SetCredential(ctx, a, heygen, f.acme, "hg-acme-key")
			return err
		}},
		{"Credential tenant", admin, func(a tenancy.Actor) error { _, err := f.m.Credential(ctx, a, heygen, f.acme); return err }},
		{"Settings org", admin, func(a tenancy.Actor) error { _, err := f.m.Settings(ctx, a, "heygen", f.acme); return err }},
		{"UpdateSettings org is_enabled", admin, func(a tenancy.Actor) error {
			_, err := f.m.UpdateSettings(ctx, a, "heygen", f.acme, tenancy.SettingsChange{Enabled: ptr(true)})
			return err
		}},
		{"AuditPage org", admin, func(a tenancy.Actor) error {
			_, _, err := f.m.AuditPage(ctx, a, f.acme, 0, tenancy.DefaultAuditLimit)
			return err
		}},
		{"ListOrgs", operator, func(a tenancy.Actor) error { _, err := f.m.ListOrgs(ctx, a); return err }},
		{"CreateOrg", operator, func(a tenancy.Actor) error { _, err := f.m.CreateOrg(ctx, a, f.fresh("new"), ""); return err }},
		{"DeleteOrg", operator, func(a tenancy.Actor) error {
			doomed := f.org(f.fresh("doomed"))
			return f.m.DeleteOrg(ctx, a, doomed)
		}},
		{"UpdateOrg rate limit", operator, func(a tenancy.Actor) error {
			_, err := f.m.UpdateOrg(ctx, a, f.acme, tenancy.OrgChange{RateLimitPerMinute: ptr(60)})
			return err
		}},
		{"CreateKey operator", operator, func(a tenancy.Actor) error {
			_, _, err := f.m.CreateKey(ctx, a, tenancy.NewKey{Role: aiproxy.RoleOperator})
			return err
		}},
		{"SetCredential platform", operator, func(a tenancy.Actor) error {
			_, err := f.m.SetCredential(ctx, a, heygen, nil, "hg-platform-key")
			return err
		}},
		{"UpdateSettings global", operator, func(a tenancy.Actor) error {
			_, err := f.m.UpdateSettings(ctx, a, "heygen", nil, tenancy.SettingsChange{Enabled: ptr(true)})
			return err
		}},
		{"UpdateSettings org policy", operator, func(a tenancy.Actor) error {
			_, err := f.m.UpdateSettings(ctx, a, "heygen", f.acme, tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{AllowTenantKey: ptr(true)}})
			return err
		}},
		{"Settings global", operator, func(a tenancy.Actor) error { _, err := f.m.Settings(ctx, a, "heygen", nil); return err }},
		{"AuditPage platform", operator, func(a tenancy.Actor) error {
			_, _, err := f.m.AuditPage(ctx, a, nil, 0, tenancy.DefaultAuditLimit)
			return err
		}},
		{"RotateMasterKey", operator, func(a tenancy.Actor) error { _, err := f.m.RotateMasterKey(ctx, a, f.kr); return err }},
		{"RequireOperator", operator, tenancy.RequireOperator},
	}
	kinds := []string{"operator", "cli", "admin", "member", "token", "other admin", "other member"}
	for _, op := range ops {
		for _, kind := range kinds {
			t.Run(op.name+"/"+kind, func(t *testing.T) {
				err := op.do(f.actors[kind])
				if may(kind, op.need) {
					if err != nil {
						t.Fatalf("%s may %s: got %v", kind, op.name, err)
					}
					return
				}
				wantForbidden(t, err)
			})
		}
	}
}

func TestMemberKeyCannotAdministerItsOrg(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	member, _ := e.key(acme, aiproxy.RoleMember)
	victim, victimSecret := e.key(acme, aiproxy.RoleMember)
	heygen := e.service("heygen")
	before := e.audit(acme.ID)

	// What a member may do.
	if _, err := e.m.Org(e.ctx, member, "acme", tenancy.AnyKey); err != nil {
		t.Fatalf("Org AnyKey: %v", err)
	}
	if _, err := e.m.Discover(e.ctx, member, acme); err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if _, _, err := e.m.Action(e.ctx, member, acme, "heygen", "list-avatars"); err != nil {
		t.Fatalf("Action: %v", err)
	}
	if _, _, err := e.m.MintToken(e.ctx, member, acme, tenancy.TokenRequest{}); err != nil {
		t.Fatalf("MintToken: %v", err)
	}

	// What it may not.
	for name, do := range map[string]func() error{
		"Org Admin":      func() error { _, err := e.m.Org(e.ctx, member, "acme", tenancy.Admin); return err },
		"Org Admin gone": func() error { _, err := e.m.Org(e.ctx, member, "no-such-org", tenancy.Admin); return err },
		"CreateKey": func() error {
			_, _, err := e.m.CreateKey(e.ctx, member, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember})
			return err
		},
		"ListKeys":  func() error { _, err := e.m.ListKeys(e.ctx, member, acme); return err },
		"RevokeKey": func() error { return e.m.RevokeKey(e.ctx, member, acme, victim.Key.Prefix) },
		"UpdateOrg": func() error {
			_, err := e.m.UpdateOrg(e.ctx, member, acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://x.example"}})
			return err
		},
		"SetCredential":    func() error { _, err := e.m.SetCredential(e.ctx, member, heygen, acme, "k"); return err },
		"Credential":       func() error { _, err := e.m.Credential(e.ctx, member, heygen, acme); return err },
		"DeleteCredential": func() error { return e.m.DeleteCredential(e.ctx, member, heygen, acme) },
		"Settings":         func() error { _, err := e.m.Settings(e.ctx, member, "heygen", acme); return err },
		"UpdateSettings": func() error {
			_, err := e.m.UpdateSettings(e.ctx, member, "heygen", acme, tenancy.SettingsChange{Enabled: ptr(false)})
			return err
		},
		"AuditPage": func() error { _, _, err := e.m.AuditPage(e.ctx, member, acme, 0, 10); return err },
	} {
		t.Run(name, func(t *testing.T) { wantForbidden(t, do()) })
	}
	if _, err := e.auth(victimSecret); err != nil {
		t.Fatalf("a member revoked a key: %v", err)
	}
	// Only the token the member minted was recorded.
	after := e.audit(acme.ID)
	if len(after) != len(before)+1 || after[0].Action != "token.create" {
		t.Fatalf("audit grew from %d to %d entries, newest %q", len(before), len(after), after[0].Action)
	}
}

func TestOtherOrgsKeyGetsForbiddenWhetherOrNotTheOrgExists(t *testing.T) {
	e := newEnv(t)
	e.org("acme")
	globex := e.org("globex")
	globexAdmin, _ := e.key(globex, aiproxy.RoleAdmin)
	globexMember, _ := e.key(globex, aiproxy.RoleMember)
	globexToken, _ := e.mint(globexAdmin, globex, tenancy.TokenRequest{})
	for name, a := range map[string]tenancy.Actor{"admin": globexAdmin, "member": globexMember, "token": globexToken} {
		for _, slug := range []string{"acme", "no-such-org"} {
			for _, need := range []tenancy.Need{tenancy.AnyKey, tenancy.Admin} {
				t.Run(fmt.Sprintf("%s/%s/need %d", name, slug, need), func(t *testing.T) {
					o, err := e.m.Org(e.ctx, a, slug, need)
					if o != nil {
						t.Fatalf("got org %s", o.Slug)
					}
					wantForbidden(t, err)
				})
			}
		}
	}
}

func TestOnlyOperatorsLearnThatAnOrgDoesNotExist(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	for name, a := range map[string]tenancy.Actor{"operator key": e.operator(), "cli": tenancy.CLI} {
		t.Run(name, func(t *testing.T) {
			for _, need := range []tenancy.Need{tenancy.AnyKey, tenancy.Admin} {
				_, err := e.m.Org(e.ctx, a, "no-such-org", need)
				wantErr(t, err, aiproxy.ENOTFOUND, "Organization 'no-such-org' not found.")
				o, err := e.m.Org(e.ctx, a, "acme", need)
				mustNot(t, err)
				if o.ID != acme.ID {
					t.Fatalf("got org %d, want %d", o.ID, acme.ID)
				}
			}
		})
	}
	// The org's own keys: an admin may not probe for other slugs either.
	admin, _ := e.key(acme, aiproxy.RoleAdmin)
	_, err := e.m.Org(e.ctx, admin, "no-such-org", tenancy.AnyKey)
	wantForbidden(t, err)
	o, err := e.m.Org(e.ctx, admin, "acme", tenancy.Admin)
	mustNot(t, err)
	if o.ID != acme.ID {
		t.Fatalf("got org %d", o.ID)
	}
}

func TestScopeAllows(t *testing.T) {
	scoped := tenancy.Actor{Key: &aiproxy.APIKey{Scopes: []string{"heygen:list-*", "elevenlabs:tts"}}}
	unscoped := tenancy.Actor{Key: &aiproxy.APIKey{}}
	for _, tc := range []struct {
		a               tenancy.Actor
		service, action string
		want            bool
	}{
		{tenancy.CLI, "heygen", "delete-video", true},
		{unscoped, "heygen", "delete-video", true},
		{scoped, "heygen", "list-avatars", true},
		{scoped, "heygen", "delete-video", false},
		{scoped, "elevenlabs", "tts", true},
		{scoped, "elevenlabs", "tts-stream", false},
	} {
		if got := tenancy.ScopeAllows(tc.a, tc.service, tc.action); got != tc.want {
			t.Errorf("ScopeAllows(%v, %s:%s) = %v, want %v", tc.a.Key, tc.service, tc.action, got, tc.want)
		}
	}
}
