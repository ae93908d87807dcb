package tenancy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func TestCreateOrgSlugRules(t *testing.T) {
	e := newEnv(t)
	badSlug := func(s string) string {
		return fmt.Sprintf("Field 'slug' must be 1-64 lowercase letters, digits or inner hyphens: %q.", s)
	}
	for _, tc := range []struct {
		slug string
		msg  string // "" = accepted
	}{
		{"a", ""},
		{"0", ""},
		{"acme", ""},
		{"acme-2", ""},
		{"a--b", ""},
		{strings.Repeat("a", 64), ""},
		{"", "Field 'slug' is required."},
		{strings.Repeat("a", 65), badSlug(strings.Repeat("a", 65))},
		{"Acme", badSlug("Acme")},
		{"-acme", badSlug("-acme")},
		{"acme-", badSlug("acme-")},
		{"-", badSlug("-")},
		{"ac_me", badSlug("ac_me")},
		{"ac me", badSlug("ac me")},
		{"acme\n", badSlug("acme\n")},
		{"acmé", badSlug("acmé")},
		{"ac.me", badSlug("ac.me")},
		{"../x", badSlug("../x")},
	} {
		t.Run(tc.slug, func(t *testing.T) {
			o, err := e.m.CreateOrg(e.ctx, tenancy.CLI, tc.slug, "")
			if tc.msg != "" {
				wantErr(t, err, aiproxy.EINVALID, tc.msg)
				if _, err := e.store.OrgBySlug(e.ctx, tc.slug); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
					t.Fatalf("a refused org was stored: %v", err)
				}
				return
			}
			mustNot(t, err)
			if o.Slug != tc.slug || o.Name != tc.slug || o.ID == 0 {
				t.Fatalf("got %+v, want slug and name %q", o, tc.slug)
			}
			if tenancy.ValidSlug(tc.slug) != true {
				t.Fatalf("ValidSlug disagrees with CreateOrg")
			}
		})
	}
}

func TestCreateOrgName(t *testing.T) {
	e := newEnv(t)
	o, err := e.m.CreateOrg(e.ctx, tenancy.CLI, "acme", "Acme Corp.")
	mustNot(t, err)
	if got := e.reloadOrg(o); got.Name != "Acme Corp." {
		t.Fatalf("name %q", got.Name)
	}
	o, err = e.m.CreateOrg(e.ctx, tenancy.CLI, "long", strings.Repeat("n", 200))
	mustNot(t, err)
	if len(o.Name) != 200 {
		t.Fatalf("name of %d bytes", len(o.Name))
	}
	_, err = e.m.CreateOrg(e.ctx, tenancy.CLI, "too-long", strings.Repeat("n", 201))
	wantErr(t, err, aiproxy.EINVALID, "Field 'name' must be at most 200 characters.")
	if _, err := e.store.OrgBySlug(e.ctx, "too-long"); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Fatalf("a refused org was stored: %v", err)
	}
}

func TestCreateOrgConflict(t *testing.T) {
	e := newEnv(t)
	first := e.org("acme")
	_, err := e.m.CreateOrg(e.ctx, tenancy.CLI, "acme", "Another Acme")
	wantErr(t, err, aiproxy.ECONFLICT, "Organization 'acme' already exists.")
	if got := e.reloadOrg(first); got.Name != "acme" {
		t.Fatalf("the existing org changed: %+v", got)
	}
	orgs, err := e.m.ListOrgs(e.ctx, tenancy.CLI)
	mustNot(t, err)
	if len(orgs) != 1 {
		t.Fatalf("%d orgs", len(orgs))
	}
	if n := e.auditActions(first.ID)["org.create"]; n != 1 {
		t.Fatalf("%d org.create entries, want 1", n)
	}
}

func TestCreateOrgOnlyByOperators(t *testing.T) {
	e, _, admin := newAcme(t)
	_, err := e.m.CreateOrg(e.ctx, admin, "globex", "")
	wantForbidden(t, err)
	o, err := e.m.CreateOrg(e.ctx, e.operator(), "globex", "")
	mustNot(t, err)
	if o.Slug != "globex" {
		t.Fatalf("got %+v", o)
	}
}

// TestUpdateOrgValidatesEverythingBeforeWriting sends one good field with one bad one: the
// error comes back and nothing at all is written.
func TestUpdateOrgValidatesEverythingBeforeWriting(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	acme, err := e.m.UpdateOrg(e.ctx, tenancy.CLI, acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://app.acme.example"}, RateLimitPerMinute: ptr(10)})
	mustNot(t, err)
	const msgRate = "Field 'rate_limit_per_minute' must be an integer from 0 to 1000000."
	for _, tc := range []struct {
		name string
		ch   tenancy.OrgChange
		msg  string
	}{
		{"bad origin, good rate limit", tenancy.OrgChange{CORSOrigins: &[]string{"https://ok.example", "ftp://bad.example"}, RateLimitPerMinute: ptr(100)},
			`Field 'cors_origins' must list origins like https://app.example.com, not "ftp://bad.example".`},
		{"good origins, negative rate limit", tenancy.OrgChange{CORSOrigins: &[]string{"https://ok.example"}, RateLimitPerMinute: ptr(-1)}, msgRate},
		{"good origins, rate limit too high", tenancy.OrgChange{CORSOrigins: &[]string{"https://ok.example"}, RateLimitPerMinute: ptr(1_000_001)}, msgRate},
		{"too many origins, good rate limit", tenancy.OrgChange{CORSOrigins: ptr(distinctOrigins(101)), RateLimitPerMinute: ptr(100)},
			"Field 'cors_origins' may list at most 100 origins."},
		{"nothing to change", tenancy.OrgChange{}, "Field 'cors_origins' must be a list of origins like https://app.example.com."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auditBefore := len(e.audit(acme.ID))
			got, err := e.m.UpdateOrg(e.ctx, tenancy.CLI, acme, tc.ch)
			if got != nil {
				t.Fatalf("got an org with the error")
			}
			wantErr(t, err, aiproxy.EINVALID, tc.msg)
			stored := e.reloadOrg(acme)
			if stored.RateLimitPerMinute != 10 || !slices.Equal(stored.CORSOrigins, []string{"https://app.acme.example"}) {
				t.Fatalf("the org changed: %+v", stored)
			}
			if n := len(e.audit(acme.ID)); n != auditBefore {
				t.Fatalf("audit grew from %d to %d", auditBefore, n)
			}
		})
	}
	// The boundaries are accepted.
	for _, n := range []int{0, 1_000_000} {
		got, err := e.m.UpdateOrg(e.ctx, tenancy.CLI, acme, tenancy.OrgChange{RateLimitPerMinute: ptr(n)})
		mustNot(t, err)
		if got.RateLimitPerMinute != n || e.reloadOrg(acme).RateLimitPerMinute != n {
			t.Fatalf("rate limit %d not stored", n)
		}
	}
}

func TestOnlyOperatorsChangeTheRateLimit(t *testing.T) {
	e, acme, admin := newAcme(t)

	// An admin may change its origins, but not the rate limit — not even alongside origins.
	_, err := e.m.UpdateOrg(e.ctx, admin, acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://x.example"}, RateLimitPerMinute: ptr(1000)})
	wantForbidden(t, err)
	_, err = e.m.UpdateOrg(e.ctx, admin, acme, tenancy.OrgChange{RateLimitPerMinute: ptr(0)})
	wantForbidden(t, err)
	if stored := e.reloadOrg(acme); stored.RateLimitPerMinute != 0 || len(stored.CORSOrigins) != 0 {
		t.Fatalf("the org changed: %+v", stored)
	}

	op := e.operator()
	got, err := e.m.UpdateOrg(e.ctx, op, acme, tenancy.OrgChange{RateLimitPerMinute: ptr(120)})
	mustNot(t, err)
	if got.RateLimitPerMinute != 120 || e.reloadOrg(acme).RateLimitPerMinute != 120 {
		t.Fatalf("rate limit not stored")
	}
	if a := e.audit(acme.ID)[0]; a.Action != "org.rate_limit" || a.Actor != op.Key.Prefix || a.Target != "acme" ||
		!strings.Contains(a.Before, `"rate_limit_per_minute":0`) || !strings.Contains(a.After, `"rate_limit_per_minute":120`) {
		t.Fatalf("audit %+v", a)
	}
}

func distinctOrigins(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://app%d.example", i)
	}
	return out
}

func TestUpdateOrgOriginsAreValidatedDeduplicatedAndCapped(t *testing.T) {
	e, acme, admin := newAcme(t)
	badOrigin := func(o string) string {
		return fmt.Sprintf("Field 'cors_origins' must list origins like https://app.example.com, not %q.", o)
	}
	hundred := distinctOrigins(100)
	for _, tc := range []struct {
		name string
		in   []string
		want []string
		msg  string
	}{
		{"deduplicated in order", []string{"https://a.example", "http://b.example:8080", "https://a.example"},
			[]string{"https://a.example", "http://b.example:8080"}, ""},
		{"empty clears", []string{}, []string{}, ""},
		{"a hundred", hundred, hundred, ""},
		{"a hundred after removing repeats", append(slices.Clone(hundred), hundred[:50]...), hundred, ""},
		{"a hundred and one", distinctOrigins(101), nil, "Field 'cors_origins' may list at most 100 origins."},
		{"trailing slash", []string{"https://a.example/"}, nil, badOrigin("https://a.example/")},
		{"path", []string{"https://a.example/app"}, nil, badOrigin("https://a.example/app")},
		{"query", []string{"https://a.example?x=1"}, nil, badOrigin("https://a.example?x=1")},
		{"fragment", []string{"https://a.example#x"}, nil, badOrigin("https://a.example#x")},
		{"user info", []string{"https://u@a.example"}, nil, badOrigin("https://u@a.example")},
		{"no scheme", []string{"a.example"}, nil, badOrigin("a.example")},
		{"other scheme", []string{"ws://a.example"}, nil, badOrigin("ws://a.example")},
		{"wildcard", []string{"*"}, nil, badOrigin("*")},
		{"empty string", []string{""}, nil, badOrigin("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.reloadOrg(acme)
			in := slices.Clone(tc.in)
			got, err := e.m.UpdateOrg(e.ctx, admin, before, tenancy.OrgChange{CORSOrigins: &in})
			if tc.msg != "" {
				wantErr(t, err, aiproxy.EINVALID, tc.msg)
				if after := e.reloadOrg(acme); !slices.Equal(after.CORSOrigins, before.CORSOrigins) {
					t.Fatalf("origins changed to %q", after.CORSOrigins)
				}
				return
			}
			mustNot(t, err)
			if !slices.Equal(got.CORSOrigins, tc.want) {
				t.Fatalf("returned %q, want %q", got.CORSOrigins, tc.want)
			}
			if stored := e.reloadOrg(acme); !slices.Equal(stored.CORSOrigins, tc.want) {
				t.Fatalf("stored %q, want %q", stored.CORSOrigins, tc.want)
			}
			if a := e.audit(acme.ID)[0]; a.Action != "org.update" || a.Actor != admin.Key.Prefix {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

func TestUpdateOrgLeavesTheGivenOrgAlone(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	snapshot := *acme
	got, err := e.m.UpdateOrg(e.ctx, tenancy.CLI, acme, tenancy.OrgChange{CORSOrigins: &[]string{"https://a.example"}, RateLimitPerMinute: ptr(5)})
	mustNot(t, err)
	if acme.RateLimitPerMinute != snapshot.RateLimitPerMinute || len(acme.CORSOrigins) != 0 {
		t.Fatalf("the argument changed: %+v", acme)
	}
	if got == acme || got.RateLimitPerMinute != 5 {
		t.Fatalf("got %+v", got)
	}
	// Both changes are recorded, each under its own action.
	n := e.auditActions(acme.ID)
	if n["org.update"] != 1 || n["org.rate_limit"] != 1 {
		t.Fatalf("audit actions %v", n)
	}
}

func TestDeleteOrgRemovesItsKeysButKeepsItsAudit(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	admin, adminSecret := e.key(acme, aiproxy.RoleAdmin)
	_, err := e.m.SetCredential(e.ctx, admin, e.service("heygen"), acme, "hg-acme")
	mustNot(t, err)

	wantForbidden(t, e.m.DeleteOrg(e.ctx, admin, acme))
	if _, err := e.auth(adminSecret); err != nil {
		t.Fatalf("a refused delete removed the key: %v", err)
	}

	op := e.operator()
	mustNot(t, e.m.DeleteOrg(e.ctx, op, acme))
	_, err = e.auth(adminSecret)
	wantInvalidToken(t, err)
	_, err = e.m.Org(e.ctx, op, "acme", tenancy.AnyKey)
	wantErr(t, err, aiproxy.ENOTFOUND, "Organization 'acme' not found.")
	creds, err := e.store.ListCredentials(e.ctx)
	mustNot(t, err)
	if len(creds) != 0 {
		t.Fatalf("%d credentials left", len(creds))
	}
	trail := e.audit(acme.ID)
	if trail[0].Action != "org.delete" || trail[0].Actor != op.Key.Prefix || trail[0].Target != "acme" || trail[0].After != "" {
		t.Fatalf("audit %+v", trail[0])
	}
	if trail[len(trail)-1].Action != "org.create" {
		t.Fatalf("the org's earlier audit is gone: oldest %q", trail[len(trail)-1].Action)
	}
	// The slug is free again.
	e.org("acme")
}
