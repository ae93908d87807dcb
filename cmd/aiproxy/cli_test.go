package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// cli runs one command line against db and returns stdout, stderr and the exit status.
func cli(t *testing.T, db string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--db", db)
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func TestCommandLineManagesOrgsKeysCredentialsPoliciesAndServices(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	t.Setenv("AIPROXY_MASTER_KEY", strings.Repeat("ab", 32))
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := cli(t, db, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		return out
	}
	must("org", "create", "acme", "--name", "Acme Inc")
	key := strings.TrimSpace(must("key", "create", "--org", "acme", "--role", "member", "--name", "app"))
	if !strings.HasPrefix(key, "aip_") || strings.Contains(key, "\n") || len(key) != 47 {
		t.Errorf("key create printed %q, want the key alone", key)
	}
	op := strings.TrimSpace(must("key", "create", "--operator"))
	if out, errs, code := cli(t, db, "provider-key-from-stdin\n", "credential", "set", "heygen", "--org", "acme", "--key", "-"); code != 0 {
		t.Fatalf("credential set: %d %s %s", code, out, errs)
	}
	must("credential", "set", "elevenlabs", "--platform", "--key", "platform-eleven-key")
	must("policy", "set", "elevenlabs", "--org", "acme", "--allow-platform=true", "--fallback=true")
	must("service", "disable", "heygen", "--org", "acme")
	must("policy", "set", "heygen", "--org", "acme", "--account-actions", "allow", "--require-idempotency-key=true")
	if _, errs, code := cli(t, db, "", "policy", "set", "heygen", "--org", "acme", "--account-actions", "sometimes"); code != 2 || !strings.Contains(errs, "--account-actions") {
		t.Errorf("--account-actions sometimes: exit %d %q, want 2 naming the flag", code, errs)
	}
	must("key", "revoke", op[:12])

	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	org, err := s.OrgBySlug(ctx, "acme")
	if err != nil || org.Name != "Acme Inc" {
		t.Fatalf("org: %+v %v", org, err)
	}
	k, err := s.APIKeyByHash(ctx, apikeys.Hash(key))
	if err != nil || k.Role != aiproxy.RoleMember || k.Name != "app" || k.OrgID != org.ID {
		t.Errorf("key: %+v %v", k, err)
	}
	if k, err := s.APIKeyByHash(ctx, apikeys.Hash(op)); err != nil || k.RevokedAt == nil || k.Role != aiproxy.RoleOperator {
		t.Errorf("operator key not revoked: %+v %v", k, err)
	}
	c, err := s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, org.ID)
	if err != nil || c.Last4 != "tdin" {
		t.Errorf("tenant credential: %+v %v", c, err)
	}
	if _, err := s.GetCredential(ctx, "elevenlabs", aiproxy.SourcePlatform, 0); err != nil {
		t.Errorf("platform credential: %v", err)
	}
	set, err := s.ServiceSettings(ctx, "elevenlabs", org.ID)
	want := aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourceTenant, FallbackToPlatformKey: true}
	if err != nil || set.Policy == nil || *set.Policy != want {
		t.Errorf("policy: %+v %v", set, err)
	}
	hs, err := s.ServiceSettings(ctx, "heygen", org.ID)
	if err != nil || hs.Enabled == nil || *hs.Enabled {
		t.Errorf("heygen not disabled for acme: %+v %v", hs, err)
	}
	if hs.AccountActions == nil || *hs.AccountActions != tenancy.AccountActionsAllow || hs.RequireIdempotencyKey == nil || !*hs.RequireIdempotencyKey {
		t.Errorf("heygen account actions / idempotency for acme: %v %v", hs.AccountActions, hs.RequireIdempotencyKey)
	}
	entries, _ := s.ListAudit(ctx, org.ID, 0, 100)
	if len(entries) < 5 {
		t.Errorf("%d audit entries for acme, want every change recorded", len(entries))
	}
	for _, e := range entries {
		if strings.Contains(e.Before+e.After, "provider-key-from-stdin") || strings.Contains(e.Before+e.After, key) {
			t.Errorf("audit entry %s holds a secret", e.Action)
		}
	}
}

func TestBadArgumentsExitWithStatus2AndOneLineAndWriteNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	t.Setenv("AIPROXY_MASTER_KEY", strings.Repeat("ab", 32))
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"org"},
		{"org", "create"},
		{"org", "create", "Bad Slug!"},
		{"org", "create", "a", "b"},
		{"key", "create"},
		{"key", "create", "--org", "acme", "--operator"},
		{"key", "create", "--org", "acme", "--role", "owner"},
		{"key", "create", "--operator", "--role", "admin"},
		{"key", "revoke"},
		{"credential", "set", "heygen", "--key", "k"},
		{"credential", "set", "heygen", "--org", "acme"},
		{"credential", "set", "heygen", "--org", "acme", "--platform", "--key", "k"},
		{"credential", "set", "nosuch", "--platform", "--key", "k"},
		{"policy", "set", "heygen"},
		{"policy", "set", "heygen", "--default-source", "nobody"},
		{"policy", "set", "heygen", "--allow-tenant=maybe"},
		{"service", "enable"},
		{"service", "pause", "heygen"},
		{"serve", "--log-format", "xml"},
		{"serve", "--upstream", "heygen"},
		{"secrets", "rotate"},
	} {
		out, errs, code := cli(t, db, "", args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errs)
		}
		if out != "" {
			t.Errorf("%v: printed %q on stdout", args, out)
		}
		if lines := strings.Count(strings.TrimSpace(errs), "\n"); lines > 0 && len(args) > 0 {
			t.Errorf("%v: %d-line error, want one line: %q", args, lines+1, errs)
		}
	}
	// A well-formed command naming an org that does not exist fails without writing.
	if _, _, code := cli(t, db, "", "key", "create", "--org", "nope"); code != 1 {
		t.Errorf("unknown org: exit %d, want 1", code)
	}
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if orgs, _ := s.ListOrgs(context.Background()); len(orgs) != 0 {
		t.Errorf("bad commands wrote %d orgs", len(orgs))
	}
	if keys, _ := s.ListAPIKeys(context.Background(), 0); len(keys) != 0 {
		t.Errorf("bad commands wrote %d operator keys", len(keys))
	}
}

func TestPostgreSQLWithoutAMasterKeyIsRefused(t *testing.T) {
	t.Setenv("AIPROXY_MASTER_KEY", "")
	t.Setenv("AIPROXY_MASTER_KEY_FILE", "")
	dir := t.TempDir()
	t.Chdir(dir)
	// The database is never reached: the missing key is found first.
	_, errs, code := cli(t, "postgres://nobody@127.0.0.1:1/none", "", "credential", "set", "heygen", "--platform", "--key", "k")
	if code != 2 || !strings.Contains(errs, "with PostgreSQL, give the master key") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "aiproxy.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was made up: %v", err)
	}
}

func TestMigrateAppliesTheSchemaAndReportsTheVersion(t *testing.T) {
	db := filepath.Join(t.TempDir(), "fresh.db")
	out, errs, code := cli(t, db, "", "migrate")
	if code != 0 || !strings.HasPrefix(out, "migrated; data version ") {
		t.Fatalf("migrate: exit %d, %q %q", code, out, errs)
	}
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ListOrgs(context.Background()); err != nil {
		t.Errorf("the migrated database has no orgs table: %v", err)
	}
	if _, _, code := cli(t, db, "", "migrate", "extra"); code != 2 {
		t.Errorf("migrate with an argument: exit %d, want 2", code)
	}
}

// TestFlagsWinOverTheEnvironment: an explicit --master-key-file wins over
// AIPROXY_MASTER_KEY, and --db over AIPROXY_DB (docs/operations.md, "Configuration
// precedence"); without the flag the environment is used.
func TestFlagsWinOverTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	envDB := filepath.Join(dir, "from-env.db")
	envKey, fileKey := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	keyFile := filepath.Join(dir, "master.key")
	if err := os.WriteFile(keyFile, []byte(fileKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIPROXY_MASTER_KEY", envKey)
	t.Setenv("AIPROXY_DB", envDB)
	if _, errs, code := cli(t, db, "", "org", "create", "acme"); code != 0 {
		t.Fatalf("org create: %s", errs)
	}
	if _, errs, code := cli(t, db, "", "credential", "set", "heygen", "--org", "acme", "--key", "hg-flag-key-1234", "--master-key-file", keyFile); code != 0 {
		t.Fatalf("credential set with --master-key-file: %s", errs)
	}
	if _, errs, code := cli(t, db, "", "credential", "set", "elevenlabs", "--org", "acme", "--key", "el-env-key-5678"); code != 0 {
		t.Fatalf("credential set with AIPROXY_MASTER_KEY: %s", errs)
	}
	if _, err := os.Stat(envDB); !os.IsNotExist(err) {
		t.Errorf("AIPROXY_DB was used although --db was given: %v", err)
	}
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org, err := s.OrgBySlug(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string]string{"heygen": keyIDOf(t, fileKey), "elevenlabs": keyIDOf(t, envKey)} {
		c, err := s.GetCredential(context.Background(), svc, aiproxy.SourceTenant, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Sealed.KEKID != want {
			t.Errorf("%s sealed under master key %s, want %s", svc, c.Sealed.KEKID, want)
		}
	}
}

// TestKeyRevokeFromTheCommandLineKillsTheTokensTheKeyMinted: the command line revokes
// through the same service layer as the admin API, so a browser token minted by the key
// dies with it.
func TestKeyRevokeFromTheCommandLineKillsTheTokensTheKeyMinted(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	t.Setenv("AIPROXY_MASTER_KEY", strings.Repeat("ab", 32))
	if _, errs, code := cli(t, db, "", "org", "create", "acme"); code != 0 {
		t.Fatal(errs)
	}
	key, errs, code := cli(t, db, "", "key", "create", "--org", "acme", "--role", "member")
	if code != 0 {
		t.Fatal(errs)
	}
	key = strings.TrimSpace(key)
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	m := &tenancy.Manager{Store: s, Catalog: cat}
	ctx := context.Background()
	parent, err := m.Authenticate(ctx, "Api-Key "+key)
	if err != nil {
		t.Fatal(err)
	}
	org, _ := s.OrgBySlug(ctx, "acme")
	_, token, err := m.MintToken(ctx, tenancy.Actor{Key: parent}, org, tenancy.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(ctx, "Bearer "+token); err != nil {
		t.Fatalf("the token does not work before the revocation: %v", err)
	}
	if _, errs, code := cli(t, db, "", "key", "revoke", parent.Prefix); code != 0 {
		t.Fatal(errs)
	}
	if _, err := m.Authenticate(ctx, "Bearer "+token); err != tenancy.ErrInvalidToken {
		t.Errorf("the token minted by a revoked key authenticates: %v", err)
	}
	tok, err := s.APIKeyByHash(ctx, apikeys.Hash(token))
	if err != nil || tok.RevokedAt == nil {
		t.Errorf("the token is not marked revoked in the store: %+v %v", tok, err)
	}
	if _, errs, code := cli(t, db, "", "key", "revoke", "aip_nosuchk"); code != 1 || !strings.Contains(errs, "API key 'aip_nosuchk' not found.") {
		t.Errorf("revoking an unknown prefix: exit %d, %q", code, errs)
	}
}
