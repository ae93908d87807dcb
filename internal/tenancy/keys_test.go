package tenancy_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func TestCreateKeyValidation(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	now := e.clock.Now()
	const (
		msgRole        = "Field 'role' must be 'admin' or 'member'."
		msgOperatorOrg = "Field 'role': operator keys belong to no org, and org keys are admin or member."
		msgName        = "Field 'name' must be at most 200 characters."
		msgExpiresAt   = "Field 'expires_at' must be in the future."
		msgExclusive   = "Fields 'expires_at' and 'ttl_seconds' exclude each other: send one."
		msgTTL         = "Field 'ttl_seconds' must be a positive integer."
	)
	scopeMsg := func(p string) string {
		return `Field 'scopes' has an invalid pattern "` + p + `": use service:action, e.g. heygen:* or elevenlabs:tts*.`
	}
	for _, tc := range []struct {
		name string
		nk   tenancy.NewKey
		msg  string // "" = accepted
	}{
		{"admin", tenancy.NewKey{Org: acme, Role: aiproxy.RoleAdmin}, ""},
		{"member", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember}, ""},
		{"operator role in an org", tenancy.NewKey{Org: acme, Role: aiproxy.RoleOperator}, msgRole},
		{"no role", tenancy.NewKey{Org: acme}, msgRole},
		{"unknown role", tenancy.NewKey{Org: acme, Role: "owner"}, msgRole},
		{"operator key", tenancy.NewKey{Role: aiproxy.RoleOperator}, ""},
		{"admin without org", tenancy.NewKey{Role: aiproxy.RoleAdmin}, msgOperatorOrg},
		{"member without org", tenancy.NewKey{Role: aiproxy.RoleMember}, msgOperatorOrg},
		{"name of 200 bytes", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Name: strings.Repeat("n", 200)}, ""},
		{"name of 201 bytes", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Name: strings.Repeat("n", 201)}, msgName},
		{"name of 101 two-byte runes", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Name: strings.Repeat("é", 101)}, msgName},
		{"scopes", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen:*", "elevenlabs:tts*", "*:list-*"}}, ""},
		{"scope without action", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen"}}, scopeMsg("heygen")},
		{"scope with empty action", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen:"}}, scopeMsg("heygen:")},
		{"scope with empty service", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{":tts"}}, scopeMsg(":tts")},
		{"scope with two colons", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen:a:b"}}, scopeMsg("heygen:a:b")},
		{"scope with a bad pattern", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen:*", "heygen:[a"}}, scopeMsg("heygen:[a")},
		{"expires in the future", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: ptr(now.Add(time.Second))}, ""},
		{"expires now", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: ptr(now)}, msgExpiresAt},
		{"expired", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: ptr(now.Add(-time.Hour))}, msgExpiresAt},
		{"ttl and expires_at", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: ptr(now.Add(time.Hour)), TTLSeconds: ptr(int64(60))}, msgExclusive},
		{"ttl 1", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(1))}, ""},
		{"ttl 0", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(0))}, msgTTL},
		{"ttl negative", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(-60))}, msgTTL},
		{"ttl a hundred years", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(100 * 365 * 24 * 3600))}, ""},
		{"ttl beyond a hundred years", tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(100*365*24*3600 + 1))}, msgTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keysBefore := len(e.listKeys(acme.ID)) + len(e.listKeys(0))
			k, secret, err := e.m.CreateKey(e.ctx, tenancy.CLI, tc.nk)
			if tc.msg != "" {
				wantErr(t, err, aiproxy.EINVALID, tc.msg)
				if k != nil || secret != "" {
					t.Fatalf("got a key with the error")
				}
				if n := len(e.listKeys(acme.ID)) + len(e.listKeys(0)); n != keysBefore {
					t.Fatalf("a refused key was stored")
				}
				return
			}
			mustNot(t, err)
			if got, err := e.auth(secret); err != nil || got.ID != k.ID {
				t.Fatalf("the new key does not authenticate: %v", err)
			}
			if !strings.HasPrefix(secret, k.Prefix) || k.Hash != apikeys.Hash(secret) {
				t.Fatalf("prefix %q / hash do not belong to the secret", k.Prefix)
			}
		})
	}
}

func (e *env) listKeys(orgID int64) []*aiproxy.APIKey {
	e.t.Helper()
	keys, err := e.store.ListAPIKeys(e.ctx, orgID)
	if err != nil {
		e.t.Fatalf("ListAPIKeys: %v", err)
	}
	return keys
}

func TestCreateKeyExpiry(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	now := e.clock.Now()

	k, _, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(3600))})
	mustNot(t, err)
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("ttl_seconds 3600: expires at %v, want %v", k.ExpiresAt, now.Add(time.Hour))
	}
	at := now.Add(48 * time.Hour)
	k, _, err = e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: &at})
	mustNot(t, err)
	if stored := e.storedKey(k.Prefix); stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(at) {
		t.Fatalf("expires_at: stored %v, want %v", stored.ExpiresAt, at)
	}
	k, _, err = e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember})
	mustNot(t, err)
	if stored := e.storedKey(k.Prefix); stored.ExpiresAt != nil {
		t.Fatalf("a key without expiry expires at %v", stored.ExpiresAt)
	}
}

func TestCreateKeyScopesMustLieWithinTheCreators(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	scopedAdmin, _ := e.key(acme, aiproxy.RoleAdmin, "heygen:*")
	unscopedAdmin, _ := e.key(acme, aiproxy.RoleAdmin)
	const msg = "Field 'scopes' must not allow more than the scopes of the key making the request."
	for _, tc := range []struct {
		name   string
		a      tenancy.Actor
		scopes []string
		msg    string // "" = accepted
	}{
		{"narrower", scopedAdmin, []string{"heygen:list-*"}, ""},
		{"the same", scopedAdmin, []string{"heygen:*"}, ""},
		{"one action", scopedAdmin, []string{"heygen:generate-video", "heygen:video-status"}, ""},
		{"another service", scopedAdmin, []string{"elevenlabs:tts"}, msg},
		{"one scope too many", scopedAdmin, []string{"heygen:list-*", "elevenlabs:tts"}, msg},
		{"every service", scopedAdmin, []string{"*:*"}, msg},
		{"no scopes: everything", scopedAdmin, nil, msg},
		{"unscoped creator, scoped key", unscopedAdmin, []string{"elevenlabs:*"}, ""},
		{"unscoped creator, unscoped key", unscopedAdmin, nil, ""},
		{"the command line", tenancy.CLI, []string{"*:*"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, _, err := e.m.CreateKey(e.ctx, tc.a, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: tc.scopes})
			e.wantStoredScopes(t, k, err, tc.msg, tc.scopes)
		})
	}
}

func TestOperatorKeysOnlyByOperators(t *testing.T) {
	e, _, admin := newAcme(t)
	op := e.operator()
	for _, a := range []tenancy.Actor{op, tenancy.CLI} {
		k, _, err := e.m.CreateKey(e.ctx, a, tenancy.NewKey{Role: aiproxy.RoleOperator, Name: "ops"})
		mustNot(t, err)
		if k.OrgID != 0 || k.Role != aiproxy.RoleOperator {
			t.Fatalf("got %+v", k)
		}
	}
	before := len(e.listKeys(0))
	for _, role := range []aiproxy.Role{aiproxy.RoleOperator, aiproxy.RoleAdmin} {
		_, _, err := e.m.CreateKey(e.ctx, admin, tenancy.NewKey{Role: role})
		wantForbidden(t, err)
	}
	if after := len(e.listKeys(0)); after != before {
		t.Fatalf("an admin created an operator key")
	}
	// Nor may an admin revoke one.
	opKey := e.listKeys(0)[0]
	wantForbidden(t, e.m.RevokeKey(e.ctx, admin, nil, opKey.Prefix))
	if e.storedKey(opKey.Prefix).RevokedAt != nil {
		t.Fatalf("an admin revoked an operator key")
	}
	mustNot(t, e.m.RevokeKey(e.ctx, op, nil, opKey.Prefix))
}

func TestAdminMakesKeysOnlyForItsOwnOrg(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	admin, _ := e.key(acme, aiproxy.RoleAdmin)
	k, _, err := e.m.CreateKey(e.ctx, admin, tenancy.NewKey{Org: acme, Role: aiproxy.RoleAdmin})
	mustNot(t, err)
	if k.OrgID != acme.ID {
		t.Fatalf("org %d", k.OrgID)
	}
	_, _, err = e.m.CreateKey(e.ctx, admin, tenancy.NewKey{Org: globex, Role: aiproxy.RoleMember})
	wantForbidden(t, err)
	if n := len(e.listKeys(globex.ID)); n != 0 {
		t.Fatalf("globex has %d keys", n)
	}
}

func TestRevokeKeyOfAnotherOrgThroughAnOrgIsNotFound(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	acmeAdmin, _ := e.key(acme, aiproxy.RoleAdmin)
	globexKey, globexSecret := e.key(globex, aiproxy.RoleMember)
	opKey, opSecret := e.key(nil, aiproxy.RoleOperator)
	for name, a := range map[string]tenancy.Actor{"acme admin": acmeAdmin, "operator": opKey, "cli": tenancy.CLI} {
		t.Run(name, func(t *testing.T) {
			for _, prefix := range []string{globexKey.Key.Prefix, opKey.Key.Prefix, "aip_nothing"} {
				err := e.m.RevokeKey(e.ctx, a, acme, prefix)
				wantErr(t, err, aiproxy.ENOTFOUND, "API key '"+prefix+"' not found.")
			}
		})
	}
	for _, s := range []string{globexSecret, opSecret} {
		if _, err := e.auth(s); err != nil {
			t.Fatalf("a key revoked through another org: %v", err)
		}
	}
	// Without an org, an unknown prefix is not found either.
	wantErr(t, e.m.RevokeKey(e.ctx, tenancy.CLI, nil, "aip_nothing"), aiproxy.ENOTFOUND, "API key 'aip_nothing' not found.")
	if n := e.auditActions(acme.ID)["key.revoke"] + e.auditActions(globex.ID)["key.revoke"] + e.auditActions(0)["key.revoke"]; n != 0 {
		t.Fatalf("%d key.revoke entries for refused revocations", n)
	}
}

func TestRevokeIsIdempotentAndAuditedOnce(t *testing.T) {
	e, acme, admin := newAcme(t)
	victim, _ := e.key(acme, aiproxy.RoleMember)
	revokedAt := e.clock.Now()

	mustNot(t, e.m.RevokeKey(e.ctx, admin, acme, victim.Key.Prefix))
	e.clock.Advance(time.Hour)
	mustNot(t, e.m.RevokeKey(e.ctx, admin, acme, victim.Key.Prefix))
	mustNot(t, e.m.RevokeKey(e.ctx, tenancy.CLI, nil, victim.Key.Prefix))

	if got := e.storedKey(victim.Key.Prefix).RevokedAt; got == nil || !got.Equal(revokedAt) {
		t.Fatalf("revoked_at %v, want the first revocation %v", got, revokedAt)
	}
	var revokes []*aiproxy.AuditEntry
	for _, a := range e.audit(acme.ID) {
		if a.Action == "key.revoke" {
			revokes = append(revokes, a)
		}
	}
	if len(revokes) != 1 {
		t.Fatalf("%d key.revoke entries, want 1", len(revokes))
	}
	if r := revokes[0]; r.Actor != admin.Key.Prefix || r.Target != victim.Key.Prefix || r.OrgID != acme.ID {
		t.Fatalf("audit entry %+v", r)
	}
	if !strings.Contains(revokes[0].Before, `"revoked_at":null`) || !strings.Contains(revokes[0].After, `"revoked_at":"`+revokedAt.Format(time.RFC3339)+`"`) {
		t.Fatalf("before %s after %s", revokes[0].Before, revokes[0].After)
	}
}

func TestListKeysHidesSpentTokensButNotRevokedKeys(t *testing.T) {
	e, acme, admin := newAcme(t)
	revoked, _ := e.key(acme, aiproxy.RoleMember)
	mustNot(t, e.m.RevokeKey(e.ctx, admin, acme, revoked.Key.Prefix))
	live, _ := e.mint(admin, acme, tenancy.TokenRequest{TTLSeconds: ptr(int64(3600))})
	expiring, _ := e.mint(admin, acme, tenancy.TokenRequest{TTLSeconds: ptr(int64(60))})
	e.clock.Advance(2 * time.Minute)

	keys, err := e.m.ListKeys(e.ctx, admin, acme)
	mustNot(t, err)
	got := map[string]bool{}
	for _, k := range keys {
		got[k.Prefix] = true
	}
	for _, p := range []string{admin.Key.Prefix, revoked.Key.Prefix, live.Key.Prefix} {
		if !got[p] {
			t.Errorf("%s missing from the list", p)
		}
	}
	if got[expiring.Key.Prefix] {
		t.Errorf("an expired token is listed")
	}
	if len(keys) != 3 {
		t.Errorf("%d keys listed, want 3", len(keys))
	}
}

func TestConcurrentRevocationsOfOneKeyAreAuditedOnce(t *testing.T) {
	e, acme, admin := newAcme(t)
	for trial := 0; trial < 20; trial++ {
		victim, _ := e.key(acme, aiproxy.RoleMember)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.m.RevokeKey(e.ctx, admin, acme, victim.Key.Prefix); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		n := 0
		for _, a := range e.audit(acme.ID) {
			if a.Action == "key.revoke" && a.Target == victim.Key.Prefix {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("trial %d: %d key.revoke entries for one key revoked by 4 concurrent calls, want 1", trial, n)
		}
	}
}

func TestRevokeRefusesAWholeKeyWithoutEchoingIt(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	_, secret := e.key(acme, aiproxy.RoleMember)
	err := e.m.RevokeKey(e.ctx, tenancy.CLI, nil, secret)
	wantErr(t, err, aiproxy.EINVALID, "Give the key's prefix (its first 12 characters), not the whole key.")
	if k, _ := e.auth(secret); k == nil {
		t.Fatal("the key was revoked although the request was refused")
	}
}

func TestExpiresAtBeyondAHundredYearsIsRefused(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	far := e.clock.Now().AddDate(101, 0, 0)
	_, _, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: &far})
	wantErr(t, err, aiproxy.EINVALID, "Field 'expires_at' must be within 100 years.")
}
