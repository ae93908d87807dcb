package tenancy_test

import (
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// setKeyColumn changes one time column of a stored key behind the Manager's back, to put
// a minting key in a state its tokens are not (revoked or expired on its own).
func (e *env) setKeyColumn(id int64, column string, at time.Time) {
	e.t.Helper()
	if _, err := e.store.DB().ExecContext(e.ctx, `UPDATE api_keys SET `+column+` = ? WHERE id = ?`, at.UTC().UnixNano(), id); err != nil {
		e.t.Fatalf("set %s of key %d: %v", column, id, err)
	}
}

func TestAuthenticateWithoutHeaderOrWithUnknownSchemeIsNotAuthenticated(t *testing.T) {
	e := newEnv(t)
	_, secret := e.key(e.org("acme"), aiproxy.RoleAdmin)
	for _, tc := range []struct{ name, header string }{
		{"empty", ""},
		{"blank", "   "},
		{"no scheme", secret},
		{"a scheme not ours", "Basic " + secret},
		{"a scheme and nothing else", "Bearer"},
		{"no space after the scheme", "Bearer:" + secret},
		{"a header name is not a scheme", "X-Api-Key " + secret},
		{"a scheme only by prefix", "Bearerx " + secret},
		{"another real scheme", `Digest username="x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := e.m.Authenticate(e.ctx, tc.header)
			if k != nil {
				t.Fatalf("got key %s", k.Prefix)
			}
			wantErr(t, err, aiproxy.EUNAUTHORIZED, msgNotAuthenticated)
			if err != tenancy.ErrNotAuthenticated {
				t.Fatalf("got %v, want tenancy.ErrNotAuthenticated", err)
			}
		})
	}
}

func TestAuthenticateAcceptsEveryContractSchemeCaseInsensitively(t *testing.T) {
	e := newEnv(t)
	a, secret := e.key(e.org("acme"), aiproxy.RoleMember)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "Api-Key", "api-key", "Api-Token", "Token", "token"} {
		k, err := e.m.Authenticate(e.ctx, scheme+" "+secret)
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if k.ID != a.Key.ID {
			t.Fatalf("%s: got key %d, want %d", scheme, k.ID, a.Key.ID)
		}
	}
}

func TestAuthenticateRefusesUnknownRevokedAndExpiredKeys(t *testing.T) {
	e, acme, admin := newAcme(t)

	// revoked: through RevokeKey.
	revoked, revokedSecret := e.key(acme, aiproxy.RoleMember)
	mustNot(t, e.m.RevokeKey(e.ctx, admin, acme, revoked.Key.Prefix))

	// expired: a one-minute key, then the clock moves on.
	k, expiringSecret, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(60))})
	mustNot(t, err)
	e.clock.Advance(59 * time.Second)
	if _, err := e.auth(expiringSecret); err != nil {
		t.Fatalf("a key one second before its expiry: %v", err)
	}
	e.clock.Advance(time.Second) // now == ExpiresAt: expired
	if !e.clock.Now().Equal(*k.ExpiresAt) {
		t.Fatalf("clock %v, expiry %v", e.clock.Now(), *k.ExpiresAt)
	}

	for name, h := range map[string]string{
		"unknown key":          "Bearer aip_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"unknown short string": "Token nonsense",
		"revoked key":          "Bearer " + revokedSecret,
		"expired key":          "Api-Key " + expiringSecret,
	} {
		t.Run(name, func(t *testing.T) {
			k, err := e.m.Authenticate(e.ctx, h)
			if k != nil {
				t.Fatalf("got key %s", k.Prefix)
			}
			wantInvalidToken(t, err)
			if err != tenancy.ErrInvalidToken {
				t.Fatalf("got %v, want tenancy.ErrInvalidToken", err)
			}
		})
	}
}

// A token's own row may still look active; what kills it is its minting key. These cases
// change only the minting key's row, so they fail if Authenticate stops walking the chain.
func TestTokenIsInvalidOnceItsMintingKeyIsRevokedOrExpired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		column string
	}{
		{"minting key revoked", "revoked_at"},
		{"minting key expired", "expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			acme := e.org("acme")
			parent, _ := e.key(acme, aiproxy.RoleAdmin)
			token, tokenSecret := e.mint(parent, acme, tenancy.TokenRequest{})
			if _, err := e.auth(tokenSecret); err != nil {
				t.Fatalf("a fresh token: %v", err)
			}

			e.setKeyColumn(parent.Key.ID, tc.column, e.clock.Now().Add(-time.Second))
			if k := e.storedKey(token.Key.Prefix); !k.Active(e.clock.Now()) {
				t.Fatalf("the token's own row must still be active for this test to mean anything")
			}
			k, err := e.auth(tokenSecret)
			if k != nil {
				t.Fatalf("got key %s", k.Prefix)
			}
			wantInvalidToken(t, err)
		})
	}
}

func TestAuthenticateReturnsTheKeyOfAValidKeyOrToken(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	admin, adminSecret := e.key(acme, aiproxy.RoleAdmin, "heygen:*")
	k, err := e.auth(adminSecret)
	mustNot(t, err)
	if k.ID != admin.Key.ID || k.OrgID != acme.ID || k.Role != aiproxy.RoleAdmin || k.ParentID != 0 {
		t.Fatalf("got %+v", k)
	}
	if len(k.Scopes) != 1 || k.Scopes[0] != "heygen:*" {
		t.Fatalf("scopes %q", k.Scopes)
	}

	token, tokenSecret := e.mint(admin, acme, tenancy.TokenRequest{})
	k, err = e.m.Authenticate(e.ctx, "  token   "+tokenSecret+"  ")
	mustNot(t, err)
	if k.ID != token.Key.ID || k.ParentID != admin.Key.ID || k.Role != aiproxy.RoleMember || k.OrgID != acme.ID {
		t.Fatalf("got %+v, want the token minted by %d", k, admin.Key.ID)
	}
}
