package tenancy_test

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// TestEveryChangeIsAuditedNamingItsActorAndNoSecret performs every kind of change, each
// by a chosen actor, and checks that each wrote exactly the expected entries — and that no
// entry anywhere holds an API key's secret or hash, a provider key or a master key.
func TestEveryChangeIsAuditedNamingItsActorAndNoSecret(t *testing.T) {
	e := newEnv(t)
	var secrets []string // everything that must never reach the trail
	keep := func(s string) string { secrets = append(secrets, s, apikeys.Hash(s)); return s }

	acme, err := e.m.CreateOrg(e.ctx, tenancy.CLI, "acme", "Acme")
	mustNot(t, err)
	if trail := e.audit(acme.ID); len(trail) != 1 || trail[0].Actor != "cli" || trail[0].Action != "org.create" || trail[0].Target != "acme" {
		t.Fatalf("org.create trail %+v", trail)
	}

	var (
		admin, member, op tenancy.Actor
		token             *aiproxy.APIKey
		kr2               *masterkeys.Keyring
	)
	heygen := e.service("heygen")
	const (
		tenantKey1  = "hg-TENANT-provider-secret-1111"
		tenantKey2  = "hg-TENANT-provider-secret-2222"
		platformKey = "hg-PLATFORM-provider-secret-3333"
	)
	secrets = append(secrets, tenantKey1, tenantKey2, platformKey, hex.EncodeToString(e.key1))

	type entry struct {
		org                   *aiproxy.Org // nil: the platform trail
		actor, action, target string
	}
	steps := []struct {
		name string
		do   func() error
		want func() []entry // oldest first
	}{
		{"admin key by the command line", func() error {
			k, s, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleAdmin, Name: "admin"})
			if err == nil {
				keep(s)
				admin = tenancy.Actor{Key: k}
			}
			return err
		}, func() []entry { return []entry{{acme, "cli", "key.create", admin.Key.Prefix}} }},
		{"member key by the admin", func() error {
			k, s, err := e.m.CreateKey(e.ctx, admin, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen:*"}})
			if err == nil {
				keep(s)
				member = tenancy.Actor{Key: k}
			}
			return err
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "key.create", member.Key.Prefix}} }},
		{"operator key by the command line", func() error {
			k, s, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Role: aiproxy.RoleOperator})
			if err == nil {
				keep(s)
				op = tenancy.Actor{Key: k}
			}
			return err
		}, func() []entry { return []entry{{nil, "cli", "key.create", op.Key.Prefix}} }},
		{"tenant credential by the admin", func() error {
			_, err := e.m.SetCredential(e.ctx, admin, heygen, acme, tenantKey1)
			return err
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "credential.set", "heygen/tenant"}} }},
		{"tenant credential replaced", func() error {
			_, err := e.m.SetCredential(e.ctx, admin, heygen, acme, tenantKey2)
			return err
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "credential.set", "heygen/tenant"}} }},
		{"platform credential by the operator", func() error {
			_, err := e.m.SetCredential(e.ctx, op, heygen, nil, platformKey)
			return err
		}, func() []entry { return []entry{{nil, op.Key.Prefix, "credential.set", "heygen/platform"}} }},
		{"token by the member", func() error {
			k, s, err := e.m.MintToken(e.ctx, member, acme, tenancy.TokenRequest{})
			if err == nil {
				keep(s)
				token = k
			}
			return err
		}, func() []entry { return []entry{{acme, member.Key.Prefix, "token.create", token.Prefix}} }},
		{"origins by the admin", func() error {
			_, err := e.m.UpdateOrg(e.ctx, admin, acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://app.acme.example"}})
			return err
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "org.update", "acme"}} }},
		{"origins and rate limit by the operator", func() error {
			_, err := e.m.UpdateOrg(e.ctx, op, acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://a.example"}, RateLimitPerMinute: ptr(60)})
			return err
		}, func() []entry {
			return []entry{{acme, op.Key.Prefix, "org.update", "acme"}, {acme, op.Key.Prefix, "org.rate_limit", "acme"}}
		}},
		{"org switch by the admin", func() error {
			_, err := e.m.UpdateSettings(e.ctx, admin, "heygen", acme, tenancy.SettingsChange{Enabled: ptr(false)})
			return err
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "service.settings", "heygen"}} }},
		{"global policy by the operator", func() error {
			_, err := e.m.UpdateSettings(e.ctx, op, "heygen", nil, tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{AllowPlatformKey: ptr(true)}})
			return err
		}, func() []entry { return []entry{{nil, op.Key.Prefix, "service.settings", "heygen"}} }},
		{"member revoked by the admin", func() error {
			return e.m.RevokeKey(e.ctx, admin, acme, member.Key.Prefix)
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "key.revoke", member.Key.Prefix}} }},
		{"tenant credential deleted by the admin", func() error {
			return e.m.DeleteCredential(e.ctx, admin, heygen, acme)
		}, func() []entry { return []entry{{acme, admin.Key.Prefix, "credential.delete", "heygen/tenant"}} }},
		{"master key rotated by the operator", func() error {
			k2, err := masterkeys.CreateKeyFile(filepath.Join(e.dir, "master-2.key"))
			if err != nil {
				return err
			}
			secrets = append(secrets, hex.EncodeToString(k2))
			if kr2, err = masterkeys.NewKeyring(k2, e.key1); err != nil {
				return err
			}
			_, err = e.m.RotateMasterKey(e.ctx, op, kr2)
			return err
		}, func() []entry { return []entry{{nil, op.Key.Prefix, "secrets.rotate", kr2.PrimaryID()}} }},
		{"org deleted by the command line", func() error {
			return e.m.DeleteOrg(e.ctx, tenancy.CLI, acme)
		}, func() []entry { return []entry{{acme, "cli", "org.delete", "acme"}} }},
	}
	for _, st := range steps {
		acmeBefore, platformBefore := len(e.audit(acme.ID)), len(e.audit(0))
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		acmeNew, platformNew := e.audit(acme.ID), e.audit(0)
		acmeNew, platformNew = acmeNew[:len(acmeNew)-acmeBefore], platformNew[:len(platformNew)-platformBefore]
		var wantAcme, wantPlatform []entry
		for _, w := range st.want() {
			if w.org == nil {
				wantPlatform = append(wantPlatform, w)
			} else {
				wantAcme = append(wantAcme, w)
			}
		}
		check := func(trail string, got []*aiproxy.AuditEntry, want []entry, orgID int64) {
			if len(got) != len(want) {
				t.Fatalf("%s: %d new %s entries, want %d", st.name, len(got), trail, len(want))
			}
			for i, w := range want {
				g := got[len(got)-1-i] // newest first
				if g.OrgID != orgID || g.Actor != w.actor || g.Action != w.action || g.Target != w.target {
					t.Fatalf("%s: %s entry {org %d %s %s %s}, want {org %d %s %s %s}", st.name, trail,
						g.OrgID, g.Actor, g.Action, g.Target, orgID, w.actor, w.action, w.target)
				}
			}
		}
		check("acme", acmeNew, wantAcme, acme.ID)
		check("platform", platformNew, wantPlatform, 0)
	}

	// No entry of any trail holds a secret.
	all := append(e.audit(acme.ID), e.audit(0)...)
	if len(all) < len(steps) {
		t.Fatalf("only %d entries", len(all))
	}
	for _, a := range all {
		for _, s := range secrets {
			if strings.Contains(a.Before, s) || strings.Contains(a.After, s) || strings.Contains(a.Target, s) {
				t.Errorf("entry %d (%s) holds a secret %.8s…: before %s after %s", a.ID, a.Action, s, a.Before, a.After)
			}
		}
	}
	t.Logf("%d entries checked against %d secrets", len(all), len(secrets))
}

func TestAuditPageLimitBounds(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	const msgLimit = "Query parameter 'limit' must be an integer from 1 to 200."
	for _, limit := range []int{0, -1, 201, 1 << 20} {
		for _, org := range []*aiproxy.Org{nil, acme} {
			_, _, err := e.m.AuditPage(e.ctx, tenancy.CLI, org, 0, limit)
			wantErr(t, err, aiproxy.EINVALID, msgLimit)
		}
	}
	for _, limit := range []int{1, tenancy.DefaultAuditLimit, 200} {
		entries, more, err := e.m.AuditPage(e.ctx, tenancy.CLI, acme, 0, limit)
		mustNot(t, err)
		if len(entries) != 1 || more {
			t.Fatalf("limit %d: %d entries, more %v", limit, len(entries), more)
		}
	}
	_, _, err := e.m.AuditPage(e.ctx, tenancy.CLI, acme, -1, 10)
	wantErr(t, err, aiproxy.EINVALID, "Query parameter 'before' must be a positive integer (an audit entry id).")
}

func TestAuditPagePagesNewestFirst(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	admin, _ := e.key(acme, aiproxy.RoleAdmin) // entry 2
	for i := range 4 {                         // entries 3..6
		_, err := e.m.UpdateOrg(e.ctx, admin, acme, tenancy.OrgChange{CORSOrigins: &[]string{fmt.Sprintf("https://app%d.example", i)}})
		mustNot(t, err)
	}
	e.key(globex, aiproxy.RoleAdmin) // another org's entries stay out
	all := e.audit(acme.ID)
	if len(all) != 6 {
		t.Fatalf("%d entries, want 6", len(all))
	}

	for _, tc := range []struct {
		limit int
		pages []int // sizes
	}{
		{3, []int{3, 3}}, // an exact multiple: the last page says no more
		{4, []int{4, 2}}, // a short last page
		{6, []int{6}},    // everything at once
		{200, []int{6}},  // more than there is
		{1, []int{1, 1, 1, 1, 1, 1}},
	} {
		var got []*aiproxy.AuditEntry
		before := int64(0)
		for i, size := range tc.pages {
			page, more, err := e.m.AuditPage(e.ctx, admin, acme, before, tc.limit)
			mustNot(t, err)
			if len(page) != size {
				t.Fatalf("limit %d page %d: %d entries, want %d", tc.limit, i, len(page), size)
			}
			if wantMore := i < len(tc.pages)-1; more != wantMore {
				t.Fatalf("limit %d page %d: more %v, want %v", tc.limit, i, more, wantMore)
			}
			got = append(got, page...)
			before = page[len(page)-1].ID
		}
		if len(got) != len(all) {
			t.Fatalf("limit %d: %d entries over the pages", tc.limit, len(got))
		}
		for i := range got {
			if got[i].ID != all[i].ID || got[i].OrgID != acme.ID {
				t.Fatalf("limit %d: entry %d is %d, want %d", tc.limit, i, got[i].ID, all[i].ID)
			}
			if i > 0 && got[i].ID >= got[i-1].ID {
				t.Fatalf("limit %d: not newest first", tc.limit)
			}
		}
		// Past the oldest: nothing.
		page, more, err := e.m.AuditPage(e.ctx, admin, acme, all[len(all)-1].ID, tc.limit)
		mustNot(t, err)
		if len(page) != 0 || more {
			t.Fatalf("limit %d: %d entries before the oldest", tc.limit, len(page))
		}
	}
}

func TestAuditPageAccess(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	admin, _ := e.key(acme, aiproxy.RoleAdmin)
	member, _ := e.key(acme, aiproxy.RoleMember)
	globexAdmin, _ := e.key(globex, aiproxy.RoleAdmin)
	op := e.operator()

	for name, a := range map[string]tenancy.Actor{"member": member, "other org's admin": globexAdmin} {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.m.AuditPage(e.ctx, a, acme, 0, 10)
			wantForbidden(t, err)
		})
	}
	for _, a := range []tenancy.Actor{admin, member, globexAdmin} {
		_, _, err := e.m.AuditPage(e.ctx, a, nil, 0, 10)
		wantForbidden(t, err)
	}
	// Authorization comes before validation.
	_, _, err := e.m.AuditPage(e.ctx, member, acme, -1, 0)
	wantForbidden(t, err)

	page, _, err := e.m.AuditPage(e.ctx, admin, acme, 0, 10)
	mustNot(t, err)
	if len(page) != 3 { // org.create and two key.create
		t.Fatalf("acme trail: %d entries", len(page))
	}
	page, _, err = e.m.AuditPage(e.ctx, op, nil, 0, 10)
	mustNot(t, err)
	if len(page) != 1 || page[0].Action != "key.create" || page[0].Actor != "cli" || page[0].Target != op.Key.Prefix {
		t.Fatalf("platform trail %+v", page)
	}
}
