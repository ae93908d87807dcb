// Package pgtest gives tests a PostgreSQL database of their own, created and dropped per test.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDSNEnv names the environment variable holding the DSN of a PostgreSQL server that
// tests may create databases on, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const TestDSNEnv = "AIPROXY_TEST_POSTGRES_DSN"

// NewTestDatabase creates a database with a random name on the server named by
// $AIPROXY_TEST_POSTGRES_DSN, drops it (disconnecting its sessions) when the test ends,
// and returns its DSN. It skips the test when the variable is unset and fails it when the
// server cannot be reached: a configured database that is down is an error, not a skip.
func NewTestDatabase(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(TestDSNEnv)
	if dsn == "" {
		t.Skip(TestDSNEnv + " not set: skipping PostgreSQL store tests")
	}

	var b [8]byte
	rand.Read(b[:])
	name := "aiproxy_test_" + hex.EncodeToString(b[:])
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := admin(`CREATE DATABASE ` + ident); err != nil {
		t.Fatalf("%s: create test database: %v", TestDSNEnv, err)
	}
	t.Cleanup(func() {
		if err := admin(`DROP DATABASE IF EXISTS ` + ident + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(dsn, name)
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// key=value form: a later keyword overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name
}
