package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// cliActor is who the audit trail says made a change from the command line.
const cliActor = "cli"

// adminEnv is what the administration commands share: the database, and lazily the
// catalog and the keyring.
type adminEnv struct {
	db, catalogDir, keyFile string
	stdout                  io.Writer
}

func addCommonFlags(fs *flag.FlagSet, e *adminEnv) {
	fs.StringVar(&e.db, "db", envOr("AIPROXY_DB", defaultDB), "SQLite file or postgres:// URL")
	fs.StringVar(&e.catalogDir, "catalog-dir", envOr("AIPROXY_CATALOG_DIR", ""), "directory of extra catalog files")
	fs.StringVar(&e.keyFile, "master-key-file", "", "master key file")
}

// manager opens the store and returns a tenancy manager over it. Arguments have all been
// checked before this is called, so a bad command line never touches the database.
func (e *adminEnv) manager(ctx context.Context, needKeys bool) (*tenancy.Manager, func(), error) {
	cat, err := catalog.Open(e.catalogDir)
	if err != nil {
		return nil, nil, err
	}
	var kr *masterkeys.Keyring
	if needKeys {
		ks, err := loadMasterKeys(e.db, e.keyFile)
		if err != nil {
			return nil, nil, err
		}
		if ks.created {
			ks.log(slog.New(slog.NewTextHandler(stderrOf(e), nil)))
		}
		if kr, err = ks.keyring(); err != nil {
			return nil, nil, err
		}
	}
	store, err := openStore(ctx, e.db)
	if err != nil {
		return nil, nil, err
	}
	m := &tenancy.Manager{Store: store, Catalog: cat, Vault: &providerkeys.Vault{Store: store, Keyring: kr}}
	return m, func() { store.Close() }, nil
}

func runAdmin(ctx context.Context, cmd, sub string, args []string, stdin io.Reader, stdout io.Writer) error {
	e := &adminEnv{stdout: stdout}
	name := cmd + " " + sub
	fs := newFlags(name)
	addCommonFlags(fs, e)
	switch cmd + " " + sub {
	case "org create":
		orgName := fs.String("name", "", "display name")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("org create: want exactly one SLUG")
		}
		if !tenancy.ValidSlug(pos[0]) {
			return usagef("org create: invalid slug %q: use lowercase letters, digits and inner hyphens", pos[0])
		}
		m, done, err := e.manager(ctx, false)
		if err != nil {
			return err
		}
		defer done()
		o, err := m.CreateOrg(ctx, cliActor, pos[0], *orgName)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, o.Slug)
		return nil

	case "org set-rate-limit":
		perMinute := fs.Int("per-minute", 0, "invokes per minute (0: the deployment default)")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("org set-rate-limit: want exactly one SLUG")
		}
		if !wasSet(fs, "per-minute") {
			return usagef("org set-rate-limit: --per-minute N is required (0: the deployment default)")
		}
		if *perMinute < 0 || *perMinute > tenancy.MaxRateLimitPerMinute {
			return usagef("org set-rate-limit: --per-minute must be from 0 to %d", tenancy.MaxRateLimitPerMinute)
		}
		m, done, err := e.manager(ctx, false)
		if err != nil {
			return err
		}
		defer done()
		o, err := m.Store.OrgBySlug(ctx, pos[0])
		if err != nil {
			return orgError(err, pos[0])
		}
		return m.SetRateLimit(ctx, cliActor, o, *perMinute)

	case "key create":
		org := fs.String("org", "", "org slug")
		operator := fs.Bool("operator", false, "create an operator key (bound to no org)")
		role := fs.String("role", "admin", "admin or member")
		keyName := fs.String("name", "", "a name to recognise the key by")
		scopes := fs.String("scopes", "", "comma-separated service:action patterns (default: all)")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("key create: unexpected argument %q", pos[0])
		}
		if *operator == (*org != "") {
			return usagef("key create: give exactly one of --org SLUG or --operator")
		}
		nk := tenancy.NewKey{Name: *keyName, Role: aiproxy.Role(*role), Scopes: splitList(*scopes)}
		if *operator {
			if wasSet(fs, "role") {
				return usagef("key create: --role does not go with --operator")
			}
			nk.Role = aiproxy.RoleOperator
		} else if nk.Role != aiproxy.RoleAdmin && nk.Role != aiproxy.RoleMember {
			return usagef("key create: --role must be admin or member")
		}
		m, done, err := e.manager(ctx, false)
		if err != nil {
			return err
		}
		defer done()
		if !*operator {
			o, err := m.Store.OrgBySlug(ctx, *org)
			if err != nil {
				return orgError(err, *org)
			}
			nk.OrgID = o.ID
		}
		_, secret, err := m.CreateKey(ctx, cliActor, nk)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		return nil

	case "key revoke":
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("key revoke: want exactly one PREFIX")
		}
		m, done, err := e.manager(ctx, false)
		if err != nil {
			return err
		}
		defer done()
		k, err := m.Store.APIKeyByPrefix(ctx, pos[0])
		if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
			return fmt.Errorf("no key with prefix %q", pos[0])
		} else if err != nil {
			return err
		}
		return m.RevokeKey(ctx, cliActor, k)

	case "credential set":
		org := fs.String("org", "", "org slug (tenant credential)")
		platform := fs.Bool("platform", false, "set the platform-wide credential")
		key := fs.String("key", "", "the provider key, or - to read it from stdin")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("credential set: want exactly one SERVICE")
		}
		if *platform == (*org != "") {
			return usagef("credential set: give exactly one of --org SLUG or --platform")
		}
		if !wasSet(fs, "key") {
			return usagef("credential set: --key VALUE is required (--key - reads stdin)")
		}
		value := *key
		if value == "-" {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && err != io.EOF {
				return err
			}
			value = strings.TrimRight(line, "\r\n")
		}
		if strings.TrimSpace(value) == "" {
			return usagef("credential set: the key is empty")
		}
		m, done, err := e.manager(ctx, true)
		if err != nil {
			return err
		}
		defer done()
		if _, err := m.Service(pos[0]); err != nil {
			return usagef("credential set: unknown service %q", pos[0])
		}
		src, orgID := aiproxy.SourcePlatform, int64(0)
		if *org != "" {
			o, err := m.Store.OrgBySlug(ctx, *org)
			if err != nil {
				return orgError(err, *org)
			}
			src, orgID = aiproxy.SourceTenant, o.ID
		}
		_, err = m.SetCredential(ctx, cliActor, pos[0], src, orgID, value)
		return err

	case "policy set":
		org := fs.String("org", "", "org slug (per-org override)")
		allowTenant := fs.Bool("allow-tenant", false, "allow the org's own key")
		allowPlatform := fs.Bool("allow-platform", false, "allow the platform key")
		defaultSource := fs.String("default-source", "", "tenant or platform")
		fallback := fs.Bool("fallback", false, "fall back to the other source when the default has no key")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("policy set: want exactly one SERVICE")
		}
		if *defaultSource != "" && !aiproxy.Source(*defaultSource).Valid() {
			return usagef("policy set: --default-source must be tenant or platform")
		}
		if !wasSet(fs, "allow-tenant") && !wasSet(fs, "allow-platform") && *defaultSource == "" && !wasSet(fs, "fallback") {
			return usagef("policy set: nothing to set")
		}
		m, done, err := e.manager(ctx, false)
		if err != nil {
			return err
		}
		defer done()
		if _, err := m.Service(pos[0]); err != nil {
			return usagef("policy set: unknown service %q", pos[0])
		}
		orgID, err := orgIDOf(ctx, m, *org)
		if err != nil {
			return err
		}
		p, err := m.EffectivePolicy(ctx, pos[0], orgID)
		if err != nil {
			return err
		}
		if wasSet(fs, "allow-tenant") {
			p.AllowTenantKey = *allowTenant
		}
		if wasSet(fs, "allow-platform") {
			p.AllowPlatformKey = *allowPlatform
		}
		if *defaultSource != "" {
			p.DefaultSource = aiproxy.Source(*defaultSource)
		}
		if wasSet(fs, "fallback") {
			p.FallbackToPlatformKey = *fallback
		}
		_, err = m.UpdateSettings(ctx, cliActor, pos[0], orgID, tenancy.SettingsChange{Policy: &p})
		return err

	case "service enable", "service disable":
		org := fs.String("org", "", "org slug (only for this org)")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("%s: want exactly one SERVICE", name)
		}
		m, done, err := e.manager(ctx, false)
		if err != nil {
			return err
		}
		defer done()
		if _, err := m.Service(pos[0]); err != nil {
			return usagef("%s: unknown service %q", name, pos[0])
		}
		orgID, err := orgIDOf(ctx, m, *org)
		if err != nil {
			return err
		}
		enabled := sub == "enable"
		_, err = m.UpdateSettings(ctx, cliActor, pos[0], orgID, tenancy.SettingsChange{Enabled: &enabled})
		return err

	case "secrets rotate":
		newKeyFile := fs.String("new-key-file", "", "file holding the new master key")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("secrets rotate: unexpected argument %q", pos[0])
		}
		if *newKeyFile == "" {
			return usagef("secrets rotate: --new-key-file FILE is required")
		}
		return rotateSecrets(ctx, e, *newKeyFile, stdout)
	}
	return usagef("unknown command %q (try aiproxy help)", name)
}

func orgIDOf(ctx context.Context, m *tenancy.Manager, slug string) (int64, error) {
	if slug == "" {
		return 0, nil
	}
	o, err := m.Store.OrgBySlug(ctx, slug)
	if err != nil {
		return 0, orgError(err, slug)
	}
	return o.ID, nil
}

func orgError(err error, slug string) error {
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return fmt.Errorf("organization %q not found", slug)
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func stderrOf(*adminEnv) io.Writer { return stderrWriter }

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	e := &adminEnv{stdout: stdout}
	fs := newFlags("migrate")
	addCommonFlags(fs, e)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate: unexpected argument %q", pos[0])
	}
	store, err := openStore(ctx, e.db) // opening applies pending migrations
	if err != nil {
		return err
	}
	v, err := store.Version(ctx)
	store.Close()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrated; data version "+strconv.FormatInt(v, 10))
	return nil
}
