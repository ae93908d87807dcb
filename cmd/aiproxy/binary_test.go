package main

// Tests of the shipped binary as an operator runs it: `aiproxy serve` as a process, the
// administration commands as other processes on the same database.

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
)

// revocationTrials is how many times the CLI's revocation races token minting.
const revocationTrials = 10

// TestCLIRevocationRacingTokenMintingLeavesNoTokenAlive: against a running server, a key
// is revoked with `aiproxy key revoke` while clients mint browser tokens from it as fast as
// they can. Whatever was minted before, during or after the revocation, no token works
// once the server has seen the revocation (within a second: the server is another process,
// which learns of the change from the database), in every trial.
func TestCLIRevocationRacingTokenMintingLeavesNoTokenAlive(t *testing.T) {
	bin := proctest.Build(t)
	for _, store := range []string{"SQLite", "PostgreSQL"} {
		t.Run(store, func(t *testing.T) {
			var db string
			if store == "PostgreSQL" {
				db = pgtest.NewTestDatabase(t) // skips unless AIPROXY_TEST_POSTGRES_DSN is set
			} else {
				db = filepath.Join(t.TempDir(), "aiproxy.db")
			}
			env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
			proctest.Run(t, bin, env, "", "org", "create", "acme", "--db", db)
			srv := startServer(t, "server", bin, env, "--db", db)
			var minted, slowest int
			var worst time.Duration
			for trial := 0; trial < revocationTrials; trial++ {
				key := strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", "acme", "--role", "member", "--db", db))
				tokens := raceRevocation(t, srv, bin, env, db, key)
				minted += len(tokens)
				revokedAt := time.Now()
				for _, tok := range append(tokens, key) {
					for {
						status, body, err := srv.do(http.MethodGet, "/orgs/acme/services/", tok, nil)
						if err != nil {
							t.Fatal(err)
						}
						if status == http.StatusUnauthorized && detailOf(body) == "Invalid token." {
							break
						}
						if time.Since(revokedAt) > time.Second {
							t.Fatalf("trial %d: a token of the revoked key still answers %d %s a second after `key revoke` returned", trial, status, body)
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				if d := time.Since(revokedAt); d > worst {
					worst, slowest = d, trial
				}
			}
			t.Logf("%d trials, %d tokens minted while racing the revocation, 0 alive afterwards; every token refused within %v (trial %d)",
				revocationTrials, minted, worst.Round(time.Millisecond), slowest)
		})
	}
}

// raceRevocation mints tokens from key on four clients while `aiproxy key revoke` runs, and
// returns every token minted. Minting stops once the CLI has returned and every client has
// been refused at least once.
func raceRevocation(t *testing.T, srv *server, bin string, env []string, db, key string) []string {
	t.Helper()
	var (
		mu      sync.Mutex
		tokens  []string
		wg      sync.WaitGroup
		revoked = make(chan struct{})
	)
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				status, body, err := srv.do(http.MethodPost, "/orgs/acme/tokens/", key, map[string]any{"ttl_seconds": 600})
				if err != nil {
					t.Error(err)
					return
				}
				if status == http.StatusCreated {
					var tok struct{ Token string }
					if json.Unmarshal(body, &tok) != nil || tok.Token == "" {
						t.Errorf("mint answered 201 without a token: %s", body)
						return
					}
					mu.Lock()
					tokens = append(tokens, tok.Token)
					mu.Unlock()
					time.Sleep(2 * time.Millisecond) // thousands of tokens would prove no more
					continue
				}
				select {
				case <-revoked:
					return // refused after the revocation: done
				default:
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // let minting get going
	proctest.Run(t, bin, env, "", "key", "revoke", keyPrefixOf(key), "--db", db)
	close(revoked)
	wg.Wait()
	return tokens
}

// TestBinaryOutputHoldsNoSecret: everything the shipped binary prints — the server's log
// at debug level, and the output of every administration command, failing ones included —
// holds none of the provider keys, API keys or master keys it handled, in any of the forms
// proctest.SecretForms lists. The one exception is `key create`, whose stdout is the new key.
func TestBinaryOutputHoldsNoSecret(t *testing.T) {
	bin := proctest.Build(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	k1, k2 := randomHex(32), randomHex(32)
	k1File, k2File := filepath.Join(dir, "k1.key"), filepath.Join(dir, "k2.key")
	writeKeyFile(t, k1File, k1)
	writeKeyFile(t, k2File, k2)
	env := proctest.Env()
	secrets := map[string][]byte{}
	addHex := func(name, h string) {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = b
		secrets[name+" as text"] = []byte(h)
	}
	addHex("master key 1", k1)
	addHex("master key 2", k2)
	heygenKey, elevenKey, platformKey, apiSetKey := "hg-hyg-"+randomHex(8), "el-hyg-"+randomHex(8), "el-plat-"+randomHex(8), "hg-api-"+randomHex(8)
	for name, v := range map[string]string{"heygen key": heygenKey, "elevenlabs key": elevenKey, "platform key": platformKey, "heygen key set over the API": apiSetKey} {
		secrets[name] = []byte(v)
	}

	type output struct{ what, text string }
	var outputs []output // what the binary printed, to be scanned
	cli := func(stdin string, args ...string) (string, int) {
		stdout, stderr, code := proctest.Exec(t, bin, env, stdin, append(args, "--db", db, "--master-key-file", k1File)...)
		what := args[0] + " " + args[1]
		outputs = append(outputs, output{what + " (stderr)", stderr})
		if what != "key create" {
			outputs = append(outputs, output{what + " (stdout)", stdout})
		}
		return stdout, code
	}
	mustCLI := func(stdin string, args ...string) string {
		out, code := cli(stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		return strings.TrimSpace(out)
	}
	mustCLI("", "org", "create", "acme")
	admin := mustCLI("", "key", "create", "--org", "acme", "--name", "admin")
	operator := mustCLI("", "key", "create", "--operator")
	secrets["admin API key"], secrets["operator API key"] = []byte(admin), []byte(operator)
	mustCLI("", "credential", "set", "heygen", "--org", "acme", "--key", heygenKey)
	mustCLI(elevenKey+"\n", "credential", "set", "elevenlabs", "--org", "acme", "--key", "-")
	mustCLI("", "credential", "set", "elevenlabs", "--platform", "--key", platformKey)
	mustCLI("", "policy", "set", "elevenlabs", "--org", "acme", "--allow-platform=true", "--fallback=true")
	// Failing commands print errors: those must not carry a secret either.
	cli("", "credential", "set", "nosuch", "--org", "acme", "--key", heygenKey)
	cli("", "credential", "set", "heygen", "--org", "nope", "--key", heygenKey)
	cli("", "key", "revoke", admin) // a whole key where a prefix belongs
	cli("", "org", "create", "acme")

	simURL := startSim(t)
	srv := startServer(t, "server", bin, env, "--db", db, "--master-key-file", k1File, "--log-level", "debug",
		"--upstream", "heygen="+simURL, "--upstream", "elevenlabs="+simURL)
	for _, call := range []struct {
		method, path, key string
		body              any
	}{
		{"POST", "/orgs/acme/services/elevenlabs/get-user/", admin, map[string]any{}}, // the upstream echoes the key
		{"POST", "/orgs/acme/services/heygen/list-voices/", admin, map[string]any{}},
		{"POST", "/orgs/acme/services/heygen/video-status/", admin, map[string]any{"query": map[string]any{"video_id": "nope"}}},
		{"PUT", "/orgs/acme/credentials/heygen/", admin, map[string]any{"key": apiSetKey}},
		{"GET", "/orgs/acme/credentials/heygen/", admin, nil},
		{"POST", "/orgs/acme/services/heygen/list-voices/", admin, map[string]any{}},
		{"POST", "/orgs/acme/services/heygen/list-voices/", admin, map[string]any{"headers": map[string]any{"X-Api-Key": heygenKey}}},
		{"POST", "/orgs/acme/tokens/", admin, map[string]any{}},
		{"GET", "/orgs/acme/audit/", admin, nil},
		{"GET", "/orgs/acme/services/", admin + "x", nil},
		{"GET", "/orgs/", operator, nil},
	} {
		status, body, err := srv.do(call.method, call.path, call.key, call.body)
		if err != nil {
			t.Fatal(err)
		}
		if call.path == "/orgs/acme/tokens/" {
			continue // the answer is a new token, shown once
		}
		outputs = append(outputs, output{call.method + " " + call.path + " (answer)", string(body)})
		if status == http.StatusInternalServerError {
			t.Errorf("%s %s: %d %s", call.method, call.path, status, body)
		}
	}
	mustCLI("", "secrets", "rotate", "--new-key-file", k2File)
	mustCLI("", "key", "revoke", keyPrefixOf(admin))
	srv.stop()
	outputs = append(outputs, output{"server log", srv.logs.String()})

	if !strings.Contains(srv.logs.String(), "level=DEBUG") && !strings.Contains(srv.logs.String(), "level=INFO") {
		t.Fatalf("the server logged nothing: the scan would prove nothing")
	}
	bytesScanned := 0
	for _, o := range outputs {
		bytesScanned += len(o.text)
		if found := proctest.FindSecrets(o.text, secrets); len(found) > 0 {
			t.Errorf("%s holds %v:\n%.2000s", o.what, found, o.text)
		}
	}
	t.Logf("scanned %d outputs (%d bytes) for %d secrets × %d forms: 0 hits", len(outputs), bytesScanned, len(secrets), len(proctest.SecretForms(nil)))
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
}
