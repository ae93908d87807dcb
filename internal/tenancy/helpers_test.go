package tenancy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The contract's texts (docs/contract.md §2, §9), written out here rather than taken from
// the package so that a change of wording fails these tests.
const (
	msgNotAuthenticated = "Authentication credentials were not provided."
	msgInvalidToken     = "Invalid token."
	msgForbidden        = "You do not have permission to perform this action."
)

// fakeClock is the Manager's clock in tests: it moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Manager over a real SQLite store in a temporary directory.
type env struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	store *sqlite.Store
	clock *fakeClock
	cat   *catalog.Catalog
	key1  []byte // the master key credentials are sealed with
	kr    *masterkeys.Keyring
	vault *providerkeys.Vault
	m     *tenancy.Manager
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "aiproxy.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	key1, err := masterkeys.CreateKeyFile(filepath.Join(dir, "master-1.key"))
	if err != nil {
		t.Fatalf("CreateKeyFile: %v", err)
	}
	kr, err := masterkeys.NewKeyring(key1)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	cat, err := catalog.Builtin()
	if err != nil {
		t.Fatalf("catalog.Builtin: %v", err)
	}
	clock := &fakeClock{t: time.Date(2031, 3, 14, 9, 26, 53, 0, time.UTC)}
	vault := &providerkeys.Vault{Store: store, Keyring: kr}
	m := &tenancy.Manager{Store: store, Vault: vault, Catalog: cat, Now: clock.Now}
	return &env{t: t, ctx: ctx, dir: dir, store: store, clock: clock, cat: cat, key1: key1, kr: kr, vault: vault, m: m}
}

// newAcme is the commonest cast: an env with the org acme and an admin key of it.
func newAcme(t *testing.T) (*env, *aiproxy.Org, tenancy.Actor) {
	t.Helper()
	e := newEnv(t)
	acme := e.org("acme")
	admin, _ := e.key(acme, aiproxy.RoleAdmin)
	return e, acme, admin
}

// org creates an org through the command line.
func (e *env) org(slug string) *aiproxy.Org {
	e.t.Helper()
	o, err := e.m.CreateOrg(e.ctx, tenancy.CLI, slug, "")
	if err != nil {
		e.t.Fatalf("CreateOrg(%q): %v", slug, err)
	}
	return o
}

// reloadOrg reads the org as stored.
func (e *env) reloadOrg(o *aiproxy.Org) *aiproxy.Org {
	e.t.Helper()
	got, err := e.store.OrgByID(e.ctx, o.ID)
	if err != nil {
		e.t.Fatalf("OrgByID(%d): %v", o.ID, err)
	}
	return got
}

// key creates an API key through the command line (org nil: an operator key) and returns
// the actor presenting it, as Authenticate sees it, and its secret.
func (e *env) key(org *aiproxy.Org, role aiproxy.Role, scopes ...string) (tenancy.Actor, string) {
	e.t.Helper()
	nk := tenancy.NewKey{Org: org, Name: fmt.Sprintf("%s key", role), Role: role, Scopes: scopes}
	_, secret, err := e.m.CreateKey(e.ctx, tenancy.CLI, nk)
	if err != nil {
		e.t.Fatalf("CreateKey(%s): %v", role, err)
	}
	return e.actor(secret), secret
}

// operator returns an operator key's actor.
func (e *env) operator() tenancy.Actor {
	e.t.Helper()
	a, _ := e.key(nil, aiproxy.RoleOperator)
	return a
}

// mint mints a browser token from a's key and returns the token's actor and secret.
func (e *env) mint(a tenancy.Actor, org *aiproxy.Org, tr tenancy.TokenRequest) (tenancy.Actor, string) {
	e.t.Helper()
	_, secret, err := e.m.MintToken(e.ctx, a, org, tr)
	if err != nil {
		e.t.Fatalf("MintToken: %v", err)
	}
	return e.actor(secret), secret
}

// actor authenticates secret and returns it as an actor.
func (e *env) actor(secret string) tenancy.Actor {
	e.t.Helper()
	k, err := e.auth(secret)
	if err != nil {
		e.t.Fatalf("Authenticate a fresh key: %v", err)
	}
	return tenancy.Actor{Key: k}
}

func (e *env) auth(secret string) (*aiproxy.APIKey, error) {
	return e.m.Authenticate(e.ctx, "Bearer "+secret)
}

// storedKey reads a key as stored.
func (e *env) storedKey(prefix string) *aiproxy.APIKey {
	e.t.Helper()
	k, err := e.store.APIKeyByPrefix(e.ctx, prefix)
	if err != nil {
		e.t.Fatalf("APIKeyByPrefix(%q): %v", prefix, err)
	}
	return k
}

// audit returns the whole trail of an org (0: the platform's), newest first.
func (e *env) audit(orgID int64) []*aiproxy.AuditEntry {
	e.t.Helper()
	entries, err := e.store.ListAudit(e.ctx, orgID, 0, 0)
	if err != nil {
		e.t.Fatalf("ListAudit(%d): %v", orgID, err)
	}
	return entries
}

// auditActions counts an org's trail entries by action.
func (e *env) auditActions(orgID int64) map[string]int {
	e.t.Helper()
	n := map[string]int{}
	for _, a := range e.audit(orgID) {
		n[a.Action]++
	}
	return n
}

func (e *env) service(slug string) *catalog.Service {
	e.t.Helper()
	svc, err := e.m.Service(slug)
	if err != nil {
		e.t.Fatalf("Service(%q): %v", slug, err)
	}
	return svc
}

// wantErr fails unless err is an *aiproxy.Error with that code and, when msg is not empty,
// exactly that message.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %q", code, msg)
	}
	if aiproxy.AsError(err) == nil {
		t.Fatalf("got %v, want an *aiproxy.Error with code %s", err, code)
	}
	if got := aiproxy.ErrorCode(err); got != code {
		t.Fatalf("got code %s (%v), want %s %q", got, err, code, msg)
	}
	if msg != "" {
		if got := aiproxy.ErrorMessage(err); got != msg {
			t.Fatalf("got message %q, want %q", got, msg)
		}
	}
}

// wantStoredScopes checks the outcome of creating k (a key or a token) with scopes: refused
// as invalid with msg when msg is not empty, else stored with exactly those scopes.
func (e *env) wantStoredScopes(t *testing.T, k *aiproxy.APIKey, err error, msg string, scopes []string) {
	t.Helper()
	if msg != "" {
		wantErr(t, err, aiproxy.EINVALID, msg)
		return
	}
	mustNot(t, err)
	if got := e.storedKey(k.Prefix).Scopes; strings.Join(got, ",") != strings.Join(scopes, ",") {
		t.Fatalf("stored scopes %q, want %q", got, scopes)
	}
}

func wantForbidden(t *testing.T, err error) {
	t.Helper()
	wantErr(t, err, aiproxy.EFORBIDDEN, msgForbidden)
}

func wantInvalidToken(t *testing.T, err error) {
	t.Helper()
	wantErr(t, err, aiproxy.EUNAUTHORIZED, msgInvalidToken)
}

func mustNot(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
