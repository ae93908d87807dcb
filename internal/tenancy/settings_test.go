package tenancy_test

import (
	"reflect"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

var (
	platformOnly = aiproxy.Policy{AllowPlatformKey: true, DefaultSource: aiproxy.SourcePlatform}
	both         = aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourceTenant, FallbackToPlatformKey: true}
)

func TestLayerOrgOverridesGlobalOverridesCatalog(t *testing.T) {
	svc := &catalog.Service{Slug: "svc", CredentialPolicy: aiproxy.TenantOnly}
	row := func(enabled *bool, p *aiproxy.Policy) *aiproxy.ServiceSettings {
		return &aiproxy.ServiceSettings{Service: "svc", Enabled: enabled, Policy: p}
	}
	on, off := ptr(true), ptr(false)
	for _, tc := range []struct {
		name                      string
		global, org               *aiproxy.ServiceSettings
		globalEnabled, orgEnabled bool
		policy                    aiproxy.Policy
	}{
		{"no rows: the catalog", nil, nil, true, true, aiproxy.TenantOnly},
		{"empty rows: the catalog", row(nil, nil), row(nil, nil), true, true, aiproxy.TenantOnly},
		{"global off", row(off, nil), nil, false, true, aiproxy.TenantOnly},
		{"global on", row(on, nil), nil, true, true, aiproxy.TenantOnly},
		{"global policy", row(nil, &platformOnly), nil, true, true, platformOnly},
		{"global off and policy", row(off, &both), nil, false, true, both},
		{"org off", nil, row(off, nil), true, false, aiproxy.TenantOnly},
		{"org policy", nil, row(nil, &both), true, true, both},
		{"org policy over global policy", row(nil, &platformOnly), row(nil, &both), true, true, both},
		{"org switch only keeps the global policy", row(nil, &platformOnly), row(off, nil), true, false, platformOnly},
		{"org policy only keeps the global switch", row(off, nil), row(nil, &both), false, true, both},
		{"org on does not re-enable a global off", row(off, nil), row(on, nil), false, true, aiproxy.TenantOnly},
		{"both off", row(off, &platformOnly), row(off, &both), false, false, both},
		{"org empty row keeps global", row(off, &platformOnly), row(nil, nil), false, true, platformOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gCopy, oCopy *aiproxy.ServiceSettings
			if tc.global != nil {
				c := *tc.global
				gCopy = &c
			}
			if tc.org != nil {
				c := *tc.org
				oCopy = &c
			}
			st := tenancy.Layer(svc, tc.global, tc.org)
			if st.Service != svc || st.GlobalEnabled != tc.globalEnabled || st.OrgEnabled != tc.orgEnabled || st.Policy != tc.policy {
				t.Fatalf("got global %v org %v policy %+v, want %v %v %+v",
					st.GlobalEnabled, st.OrgEnabled, st.Policy, tc.globalEnabled, tc.orgEnabled, tc.policy)
			}
			if st.Enabled() != (tc.globalEnabled && tc.orgEnabled) {
				t.Fatalf("Enabled() = %v", st.Enabled())
			}
			// Pure: the same answer again, and nothing it was given changed.
			if again := tenancy.Layer(svc, tc.global, tc.org); !reflect.DeepEqual(again, st) {
				t.Fatalf("a second call gave %+v", again)
			}
			if !reflect.DeepEqual(gCopy, tc.global) || !reflect.DeepEqual(oCopy, tc.org) || svc.CredentialPolicy != aiproxy.TenantOnly {
				t.Fatalf("Layer changed its arguments")
			}
		})
	}
}

func TestUpdateSettingsLaysAPolicyPatchOverThePolicyInForce(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	op := e.operator()

	// Global: allow the platform key as well; the rest stays the catalog's.
	r, err := e.m.UpdateSettings(e.ctx, op, "heygen", nil, tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{AllowPlatformKey: ptr(true)}})
	mustNot(t, err)
	global := aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourceTenant}
	if r.Policy != global || r.Overrides.Policy == nil || *r.Overrides.Policy != global || !r.IsEnabled || r.Service != "heygen" {
		t.Fatalf("global report %+v", r)
	}
	// The org inherits it.
	r, err = e.m.Settings(e.ctx, op, "heygen", acme)
	mustNot(t, err)
	if r.Policy != global || r.Overrides.Policy != nil || r.Overrides.Enabled != nil {
		t.Fatalf("org report %+v", r)
	}
	// Org: add fallback on top of what is in force for it (the global policy).
	r, err = e.m.UpdateSettings(e.ctx, op, "heygen", acme, tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{FallbackToPlatformKey: ptr(true)}})
	mustNot(t, err)
	orgPolicy := global
	orgPolicy.FallbackToPlatformKey = true
	if r.Policy != orgPolicy || *r.Overrides.Policy != orgPolicy {
		t.Fatalf("org report %+v", r)
	}
	st, err := e.m.State(e.ctx, e.service("heygen"), acme.ID)
	mustNot(t, err)
	if st.Policy != orgPolicy {
		t.Fatalf("state %+v", st.Policy)
	}
	// A second patch at the org starts from the org's policy, not the global one.
	r, err = e.m.UpdateSettings(e.ctx, op, "heygen", acme, tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{DefaultSource: ptr("platform")}})
	mustNot(t, err)
	orgPolicy.DefaultSource = aiproxy.SourcePlatform
	if r.Policy != orgPolicy {
		t.Fatalf("org report %+v, want %+v", r.Policy, orgPolicy)
	}
	// The global level did not move, and another org still sees it.
	globex := e.org("globex")
	r, err = e.m.Settings(e.ctx, op, "heygen", globex)
	mustNot(t, err)
	if r.Policy != global {
		t.Fatalf("globex sees %+v", r.Policy)
	}
	// Clearing the org's policy brings the global one back.
	r, err = e.m.UpdateSettings(e.ctx, op, "heygen", acme, tenancy.SettingsChange{ClearPolicy: true})
	mustNot(t, err)
	if r.Policy != global || r.Overrides.Policy != nil {
		t.Fatalf("after clear %+v", r)
	}
	// Clearing the global policy brings the catalog's back.
	r, err = e.m.UpdateSettings(e.ctx, op, "heygen", nil, tenancy.SettingsChange{ClearPolicy: true})
	mustNot(t, err)
	if r.Policy != aiproxy.TenantOnly || r.Overrides.Policy != nil {
		t.Fatalf("after global clear %+v", r)
	}
}

func TestUpdateSettingsEnabledSwitchAndClear(t *testing.T) {
	e, acme, admin := newAcme(t)

	r, err := e.m.UpdateSettings(e.ctx, admin, "heygen", acme, tenancy.SettingsChange{Enabled: ptr(false)})
	mustNot(t, err)
	if r.IsEnabled || r.Overrides.Enabled == nil || *r.Overrides.Enabled {
		t.Fatalf("after off %+v", r)
	}
	// Switching the switch leaves the policy alone (still inherited).
	if r.Overrides.Policy != nil || r.Policy != aiproxy.TenantOnly {
		t.Fatalf("policy %+v / %+v", r.Policy, r.Overrides.Policy)
	}
	r, err = e.m.UpdateSettings(e.ctx, admin, "heygen", acme, tenancy.SettingsChange{ClearEnabled: true})
	mustNot(t, err)
	if !r.IsEnabled || r.Overrides.Enabled != nil {
		t.Fatalf("after clear %+v", r)
	}
	// Off platform-wide: the org's own "on" does not win.
	_, err = e.m.UpdateSettings(e.ctx, tenancy.CLI, "heygen", nil, tenancy.SettingsChange{Enabled: ptr(false)})
	mustNot(t, err)
	r, err = e.m.UpdateSettings(e.ctx, admin, "heygen", acme, tenancy.SettingsChange{Enabled: ptr(true)})
	mustNot(t, err)
	if r.IsEnabled || !*r.Overrides.Enabled {
		t.Fatalf("org on under global off %+v", r)
	}
	// A clear and a set in one change: the set wins.
	_, err = e.m.UpdateSettings(e.ctx, tenancy.CLI, "heygen", nil, tenancy.SettingsChange{ClearEnabled: true})
	mustNot(t, err)
	r, err = e.m.UpdateSettings(e.ctx, admin, "heygen", acme, tenancy.SettingsChange{ClearEnabled: true, Enabled: ptr(false)})
	mustNot(t, err)
	if r.IsEnabled {
		t.Fatalf("%+v", r)
	}
}

func TestUpdateSettingsRefusesBadInputAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	for _, tc := range []struct {
		name    string
		service string
		ch      tenancy.SettingsChange
		code    string
		msg     string
	}{
		{"invalid default_source", "heygen", tenancy.SettingsChange{Enabled: ptr(false), Policy: &tenancy.PolicyPatch{AllowPlatformKey: ptr(true), DefaultSource: ptr("both")}},
			aiproxy.EINVALID, "Field 'credential_policy.default_source' must be 'tenant' or 'platform'."},
		{"empty default_source", "heygen", tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{DefaultSource: ptr("")}},
			aiproxy.EINVALID, "Field 'credential_policy.default_source' must be 'tenant' or 'platform'."},
		{"nothing to change", "heygen", tenancy.SettingsChange{}, aiproxy.EINVALID, "Request body must set 'is_enabled', 'credential_policy', 'account_actions' or 'require_idempotency_key'."},
		{"unknown service", "openai", tenancy.SettingsChange{Enabled: ptr(false)}, aiproxy.ENOTFOUND, "External proxy service 'openai' not found or disabled."},
	} {
		for level, org := range map[string]*aiproxy.Org{"global": nil, "org": acme} {
			t.Run(tc.name+"/"+level, func(t *testing.T) {
				r, err := e.m.UpdateSettings(e.ctx, tenancy.CLI, tc.service, org, tc.ch)
				if r != nil {
					t.Fatalf("got a report with the error")
				}
				wantErr(t, err, tc.code, tc.msg)
				rows, err := e.store.ListServiceSettings(e.ctx)
				mustNot(t, err)
				if len(rows) != 0 {
					t.Fatalf("%d settings rows written", len(rows))
				}
			})
		}
	}
	if n := e.auditActions(0)["service.settings"] + e.auditActions(acme.ID)["service.settings"]; n != 0 {
		t.Fatalf("%d service.settings entries", n)
	}
}

func TestOnlyOperatorsChangeCredentialPolicy(t *testing.T) {
	e, acme, admin := newAcme(t)
	patch := &tenancy.PolicyPatch{AllowPlatformKey: ptr(true), DefaultSource: ptr("platform")}
	for name, ch := range map[string]tenancy.SettingsChange{
		"policy":              {Policy: patch},
		"clear policy":        {ClearPolicy: true},
		"switch and policy":   {Enabled: ptr(false), Policy: patch},
		"switch and clearing": {Enabled: ptr(false), ClearPolicy: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.m.UpdateSettings(e.ctx, admin, "heygen", acme, ch)
			wantForbidden(t, err)
			rows, err := e.store.ListServiceSettings(e.ctx)
			mustNot(t, err)
			if len(rows) != 0 {
				t.Fatalf("%d settings rows written", len(rows))
			}
		})
	}
	for name, a := range map[string]tenancy.Actor{"operator": e.operator(), "cli": tenancy.CLI} {
		t.Run(name, func(t *testing.T) {
			r, err := e.m.UpdateSettings(e.ctx, a, "heygen", acme, tenancy.SettingsChange{Policy: patch})
			mustNot(t, err)
			if r.Policy != platformOnlyWithTenant() {
				t.Fatalf("policy %+v", r.Policy)
			}
			if entry := e.audit(acme.ID)[0]; entry.Action != "service.settings" || entry.Actor != a.Name() || entry.Target != "heygen" {
				t.Fatalf("audit %+v, want service.settings by %s", entry, a.Name())
			}
		})
	}
}

func platformOnlyWithTenant() aiproxy.Policy {
	return aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourcePlatform}
}

func TestAdminsToggleTheirOrgButNotTheGlobalLevel(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	admin, _ := e.key(acme, aiproxy.RoleAdmin)

	r, err := e.m.UpdateSettings(e.ctx, admin, "elevenlabs", acme, tenancy.SettingsChange{Enabled: ptr(false)})
	mustNot(t, err)
	if r.IsEnabled {
		t.Fatalf("%+v", r)
	}
	if a := e.audit(acme.ID)[0]; a.Action != "service.settings" || a.Actor != admin.Key.Prefix || a.Target != "elevenlabs" ||
		a.Before != `{"account_actions":null,"credential_policy":null,"is_enabled":null,"require_idempotency_key":null,"service":"elevenlabs"}` ||
		a.After != `{"account_actions":null,"credential_policy":null,"is_enabled":false,"require_idempotency_key":null,"service":"elevenlabs"}` {
		t.Fatalf("audit %+v", a)
	}

	_, err = e.m.UpdateSettings(e.ctx, admin, "elevenlabs", nil, tenancy.SettingsChange{Enabled: ptr(false)})
	wantForbidden(t, err)
	_, err = e.m.UpdateSettings(e.ctx, admin, "elevenlabs", nil, tenancy.SettingsChange{ClearEnabled: true})
	wantForbidden(t, err)
	_, err = e.m.Settings(e.ctx, admin, "elevenlabs", nil)
	wantForbidden(t, err)
	_, err = e.m.UpdateSettings(e.ctx, admin, "elevenlabs", globex, tenancy.SettingsChange{Enabled: ptr(false)})
	wantForbidden(t, err)

	for _, o := range []*aiproxy.Org{nil, globex} {
		id := int64(0)
		if o != nil {
			id = o.ID
		}
		st, err := e.m.State(e.ctx, e.service("elevenlabs"), id)
		mustNot(t, err)
		if !st.Enabled() {
			t.Fatalf("org %d: disabled by another org's admin", id)
		}
	}
}
