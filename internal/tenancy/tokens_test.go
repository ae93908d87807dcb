package tenancy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func TestMintTokenDefaults(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	parent, _ := e.key(acme, aiproxy.RoleAdmin, "heygen:*", "elevenlabs:tts*")
	now := e.clock.Now()

	k, secret, err := e.m.MintToken(e.ctx, parent, acme, tenancy.TokenRequest{})
	mustNot(t, err)
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(now.Add(900*time.Second)) {
		t.Fatalf("expires at %v, want now + 900 s", k.ExpiresAt)
	}
	stored := e.storedKey(k.Prefix)
	if stored.Role != aiproxy.RoleMember || stored.OrgID != acme.ID || stored.ParentID != parent.Key.ID {
		t.Fatalf("stored %+v", stored)
	}
	if stored.Name != "browser token from "+parent.Key.Prefix {
		t.Fatalf("name %q", stored.Name)
	}
	if strings.Join(stored.Scopes, ",") != "heygen:*,elevenlabs:tts*" {
		t.Fatalf("scopes %q, want the minting key's", stored.Scopes)
	}
	if !stored.ExpiresAt.Equal(now.Add(900 * time.Second)) {
		t.Fatalf("stored expiry %v", stored.ExpiresAt)
	}
	// Valid until its expiry, not after.
	e.clock.Advance(899 * time.Second)
	if _, err := e.auth(secret); err != nil {
		t.Fatalf("a token one second before its expiry: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err = e.auth(secret)
	wantInvalidToken(t, err)
	// Audited as the minting key.
	if a := e.audit(acme.ID)[0]; a.Action != "token.create" || a.Actor != parent.Key.Prefix || a.Target != k.Prefix {
		t.Fatalf("audit %+v", a)
	}
}

func TestMintTokenTTLBounds(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	parent, _ := e.key(acme, aiproxy.RoleMember)
	const msg = "Field 'ttl_seconds' must be an integer from 1 to 3600."
	for _, tc := range []struct {
		ttl int64
		ok  bool
	}{{1, true}, {60, true}, {3600, true}, {0, false}, {-1, false}, {3601, false}, {86400, false}} {
		k, _, err := e.m.MintToken(e.ctx, parent, acme, tenancy.TokenRequest{TTLSeconds: ptr(tc.ttl)})
		if !tc.ok {
			wantErr(t, err, aiproxy.EINVALID, msg)
			continue
		}
		mustNot(t, err)
		if want := e.clock.Now().Add(time.Duration(tc.ttl) * time.Second); !k.ExpiresAt.Equal(want) {
			t.Fatalf("ttl %d: expires at %v, want %v", tc.ttl, k.ExpiresAt, want)
		}
	}
}

func TestMintTokenNeverOutlivesItsMintingKey(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	now := e.clock.Now()
	pk, secret, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(600))})
	mustNot(t, err)
	parent := e.actor(secret)
	parentExpiry := now.Add(600 * time.Second)
	if !pk.ExpiresAt.Equal(parentExpiry) {
		t.Fatalf("parent expires at %v", pk.ExpiresAt)
	}
	for _, tc := range []struct {
		ttl  *int64
		want time.Time
	}{
		{nil, parentExpiry}, // default 900 s > 600 s
		{ptr(int64(3600)), parentExpiry},
		{ptr(int64(601)), parentExpiry},
		{ptr(int64(600)), parentExpiry},
		{ptr(int64(599)), now.Add(599 * time.Second)},
		{ptr(int64(60)), now.Add(60 * time.Second)},
	} {
		k, _, err := e.m.MintToken(e.ctx, parent, acme, tenancy.TokenRequest{TTLSeconds: tc.ttl})
		mustNot(t, err)
		if !k.ExpiresAt.Equal(tc.want) {
			t.Errorf("ttl %v: expires at %v, want %v", tc.ttl, k.ExpiresAt, tc.want)
		}
		if got := e.storedKey(k.Prefix).ExpiresAt; !got.Equal(tc.want) {
			t.Errorf("ttl %v: stored expiry %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

func TestMintTokenScopesMustLieWithinTheMintingKeys(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	scoped, _ := e.key(acme, aiproxy.RoleMember, "heygen:*")
	unscoped, _ := e.key(acme, aiproxy.RoleMember)
	const msg = "Field 'scopes' must not allow more than the scopes of the key minting the token."
	for _, tc := range []struct {
		name   string
		parent tenancy.Actor
		scopes []string
		msg    string // "" = accepted
	}{
		{"narrower", scoped, []string{"heygen:list-*"}, ""},
		{"the same", scoped, []string{"heygen:*"}, ""},
		{"another service", scoped, []string{"elevenlabs:tts"}, msg},
		{"empty list: everything", scoped, []string{}, msg},
		{"every service", scoped, []string{"*:*"}, msg},
		{"invalid pattern", scoped, []string{"heygen"}, `Field 'scopes' has an invalid pattern "heygen": use service:action, e.g. heygen:* or elevenlabs:tts*.`},
		{"unscoped parent, scoped token", unscoped, []string{"elevenlabs:tts"}, ""},
		{"unscoped parent, empty list", unscoped, []string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scopes := tc.scopes
			k, _, err := e.m.MintToken(e.ctx, tc.parent, acme, tenancy.TokenRequest{Scopes: &scopes})
			e.wantStoredScopes(t, k, err, tc.msg, tc.scopes)
		})
	}
}

func TestMintTokenName(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	parent, _ := e.key(acme, aiproxy.RoleMember)
	k, _, err := e.m.MintToken(e.ctx, parent, acme, tenancy.TokenRequest{Name: ptr("checkout page")})
	mustNot(t, err)
	if got := e.storedKey(k.Prefix).Name; got != "checkout page" {
		t.Fatalf("name %q", got)
	}
	_, _, err = e.m.MintToken(e.ctx, parent, acme, tenancy.TokenRequest{Name: ptr(strings.Repeat("x", 201))})
	wantErr(t, err, aiproxy.EINVALID, "Field 'name' must be at most 200 characters.")
}

func TestTokenMayNotMint(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	parent, _ := e.key(acme, aiproxy.RoleAdmin)
	token, _ := e.mint(parent, acme, tenancy.TokenRequest{})
	before := len(e.listKeys(acme.ID))
	k, secret, err := e.m.MintToken(e.ctx, token, acme, tenancy.TokenRequest{})
	if k != nil || secret != "" {
		t.Fatalf("a token minted %v", k)
	}
	wantForbidden(t, err)
	if n := len(e.listKeys(acme.ID)); n != before {
		t.Fatalf("%d keys stored, want %d", n, before)
	}
}

func TestCLIMayNotMint(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	_, _, err := e.m.MintToken(e.ctx, tenancy.CLI, acme, tenancy.TokenRequest{})
	wantForbidden(t, err)
	wantForbidden(t, tenancy.MayMint(tenancy.CLI, acme))
	if n := len(e.listKeys(acme.ID)); n != 0 {
		t.Fatalf("%d keys stored", n)
	}
}

func TestOperatorMintsATokenBoundToTheOrg(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	op := e.operator()
	token, _ := e.mint(op, acme, tenancy.TokenRequest{})
	if token.Key.OrgID != acme.ID || token.Key.Role != aiproxy.RoleMember || token.Key.ParentID != op.Key.ID {
		t.Fatalf("token %+v", token.Key)
	}
	// It is a member key of acme: it may not administer it, nor reach another org.
	_, err := e.m.Org(e.ctx, token, "acme", tenancy.Admin)
	wantForbidden(t, err)
	_, err = e.m.Discover(e.ctx, token, e.org("globex"))
	wantForbidden(t, err)
}
