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

// adminFlags are the flags every administration command takes: where the database, the
// extra catalog files and the master key are.
type adminFlags struct {
	db, catalogDir, keyFile string
}

func (af *adminFlags) add(fs *flag.FlagSet, io stdio) {
	fs.StringVar(&af.db, "db", io.envOr("AIPROXY_DB", defaultDB), "SQLite file or postgres:// URL")
	fs.StringVar(&af.catalogDir, "catalog-dir", io.envOr("AIPROXY_CATALOG_DIR", ""), "directory of extra catalog files")
	fs.StringVar(&af.keyFile, "master-key-file", "", "master key file (wins over AIPROXY_MASTER_KEY)")
}

// manager opens the store and returns the service layer over it, with the command line as
// its actor. needKeys loads the master key (only commands that seal or open provider keys
// need it). Arguments have all been checked before this is called, so a bad command line
// never touches the database.
func (af *adminFlags) manager(ctx context.Context, io stdio, needKeys bool) (*tenancy.Manager, func(), error) {
	cat, err := catalog.Open(af.catalogDir)
	if err != nil {
		return nil, nil, err
	}
	var kr *masterkeys.Keyring
	if needKeys {
		ks, err := masterKeys{db: af.db, file: af.keyFile, getenv: io.getenv}.load()
		if err != nil {
			return nil, nil, err
		}
		if ks.created {
			ks.log(slog.New(slog.NewTextHandler(io.stderr, nil)))
		}
		if kr, err = ks.keyring(); err != nil {
			return nil, nil, err
		}
	}
	store, err := openStore(ctx, af.db)
	if err != nil {
		return nil, nil, err
	}
	m := &tenancy.Manager{Store: store, Catalog: cat, Vault: &providerkeys.Vault{Store: store, Keyring: kr}}
	return m, func() { store.Close() }, nil
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
