package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The callers of the isolation matrix, in the order they are tried: the refused ones first,
// then the org's own admin, the operator last (so that destructive requests run after every
// refusal).
var matrixCallers = []string{
	"no header", "malformed header", "unknown scheme", "unknown key", "revoked key", "expired key",
	"admin of org-b", "member of org-a", "admin of org-a", "operator",
}

// orgBSecrets are the bytes of org B that no answer about org A may carry.
type orgBSecrets struct {
	slug                                string
	adminPrefix, memberPrefix           string
	credFingerprint, credLast4, credKey string
}

// orgBProviderKey is org B's HeyGen key: its last four characters are distinctive.
const orgBProviderKey = "hg-orgb-secret-41c7e0d2Qz7w"

// matrixEnv is newEnv plus org B's own data and the keys that must fail authentication.
func matrixEnv(t *testing.T) (*env, []string, orgBSecrets) {
	e := newEnv(t)
	ctx := context.Background()
	cred, err := e.mgr.SetCredential(ctx, "test", "heygen", aiproxy.SourceTenant, e.orgB.ID, orgBProviderKey)
	if err != nil {
		t.Fatal(err)
	}
	memberB := e.key(e.orgB, aiproxy.RoleMember, nil)
	// Org B's activity fills its audit trail: none of it may show in org A's.
	if _, _, err := e.mgr.CreateKey(ctx, admPrefix(e.adminB), tenancy.NewKey{OrgID: e.orgB.ID, Name: "org-b-ci", Role: aiproxy.RoleMember}); err != nil {
		t.Fatal(err)
	}
	revoked, revokedSecret, err := e.mgr.CreateKey(ctx, "test", tenancy.NewKey{OrgID: e.orgA.ID, Role: aiproxy.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.RevokeKey(ctx, "test", revoked); err != nil {
		t.Fatal(err)
	}
	past := *e.mgr
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expiry := time.Now().Add(-time.Hour)
	_, expiredSecret, err := past.CreateKey(ctx, "test", tenancy.NewKey{OrgID: e.orgA.ID, Role: aiproxy.RoleAdmin, ExpiresAt: &expiry})
	if err != nil {
		t.Fatal(err)
	}
	authz := []string{
		"",
		"Api-Key",
		"Basic dXNlcjpwYXNzd29yZA==",
		"Api-Key aip_unknownunknownunknownunknown",
		"Api-Key " + revokedSecret,
		"Token " + expiredSecret,
		"Api-Key " + e.adminB,
		"Bearer " + e.memberA,
		"Api-Token " + e.adminA,
		"Api-Key " + e.operator,
	}
	return e, authz, orgBSecrets{
		slug: "org-b", adminPrefix: admPrefix(e.adminB), memberPrefix: admPrefix(memberB),
		credFingerprint: cred.Fingerprint, credLast4: orgBProviderKey[len(orgBProviderKey)-4:], credKey: orgBProviderKey,
	}
}

// leaks returns which of org B's bytes body holds.
func (b orgBSecrets) leaks(body string) []string {
	var found []string
	for what, s := range map[string]string{
		"org-b slug": b.slug, "org-b admin key prefix": b.adminPrefix, "org-b member key prefix": b.memberPrefix,
		"org-b credential fingerprint": b.credFingerprint, "org-b credential last4": b.credLast4, "org-b provider key": b.credKey,
	} {
		if s != "" && strings.Contains(body, s) {
			found = append(found, what)
		}
	}
	return found
}

// TestTenantIsolationMatrix: every route (discovery, service detail, invoke, every admin
// route) × every kind of caller answers the documented status with the contract's body,
// refused calls never reach an upstream, and no answer about org A or about the platform's
// settings carries a byte of org B (its slug, key prefixes, credential fingerprint or last
// four characters) — only the operator's platform-wide lists (orgs, platform audit) name it.
func TestTenantIsolationMatrix(t *testing.T) {
	const (
		notProvided = `{"detail": "Authentication credentials were not provided."}`
		invalid     = `{"detail": "Invalid token."}`
		forbidden   = `{"detail": "You do not have permission to perform this action."}`
	)
	setTenantCred := func(e *env) string {
		e.cred("heygen", aiproxy.SourceTenant, e.orgA, heygenKey)
		return "/orgs/org-a/credentials/heygen/"
	}
	setPlatformCred := func(e *env) string {
		e.cred("heygen", aiproxy.SourcePlatform, nil, "platform-key-0000")
		return "/platform-credentials/heygen/"
	}
	newMemberKey := func(e *env) string {
		return "/orgs/org-a/keys/" + admPrefix(e.key(e.orgA, aiproxy.RoleMember, nil)) + "/"
	}
	type route struct {
		name, method, path, body string
		prep                     func(e *env) string
		// statuses of: admin of org-b, member of org-a, admin of org-a, operator
		want [4]int
		// global: a platform-wide answer, where the operator legitimately sees org B
		global bool
		// upstream: the call reaches the upstream when allowed
		upstream bool
	}
	routes := []route{
		{name: "list services", method: "GET", path: "/orgs/org-a/services/", want: [4]int{403, 200, 200, 200}},
		{name: "service detail", method: "GET", path: "/orgs/org-a/services/heygen/", want: [4]int{403, 200, 200, 200}},
		{name: "invoke json", method: "POST", path: "/orgs/org-a/services/testsvc/get-json/", body: `{}`, want: [4]int{403, 200, 200, 200}, upstream: true},
		{name: "invoke stream", method: "POST", path: "/orgs/org-a/services/testsvc/stream/", body: `{"body": {}}`, want: [4]int{403, 200, 200, 200}, upstream: true},
		{name: "list orgs", method: "GET", path: "/orgs/", want: [4]int{403, 403, 403, 200}, global: true},
		{name: "create org", method: "POST", path: "/orgs/", body: `{"slug": "org-c", "name": "C"}`, want: [4]int{403, 403, 403, 201}, global: true},
		{name: "read org", method: "GET", path: "/orgs/org-a/", want: [4]int{403, 403, 200, 200}},
		{name: "patch org", method: "PATCH", path: "/orgs/org-a/", body: `{"cors_origins": ["https://app.example.com"]}`, want: [4]int{403, 403, 200, 200}},
		{name: "read tenant credential", method: "GET", path: "/orgs/org-a/credentials/heygen/", want: [4]int{403, 403, 200, 200}},
		{name: "set tenant credential", method: "PUT", path: "/orgs/org-a/credentials/heygen/", body: `{"key": "hg-new-key-1234"}`, want: [4]int{403, 403, 200, 200}},
		{name: "delete tenant credential", method: "DELETE", prep: setTenantCred, want: [4]int{403, 403, 204, 204}},
		{name: "list keys", method: "GET", path: "/orgs/org-a/keys/", want: [4]int{403, 403, 200, 200}},
		{name: "create key", method: "POST", path: "/orgs/org-a/keys/", body: `{"name": "ci", "role": "member"}`, want: [4]int{403, 403, 201, 201}},
		{name: "revoke key", method: "DELETE", prep: newMemberKey, want: [4]int{403, 403, 204, 204}},
		{name: "read org service settings", method: "GET", path: "/orgs/org-a/services/heygen/settings/", want: [4]int{403, 403, 200, 200}},
		{name: "set org service settings", method: "PUT", path: "/orgs/org-a/services/heygen/settings/", body: `{"is_enabled": true}`, want: [4]int{403, 403, 200, 200}},
		{name: "mint browser token", method: "POST", path: "/orgs/org-a/tokens/", body: `{"ttl_seconds": 60}`, want: [4]int{403, 201, 201, 201}},
		{name: "read org audit", method: "GET", path: "/orgs/org-a/audit/", want: [4]int{403, 403, 200, 200}},
		{name: "read platform credential", method: "GET", prep: setPlatformCred, want: [4]int{403, 403, 403, 200}, global: true},
		{name: "set platform credential", method: "PUT", path: "/platform-credentials/heygen/", body: `{"key": "platform-key-1111"}`, want: [4]int{403, 403, 403, 200}, global: true},
		{name: "delete platform credential", method: "DELETE", prep: setPlatformCred, want: [4]int{403, 403, 403, 204}, global: true},
		{name: "read global service settings", method: "GET", path: "/services/heygen/settings/", want: [4]int{403, 403, 403, 200}, global: true},
		{name: "set global service settings", method: "PUT", path: "/services/heygen/settings/", body: `{"is_enabled": true}`, want: [4]int{403, 403, 403, 200}, global: true},
		{name: "read platform audit", method: "GET", path: "/audit/", want: [4]int{403, 403, 403, 200}, global: true},
		{name: "delete org", method: "DELETE", path: "/orgs/org-a/", want: [4]int{403, 403, 403, 204}},
	}
	cells := 0
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			e, authz, orgB := matrixEnv(t)
			for i, a := range authz {
				path := rt.path
				if rt.prep != nil {
					path = rt.prep(e)
				}
				before := e.up.count()
				r := e.do(rt.method, admAPI+path, a, strings.NewReader(rt.body), "Content-Type", "application/json")
				cells++
				caller := matrixCallers[i]
				var want int
				switch {
				case i <= 2:
					want = 401
					assertBody(t, r, 401, notProvided)
				case i <= 5:
					want = 401
					assertBody(t, r, 401, invalid)
				default:
					want = rt.want[i-6]
					switch want {
					case 403:
						assertBody(t, r, 403, forbidden)
					case 204:
						if len(r.Body) != 0 {
							t.Errorf("%s: 204 with a body %q", caller, r.Body)
						}
					}
				}
				if r.Status != want {
					t.Errorf("%s %s as %s: status %d, want %d (body %s)", rt.method, path, caller, r.Status, want, r.Body)
				}
				reached := e.up.count() > before
				if reached != (rt.upstream && r.Status == 200) {
					t.Errorf("%s: upstream reached = %v with status %d", caller, reached, r.Status)
				}
				if rt.global && caller == "operator" {
					continue // platform-wide answers name every org
				}
				hay := string(r.Body)
				for k, vs := range r.Header {
					hay += "\n" + k + ": " + strings.Join(vs, ", ")
				}
				if found := orgB.leaks(hay); len(found) > 0 {
					t.Errorf("%s %s as %s: the answer carries %v: %s", rt.method, path, caller, found, r.Body)
				}
			}
		})
	}
	t.Logf("%d routes × %d callers = %d cells", len(routes), len(matrixCallers), cells)
}
