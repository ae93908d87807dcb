package tenancy_test

import (
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// A key made by a key (through the admin API) never outlives it, never has a higher role,
// never a scope it lacks.

func TestKeyMadeByAnExpiringKeyMustExpireNoLaterThanIt(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	parentExp := e.clock.Now().Add(2 * time.Hour)
	k, _, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleAdmin, ExpiresAt: &parentExp})
	if err != nil {
		t.Fatal(err)
	}
	parent := tenancy.Actor{Key: k}
	limit := parentExp.UTC().Format(time.RFC3339)
	_, _, err = e.m.CreateKey(e.ctx, parent, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember})
	wantErr(t, err, aiproxy.EINVALID, "Field 'expires_at' is required: the key making the request expires at "+limit+", and a key it makes may not outlive it.")
	later := parentExp.Add(time.Second)
	_, _, err = e.m.CreateKey(e.ctx, parent, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: &later})
	wantErr(t, err, aiproxy.EINVALID, "Field 'expires_at' must not be later than "+limit+", when the key making the request expires.")
	_, _, err = e.m.CreateKey(e.ctx, parent, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, TTLSeconds: ptr(int64(3 * 3600))})
	wantErr(t, err, aiproxy.EINVALID, "Field 'expires_at' must not be later than "+limit+", when the key making the request expires.")
	child, _, err := e.m.CreateKey(e.ctx, parent, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, ExpiresAt: &parentExp})
	if err != nil || !child.ExpiresAt.Equal(parentExp) {
		t.Fatalf("a key expiring with its parent: %+v %v", child, err)
	}
}

func TestKeyNeverGetsAHigherRoleThanTheKeyMakingIt(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	admin, _ := e.key(acme, aiproxy.RoleAdmin)
	_, _, err := e.m.CreateKey(e.ctx, admin, tenancy.NewKey{Role: aiproxy.RoleOperator})
	wantForbidden(t, err)
	if _, _, err := e.m.CreateKey(e.ctx, admin, tenancy.NewKey{Org: acme, Role: aiproxy.RoleAdmin}); err != nil {
		t.Fatalf("an admin making an admin key: %v", err)
	}
}

func TestScopesOutsideTheGrammarAreRefusedNamingTheScope(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	for _, bad := range []string{"heygen:[a-z]*", "!heygen:*", "heygen:?ts", "heygen:*list", "HEYGEN:*"} {
		_, _, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{bad}})
		wantErr(t, err, aiproxy.EINVALID, `Field 'scopes' has an invalid pattern "`+bad+`": use service:action, e.g. heygen:* or elevenlabs:tts*.`)
	}
	many := make([]string, apikeys.MaxScopes+1)
	for i := range many {
		many[i] = "heygen:list-voices"
	}
	_, _, err := e.m.CreateKey(e.ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: many})
	wantErr(t, err, aiproxy.EINVALID, "Field 'scopes' may list at most 64 scopes.")
}

func TestAScopedKeyCannotWidenThroughMetacharacters(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	scoped, _ := e.key(acme, aiproxy.RoleAdmin, "heygen:list-*")
	for _, wider := range [][]string{{"heygen:*"}, {"*:list-*"}, {"heygen:list*"}, nil} {
		_, _, err := e.m.CreateKey(e.ctx, scoped, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: wider})
		wantErr(t, err, aiproxy.EINVALID, "Field 'scopes' must not allow more than the scopes of the key making the request.")
		_, _, err = e.m.MintToken(e.ctx, scoped, acme, tenancy.TokenRequest{Scopes: &wider})
		if wider == nil {
			continue // an explicit empty list is refused like the others; nil means "the parent's"
		}
		wantErr(t, err, aiproxy.EINVALID, "Field 'scopes' must not allow more than the scopes of the key minting the token.")
	}
	if _, _, err := e.m.CreateKey(e.ctx, scoped, tenancy.NewKey{Org: acme, Role: aiproxy.RoleMember, Scopes: []string{"heygen:list-voices"}}); err != nil {
		t.Fatalf("a narrower scope: %v", err)
	}
}
