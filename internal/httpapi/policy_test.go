package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// TestCredentialPolicyMatrix pins contract §7 for every combination of the four policy
// fields × tenant key present or not × platform key present or not, end to end: the
// upstream's credential header tells which key the gateway chose.
func TestCredentialPolicyMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const tenantKey, platformKey = "tenant-key-for-matrix", "platform-key-for-matrix"
	T, P := aiproxy.SourceTenant, aiproxy.SourcePlatform
	// The order of sources each policy tries, written out by hand from the contract.
	type row struct {
		allowTenant, allowPlatform bool
		def                        aiproxy.Source
		fallback                   bool
		order                      []aiproxy.Source // nil: no source allowed
	}
	rows := []row{
		{false, false, T, false, nil}, {false, false, T, true, nil},
		{false, false, P, false, nil}, {false, false, P, true, nil},
		{true, false, T, false, []aiproxy.Source{T}}, {true, false, T, true, []aiproxy.Source{T}},
		{true, false, P, false, []aiproxy.Source{T}}, {true, false, P, true, []aiproxy.Source{T}},
		{false, true, T, false, []aiproxy.Source{P}}, {false, true, T, true, []aiproxy.Source{P}},
		{false, true, P, false, []aiproxy.Source{P}}, {false, true, P, true, []aiproxy.Source{P}},
		{true, true, T, false, []aiproxy.Source{T}}, {true, true, T, true, []aiproxy.Source{T, P}},
		{true, true, P, false, []aiproxy.Source{P}}, {true, true, P, true, []aiproxy.Source{P, T}},
	}
	for _, r := range rows {
		p := aiproxy.Policy{AllowTenantKey: r.allowTenant, AllowPlatformKey: r.allowPlatform, DefaultSource: r.def, FallbackToPlatformKey: r.fallback}
		if _, err := e.mgr.UpdateSettings(ctx, tenancy.CLI, "testsvc", e.orgA, tenancy.SettingsChange{Policy: policyPatch(p)}); err != nil {
			t.Fatal(err)
		}
		for _, tenantPresent := range []bool{true, false} {
			for _, platformPresent := range []bool{true, false} {
				name := fmt.Sprintf("tenant=%v platform=%v default=%s fallback=%v/tenant key %v/platform key %v",
					r.allowTenant, r.allowPlatform, r.def, r.fallback, tenantPresent, platformPresent)
				t.Run(name, func(t *testing.T) {
					setOrDelete(t, e, T, e.orgA.ID, tenantPresent, tenantKey)
					setOrDelete(t, e, P, 0, platformPresent, platformKey)
					before := e.up.count()
					resp := e.invoke("testsvc", "get-json", `{}`)
					var want string
					for _, src := range r.order {
						if src == T && tenantPresent {
							want = tenantKey
							break
						}
						if src == P && platformPresent {
							want = platformKey
							break
						}
					}
					switch {
					case r.order == nil:
						assertBody(t, resp, 400, `{"error": "Credential policy does not allow any credential source."}`)
					case want == "":
						assertBody(t, resp, 404, `{"detail": "No allowed credentials found for external proxy service 'testsvc'."}`)
					default:
						if resp.Status != 200 {
							t.Fatalf("%d %s", resp.Status, resp.Body)
						}
						if got := e.up.last(t).Header.Get("X-Test-Key"); got != want {
							t.Errorf("upstream got key %q, want %q", got, want)
						}
						return
					}
					if e.up.count() != before {
						t.Error("a call without a credential reached the upstream")
					}
				})
			}
		}
	}
}

func setOrDelete(t *testing.T, e *env, src aiproxy.Source, orgID int64, present bool, key string) {
	t.Helper()
	ctx := context.Background()
	if present {
		if _, err := e.mgr.SetCredential(ctx, tenancy.CLI, e.mgr.Catalog.Service("testsvc"), orgFor(e, orgID), key); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := e.store.DeleteCredential(ctx, "testsvc", src, orgID); err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Fatal(err)
	}
}

func TestCatalogDefaultPolicyIsTenantOnly(t *testing.T) {
	e := newEnv(t)
	e.cred("heygen", aiproxy.SourcePlatform, nil, "platform-heygen-key")
	// org-b has no tenant key: the platform key must not be used under the default policy.
	assertBody(t, e.invokeAs(e.adminB, "org-b", "heygen", "list-avatars", `{}`), 404,
		`{"detail": "No allowed credentials found for external proxy service 'heygen'."}`)
	r := e.do("GET", "/api/ai-proxy/orgs/org-a/services/heygen/", "Api-Key "+e.adminA, nil)
	assertJSONField(t, r, "credential_policy", `{"allow_tenant_key": true, "allow_platform_key": false, "default_source": "tenant", "fallback_to_platform_key": false}`)
}

// policyPatch is a patch that sets every field of p.
func policyPatch(p aiproxy.Policy) *tenancy.PolicyPatch {
	src := string(p.DefaultSource)
	return &tenancy.PolicyPatch{AllowTenantKey: &p.AllowTenantKey, AllowPlatformKey: &p.AllowPlatformKey,
		DefaultSource: &src, FallbackToPlatformKey: &p.FallbackToPlatformKey}
}

// orgFor is org A for its id, nil (the platform) for 0.
func orgFor(e *env, id int64) *aiproxy.Org {
	if id == 0 {
		return nil
	}
	return e.orgA
}
