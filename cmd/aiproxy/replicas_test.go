package main

// Several replicas of the shipped binary on one database: real processes (`aiproxy serve`
// built from this package), set up with the real CLI, in front of the in-process
// simulators. A change made through one replica — or by the CLI — must be in force on the
// other within a second: PostgreSQL pushes changes (LISTEN/NOTIFY), SQLite is polled.
//
// The helpers here (servers, fixtures) are shared with rotate_test.go; building the binary,
// running commands and processes is internal/proctest's.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// ---- the servers ----

// The binary, the CLI runs and the processes come from internal/proctest: proctest.Build
// builds this package once for the tests running meanwhile (with -race when the tests
// are), proctest.Env is the child environment without the caller's AIPROXY_* settings, and
// proctest.Run runs one CLI command to completion.

// server is a running `aiproxy serve` process.
type server struct {
	t    *testing.T
	name string
	url  string // base URL of the API, prefix included: http://127.0.0.1:PORT/api/ai-proxy
	proc *proctest.Proc
	logs *proctest.Buffer
	once sync.Once
}

// startServer runs `aiproxy serve --addr 127.0.0.1:0 args...` and waits for the line
// announcing its address. The server is stopped when the test ends; its log is shown if
// the test failed.
func startServer(t *testing.T, name, bin string, env []string, args ...string) *server {
	t.Helper()
	proc, url := proctest.Serve(t, name, bin, env, args...)
	s := &server{t: t, name: name, url: url, proc: proc, logs: proc.Output}
	t.Cleanup(s.stop) // runs before proctest's cleanup, which logs the output of a failed test
	return s
}

// stop ends the server as an operator would (SIGTERM: graceful shutdown), killing it if it
// does not stop within 15 s.
func (s *server) stop() {
	s.once.Do(func() {
		switch err := s.proc.Stop(); {
		case errors.Is(err, proctest.ErrKilled):
			s.t.Errorf("%s did not stop within 15 s of SIGTERM", s.name)
		case err != nil:
			s.t.Errorf("%s stopped with %v", s.name, err)
		}
	})
}

// client has no shared idle connections with other tests and a bound on every call.
var client = &http.Client{Timeout: 20 * time.Second}

// do sends a request with an Api-Key and returns the status and body.
func (s *server) do(method, path, key string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Api-Key "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must is do for calls that must answer want.
func (s *server) must(want int, method, path, key string, body any) []byte {
	s.t.Helper()
	status, b, err := s.do(method, path, key, body)
	if err != nil {
		s.t.Fatalf("%s %s %s: %v", s.name, method, path, err)
	}
	if status != want {
		s.t.Fatalf("%s %s %s: status %d, want %d: %s", s.name, method, path, status, want, b)
	}
	return b
}

// invokeAction POSTs an empty envelope to an action of org.
func (s *server) invokeAction(org, key, service, action string) (int, []byte, error) {
	return s.do(http.MethodPost, "/orgs/"+org+"/services/"+service+"/"+action+"/", key, map[string]any{})
}

// ---- shared fixtures ----

// startSim starts both provider simulators on an httptest server and returns its URL.
func startSim(t *testing.T) string {
	t.Helper()
	_, srv := simtest.StartPublic(t, simcore.Options{Speed: 50, Seed: 1}, sim.New)
	return srv.URL
}

// randomHex returns n random bytes in hex: master keys (n = 32) and distinctive fake
// provider keys.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// keyPrefixOf is what `key revoke` and the admin API name a key by.
func keyPrefixOf(key string) string { return key[:12] }

// detailOf is the client's view of an error answer: detail || error (contract §9).
func detailOf(b []byte) string {
	var v struct{ Detail, Error string }
	_ = json.Unmarshal(b, &v)
	if v.Detail != "" {
		return v.Detail
	}
	return v.Error
}

// ---- the scenario ----

// replicaPair is two replicas A and B on one database, an org with an admin key (for A's
// admin API) and a member key (the client whose calls B answers).
type replicaPair struct {
	t               *testing.T
	bin, db         string
	env             []string
	a, b            *server
	org, admin, app string
}

const (
	replicaOrg       = "replica"
	replicaHeyGenKey = "hg-replica-tenant-key-5e07c1d2"
)

func newReplicaPair(t *testing.T, db string) *replicaPair {
	t.Helper()
	bin := proctest.Build(t)
	simURL := startSim(t)
	// One master key for every process, from the environment (the PostgreSQL way: there is
	// no directory beside the database to hold a key file).
	env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
	p := &replicaPair{t: t, bin: bin, db: db, env: env, org: replicaOrg}
	proctest.Run(t, bin, env, "", "migrate", "--db", db)
	proctest.Run(t, bin, env, "", "org", "create", replicaOrg, "--db", db)
	p.admin = strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", replicaOrg, "--name", "admin", "--db", db))
	p.app = strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", replicaOrg, "--role", "member", "--name", "app", "--db", db))
	args := []string{"--db", db, "--upstream", "heygen=" + simURL, "--upstream", "elevenlabs=" + simURL}
	p.a = startServer(t, "replica A", bin, env, args...)
	p.b = startServer(t, "replica B", bin, env, args...)
	return p
}

// onB polls replica B with the member key's heygen call until it answers want (status and
// detail, or 200), and returns how long that took after the change was made. More than a
// second fails the test.
func (p *replicaPair) onB(what string, changed time.Time, want int, wantDetail string) time.Duration {
	p.t.Helper()
	var status int
	var body []byte
	var err error
	for {
		status, body, err = p.b.invokeAction(p.org, p.app, "heygen", "list-voices")
		if err == nil && status == want && (wantDetail == "" || detailOf(body) == wantDetail) {
			d := time.Since(changed)
			p.t.Logf("propagation to replica B: %-55s %8.1f ms", what, float64(d.Microseconds())/1000)
			if d > time.Second {
				p.t.Errorf("%s: replica B took %v, want at most 1s", what, d)
			}
			return d
		}
		if time.Since(changed) > 3*time.Second {
			p.t.Fatalf("%s: replica B still answers %d %s (err %v) after 3s; want %d %q", what, status, body, err, want, wantDetail)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// run makes each kind of change through A (admin API) or the CLI and checks B.
func (p *replicaPair) run() {
	t := p.t
	const (
		noCreds   = "No allowed credentials found for external proxy service 'heygen'."
		forbidden = "You do not have permission to perform this action."
		disabled  = "External proxy service 'heygen' not found or disabled."
		invalid   = "Invalid token."
	)
	orgPath := "/orgs/" + p.org

	// B has answered "no credential" (and may remember it) before the change.
	status, body, err := p.b.invokeAction(p.org, p.app, "heygen", "list-voices")
	if err != nil || status != http.StatusNotFound || detailOf(body) != noCreds {
		t.Fatalf("replica B before any credential: %d %s %v", status, body, err)
	}

	// Credential set through A's admin API.
	p.a.must(http.StatusOK, http.MethodPut, orgPath+"/credentials/heygen/", p.admin, map[string]any{"key": replicaHeyGenKey})
	p.onB("credential set (A's admin API)", time.Now(), http.StatusOK, "")

	// Credential deleted through A's admin API.
	p.a.must(http.StatusNoContent, http.MethodDelete, orgPath+"/credentials/heygen/", p.admin, nil)
	p.onB("credential deleted (A's admin API)", time.Now(), http.StatusNotFound, noCreds)

	// Credential set again by the CLI (a third process writing to the database).
	proctest.Run(t, p.bin, p.env, replicaHeyGenKey+"\n", "credential", "set", "heygen", "--org", p.org, "--key", "-", "--db", p.db)
	p.onB("credential set (CLI)", time.Now(), http.StatusOK, "")

	// The service disabled for the org through A's admin API: 403 (contract §9).
	p.a.must(http.StatusOK, http.MethodPut, orgPath+"/services/heygen/settings/", p.admin, map[string]any{"is_enabled": false})
	p.onB("service disabled for the org (A's admin API)", time.Now(), http.StatusForbidden, forbidden)
	p.a.must(http.StatusOK, http.MethodPut, orgPath+"/services/heygen/settings/", p.admin, map[string]any{"is_enabled": nil})
	p.onB("service re-enabled for the org (A's admin API)", time.Now(), http.StatusOK, "")

	// The service disabled globally by the CLI: 404 (contract §9).
	proctest.Run(t, p.bin, p.env, "", "service", "disable", "heygen", "--db", p.db)
	p.onB("service disabled globally (CLI)", time.Now(), http.StatusNotFound, disabled)
	proctest.Run(t, p.bin, p.env, "", "service", "enable", "heygen", "--db", p.db)
	p.onB("service enabled globally (CLI)", time.Now(), http.StatusOK, "")

	// The member key revoked through A's admin API: 401 on B.
	p.a.must(http.StatusNoContent, http.MethodDelete, orgPath+"/keys/"+keyPrefixOf(p.app)+"/", p.admin, nil)
	p.onB("key revoked (A's admin API)", time.Now(), http.StatusUnauthorized, invalid)

	// A second key revoked by the CLI.
	p.app = strings.TrimSpace(proctest.Run(t, p.bin, p.env, "", "key", "create", "--org", p.org, "--role", "member", "--name", "app2", "--db", p.db))
	p.b.must(http.StatusOK, http.MethodPost, orgPath+"/services/heygen/list-voices/", p.app, map[string]any{})
	proctest.Run(t, p.bin, p.env, "", "key", "revoke", keyPrefixOf(p.app), "--db", p.db)
	p.onB("key revoked (CLI)", time.Now(), http.StatusUnauthorized, invalid)
}

// The subtests run one after the other, and not in parallel with the package's other tests
// (a test that does not call t.Parallel runs alone): the bound is a second even on a loaded
// machine, but CPU starvation by concurrent race-instrumented tests is not what it measures.
func TestReplicasSeeEveryChangeWithinOneSecond(t *testing.T) {
	proctest.Build(t) // once for both subtests

	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgtest.NewTestDatabase(t) // skips unless AIPROXY_TEST_POSTGRES_DSN is set
		p := newReplicaPair(t, dsn)
		p.run()
		if t.Failed() {
			return
		}
		// What an operator's dump of the database holds: no provider key, no API key in clear.
		dump := postgresDump(t, dsn)
		for name, secret := range map[string]string{"provider key": replicaHeyGenKey, "admin API key": p.admin, "member API key": p.app} {
			if bytes.Contains(dump, []byte(secret)) {
				t.Errorf("a dump of the PostgreSQL database contains the %s in clear", name)
			}
		}
		t.Logf("dump of the PostgreSQL database: %d bytes, no secret in clear", len(dump))
	})

	t.Run("SQLite", func(t *testing.T) {
		// Two processes on one file: changes are noticed by polling the store's version.
		p := newReplicaPair(t, filepath.Join(t.TempDir(), "aiproxy.db"))
		p.run()
	})
}

// postgresDump is what pg_dump --data-only would show of the database: every row of every
// table of the public schema, as JSON text (bytea columns come out as hex).
func postgresDump(t *testing.T, dsn string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("the database has no tables")
	}
	var dump bytes.Buffer
	for _, table := range tables {
		fmt.Fprintf(&dump, "-- %s\n", table)
		rows, err := conn.Query(ctx, `SELECT row_to_json(t)::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			dump.WriteString(l + "\n")
		}
	}
	return dump.Bytes()
}
