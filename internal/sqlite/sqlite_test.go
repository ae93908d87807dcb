package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) aiproxy.Store {
		return open(t, filepath.Join(t.TempDir(), "aiproxy.db"))
	})
}

// A revocation whose tokens cannot be revoked leaves the key active too.
func TestRevokeAPIKeyIsAtomic(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "aiproxy.db"))
	defer s.Close()
	storetest.RevokeIsAtomic(t, s, func(t *testing.T) {
		_, err := s.DB().Exec(`CREATE TRIGGER fail_token_revoke BEFORE UPDATE OF revoked_at ON api_keys
			WHEN NEW.parent_id <> 0 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
		must(t, err)
	})
}

// Purging deliveries and deleting an org leave no attempt of a delivery that is gone.
func TestWebhookAttemptsGoWithTheirDeliveries(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "aiproxy.db"))
	defer s.Close()
	count := func(query string) func(t *testing.T) int {
		return func(t *testing.T) int {
			var n int
			must(t, s.DB().QueryRow(query).Scan(&n))
			return n
		}
	}
	storetest.NoOrphanWebhookAttempts(t, s, count(`SELECT count(*) FROM webhook_attempts`),
		count(`SELECT count(*) FROM webhook_attempts WHERE delivery_id NOT IN (SELECT id FROM webhook_deliveries)`))
}

func TestReopenKeepsDataAndMigrationsRunOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "aiproxy.db")
	s := open(t, path)
	must(t, s.CreateOrg(ctx, &aiproxy.Org{Slug: "acme", Name: "Acme"}))
	before := migrationsApplied(t, s)
	must(t, s.Close())

	s = open(t, path)
	defer s.Close()
	if _, err := s.OrgBySlug(ctx, "acme"); err != nil {
		t.Fatalf("org lost on reopen: %v", err)
	}
	if after := migrationsApplied(t, s); after != before {
		t.Errorf("schema_migrations changed on reopen:\nbefore %s\nafter  %s", before, after)
	}
	must(t, s.Migrate(ctx)) // idempotent
	if after := migrationsApplied(t, s); after != before {
		t.Errorf("schema_migrations changed on Migrate:\nbefore %s\nafter  %s", before, after)
	}
}

// migrationsApplied describes schema_migrations, application times included.
func migrationsApplied(t *testing.T, s *sqlite.Store) string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	must(t, err)
	defer rows.Close()
	var out string
	for rows.Next() {
		var (
			version, applied int64
			name             string
		)
		must(t, rows.Scan(&version, &name, &applied))
		out += fmt.Sprintf("%d %s %d; ", version, name, applied)
	}
	must(t, rows.Err())
	if out == "" {
		t.Fatal("no migrations recorded")
	}
	return out
}

// Two Stores on one file stand for two processes: each has its own connection pool, so
// they contend for SQLite's file lock, not for database/sql's connections.
func TestTwoStoresOnOneFileCanBothWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "aiproxy.db")
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, s := range stores {
		defer s.Close()
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 10 {
					slug := fmt.Sprintf("org-%d-%d-%d", i, w, n)
					if err := s.CreateOrg(ctx, &aiproxy.Org{Slug: slug, Name: slug}); err != nil {
						errs <- fmt.Errorf("store %d: %w", i, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, s := range stores {
		orgs, err := s.ListOrgs(ctx)
		must(t, err)
		if len(orgs) != 80 {
			t.Errorf("store %d sees %d orgs, want 80", i, len(orgs))
		}
	}
	v0, err := stores[0].Version(ctx)
	must(t, err)
	v1, err := stores[1].Version(ctx)
	must(t, err)
	if v0 != v1 {
		t.Errorf("stores disagree on version: %d and %d", v0, v1)
	}
}

func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aiproxy.db")
	var wg sync.WaitGroup
	stores := make([]*sqlite.Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlite.Open(context.Background(), path)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The connection settings that let several processes share the file.
func TestOpenSetsPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "aiproxy.db"))
	defer s.Close()
	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
	} {
		var got string
		must(t, s.DB().QueryRow("PRAGMA "+tt.pragma).Scan(&got))
		if got != tt.want {
			t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
		}
	}
}
