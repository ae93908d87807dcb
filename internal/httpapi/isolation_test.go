package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// TestKeyOfOneOrgIsForbiddenOnEveryRouteOfAnother: discovery and every action of every
// service of org B answer 403 to org A's keys, and no call reaches an upstream.
func TestKeyOfOneOrgIsForbiddenOnEveryRouteOfAnother(t *testing.T) {
	e := newEnv(t)
	cat, _ := catalog.Builtin()
	const forbidden = `{"detail": "You do not have permission to perform this action."}`
	for _, key := range []string{e.adminA, e.memberA} {
		assertBody(t, e.do("GET", "/api/ai-proxy/orgs/org-b/services/", "Api-Key "+key, nil), 403, forbidden)
		for _, svc := range cat.Services() {
			assertBody(t, e.do("GET", "/api/ai-proxy/orgs/org-b/services/"+svc.Slug+"/", "Api-Key "+key, nil), 403, forbidden)
			for _, ep := range svc.Endpoints {
				r := e.do("POST", "/api/ai-proxy/orgs/org-b/services/"+svc.Slug+"/"+ep.Slug+"/", "Api-Key "+key, strings.NewReader(`{}`))
				assertBody(t, r, 403, forbidden)
			}
		}
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("%d cross-org calls reached the upstream", n)
	}
}

// TestDatabaseHoldsNoSecretInClear dumps every table and looks for provider keys and API
// keys, plain and in base64 and hex.
func TestDatabaseHoldsNoSecretInClear(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t)
	_ = dir
	secrets := []string{heygenKey, elevenKey, e.adminA, e.memberA, e.adminB, e.operator}
	// Exercise the key-use recording too, so last_used rows exist.
	e.invoke("heygen", "list-avatars", `{}`)
	db := dbPath(t, e)
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if wal, err := os.ReadFile(db + "-wal"); err == nil {
		raw = append(raw, wal...)
	}
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s))} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("the database file contains a secret (%q…) in clear", s[:6])
			}
		}
	}
	// And through SQL, in case pages are compressed or moved.
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	rows, err := sdb.QueryContext(context.Background(), `SELECT name FROM sqlite_master WHERE type='table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	for _, tbl := range tables {
		rs, err := sdb.Query(`SELECT * FROM "` + tbl + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rs.Scan(ptrs...)
			for _, v := range vals {
				var b []byte
				switch x := v.(type) {
				case string:
					b = []byte(x)
				case []byte:
					b = x
				}
				for _, s := range secrets {
					if bytes.Contains(b, []byte(s)) {
						t.Errorf("table %s holds a secret in clear", tbl)
					}
				}
			}
		}
		rs.Close()
	}
}

func dbPath(t *testing.T, e *env) string {
	t.Helper()
	var path string
	if err := e.store.(interface{ DB() *sql.DB }).DB().QueryRow(`SELECT file FROM pragma_database_list WHERE name='main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(path)
}
