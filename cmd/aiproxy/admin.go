package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// adminCmd is one run of an administration command: its flag set, holding the flags every
// such command takes (where the database, the extra catalog files and the master key are),
// and the store once opened.
type adminCmd struct {
	name                    string
	io                      stdio
	fs                      *flag.FlagSet
	db, catalogDir, keyFile string
	close                   func()
}

// newAdminCmd starts an administration command; the caller adds its own flags to c.fs, then
// calls args.
func newAdminCmd(name string, io stdio) *adminCmd {
	c := &adminCmd{name: name, io: io, fs: newFlags(name), close: func() {}}
	c.fs.StringVar(&c.db, "db", io.envOr("AIPROXY_DB", defaultDB), "SQLite file or postgres:// URL")
	c.fs.StringVar(&c.catalogDir, "catalog-dir", io.envOr("AIPROXY_CATALOG_DIR", ""), "directory of extra catalog files")
	c.fs.StringVar(&c.keyFile, "master-key-file", "", "master key file (wins over AIPROXY_MASTER_KEY)")
	return c
}

// args parses the command line and returns its positional arguments, which must be one per
// name given (the names are for the message: "SLUG"), or none.
func (c *adminCmd) args(args []string, names ...string) ([]string, error) {
	pos, err := parse(c.fs, args)
	switch {
	case err != nil:
		return nil, err
	case len(names) == 0 && len(pos) > 0:
		return nil, usagef("%s: unexpected argument %q", c.name, pos[0])
	case len(names) == 1 && len(pos) != 1:
		return nil, usagef("%s: want exactly one %s", c.name, names[0])
	case len(pos) != len(names):
		return nil, usagef("%s: want %s", c.name, strings.Join(names, " "))
	}
	return pos, nil
}

// keys returns the master keys, as serve would find them.
func (c *adminCmd) keys() (*keySource, error) {
	return masterKeys{db: c.db, file: c.keyFile, getenv: c.io.getenv}.load()
}

// open opens the store and returns the service layer over it; the command line is its
// actor, and c.close closes the store. needKeys loads the master key (only commands that
// seal or open provider keys need it). Arguments have all been checked before this is
// called, so a bad command line never touches the database.
func (c *adminCmd) open(ctx context.Context, needKeys bool) (*tenancy.Manager, error) {
	m, done, err := c.manager(ctx, needKeys)
	if err != nil {
		return nil, err
	}
	c.close = done
	return m, nil
}

func (c *adminCmd) manager(ctx context.Context, needKeys bool) (*tenancy.Manager, func(), error) {
	cat, err := catalog.Open(c.catalogDir)
	if err != nil {
		return nil, nil, err
	}
	var kr *masterkeys.Keyring
	if needKeys {
		ks, err := c.keys()
		if err != nil {
			return nil, nil, err
		}
		if ks.created {
			ks.log(slog.New(slog.NewTextHandler(c.io.stderr, nil)))
		}
		if kr, err = ks.keyring(); err != nil {
			return nil, nil, err
		}
	}
	store, err := openStore(ctx, c.db)
	if err != nil {
		return nil, nil, err
	}
	m := &tenancy.Manager{Store: store, Catalog: cat, Vault: &providerkeys.Vault{Store: store, Keyring: kr}}
	return m, func() { store.Close() }, nil
}

// accountFlags are --org SLUG | --platform: whose provider account a command acts on.
type accountFlags struct {
	cmd      string
	org      *string
	platform *bool
}

func (c *adminCmd) accountFlags(orgHelp, platformHelp string) accountFlags {
	return accountFlags{cmd: c.name, org: c.fs.String("org", "", orgHelp), platform: c.fs.Bool("platform", false, platformHelp)}
}

// check refuses anything but exactly one of the two.
func (a accountFlags) check() error {
	if *a.platform == (*a.org != "") {
		return usagef("%s: give exactly one of --org SLUG or --platform", a.cmd)
	}
	return nil
}

// resolve returns the org named by --org, or nil for --platform.
func (a accountFlags) resolve(ctx context.Context, m *tenancy.Manager) (*aiproxy.Org, error) {
	if *a.platform {
		return nil, nil
	}
	return org(ctx, m, *a.org)
}

// org returns the org with that slug, for the command line (which may act on every org).
func org(ctx context.Context, m *tenancy.Manager, slug string) (*aiproxy.Org, error) {
	return m.Org(ctx, tenancy.CLI, slug, tenancy.Admin)
}

// orgOrPlatform is org(slug), or nil (the platform-wide level) for "".
func orgOrPlatform(ctx context.Context, m *tenancy.Manager, slug string) (*aiproxy.Org, error) {
	if slug == "" {
		return nil, nil
	}
	return org(ctx, m, slug)
}

// service returns the catalog service, or a usage error naming it.
func service(m *tenancy.Manager, name, slug string) (*catalog.Service, error) {
	svc, err := m.Service(slug)
	if err != nil {
		return nil, usagef("%s: unknown service %q", name, slug)
	}
	return svc, nil
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
