package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The callers of the isolation matrix, in the order they are tried: those refused by
// authentication, then other orgs' keys of every kind, then org A's own keys from the
// weakest to the strongest, the operator last (so that destructive requests run after every
// refusal).
var matrixCallers = []string{
	"no header", "malformed header", "unknown scheme", "unknown key", "revoked key", "expired key",
	"expired token", "token of a revoked key",
	"admin of org-b", "member of org-b", "token of org-b", "scoped key of org-b",
	"member of org-a", "token of org-a", "scoped admin of org-a", "admin of org-a", "operator",
}

// firstOwn is the index of the first caller whose status a row states (org A's own keys).
const firstOwn = 12

// orgBSecrets are the bytes of org B that no answer about org A may carry.
type orgBSecrets struct {
	slug                                string
	adminPrefix, memberPrefix           string
	credFingerprint, credLast4, credKey string
}

// orgBProviderKey is org B's HeyGen key: its last four characters are distinctive.
const orgBProviderKey = "hg-orgb-secret-41c7e0d2Qz7w"

// orgAScopes are the scopes of org A's scoped admin: HeyGen's list actions only.
var orgAScopes = []string{"heygen:list-*"}

// mint mints a browser token from the key secret, through the service layer.
func mint(t *testing.T, m *tenancy.Manager, org *aiproxy.Org, secret string) string {
	t.Helper()
	k, err := m.Authenticate(context.Background(), "Api-Key "+secret)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := m.MintToken(context.Background(), tenancy.Actor{Key: k}, org, tenancy.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// matrixEnv is newEnv plus org B's own data and the keys that must fail authentication; it
// returns the Authorization header of each caller, in matrixCallers order.
func matrixEnv(t *testing.T) (*env, []string, orgBSecrets) {
	e := newEnv(t)
	e.api.StopWatching() // its reads of the rows' jobs would count as requests reaching the upstream
	ctx := context.Background()
	cred, err := e.mgr.SetCredential(ctx, tenancy.CLI, e.mgr.Catalog.Service("heygen"), e.orgB, orgBProviderKey)
	if err != nil {
		t.Fatal(err)
	}
	memberB := e.key(e.orgB, aiproxy.RoleMember, nil)
	scopedB := e.key(e.orgB, aiproxy.RoleAdmin, []string{"heygen:*"})
	// Org B's activity fills its audit trail: none of it may show in org A's.
	adminB, err := e.mgr.Authenticate(ctx, "Api-Key "+e.adminB)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.CreateKey(ctx, tenancy.Actor{Key: adminB}, tenancy.NewKey{Org: e.orgB, Name: "org-b-ci", Role: aiproxy.RoleMember}); err != nil {
		t.Fatal(err)
	}
	revoked := e.key(e.orgA, aiproxy.RoleAdmin, nil)
	orphan := mint(t, e.mgr, e.orgA, revoked)
	if err := e.mgr.RevokeKey(ctx, tenancy.CLI, nil, admPrefix(revoked)); err != nil {
		t.Fatal(err)
	}
	past := *e.mgr
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expiry := time.Now().Add(-time.Hour)
	_, expired, err := past.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Org: e.orgA, Role: aiproxy.RoleAdmin, ExpiresAt: &expiry})
	if err != nil {
		t.Fatal(err)
	}
	expiredToken := mint(t, &past, e.orgA, e.adminA)
	authz := []string{
		"",
		"Api-Key",
		"Basic dXNlcjpwYXNzd29yZA==",
		"Api-Key aip_unknownunknownunknownunknown",
		"Api-Key " + revoked,
		"Token " + expired,
		"Bearer " + expiredToken,
		"Bearer " + orphan,
		"Api-Key " + e.adminB,
		"Api-Key " + memberB,
		"Bearer " + mint(t, e.mgr, e.orgB, e.adminB),
		"Api-Key " + scopedB,
		"Bearer " + e.memberA,
		"Bearer " + mint(t, e.mgr, e.orgA, e.memberA),
		"Api-Key " + e.key(e.orgA, aiproxy.RoleAdmin, orgAScopes),
		"Api-Token " + e.adminA,
		"Api-Key " + e.operator,
	}
	if len(authz) != len(matrixCallers) {
		t.Fatalf("%d callers, %d names", len(authz), len(matrixCallers))
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

// matrixRow is one request of the matrix.
type matrixRow struct {
	name, pattern, method, path, body string
	prep                              func(e *env) string
	// want is the status for org A's own callers: member, token, scoped admin, admin,
	// operator. Every other caller is refused (401 or 403).
	want [5]int
	// has are strings an allowed answer (2xx with a body) must contain, checked as JSON
	// text: proof that the answer is the right one, not merely a success.
	has []string
	// global: a platform-wide answer, where the operator legitimately sees org B.
	global bool
	// upstream: the call reaches the upstream when allowed.
	upstream bool
}

var matrixRows = []matrixRow{
	{name: "list services", pattern: "orgs/{org}/services", method: "GET", path: "/orgs/org-a/services/",
		want: [5]int{200, 200, 200, 200, 200}, has: []string{`"slug":"heygen"`, `"endpoint_count":`}},
	{name: "service detail", pattern: "orgs/{org}/services/{service}", method: "GET", path: "/orgs/org-a/services/heygen/",
		want: [5]int{200, 200, 200, 200, 200}, has: []string{`"slug":"heygen"`, `"path_template":"/v2/avatars"`}},
	{name: "invoke json", pattern: "orgs/{org}/services/{service}/{action}", method: "POST", path: "/orgs/org-a/services/testsvc/get-json/", body: `{}`,
		want: [5]int{200, 200, 403, 200, 200}, upstream: true, has: []string{`"ok":true`}},
	{name: "invoke stream", pattern: "orgs/{org}/services/{service}/{action}", method: "POST", path: "/orgs/org-a/services/testsvc/stream/", body: `{"body": {}}`,
		want: [5]int{200, 200, 403, 200, 200}, upstream: true},
	// A plain GET (no upgrade) is refused with 400 after every access check; realtime_test.go
	// upgrades.
	{name: "realtime", pattern: "orgs/{org}/services/{service}/realtime/{action}", method: "GET", path: "/orgs/org-a/services/elevenlabs/realtime/tts-websocket/?voice_id=v1",
		want: [5]int{400, 400, 403, 400, 400}},
	// The native route (native_test.go): the same checks as invoke, found by path.
	{name: "native GET", pattern: "orgs/{org}/native/{service}/{path...}", method: "GET", path: "/orgs/org-a/native/testsvc/v1/items",
		want: [5]int{200, 200, 403, 200, 200}, upstream: true, has: []string{`"ok":true`}},
	{name: "native POST", pattern: "orgs/{org}/native/{service}/{path...}", method: "POST", path: "/orgs/org-a/native/testsvc/v1/stream", body: `{}`,
		want: [5]int{200, 200, 403, 200, 200}, upstream: true},
	{name: "native PUT", pattern: "orgs/{org}/native/{service}/{path...}", method: "PUT", path: "/orgs/org-a/native/testsvc/v1/items", body: `{}`,
		want: [5]int{405, 405, 405, 405, 405}},
	{name: "native PATCH", pattern: "orgs/{org}/native/{service}/{path...}", method: "PATCH", path: "/orgs/org-a/native/testsvc/v1/items/", body: `{}`,
		want: [5]int{405, 405, 405, 405, 405}},
	{name: "native DELETE", pattern: "orgs/{org}/native/{service}/{path...}", method: "DELETE", path: "/orgs/org-a/native/testsvc/v1/nothing",
		want: [5]int{404, 404, 404, 404, 404}},
	{name: "list orgs", pattern: "orgs", method: "GET", path: "/orgs/",
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"slug":"org-a"`, `"slug":"org-b"`}},
	{name: "create org", pattern: "orgs", method: "POST", path: "/orgs/", body: `{"slug": "org-c", "name": "C"}`,
		want: [5]int{403, 403, 403, 403, 201}, global: true, has: []string{`"slug":"org-c"`}},
	{name: "read org", pattern: "orgs/{org}", method: "GET", path: "/orgs/org-a/",
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"slug":"org-a"`}},
	{name: "patch org", pattern: "orgs/{org}", method: "PATCH", path: "/orgs/org-a/", body: `{"cors_origins": ["https://app.example.com"]}`,
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"cors_origins":["https://app.example.com"]`}},
	{name: "read tenant credential", pattern: "orgs/{org}/credentials/{credential_name}", method: "GET", path: "/orgs/org-a/credentials/heygen/",
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"key":"****`, `"source":"tenant"`}},
	{name: "set tenant credential", pattern: "orgs/{org}/credentials/{credential_name}", method: "PUT", path: "/orgs/org-a/credentials/heygen/", body: `{"key": "hg-new-key-1234"}`,
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"key":"****1234"`}},
	{name: "delete tenant credential", pattern: "orgs/{org}/credentials/{credential_name}", method: "DELETE", prep: func(e *env) string {
		e.cred("heygen", aiproxy.SourceTenant, e.orgA, heygenKey)
		return "/orgs/org-a/credentials/heygen/"
	}, want: [5]int{403, 403, 204, 204, 204}},
	{name: "list keys", pattern: "orgs/{org}/keys", method: "GET", path: "/orgs/org-a/keys/",
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"results":[`, `"role":"admin"`}},
	// The scoped admin may not create a key without scopes: it would allow more than its own.
	{name: "create key", pattern: "orgs/{org}/keys", method: "POST", path: "/orgs/org-a/keys/", body: `{"name": "ci", "role": "member"}`,
		want: [5]int{403, 403, 400, 201, 201}, has: []string{`"key":"aip_`, `"name":"ci"`}},
	{name: "revoke key", pattern: "orgs/{org}/keys/{prefix}", method: "DELETE", prep: func(e *env) string {
		return "/orgs/org-a/keys/" + admPrefix(e.key(e.orgA, aiproxy.RoleMember, nil)) + "/"
	}, want: [5]int{403, 403, 204, 204, 204}},
	{name: "read org service settings", pattern: "orgs/{org}/services/{service}/settings", method: "GET", path: "/orgs/org-a/services/heygen/settings/",
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"service":"heygen"`, `"overrides":`}},
	{name: "set org service settings", pattern: "orgs/{org}/services/{service}/settings", method: "PUT", path: "/orgs/org-a/services/heygen/settings/", body: `{"is_enabled": true}`,
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"is_enabled":true`}},
	// A browser token may not mint another.
	{name: "mint browser token", pattern: "orgs/{org}/tokens", method: "POST", path: "/orgs/org-a/tokens/", body: `{"ttl_seconds": 60}`,
		want: [5]int{201, 403, 201, 201, 201}, has: []string{`"token":"aip_`, `"role":"member"`}},
	{name: "read org audit", pattern: "orgs/{org}/audit", method: "GET", path: "/orgs/org-a/audit/",
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"action":"org.create"`}},
	{name: "read platform credential", pattern: "platform-credentials/{credential_name}", method: "GET", prep: setPlatformCred,
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"source":"platform"`}},
	{name: "set platform credential", pattern: "platform-credentials/{credential_name}", method: "PUT", path: "/platform-credentials/heygen/", body: `{"key": "platform-key-1111"}`,
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"key":"****1111"`}},
	{name: "delete platform credential", pattern: "platform-credentials/{credential_name}", method: "DELETE", prep: setPlatformCred,
		want: [5]int{403, 403, 403, 403, 204}, global: true},
	{name: "read global service settings", pattern: "services/{service}/settings", method: "GET", path: "/services/heygen/settings/",
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"service":"heygen"`}},
	{name: "set global service settings", pattern: "services/{service}/settings", method: "PUT", path: "/services/heygen/settings/", body: `{"is_enabled": true}`,
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"is_enabled":true`}},
	{name: "read platform audit", pattern: "audit", method: "GET", path: "/audit/",
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"results":[`}},
	{name: "read org usage", pattern: "orgs/{org}/usage", method: "GET", path: "/orgs/org-a/usage/",
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"results":[`}},
	{name: "read platform usage", pattern: "usage", method: "GET", path: "/usage/?group_by=org",
		want: [5]int{403, 403, 403, 403, 200}, global: true, has: []string{`"results":[`}},
	{name: "list jobs", pattern: "orgs/{org}/jobs", method: "GET", prep: addJobs,
		want: [5]int{200, 200, 200, 200, 200}, has: []string{`"upstream_job_id":"video-of-org-a"`}},
	{name: "read job", pattern: "orgs/{org}/jobs/{id}", method: "GET", prep: func(e *env) string {
		addJobs(e)
		j, err := e.store.JobByUpstreamID(context.Background(), "heygen", "video-of-org-a")
		if err != nil {
			e.t.Fatal(err)
		}
		return "/orgs/org-a/jobs/" + strconv.FormatInt(j.ID, 10) + "/"
	}, want: [5]int{200, 200, 200, 200, 200}, has: []string{`"upstream_job_id":"video-of-org-a"`, `"status":"queued"`}},
	// A completed job: its event stream is one status and done, and ends (the body is an
	// event stream, not JSON, so has is not used).
	{name: "job events", pattern: "orgs/{org}/jobs/{id}/events", method: "GET", prep: func(e *env) string {
		addJobs(e)
		j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: "done-video-of-org-a",
			Source: aiproxy.SourcePlatform, CreatedAt: time.Now(), Status: aiproxy.JobCompleted, ProviderStatus: "completed",
			Result: `{"video_url":"https://example.com/v.mp4"}`, UpdatedAt: time.Now()}
		if err := e.store.CreateJob(context.Background(), j); err != nil && aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
			e.t.Fatal(err)
		}
		j, err := e.store.JobByUpstreamID(context.Background(), "heygen", "done-video-of-org-a")
		if err != nil {
			e.t.Fatal(err)
		}
		return "/orgs/org-a/jobs/" + strconv.FormatInt(j.ID, 10) + "/events/"
	}, want: [5]int{200, 200, 200, 200, 200}},
	{name: "set budget", pattern: "orgs/{org}/budgets/{service}", method: "PUT", path: "/orgs/org-a/budgets/heygen/",
		body: `{"period": "month", "limits": {"requests": 1000}}`,
		want: [5]int{403, 403, 403, 403, 200}, has: []string{`"limits":{"requests":1000}`, `"period":"month"`}},
	{name: "read budget", pattern: "orgs/{org}/budgets/{service}", method: "GET", prep: setBudget,
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"limits":{"requests":1000}`}},
	{name: "delete budget", pattern: "orgs/{org}/budgets/{service}", method: "DELETE", prep: setBudget,
		want: [5]int{403, 403, 403, 403, 204}},
	{name: "set webhook", pattern: "orgs/{org}/webhook", method: "PUT", path: "/orgs/org-a/webhook/",
		body: `{"url": "https://hooks.example.com/org-a", "events": ["job.completed"]}`,
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"url":"https://hooks.example.com/org-a"`, `"secret":"whsec_`, `"events":["job.completed"]`}},
	{name: "read webhook", pattern: "orgs/{org}/webhook", method: "GET", prep: setWebhook,
		want: [5]int{403, 403, 200, 200, 200}, has: []string{`"url":"https://hooks.example.com/org-a"`, `"secret":"whsec_****`}},
	{name: "delete webhook", pattern: "orgs/{org}/webhook", method: "DELETE", prep: setWebhook,
		want: [5]int{403, 403, 204, 204, 204}},
	{name: "list webhook deliveries", pattern: "orgs/{org}/webhook/deliveries", method: "GET", prep: func(e *env) string {
		webhookDelivery(e)
		return "/orgs/org-a/webhook/deliveries/"
	}, want: [5]int{403, 403, 200, 200, 200}, has: []string{`"type":"job.completed"`, `"id":"msg_`}},
	{name: "retry webhook delivery", pattern: "orgs/{org}/webhook/deliveries/{id}/retry", method: "POST", prep: func(e *env) string {
		return "/orgs/org-a/webhook/deliveries/" + webhookDelivery(e) + "/retry/"
	}, want: [5]int{403, 403, 202, 202, 202}, has: []string{`"state":"pending"`}},
	{name: "delete org", pattern: "orgs/{org}", method: "DELETE", path: "/orgs/org-a/",
		want: [5]int{403, 403, 403, 403, 204}},
}

func setBudget(e *env) string {
	per := "month"
	n := int64(1000)
	if _, err := e.mgr.PutBudget(context.Background(), tenancy.CLI, e.orgA, "heygen",
		tenancy.BudgetChange{Period: &per, Limits: map[string]*int64{"requests": &n}}); err != nil {
		e.t.Fatal(err)
	}
	return "/orgs/org-a/budgets/heygen/"
}

// addJobs records a job for each org: a page of org A's jobs names only its own.
func addJobs(e *env) string {
	for _, j := range []*aiproxy.Job{
		{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: "video-of-org-a", Source: aiproxy.SourcePlatform, CreatedAt: time.Now()},
		{OrgID: e.orgB.ID, Service: "heygen", Action: "generate-video", UpstreamID: "video-of-org-b", Source: aiproxy.SourcePlatform, CreatedAt: time.Now()},
	} {
		if err := e.store.CreateJob(context.Background(), j); err != nil && aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
			e.t.Fatal(err)
		}
	}
	return "/orgs/org-a/jobs/"
}

func setWebhook(e *env) string {
	if _, _, err := e.mgr.PutOrgWebhook(context.Background(), tenancy.CLI, e.orgA,
		tenancy.WebhookInput{URL: "https://hooks.example.com/org-a"}, false); err != nil {
		e.t.Fatal(err)
	}
	return "/orgs/org-a/webhook/"
}

// webhookDelivery gives org A a webhook and a job that completes, and returns the id of the
// delivery that put in the outbox.
func webhookDelivery(e *env) string {
	ctx := context.Background()
	setWebhook(e)
	ds, err := e.store.ListWebhookDeliveries(ctx, e.orgA.ID, 0, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ds) > 0 {
		return ds[0].ID
	}
	j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: "hooked-video-of-org-a",
		Source: aiproxy.SourcePlatform, CreatedAt: time.Now()}
	if err := e.store.CreateJob(ctx, j); err != nil {
		e.t.Fatal(err)
	}
	j.Status, j.ProviderStatus, j.UpdatedAt = aiproxy.JobCompleted, "completed", time.Now()
	if err := e.store.UpdateJobStatus(ctx, j); err != nil {
		e.t.Fatal(err)
	}
	if ds, err = e.store.ListWebhookDeliveries(ctx, e.orgA.ID, 0, 1); err != nil || len(ds) != 1 {
		e.t.Fatalf("no delivery in the outbox (%v)", err)
	}
	return ds[0].ID
}

func setPlatformCred(e *env) string {
	e.cred("heygen", aiproxy.SourcePlatform, nil, "platform-key-0000")
	return "/platform-credentials/heygen/"
}

// TestIsolationMatrixCoversEveryRoute: every method of every route the server registers has
// a row in the matrix, so that a new route cannot ship without its isolation checks.
func TestIsolationMatrixCoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	covered := map[string]bool{}
	for _, r := range matrixRows {
		covered[r.method+" "+r.pattern] = true
	}
	n := 0
	for _, rt := range e.api.Routes() {
		if !rt.Authenticated {
			continue
		}
		for _, m := range rt.Methods {
			n++
			if !covered[m+" "+rt.Pattern] {
				t.Errorf("route %s %s has no row in the isolation matrix (matrixRows)", m, rt.Pattern)
			}
		}
	}
	if n == 0 {
		t.Fatal("the server registered no authenticated route")
	}
}

// TestTenantIsolationMatrix: every route × every kind of caller answers the documented
// status with the contract's body (allowed answers are checked for their content too),
// refused calls never reach an upstream, and no answer about org A or about the platform's
// settings carries a byte of org B (its slug, key prefixes, credential fingerprint or last
// four characters) — only the operator's platform-wide lists (orgs, platform audit) name it.
func TestTenantIsolationMatrix(t *testing.T) {
	const (
		notProvided = `{"detail": "Authentication credentials were not provided."}`
		invalid     = `{"detail": "Invalid token."}`
		forbidden   = `{"detail": "You do not have permission to perform this action."}`
	)
	cells := 0
	for _, rt := range matrixRows {
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
				case i < 8:
					want = 401
					assertBody(t, r, 401, invalid)
				case i < firstOwn:
					want = 403
					assertBody(t, r, 403, forbidden)
				default:
					want = rt.want[i-firstOwn]
					switch {
					case want == 403:
						assertBody(t, r, 403, forbidden)
					case want == 204:
						if len(r.Body) != 0 {
							t.Errorf("%s: 204 with a body %q", caller, r.Body)
						}
					case want < 300 && rt.has != nil:
						checkAllowedBody(t, caller, r.Body, rt.has)
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
	t.Logf("%d rows × %d callers = %d cells", len(matrixRows), len(matrixCallers), cells)
}

// checkAllowedBody checks an allowed answer is JSON holding every string of has, once
// compacted (so rows need not care about the encoder's spacing).
func checkAllowedBody(t *testing.T, caller string, body []byte, has []string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s: answer is not JSON: %.200s", caller, body)
		return
	}
	compact, _ := json.Marshal(v)
	for _, h := range has {
		if !strings.Contains(string(compact), h) {
			t.Errorf("%s: answer lacks %s: %.300s", caller, h, compact)
		}
	}
}

// TestScopedKeySeesOnlyItsActions: discovery by a scoped key lists only the actions its
// scopes allow, and the services that have one.
func TestScopedKeySeesOnlyItsActions(t *testing.T) {
	e := newEnv(t)
	scoped := e.key(e.orgA, aiproxy.RoleMember, orgAScopes)
	r := e.do("GET", admAPI+"/orgs/org-a/services/", "Api-Key "+scoped, nil)
	var list []struct{ Slug string }
	if err := json.Unmarshal(r.Body, &list); err != nil || r.Status != 200 {
		t.Fatalf("discovery: %d %s", r.Status, r.Body)
	}
	if len(list) != 1 || list[0].Slug != "heygen" {
		t.Errorf("services seen by a heygen:list-* key: %+v, want heygen alone", list)
	}
	r = e.do("GET", admAPI+"/orgs/org-a/services/heygen/", "Api-Key "+scoped, nil)
	var detail struct{ Endpoints []struct{ Slug string } }
	if err := json.Unmarshal(r.Body, &detail); err != nil || r.Status != 200 {
		t.Fatalf("service detail: %d %s", r.Status, r.Body)
	}
	var slugs []string
	for _, ep := range detail.Endpoints {
		slugs = append(slugs, ep.Slug)
		if !strings.HasPrefix(ep.Slug, "list-") {
			t.Errorf("a heygen:list-* key sees %s", ep.Slug)
		}
	}
	if !slices.Contains(slugs, "list-avatars") {
		t.Errorf("a heygen:list-* key does not see list-avatars: %v", slugs)
	}
}
