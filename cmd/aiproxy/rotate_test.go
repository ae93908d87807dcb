package main

// Rotating the master key while a server serves, with the shipped binary and CLI (helpers
// in replicas_test.go and internal/proctest): the procedure of docs/operations.md,
// "Rotating the master key".

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
)

func TestRotatingTheMasterKeyUnderTrafficFailsNoRequest(t *testing.T) {
	proctest.Build(t) // once for both subtests

	t.Run("SQLite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "aiproxy.db")
		rotateUnderTraffic(t, db, func() []byte {
			// The database file as a backup would copy it, with its WAL and shared-memory files.
			var dump []byte
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				b, err := os.ReadFile(db + suffix)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				dump = append(dump, b...)
			}
			return dump
		})
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgtest.NewTestDatabase(t) // skips unless AIPROXY_TEST_POSTGRES_DSN is set
		rotateUnderTraffic(t, dsn, func() []byte { return postgresDump(t, dsn) })
	})
}

// writeKeyFile replaces path atomically (write, then rename), the way an operator's
// deployment tool should: a server reloading the file never sees half of it.
func writeKeyFile(t *testing.T, path string, keys ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func keyIDOf(t *testing.T, hexKey string) string {
	t.Helper()
	k, err := masterkeys.ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return masterkeys.KeyID(k)
}

// traffic invokes JSON actions continuously from a few clients and counts the answers.
type traffic struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string // the first few, for the report
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startTraffic(s *server, org, key string, clients int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	calls := [][2]string{{"heygen", "list-voices"}, {"elevenlabs", "list-models"}, {"heygen", "list-avatars"}}
	for i := 0; i < clients; i++ {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for n := i; ; n++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				c := calls[n%len(calls)]
				status, body, err := s.invokeAction(org, key, c[0], c[1])
				if err == nil && status == http.StatusOK {
					tr.ok.Add(1)
					continue
				}
				tr.failed.Add(1)
				tr.mu.Lock()
				if len(tr.failures) < 5 {
					tr.failures = append(tr.failures, fmt.Sprintf("%s/%s: %d %.200s %v", c[0], c[1], status, body, err))
				}
				tr.mu.Unlock()
			}
		}()
	}
	return tr
}

func (tr *traffic) end() {
	close(tr.stop)
	tr.wg.Wait()
}

func (tr *traffic) total() int64 { return tr.ok.Load() + tr.failed.Load() }

// rotateUnderTraffic: a server with K1 in its key file serves continuous traffic while K2
// is added in front of K1 and `secrets rotate` re-wraps every credential under K2; not one
// request may fail, every credential must end under K2, and after a restart with K2 alone
// the server still works. At the end no dump of the database may hold a secret in clear.
func rotateUnderTraffic(t *testing.T, db string, dump func() []byte) {
	bin := proctest.Build(t)
	simURL := startSim(t)
	dir := t.TempDir()
	k1, k2 := randomHex(32), randomHex(32)
	k1ID, k2ID := keyIDOf(t, k1), keyIDOf(t, k2)
	k1File, k2File, serverKeyFile := filepath.Join(dir, "k1.key"), filepath.Join(dir, "k2.key"), filepath.Join(dir, "server.key")
	writeKeyFile(t, k1File, k1)
	writeKeyFile(t, k2File, k2)
	writeKeyFile(t, serverKeyFile, k1)

	env := proctest.Env() // keys come from files here, never from AIPROXY_MASTER_KEY
	providerKeys := map[string]string{
		"heygen tenant":     "hg-rotate-tenant-" + randomHex(8),
		"elevenlabs tenant": "el-rotate-tenant-" + randomHex(8),
		"heygen platform":   "hg-rotate-platform-" + randomHex(8),
	}
	const org = "rotate"
	cli := func(stdin string, args ...string) string {
		return proctest.Run(t, bin, env, stdin, append(args, "--db", db)...)
	}
	cli("", "org", "create", org)
	admin := strings.TrimSpace(cli("", "key", "create", "--org", org, "--name", "admin"))
	cli(providerKeys["heygen tenant"]+"\n", "credential", "set", "heygen", "--org", org, "--key", "-", "--master-key-file", serverKeyFile)
	cli(providerKeys["elevenlabs tenant"]+"\n", "credential", "set", "elevenlabs", "--org", org, "--key", "-", "--master-key-file", serverKeyFile)
	cli(providerKeys["heygen platform"]+"\n", "credential", "set", "heygen", "--platform", "--key", "-", "--master-key-file", serverKeyFile)

	serveArgs := []string{"--db", db, "--master-key-file", serverKeyFile, "--upstream", "heygen=" + simURL, "--upstream", "elevenlabs=" + simURL}
	srv := startServer(t, "server", bin, env, serveArgs...)

	masterKeyID := func(credential string) string {
		b := srv.must(http.StatusOK, http.MethodGet, "/orgs/"+org+"/credentials/"+credential+"/", admin, nil)
		var v struct {
			MasterKeyID string `json:"master_key_id"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.MasterKeyID == "" {
			t.Fatalf("credential %s: no master_key_id in %s", credential, b)
		}
		return v.MasterKeyID
	}
	for _, c := range []string{"heygen", "elevenlabs"} {
		if got := masterKeyID(c); got != k1ID {
			t.Fatalf("before the rotation credential %s is under %s, want K1 %s", c, got, k1ID)
		}
	}

	// Traffic, then the rotation in the middle of it.
	tr := startTraffic(srv, org, admin, 4)
	for deadline := time.Now().Add(5 * time.Second); tr.total() < 20 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	before := tr.total()
	// Step 1: every server's key file gets K2 as its first line, K1 after it. Servers
	// notice the file when they meet a credential under a key they lack.
	writeKeyFile(t, serverKeyFile, k2, k1)
	// Step 2: re-wrap every credential under K2.
	start := time.Now()
	out := proctest.Run(t, bin, env, "", "secrets", "rotate", "--new-key-file", k2File, "--master-key-file", k1File, "--db", db)
	rotation := time.Since(start)
	atRotation := tr.total()
	time.Sleep(1500 * time.Millisecond) // the server meets the re-wrapped rows (SQLite: polled every 250 ms)
	tr.end()
	t.Logf("secrets rotate (%v): %s", rotation.Round(time.Millisecond), strings.TrimSpace(out))
	t.Logf("traffic: %d requests (%d before the rotation started, %d while it ran, %d after it), %d failed",
		tr.total(), before, atRotation-before, tr.total()-atRotation, tr.failed.Load())

	if want := fmt.Sprintf("re-wrapped 3 of 3 credentials under master key %s", k2ID); !strings.Contains(out, want) {
		t.Errorf("secrets rotate said %q, want %q", out, want)
	}
	if n := tr.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during the rotation; first: %s", n, tr.total(), strings.Join(tr.failures, "; "))
	}
	if tr.total()-atRotation < 10 {
		t.Errorf("only %d requests after the rotation: the traffic did not exercise the re-wrapped credentials", tr.total()-atRotation)
	}
	if !strings.Contains(srv.logs.String(), "master keys reloaded") {
		t.Errorf("the server never reloaded its key file during the rotation")
	}

	// Every credential is now under K2: through the admin API, and every row of the store.
	for _, c := range []string{"heygen", "elevenlabs"} {
		if got := masterKeyID(c); got != k2ID {
			t.Errorf("after the rotation credential %s is under %s, want K2 %s", c, got, k2ID)
		}
	}
	func() {
		store, err := openStore(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		creds, err := store.ListCredentials(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(creds) != 3 {
			t.Errorf("%d credentials stored, want 3", len(creds))
		}
		for _, c := range creds {
			if c.Sealed.KEKID != k2ID {
				t.Errorf("credential %s/%s of org %d is under %s, want K2 %s", c.Service, c.Source, c.OrgID, c.Sealed.KEKID, k2ID)
			}
		}
	}()

	// A second run finds nothing left to do, and says so.
	out = proctest.Run(t, bin, env, "", "secrets", "rotate", "--new-key-file", k2File, "--master-key-file", serverKeyFile, "--db", db)
	if want := fmt.Sprintf("re-wrapped 0 of 3 credentials under master key %s", k2ID); !strings.Contains(out, want) {
		t.Errorf("second secrets rotate said %q, want %q", out, want)
	}

	// Step 3: K1 is no longer needed. Restart with K2 alone.
	srv.stop()
	writeKeyFile(t, serverKeyFile, k2)
	srv = startServer(t, "restarted server", bin, env, serveArgs...)
	for _, c := range [][2]string{{"heygen", "list-voices"}, {"elevenlabs", "list-models"}} {
		srv.must(http.StatusOK, http.MethodPost, "/orgs/"+org+"/services/"+c[0]+"/"+c[1]+"/", admin, map[string]any{})
	}
	if !strings.Contains(srv.logs.String(), "keys=1") {
		t.Errorf("the restarted server did not load exactly one key:\n%s", srv.logs.String())
	}
	srv.stop()

	// What a backup holds: no provider key, API key or master key in clear.
	d := dump()
	secretsInClear := map[string]string{"admin API key": admin, "master key K1": k1, "master key K2": k2}
	for name, v := range providerKeys {
		secretsInClear[name+" provider key"] = v
	}
	for name, v := range secretsInClear {
		if bytes.Contains(d, []byte(v)) {
			t.Errorf("a dump of the database contains the %s in clear", name)
		}
	}
	t.Logf("dump of the database: %d bytes, none of %d secrets in clear", len(d), len(secretsInClear))
}
