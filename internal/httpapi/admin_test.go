package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

const admAPI = "/api/ai-proxy"

const (
	admNotProvided = `{"detail": "Authentication credentials were not provided."}`
	admInvalid     = `{"detail": "Invalid token."}`
	admForbidden   = `{"detail": "You do not have permission to perform this action."}`
)

// admCall sends a JSON admin request with key ("" for none).
func (e *env) admCall(method, path, key, body string) response {
	e.t.Helper()
	authz := ""
	if key != "" {
		authz = "Api-Key " + key
	}
	return e.do(method, admAPI+path, authz, strings.NewReader(body), "Content-Type", "application/json")
}

// admJSON decodes a response body into v.
func admJSON(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.Body)
	}
}

func admPrefix(key string) string { return key[:12] }

func TestAdminRoutesAnswerEachKindOfCaller(t *testing.T) {
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
	// Callers in the order they are tried: the org-a admin and the operator last, so that
	// destructive requests (deleting org-a) run after the others have been refused.
	callers := []string{"no key", "member of org-a", "admin of org-b", "admin of org-a", "operator"}
	for _, tc := range []struct {
		name, method, path, body string
		prep                     func(e *env) string // runs before each call; returns the path
		want                     [5]int
	}{
		{"list orgs", "GET", "/orgs/", "", nil, [5]int{401, 403, 403, 403, 200}},
		{"create org", "POST", "/orgs/", `{"slug": "org-c", "name": "C"}`, nil, [5]int{401, 403, 403, 403, 201}},
		{"read org", "GET", "/orgs/org-a/", "", nil, [5]int{401, 403, 403, 200, 200}},
		{"read unknown org", "GET", "/orgs/nope/", "", nil, [5]int{401, 403, 403, 403, 404}},
		{"set org cors origins", "PATCH", "/orgs/org-a/", `{"cors_origins": ["https://app.example.com"]}`, nil, [5]int{401, 403, 403, 200, 200}},
		{"delete org", "DELETE", "/orgs/org-a/", "", nil, [5]int{401, 403, 403, 403, 204}},
		{"read tenant credential", "GET", "/orgs/org-a/credentials/heygen/", "", nil, [5]int{401, 403, 403, 200, 200}},
		{"set tenant credential", "PUT", "/orgs/org-a/credentials/heygen/", `{"key": "hg-new-key-1234"}`, nil, [5]int{401, 403, 403, 200, 200}},
		{"delete tenant credential", "DELETE", "", "", setTenantCred, [5]int{401, 403, 403, 204, 204}},
		{"list keys", "GET", "/orgs/org-a/keys/", "", nil, [5]int{401, 403, 403, 200, 200}},
		{"create key", "POST", "/orgs/org-a/keys/", `{"name": "ci", "role": "member"}`, nil, [5]int{401, 403, 403, 201, 201}},
		{"revoke key", "DELETE", "", "", newMemberKey, [5]int{401, 403, 403, 204, 204}},
		{"read org service settings", "GET", "/orgs/org-a/services/heygen/settings/", "", nil, [5]int{401, 403, 403, 200, 200}},
		{"set org service settings", "PUT", "/orgs/org-a/services/heygen/settings/", `{"is_enabled": true}`, nil, [5]int{401, 403, 403, 200, 200}},
		{"mint browser token", "POST", "/orgs/org-a/tokens/", `{"ttl_seconds": 60}`, nil, [5]int{401, 201, 403, 201, 201}},
		{"read org audit", "GET", "/orgs/org-a/audit/", "", nil, [5]int{401, 403, 403, 200, 200}},
		{"read platform credential", "GET", "", "", setPlatformCred, [5]int{401, 403, 403, 403, 200}},
		{"set platform credential", "PUT", "/platform-credentials/heygen/", `{"key": "platform-key-1111"}`, nil, [5]int{401, 403, 403, 403, 200}},
		{"delete platform credential", "DELETE", "", "", setPlatformCred, [5]int{401, 403, 403, 403, 204}},
		{"read global service settings", "GET", "/services/heygen/settings/", "", nil, [5]int{401, 403, 403, 403, 200}},
		{"set global service settings", "PUT", "/services/heygen/settings/", `{"is_enabled": true}`, nil, [5]int{401, 403, 403, 403, 200}},
		{"read platform audit", "GET", "/audit/", "", nil, [5]int{401, 403, 403, 403, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			keys := []string{"", e.memberA, e.adminB, e.adminA, e.operator}
			for i, key := range keys {
				path := tc.path
				if tc.prep != nil {
					path = tc.prep(e)
				}
				r := e.admCall(tc.method, path, key, tc.body)
				if r.Status != tc.want[i] {
					t.Errorf("%s: status %d, want %d (body %s)", callers[i], r.Status, tc.want[i], r.Body)
					continue
				}
				switch r.Status {
				case 401:
					assertBody(t, r, 401, admNotProvided)
				case 403:
					assertBody(t, r, 403, admForbidden)
				}
			}
		})
	}
}

func TestAdminRoutesRefuseBrowserTokens(t *testing.T) {
	e := newEnv(t)
	r := e.admCall("POST", "/orgs/org-a/tokens/", e.adminA, `{}`)
	if r.Status != 201 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	token := r.json(t)["token"].(string)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/orgs/org-a/tokens/", `{}`},
		{"GET", "/orgs/org-a/", ""},
		{"GET", "/orgs/org-a/keys/", ""},
		{"POST", "/orgs/org-a/keys/", `{"role": "admin"}`},
		{"PUT", "/orgs/org-a/credentials/heygen/", `{"key": "x"}`},
		{"PUT", "/orgs/org-a/services/heygen/settings/", `{"is_enabled": false}`},
		{"GET", "/orgs/org-a/audit/", ""},
		{"GET", "/orgs/", ""},
	} {
		assertBody(t, e.admCall(c.method, c.path, token, c.body), 403, admForbidden)
	}
}

func TestAdminInvalidInputIs400NamingTheField(t *testing.T) {
	e := newEnv(t)
	const cred = "/orgs/org-a/credentials/heygen/"
	const keyMsg = `{"error": "Field 'key' must be a non-empty string."}`
	const notObject = `{"error": "Request body must be a JSON object."}`
	for _, tc := range []struct {
		name, method, path, key, body string
		status                        int
		want                          string
	}{
		{"credential body an array", "PUT", cred, e.adminA, `[]`, 400, notObject},
		{"credential body not JSON", "PUT", cred, e.adminA, `{"key":`, 400, notObject},
		{"credential body two objects", "PUT", cred, e.adminA, `{"key": "a"} {}`, 400, notObject},
		{"credential key missing", "PUT", cred, e.adminA, `{}`, 400, keyMsg},
		{"credential empty body", "PUT", cred, e.adminA, ``, 400, keyMsg},
		{"credential key empty", "PUT", cred, e.adminA, `{"key": ""}`, 400, keyMsg},
		{"credential key blank", "PUT", cred, e.adminA, `{"key": "  "}`, 400, keyMsg},
		{"credential key a number", "PUT", cred, e.adminA, `{"key": 12}`, 400, keyMsg},
		{"credential key null", "PUT", cred, e.adminA, `{"key": null}`, 400, keyMsg},
		{"credential key an object", "PUT", cred, e.adminA, `{"key": {"key": "x"}}`, 400, keyMsg},
		{"credential key with a newline", "PUT", cred, e.adminA, `{"key": "a\nb"}`, 400, `{"error": "Field 'key' must not contain spaces or control characters."}`},
		{"credential unknown field", "PUT", cred, e.adminA, `{"key": "abc", "source": "platform"}`, 400, `{"error": "Unknown field 'source'."}`},
		{"credential unknown fields", "PUT", cred, e.adminA, `{"key": "abc", "zone": 1, "org": "b"}`, 400, `{"error": "Unknown fields 'org', 'zone'."}`},
		{"credential field in another case", "PUT", cred, e.adminA, `{"KEY": "abc"}`, 400, `{"error": "Unknown field 'KEY'."}`},
		{"credential name unknown", "PUT", "/orgs/org-a/credentials/nope/", e.adminA, `{"key": "abc"}`, 404, `{"detail": "Credential 'nope' is not used by any external proxy service."}`},
		{"credential not stored", "GET", "/platform-credentials/heygen/", e.operator, ``, 404, `{"detail": "No platform credential 'heygen' is stored."}`},

		{"key role unknown", "POST", "/orgs/org-a/keys/", e.adminA, `{"role": "owner"}`, 400, `{"error": "Field 'role' must be 'admin' or 'member'."}`},
		{"key role operator", "POST", "/orgs/org-a/keys/", e.operator, `{"role": "operator"}`, 400, `{"error": "Field 'role' must be 'admin' or 'member'."}`},
		{"key scopes not a list", "POST", "/orgs/org-a/keys/", e.adminA, `{"scopes": "heygen:*"}`, 400, `{"error": "Field 'scopes' must be a list of strings like heygen:* or elevenlabs:tts."}`},
		{"key scope malformed", "POST", "/orgs/org-a/keys/", e.adminA, `{"scopes": ["heygen"]}`, 400, `{"error": "Field 'scopes' has an invalid pattern \"heygen\": use service:action, e.g. heygen:* or elevenlabs:tts*."}`},
		{"key expires_at not a time", "POST", "/orgs/org-a/keys/", e.adminA, `{"expires_at": "tomorrow"}`, 400, `{"error": "Field 'expires_at' must be an RFC 3339 time or null."}`},
		{"key expires_at past", "POST", "/orgs/org-a/keys/", e.adminA, `{"expires_at": "2001-01-01T00:00:00Z"}`, 400, `{"error": "Field 'expires_at' must be in the future."}`},
		{"key ttl negative", "POST", "/orgs/org-a/keys/", e.adminA, `{"ttl_seconds": -5}`, 400, `{"error": "Field 'ttl_seconds' must be a positive integer."}`},
		{"key expires_at and ttl", "POST", "/orgs/org-a/keys/", e.adminA, `{"expires_at": "2999-01-01T00:00:00Z", "ttl_seconds": 5}`, 400, `{"error": "Fields 'expires_at' and 'ttl_seconds' exclude each other: send one."}`},
		{"key unknown field", "POST", "/orgs/org-a/keys/", e.adminA, `{"org": "org-b"}`, 400, `{"error": "Unknown field 'org'."}`},
		{"key of another org revoked", "DELETE", "/orgs/org-a/keys/" + admPrefix(e.adminB) + "/", e.adminA, ``, 404, `{"detail": "API key '` + admPrefix(e.adminB) + `' not found."}`},

		{"token ttl too long", "POST", "/orgs/org-a/tokens/", e.memberA, `{"ttl_seconds": 3601}`, 400, `{"error": "Field 'ttl_seconds' must be an integer from 1 to 3600."}`},
		{"token ttl zero", "POST", "/orgs/org-a/tokens/", e.memberA, `{"ttl_seconds": 0}`, 400, `{"error": "Field 'ttl_seconds' must be an integer from 1 to 3600."}`},
		{"token ttl fractional", "POST", "/orgs/org-a/tokens/", e.memberA, `{"ttl_seconds": 1.5}`, 400, `{"error": "Field 'ttl_seconds' must be an integer from 1 to 3600."}`},
		{"token ttl a string", "POST", "/orgs/org-a/tokens/", e.memberA, `{"ttl_seconds": "60"}`, 400, `{"error": "Field 'ttl_seconds' must be an integer from 1 to 3600."}`},
		{"token scope malformed", "POST", "/orgs/org-a/tokens/", e.memberA, `{"scopes": ["a:b:c"]}`, 400, `{"error": "Field 'scopes' has an invalid pattern \"a:b:c\": use service:action, e.g. heygen:* or elevenlabs:tts*."}`},

		{"org slug missing", "POST", "/orgs/", e.operator, `{"name": "x"}`, 400, `{"error": "Field 'slug' is required."}`},
		{"org slug invalid", "POST", "/orgs/", e.operator, `{"slug": "Bad Slug"}`, 400, `{"error": "Field 'slug' must be 1-64 lowercase letters, digits or inner hyphens: \"Bad Slug\"."}`},
		{"org slug taken", "POST", "/orgs/", e.operator, `{"slug": "org-a"}`, 409, `{"detail": "Organization 'org-a' already exists."}`},
		{"cors origins missing", "PATCH", "/orgs/org-a/", e.adminA, `{}`, 400, `{"error": "Field 'cors_origins' must be a list of origins like https://app.example.com."}`},
		{"cors origins a string", "PATCH", "/orgs/org-a/", e.adminA, `{"cors_origins": "https://a.example"}`, 400, `{"error": "Field 'cors_origins' must be a list of origins like https://app.example.com."}`},
		{"cors origin with a path", "PATCH", "/orgs/org-a/", e.adminA, `{"cors_origins": ["https://a.example/app"]}`, 400, `{"error": "Field 'cors_origins' must list origins like https://app.example.com, not \"https://a.example/app\"."}`},
		{"cors origin a wildcard", "PATCH", "/orgs/org-a/", e.adminA, `{"cors_origins": ["*"]}`, 400, `{"error": "Field 'cors_origins' must list origins like https://app.example.com, not \"*\"."}`},
		{"org name set by patch", "PATCH", "/orgs/org-a/", e.adminA, `{"cors_origins": [], "name": "x"}`, 400, `{"error": "Unknown field 'name'."}`},

		{"settings empty", "PUT", "/orgs/org-a/services/heygen/settings/", e.adminA, `{}`, 400, `{"error": "Request body must set 'is_enabled', 'credential_policy', 'account_actions' or 'require_idempotency_key'."}`},
		{"settings is_enabled a string", "PUT", "/orgs/org-a/services/heygen/settings/", e.adminA, `{"is_enabled": "yes"}`, 400, `{"error": "Field 'is_enabled' must be true, false or null."}`},
		{"settings policy by an org admin", "PUT", "/orgs/org-a/services/heygen/settings/", e.adminA, `{"credential_policy": {"allow_platform_key": true}}`, 403, admForbidden},
		{"settings policy removal by an org admin", "PUT", "/orgs/org-a/services/heygen/settings/", e.adminA, `{"credential_policy": null}`, 403, admForbidden},
		{"settings policy not an object", "PUT", "/services/heygen/settings/", e.operator, `{"credential_policy": 3}`, 400, `{"error": "Field 'credential_policy' must be an object or null."}`},
		{"settings policy unknown field", "PUT", "/services/heygen/settings/", e.operator, `{"credential_policy": {"allow_all": true}}`, 400, `{"error": "Unknown field 'credential_policy.allow_all'."}`},
		{"settings policy bad source", "PUT", "/services/heygen/settings/", e.operator, `{"credential_policy": {"default_source": "org"}}`, 400, `{"error": "Field 'credential_policy.default_source' must be 'tenant' or 'platform'."}`},
		{"settings policy flag not a boolean", "PUT", "/orgs/org-a/services/heygen/settings/", e.operator, `{"credential_policy": {"allow_tenant_key": "yes"}}`, 400, `{"error": "Field 'credential_policy.allow_tenant_key' must be a boolean."}`},
		{"settings of an unknown service", "GET", "/orgs/org-a/services/nope/settings/", e.adminA, ``, 404, `{"detail": "External proxy service 'nope' not found or disabled."}`},

		{"audit limit zero", "GET", "/orgs/org-a/audit/?limit=0", e.adminA, ``, 400, `{"error": "Query parameter 'limit' must be an integer from 1 to 200."}`},
		{"audit before not a number", "GET", "/orgs/org-a/audit/?before=x", e.adminA, ``, 400, `{"error": "Query parameter 'before' must be a positive integer (an audit entry id)."}`},
		{"admin method not served", "PATCH", "/orgs/org-a/keys/", e.adminA, `{}`, 405, `{"detail": "Method \"PATCH\" not allowed."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertBody(t, e.admCall(tc.method, tc.path, tc.key, tc.body), tc.status, tc.want)
		})
	}
}

func TestCredentialsAreWriteOnlyAndNeverAudited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const secret = "hg-rotated-secret-value-9876"
	r := e.admCall("PUT", "/orgs/org-a/credentials/heygen/", e.adminA, `{"key": "`+secret+`"}`)
	if r.Status != 200 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	assertJSONField(t, r, "key", `"****9876"`)
	assertJSONField(t, r, "credential_name", `"heygen"`)
	assertJSONField(t, r, "source", `"tenant"`)
	if _, ok := r.json(t)["fingerprint"].(string); !ok {
		t.Errorf("no fingerprint: %s", r.Body)
	}
	pr := e.admCall("PUT", "/platform-credentials/elevenlabs/", e.operator, `{"key": "`+secret+`-platform"}`)
	if pr.Status != 200 {
		t.Fatalf("put platform: %d %s", pr.Status, pr.Body)
	}
	// Invoking uses the new key.
	if r := e.invoke("heygen", "list-avatars", `{}`); r.Status != 200 || e.up.last(t).Header.Get("X-Api-Key") != secret {
		t.Fatalf("invoke after rotation: %d, upstream key %q", r.Status, e.up.last(t).Header.Get("X-Api-Key"))
	}
	var bodies []string
	for _, c := range []struct{ path, key string }{
		{"/orgs/org-a/credentials/heygen/", e.adminA},
		{"/orgs/org-a/credentials/heygen/", e.operator},
		{"/platform-credentials/elevenlabs/", e.operator},
		{"/orgs/org-a/audit/", e.adminA},
		{"/audit/", e.operator},
		{"/orgs/org-a/", e.adminA},
		{"/orgs/org-a/keys/", e.adminA},
		{"/orgs/org-a/services/heygen/settings/", e.adminA},
	} {
		r := e.admCall("GET", c.path, c.key, "")
		if r.Status != 200 {
			t.Errorf("GET %s: %d %s", c.path, r.Status, r.Body)
		}
		bodies = append(bodies, string(r.Body))
	}
	bodies = append(bodies, string(r.Body), string(pr.Body), e.logs.String())
	for _, orgID := range []int64{e.orgA.ID, 0} {
		entries, err := e.store.ListAudit(ctx, orgID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			bodies = append(bodies, en.Actor+en.Action+en.Target+en.Before+en.After)
		}
	}
	for _, b := range bodies {
		if strings.Contains(b, secret) || strings.Contains(b, heygenKey) || strings.Contains(b, secret[:20]) {
			t.Errorf("a provider key leaked: %s", b)
		}
	}
	// DELETE removes it: invoking finds no credential.
	if r := e.admCall("DELETE", "/orgs/org-a/credentials/heygen/", e.adminA, ""); r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.admCall("GET", "/orgs/org-a/credentials/heygen/", e.adminA, ""), 404, `{"detail": "No tenant credential 'heygen' is stored."}`)
	assertBody(t, e.admCall("DELETE", "/orgs/org-a/credentials/heygen/", e.adminA, ""), 404, `{"detail": "No tenant credential 'heygen' is stored."}`)
	assertBody(t, e.invoke("heygen", "list-avatars", `{}`), 404, `{"detail": "No allowed credentials found for external proxy service 'heygen'."}`)
}

func TestKeyCreatedOverTheAPIInvokesUntilRevoked(t *testing.T) {
	e := newEnv(t)
	r := e.admCall("POST", "/orgs/org-a/keys/", e.adminA, `{"name": "backend", "role": "member", "scopes": ["heygen:*"], "ttl_seconds": 3600}`)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var created struct {
		Key, Prefix, Name, Role string
		Scopes                  []string
		ExpiresAt               *string `json:"expires_at"`
		RevokedAt               *string `json:"revoked_at"`
		IsToken                 bool    `json:"is_token"`
	}
	admJSON(t, r, &created)
	if !strings.HasPrefix(created.Key, created.Prefix) || created.Name != "backend" || created.Role != "member" ||
		len(created.Scopes) != 1 || created.ExpiresAt == nil || created.RevokedAt != nil || created.IsToken {
		t.Fatalf("created key: %s", r.Body)
	}
	if r := e.invokeAs(created.Key, "org-a", "heygen", "list-avatars", `{}`); r.Status != 200 {
		t.Fatalf("invoke with the new key: %d %s", r.Status, r.Body)
	}
	// Its scopes hold: elevenlabs is out of reach.
	assertBody(t, e.invokeAs(created.Key, "org-a", "elevenlabs", "list-voices", `{}`), 403, admForbidden)

	list := e.admCall("GET", "/orgs/org-a/keys/", e.adminA, "")
	if strings.Contains(string(list.Body), created.Key) {
		t.Fatalf("the key list shows a secret: %s", list.Body)
	}
	var page struct {
		Results []map[string]any `json:"results"`
		Next    *string          `json:"next"`
	}
	admJSON(t, list, &page)
	if page.Next != nil || len(page.Results) != 3 {
		t.Fatalf("list: %s", list.Body)
	}
	if page.Results[0]["prefix"] != created.Prefix {
		t.Errorf("newest key is not first: %s", list.Body)
	}
	for _, f := range []string{"prefix", "name", "role", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"} {
		if _, ok := page.Results[0][f]; !ok {
			t.Errorf("list item lacks %q: %v", f, page.Results[0])
		}
	}

	if r := e.admCall("DELETE", "/orgs/org-a/keys/"+created.Prefix+"/", e.adminA, ""); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.invokeAs(created.Key, "org-a", "heygen", "list-avatars", `{}`), 401, admInvalid)
	// Revoking again is harmless.
	if r := e.admCall("DELETE", "/orgs/org-a/keys/"+created.Prefix+"/", e.adminA, ""); r.Status != 204 {
		t.Errorf("revoke again: %d %s", r.Status, r.Body)
	}
	// Org B's admin cannot revoke org A's keys, even naming them under org B.
	assertBody(t, e.admCall("DELETE", "/orgs/org-b/keys/"+admPrefix(e.memberA)+"/", e.adminB, ""), 404,
		`{"detail": "API key '`+admPrefix(e.memberA)+`' not found."}`)
	if r := e.invokeAs(e.memberA, "org-a", "heygen", "list-avatars", `{}`); r.Status != 200 {
		t.Errorf("org A's member key stopped working: %d", r.Status)
	}
}

func TestAdminCannotCreateKeysBroaderThanItsOwn(t *testing.T) {
	e := newEnv(t)
	scoped := e.key(e.orgA, aiproxy.RoleAdmin, []string{"heygen:*"})
	const broader = `{"error": "Field 'scopes' must not allow more than the scopes of the key making the request."}`
	assertBody(t, e.admCall("POST", "/orgs/org-a/keys/", scoped, `{"role": "admin"}`), 400, broader)
	assertBody(t, e.admCall("POST", "/orgs/org-a/keys/", scoped, `{"scopes": ["elevenlabs:*"]}`), 400, broader)
	assertBody(t, e.admCall("POST", "/orgs/org-a/keys/", scoped, `{"scopes": ["*:*"]}`), 400, broader)
	if r := e.admCall("POST", "/orgs/org-a/keys/", scoped, `{"scopes": ["heygen:list-*"]}`); r.Status != 201 {
		t.Errorf("narrower key: %d %s", r.Status, r.Body)
	}
	if r := e.admCall("POST", "/orgs/org-a/keys/", e.adminA, `{"role": "admin"}`); r.Status != 201 {
		t.Errorf("unscoped admin creating an unscoped key: %d %s", r.Status, r.Body)
	}
}

func TestBrowserTokens(t *testing.T) {
	e := newEnv(t)
	mint := func(key, body string) (response, map[string]any) {
		t.Helper()
		r := e.admCall("POST", "/orgs/org-a/tokens/", key, body)
		if r.Status != 201 {
			return r, nil
		}
		return r, r.json(t)
	}

	t.Run("a member key mints a token limited to its scopes and lifetime", func(t *testing.T) {
		before := time.Now()
		r, tok := mint(e.memberA, `{"scopes": ["heygen:list-avatars"], "ttl_seconds": 120}`)
		if tok == nil {
			t.Fatalf("mint: %d %s", r.Status, r.Body)
		}
		token := tok["token"].(string)
		if !strings.HasPrefix(token, tok["prefix"].(string)) || tok["role"] != "member" {
			t.Errorf("token answer: %s", r.Body)
		}
		assertJSONField(t, r, "scopes", `["heygen:list-avatars"]`)
		exp, err := time.Parse(time.RFC3339, tok["expires_at"].(string))
		if err != nil || exp.Before(before.Add(118*time.Second)) || exp.After(time.Now().Add(121*time.Second)) {
			t.Errorf("expires_at %v, want about two minutes from now", tok["expires_at"])
		}
		if r := e.invokeAs(token, "org-a", "heygen", "list-avatars", `{}`); r.Status != 200 {
			t.Errorf("invoke within scopes: %d %s", r.Status, r.Body)
		}
		assertBody(t, e.invokeAs(token, "org-a", "heygen", "list-voices", `{}`), 403, admForbidden)
		assertBody(t, e.invokeAs(token, "org-b", "heygen", "list-avatars", `{}`), 403, admForbidden)
		// Discovery shows only what it may invoke.
		d := e.do("GET", admAPI+"/orgs/org-a/services/", "Api-Key "+token, nil)
		if d.Status != 200 || strings.Contains(string(d.Body), "elevenlabs") {
			t.Errorf("discovery with a token: %d %s", d.Status, d.Body)
		}
		// A token mints nothing.
		assertBody(t, e.admCall("POST", "/orgs/org-a/tokens/", token, `{"scopes": ["heygen:list-avatars"]}`), 403, admForbidden)
	})

	t.Run("the default lifetime is 900 seconds and the scopes are the minting key's", func(t *testing.T) {
		scoped := e.key(e.orgA, aiproxy.RoleMember, []string{"heygen:*"})
		r, tok := mint(scoped, `{}`)
		if tok == nil {
			t.Fatalf("mint: %d %s", r.Status, r.Body)
		}
		assertJSONField(t, r, "scopes", `["heygen:*"]`)
		exp, _ := time.Parse(time.RFC3339, tok["expires_at"].(string))
		if d := time.Until(exp); d < 890*time.Second || d > 901*time.Second {
			t.Errorf("default lifetime %v", d)
		}
	})

	t.Run("scopes beyond the minting key's are refused", func(t *testing.T) {
		scoped := e.key(e.orgA, aiproxy.RoleMember, []string{"heygen:list-*"})
		const wider = `{"error": "Field 'scopes' must not allow more than the scopes of the key minting the token."}`
		for _, body := range []string{`{"scopes": ["heygen:*"]}`, `{"scopes": ["elevenlabs:tts"]}`, `{"scopes": []}`} {
			r, _ := mint(scoped, body)
			assertBody(t, r, 400, wider)
		}
	})

	t.Run("a token expires", func(t *testing.T) {
		r, tok := mint(e.adminA, `{"ttl_seconds": 1}`)
		if tok == nil {
			t.Fatalf("mint: %d %s", r.Status, r.Body)
		}
		token := tok["token"].(string)
		if r := e.invokeAs(token, "org-a", "heygen", "list-avatars", `{}`); r.Status != 200 {
			t.Fatalf("fresh token: %d %s", r.Status, r.Body)
		}
		time.Sleep(1100 * time.Millisecond)
		assertBody(t, e.invokeAs(token, "org-a", "heygen", "list-avatars", `{}`), 401, admInvalid)
	})

	t.Run("revoking the minting key revokes its tokens", func(t *testing.T) {
		parent := e.key(e.orgA, aiproxy.RoleMember, nil)
		r, tok := mint(parent, `{"ttl_seconds": 600}`)
		if tok == nil {
			t.Fatalf("mint: %d %s", r.Status, r.Body)
		}
		list := e.admCall("GET", "/orgs/org-a/keys/", e.adminA, "")
		if !strings.Contains(string(list.Body), `"is_token":true`) || !strings.Contains(string(list.Body), tok["prefix"].(string)) {
			t.Errorf("the key list does not show the token: %s", list.Body)
		}
		if r := e.admCall("DELETE", "/orgs/org-a/keys/"+admPrefix(parent)+"/", e.adminA, ""); r.Status != 204 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		assertBody(t, e.invokeAs(tok["token"].(string), "org-a", "heygen", "list-avatars", `{}`), 401, admInvalid)
	})
}

func TestOrgSettingsSwitchAServiceForTheOrg(t *testing.T) {
	e := newEnv(t)
	const path = "/orgs/org-a/services/heygen/settings/"
	assertBody(t, e.admCall("GET", path, e.adminA, ""), 200, `{"service": "heygen", "is_enabled": true, "account_actions": "refuse", "require_idempotency_key": false,
		"credential_policy": {"allow_tenant_key": true, "allow_platform_key": false, "default_source": "tenant", "fallback_to_platform_key": false},
		"overrides": {"service": "heygen", "is_enabled": null, "credential_policy": null, "account_actions": null, "require_idempotency_key": null}}`)
	r := e.admCall("PUT", path, e.adminA, `{"is_enabled": false}`)
	if r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	assertJSONField(t, r, "is_enabled", `false`)
	assertJSONField(t, r, "overrides", `{"service": "heygen", "account_actions": null, "require_idempotency_key": null, "is_enabled": false, "credential_policy": null}`)
	assertBody(t, e.invoke("heygen", "list-avatars", `{}`), 403, admForbidden)
	d := e.do("GET", admAPI+"/orgs/org-a/services/", "Api-Key "+e.adminA, nil)
	if strings.Contains(string(d.Body), `"heygen"`) {
		t.Errorf("discovery lists a service disabled for the org: %s", d.Body)
	}
	// Org B is untouched.
	e.cred("heygen", aiproxy.SourceTenant, e.orgB, "hg-org-b-key")
	if r := e.invokeAs(e.adminB, "org-b", "heygen", "list-avatars", `{}`); r.Status != 200 {
		t.Errorf("org B: %d %s", r.Status, r.Body)
	}
	// null removes the override: the service is back.
	r = e.admCall("PUT", path, e.adminA, `{"is_enabled": null}`)
	assertJSONField(t, r, "is_enabled", `true`)
	assertJSONField(t, r, "overrides", `{"service": "heygen", "account_actions": null, "require_idempotency_key": null, "is_enabled": null, "credential_policy": null}`)
	if r := e.invoke("heygen", "list-avatars", `{}`); r.Status != 200 {
		t.Errorf("after removing the override: %d %s", r.Status, r.Body)
	}
	// Disabled globally by an operator: 404 for every org, and the org's GET says so.
	if r := e.admCall("PUT", "/services/heygen/settings/", e.operator, `{"is_enabled": false}`); r.Status != 200 {
		t.Fatalf("global disable: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.invoke("heygen", "list-avatars", `{}`), 404, `{"detail": "External proxy service 'heygen' not found or disabled."}`)
	assertJSONField(t, e.admCall("GET", path, e.adminA, ""), "is_enabled", `false`)
}

func TestOperatorPolicyOverrideThenRemoval(t *testing.T) {
	e := newEnv(t)
	const path = "/orgs/org-a/services/heygen/settings/"
	const platformKey = "hg-platform-key-4242"
	if r := e.admCall("PUT", "/platform-credentials/heygen/", e.operator, `{"key": "`+platformKey+`"}`); r.Status != 200 {
		t.Fatalf("platform key: %d %s", r.Status, r.Body)
	}
	if r := e.admCall("DELETE", "/orgs/org-a/credentials/heygen/", e.adminA, ""); r.Status != 204 {
		t.Fatalf("delete tenant key: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.invoke("heygen", "list-avatars", `{}`), 404, `{"detail": "No allowed credentials found for external proxy service 'heygen'."}`)

	// A partial object is merged over the policy in force (the catalog's tenant-only).
	r := e.admCall("PUT", path, e.operator, `{"credential_policy": {"allow_platform_key": true, "fallback_to_platform_key": true}}`)
	if r.Status != 200 {
		t.Fatalf("override: %d %s", r.Status, r.Body)
	}
	const merged = `{"allow_tenant_key": true, "allow_platform_key": true, "default_source": "tenant", "fallback_to_platform_key": true}`
	assertJSONField(t, r, "credential_policy", merged)
	assertJSONField(t, r, "overrides", `{"service": "heygen", "account_actions": null, "require_idempotency_key": null, "is_enabled": null, "credential_policy": `+merged+`}`)
	if r := e.invoke("heygen", "list-avatars", `{}`); r.Status != 200 || e.up.last(t).Header.Get("X-Api-Key") != platformKey {
		t.Fatalf("invoke with the platform fallback: %d %s", r.Status, r.Body)
	}
	// Org admins see the effective policy.
	assertJSONField(t, e.admCall("GET", path, e.adminA, ""), "credential_policy", merged)
	// Only org A is affected.
	assertJSONField(t, e.admCall("GET", "/orgs/org-b/services/heygen/settings/", e.adminB, ""), "credential_policy",
		`{"allow_tenant_key": true, "allow_platform_key": false, "default_source": "tenant", "fallback_to_platform_key": false}`)

	// null removes the override: back to tenant-only.
	r = e.admCall("PUT", path, e.operator, `{"credential_policy": null}`)
	assertJSONField(t, r, "credential_policy", `{"allow_tenant_key": true, "allow_platform_key": false, "default_source": "tenant", "fallback_to_platform_key": false}`)
	assertJSONField(t, r, "overrides", `{"service": "heygen", "account_actions": null, "require_idempotency_key": null, "is_enabled": null, "credential_policy": null}`)
	assertBody(t, e.invoke("heygen", "list-avatars", `{}`), 404, `{"detail": "No allowed credentials found for external proxy service 'heygen'."}`)

	// The global level: operators set it on …/services/{service}/settings/.
	r = e.admCall("PUT", "/services/heygen/settings/", e.operator, `{"credential_policy": {"default_source": "platform", "allow_platform_key": true}}`)
	assertJSONField(t, r, "credential_policy", `{"allow_tenant_key": true, "allow_platform_key": true, "default_source": "platform", "fallback_to_platform_key": false}`)
	if r := e.invoke("heygen", "list-avatars", `{}`); r.Status != 200 || e.up.last(t).Header.Get("X-Api-Key") != platformKey {
		t.Fatalf("invoke with the global policy: %d %s", r.Status, r.Body)
	}
}

func TestAuditTrailIsNewestFirstPaginatedAndSecretFree(t *testing.T) {
	e := newEnv(t)
	const secret = "hg-audit-secret-abcdef-1234"
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/orgs/org-a/", `{"cors_origins": ["https://app.example.com"]}`},
		{"PUT", "/orgs/org-a/credentials/heygen/", `{"key": "` + secret + `"}`},
		{"PUT", "/orgs/org-a/services/elevenlabs/settings/", `{"is_enabled": false}`},
		{"POST", "/orgs/org-a/keys/", `{"name": "audited"}`},
	} {
		if r := e.admCall(c.method, c.path, e.adminA, c.body); r.Status >= 300 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	type entry struct {
		ID                    int64
		Actor, Action, Target string
		Before, After         json.RawMessage
		CreatedAt             string `json:"created_at"`
	}
	var all []entry
	path := "/orgs/org-a/audit/?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		r := e.admCall("GET", path, e.adminA, "")
		if r.Status != 200 || strings.Contains(string(r.Body), secret) {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		var page struct {
			Results []entry `json:"results"`
			Next    *string `json:"next"`
		}
		admJSON(t, r, &page)
		if len(page.Results) > 2 {
			t.Fatalf("limit ignored: %d results", len(page.Results))
		}
		all = append(all, page.Results...)
		path = ""
		if page.Next != nil {
			// No public URL is configured: the link is relative, never built from Host.
			if !strings.HasPrefix(*page.Next, admAPI+"/orgs/org-a/audit/?") {
				t.Fatalf("next = %q, want a relative link to this route", *page.Next)
			}
			path = strings.TrimPrefix(*page.Next, admAPI)
		}
	}
	// newEnv's own changes (org.create, key.create ×2, credential.set ×3), then ours.
	if len(all) != 10 {
		t.Fatalf("%d entries, want 10: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("not newest first: %+v", all)
		}
	}
	want := []string{"key.create", "service.settings", "credential.set", "org.update"}
	for i, action := range want {
		if all[i].Action != action || all[i].Actor != admPrefix(e.adminA) {
			t.Errorf("entry %d = %s by %s, want %s by %s", i, all[i].Action, all[i].Actor, action, admPrefix(e.adminA))
		}
	}
	var after map[string]any
	if err := json.Unmarshal(all[2].After, &after); err != nil || after["key"] != "****1234" {
		t.Errorf("credential.set after = %s", all[2].After)
	}
	// Org B's admin does not see org A's trail; operators do.
	assertBody(t, e.admCall("GET", "/orgs/org-a/audit/", e.adminB, ""), 403, admForbidden)
	if r := e.admCall("GET", "/orgs/org-a/audit/?limit=1", e.operator, ""); r.Status != 200 || !strings.Contains(string(r.Body), `"key.create"`) {
		t.Errorf("operator reading org A's audit: %d %s", r.Status, r.Body)
	}
	// The last page says there is no next one.
	r := e.admCall("GET", fmt.Sprintf("/orgs/org-a/audit/?limit=5&before=%d", all[5].ID), e.adminA, "")
	assertJSONField(t, r, "next", `null`)
}

func TestOperatorManagesOrgs(t *testing.T) {
	e := newEnv(t)
	r := e.admCall("POST", "/orgs/", e.operator, `{"slug": "org-c", "name": "Org C"}`)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	assertJSONField(t, r, "slug", `"org-c"`)
	assertJSONField(t, r, "name", `"Org C"`)
	assertJSONField(t, r, "cors_origins", `[]`)
	list := e.admCall("GET", "/orgs", e.operator, "")
	var page struct {
		Results []map[string]any `json:"results"`
		Next    *string          `json:"next"`
	}
	admJSON(t, list, &page)
	if len(page.Results) != 3 || page.Next != nil {
		t.Errorf("orgs: %s", list.Body)
	}
	// An org admin reads and sets its own origins.
	r = e.admCall("PATCH", "/orgs/org-a", e.adminA, `{"cors_origins": ["https://a.example", "http://localhost:3000", "https://a.example"]}`)
	assertJSONField(t, r, "cors_origins", `["https://a.example", "http://localhost:3000"]`)
	assertJSONField(t, e.admCall("GET", "/orgs/org-a/", e.adminA, ""), "cors_origins", `["https://a.example", "http://localhost:3000"]`)
	// Deleting an org removes its keys.
	if r := e.admCall("DELETE", "/orgs/org-b/", e.operator, ""); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.admCall("GET", "/orgs/org-b/", e.operator, ""), 404, `{"detail": "Organization 'org-b' not found."}`)
	assertBody(t, e.admCall("GET", "/orgs/org-b/", e.adminB, ""), 401, admInvalid)
}
