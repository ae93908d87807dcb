package main

// What the shipped binary does when what it depends on goes away (docs/operations.md,
// "Health and metrics" and "Rate limits"):
//
//   - PostgreSQL stopped (pg_ctl stop -m immediate, a server of the test's own) or out of
//     reach (every packet dropped, through a proxy): keys, orgs, settings and credentials
//     already cached go on working; anything that needs the database gets 503 with
//     Retry-After within two seconds, /readyz says 503, /healthz 200, nothing is a 500; when
//     the database is back, everything works again within seconds and changes made then
//     are in force, also for what stayed cached throughout.
//   - Redis stopped: rate limits fail open, invokes keep answering 200 within two seconds,
//     /readyz stays 200.
//   - SQLite: the files serve creates are private (0600).
//
// Servers, simulators and fixtures come from replicas_test.go and internal/proctest.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiproxy/aiproxy/internal/postgres"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
)

const (
	// outageDetail is the answer to a request that needs the database while it is away.
	outageDetail = "The gateway's database is unavailable; try again shortly."
	// outageBound is how long any request may take while a dependency is away.
	outageBound = 2 * time.Second
	outageOrg   = "outage"
)

// outageAnswer is one response as these tests look at it.
type outageAnswer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

func (a outageAnswer) String() string {
	if a.err != nil {
		return fmt.Sprintf("error %v after %v", a.err, a.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d %s after %v", a.status, bytes.TrimSpace(a.body), a.took.Round(time.Millisecond))
}

// outageClient gives up long after outageBound, so that a slow answer is measured, not cut.
var outageClient = &http.Client{Timeout: 15 * time.Second}

// outageCall sends one request (an Api-Key when key is set, a JSON body when body is not
// nil) and measures it.
func outageCall(method, url, key string, body any) outageAnswer {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return outageAnswer{err: err}
	}
	if key != "" {
		req.Header.Set("Authorization", "Api-Key "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := outageClient.Do(req)
	if err != nil {
		return outageAnswer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return outageAnswer{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start), err: err}
}

// outageTally keeps every answer of a phase: the slowest of each kind, and whether any was
// a 500 (never allowed).
type outageTally struct {
	t       *testing.T
	mu      sync.Mutex
	slowest map[string]time.Duration
	count   map[string]int
	took    map[string][]time.Duration
}

func newOutageTally(t *testing.T) *outageTally {
	return &outageTally{t: t, slowest: map[string]time.Duration{}, count: map[string]int{}, took: map[string][]time.Duration{}}
}

// check records a, and fails the test unless it has status want and came within
// outageBound (never a 500, never an error).
func (o *outageTally) check(kind string, a outageAnswer, want int) outageAnswer {
	o.t.Helper()
	o.mu.Lock()
	o.count[kind]++
	o.slowest[kind] = max(o.slowest[kind], a.took)
	o.took[kind] = append(o.took[kind], a.took)
	o.mu.Unlock()
	switch {
	case a.err != nil:
		o.t.Errorf("%s: %v", kind, a)
	case a.status == http.StatusInternalServerError:
		o.t.Errorf("%s: a 500: %v", kind, a)
	case a.status != want:
		o.t.Errorf("%s: %v, want %d", kind, a, want)
	case a.took > outageBound:
		o.t.Errorf("%s: %v, want an answer within %v", kind, a, outageBound)
	}
	if want == http.StatusServiceUnavailable && a.err == nil && a.status == want {
		if ra := a.header.Get("Retry-After"); ra != "5" {
			o.t.Errorf("%s: Retry-After %q, want 5", kind, ra)
		}
		if d := detailOf(a.body); d != outageDetail {
			o.t.Errorf("%s: detail %q, want %q", kind, d, outageDetail)
		}
	}
	return a
}

// report logs the slowest answer of each kind, and the median.
func (o *outageTally) report(phase string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	kinds := make([]string, 0, len(o.count))
	for k := range o.count {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		ds := slices.Clone(o.took[k])
		slices.Sort(ds)
		o.t.Logf("%s: %-44s %3d answers, median %8.1f ms, slowest %8.1f ms", phase, k, o.count[k],
			ms(ds[len(ds)/2]), ms(o.slowest[k]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// outageFixture is a server on a database with an org, an admin key and two member keys,
// one of which (warm) has made a call before the outage, the other (cold) not.
type outageFixture struct {
	t                 *testing.T
	bin, cliDB        string
	env               []string
	srv               *server
	admin, warm, cold string
}

func (f *outageFixture) invoke(key string) outageAnswer {
	return outageCall(http.MethodPost, f.srv.url+"/orgs/"+outageOrg+"/services/heygen/list-voices/", key, map[string]any{})
}

// root is the server's address without the API prefix, where /healthz and /readyz are.
func (f *outageFixture) root() string {
	return strings.TrimSuffix(f.srv.url, "/api/ai-proxy")
}

// newOutageFixture sets up the org and keys with the CLI on cliDB and starts a server on
// serveDB (the same database, possibly by another way), with the simulators upstream.
func newOutageFixture(t *testing.T, cliDB, serveDB string, extra ...string) *outageFixture {
	t.Helper()
	bin := proctest.Build(t)
	simURL := startSim(t)
	env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
	f := &outageFixture{t: t, bin: bin, cliDB: cliDB, env: env}
	proctest.Run(t, bin, env, "", "org", "create", outageOrg, "--db", cliDB)
	key := func(name, role string) string {
		return strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", outageOrg, "--role", role, "--name", name, "--db", cliDB))
	}
	f.admin, f.warm, f.cold = key("admin", "admin"), key("warm", "member"), key("cold", "member")
	proctest.Run(t, bin, env, "hg-outage-tenant-key-7d1f\n", "credential", "set", "heygen", "--org", outageOrg, "--key", "-", "--db", cliDB)
	args := append([]string{"--db", serveDB, "--upstream", "heygen=" + simURL, "--upstream", "elevenlabs=" + simURL}, extra...)
	f.srv = startServer(t, "aiproxy", bin, env, args...)
	if strings.HasPrefix(cliDB, "postgres") {
		// The server drops its cache once more when its LISTEN is in place (what changed
		// before went unannounced): warm up after that.
		waitForListen(t, cliDB)
	}
	if a := f.invoke(f.warm); a.err != nil || a.status != http.StatusOK {
		t.Fatalf("warming the warm key up: %v", a)
	}
	if a := outageCall(http.MethodGet, f.root()+"/readyz", "", nil); a.status != http.StatusOK {
		t.Fatalf("/readyz before the outage: %v", a)
	}
	return f
}

// waitForListen waits until a session of the database dsn names LISTENs for changes.
func waitForListen(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN '||$1`, postgres.Channel).Scan(&n)
		if err != nil {
			t.Fatalf("waiting for the server to LISTEN: %v", err)
		}
		if n > 0 {
			time.Sleep(100 * time.Millisecond) // the server has had the answer to its LISTEN
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// databaseOutage runs the scenario: down() takes the database away, for at least hold;
// up() brings it back. rounds is how many times each kind of request is made meanwhile.
func databaseOutage(t *testing.T, f *outageFixture, rounds int, hold time.Duration, down, up func()) {
	org := "/orgs/" + outageOrg
	down()
	wentDown := time.Now()
	tally := newOutageTally(t)
	for range rounds {
		tally.check("invoke, warm key (cached)", f.invoke(f.warm), http.StatusOK)
		tally.check("invoke, cold key", f.invoke(f.cold), http.StatusServiceUnavailable)
		tally.check("invoke, unknown key", f.invoke("aip_"+randomHex(24)), http.StatusServiceUnavailable)
		tally.check("GET org, admin key (cold)", outageCall(http.MethodGet, f.srv.url+org+"/", f.admin, nil), http.StatusServiceUnavailable)
		tally.check("GET /readyz", outageCall(http.MethodGet, f.root()+"/readyz", "", nil), http.StatusServiceUnavailable)
		tally.check("GET /healthz", outageCall(http.MethodGet, f.root()+"/healthz", "", nil), http.StatusOK)
		time.Sleep(100 * time.Millisecond)
	}
	// Many at once: the pool's connections are few, none may wait past the bound.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				tally.check("invoke, warm key (cached), 16 at once", f.invoke(f.warm), http.StatusOK)
			} else {
				tally.check("invoke, cold key, 16 at once", f.invoke(f.cold), http.StatusServiceUnavailable)
			}
		}()
	}
	wg.Wait()
	if rest := time.Until(wentDown.Add(hold)); rest > 0 {
		time.Sleep(rest)
	}
	tally.check("invoke, cold key, at the end", f.invoke(f.cold), http.StatusServiceUnavailable)
	tally.check("invoke, warm key (cached), at the end", f.invoke(f.warm), http.StatusOK)
	downFor := time.Since(wentDown)
	tally.report("database away")
	t.Logf("database away for %v", downFor.Round(time.Millisecond))
	if t.Failed() {
		return
	}

	// Back: within seconds the cold key works and the replica is ready again.
	up()
	cameBack := time.Now()
	recovered := func(what string, ok func() outageAnswer) time.Duration {
		t.Helper()
		for {
			a := ok()
			if a.err == nil && a.status == http.StatusOK {
				d := time.Since(cameBack)
				t.Logf("recovery: %-40s %8.1f ms after the database came back", what, ms(d))
				return d
			}
			if a.status == http.StatusInternalServerError {
				t.Errorf("recovery: %s: a 500: %v", what, a)
			}
			if time.Since(cameBack) > 10*time.Second {
				t.Fatalf("recovery: %s still answers %v 10 s after the database came back", what, a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	recovered("the cold key invokes", func() outageAnswer { return f.invoke(f.cold) })
	recovered("GET /readyz", func() outageAnswer { return outageCall(http.MethodGet, f.root()+"/readyz", "", nil) })

	// Changes made now are in force, also for what was cached throughout the outage: a
	// credential and a setting through the admin API, a revocation by the CLI (another
	// process: the replica learns of it by LISTEN/NOTIFY, reconnected, or by polling).
	must := func(want int, a outageAnswer, what string) {
		t.Helper()
		if a.err != nil || a.status != want {
			t.Fatalf("%s: %v, want %d", what, a, want)
		}
	}
	must(http.StatusOK, outageCall(http.MethodPut, f.srv.url+org+"/credentials/heygen/", f.admin, map[string]any{"key": "hg-outage-tenant-key-2nd-9a3c"}), "credential set (admin API)")
	must(http.StatusOK, f.invoke(f.warm), "the warm key with the new credential")
	must(http.StatusOK, outageCall(http.MethodPut, f.srv.url+org+"/services/heygen/settings/", f.admin, map[string]any{"is_enabled": false}), "service disabled (admin API)")
	must(http.StatusForbidden, f.invoke(f.warm), "the warm key once the service is disabled for the org")
	must(http.StatusOK, outageCall(http.MethodPut, f.srv.url+org+"/services/heygen/settings/", f.admin, map[string]any{"is_enabled": nil}), "service enabled again (admin API)")
	must(http.StatusOK, f.invoke(f.warm), "the warm key once the service is enabled again")
	proctest.Run(t, f.bin, f.env, "", "key", "revoke", keyPrefixOf(f.warm), "--db", f.cliDB)
	revoked := time.Now()
	for {
		a := f.invoke(f.warm)
		if a.status == http.StatusUnauthorized {
			t.Logf("recovery: the warm key, cached throughout the outage, revoked by the CLI: 401 after %.1f ms", ms(time.Since(revoked)))
			break
		}
		if a.err != nil || a.status != http.StatusOK || time.Since(revoked) > 2*time.Second {
			t.Fatalf("the warm key revoked by the CLI after the outage: %v after %v", a, time.Since(revoked).Round(time.Millisecond))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if logs := f.srv.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", logs)
	}
}

// The PostgreSQL server stopped hard (as a crash would) for about five seconds, and
// started again.
func TestOutagePostgresStopped(t *testing.T) {
	pg := pgtest.StartServer(t) // skips unless AIPROXY_TEST_POSTGRES_DSN is set and the server programs are found
	f := newOutageFixture(t, pg.DSN(), pg.DSN())
	databaseOutage(t, f, 10, 5*time.Second, pg.Stop, pg.Start)
}

// The network to PostgreSQL drops every packet for about eight seconds: nothing refuses
// or closes a connection, only the gateway's own deadlines can tell.
func TestOutagePostgresUnreachable(t *testing.T) {
	dsn := pgtest.NewTestDatabase(t) // skips unless AIPROXY_TEST_POSTGRES_DSN is set
	proxy := pgtest.NewProxy(t, dsn)
	// The CLI reaches the database directly; the server through the proxy.
	f := newOutageFixture(t, dsn, proxy.DSN())
	databaseOutage(t, f, 3, 8*time.Second, func() { proxy.Blackhole(true) }, func() { proxy.Blackhole(false) })
}

// A server on a new SQLite database creates it, and its -wal and -shm files, mode 0600
// (they hold sealed credentials and key hashes), and is ready.
func TestModeOfTheSQLiteFilesServeCreates(t *testing.T) {
	bin := proctest.Build(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	srv := startServer(t, "aiproxy", bin, proctest.Env(), "--db", db)
	root := strings.TrimSuffix(srv.url, "/api/ai-proxy")
	if a := outageCall(http.MethodGet, root+"/readyz", "", nil); a.err != nil || a.status != http.StatusOK {
		t.Fatalf("/readyz: %v", a)
	}
	// Another process writes meanwhile (the CLI): the files keep their mode.
	proctest.Run(t, bin, proctest.Env(), "", "org", "create", "acme", "--db", db)
	for _, name := range []string{db, db + "-wal", db + "-shm", filepath.Join(filepath.Dir(db), "aiproxy.key")} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(name), err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(name), fi.Mode().Perm())
		}
	}
}

// Redis, where rate limits are counted, stopped: invokes go on (the limit fails open), in
// time, without the remaining count; /readyz stays 200 (Redis is not needed to serve). Redis
// started again: counting resumes.
func TestOutageRedisStopped(t *testing.T) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH: skipping the Redis outage test")
	}
	port := outageFreePort(t)
	startRedis := func() *proctest.Proc {
		p := proctest.Start(t, "redis-server", proctest.Env(), redisBin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				c.Close()
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis-server does not listen on %d:\n%s", port, p.Output.String())
			}
		}
	}
	redis := startRedis()
	db := filepath.Join(t.TempDir(), "aiproxy.db")
	f := newOutageFixture(t, db, db, "--redis-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--rate-limit-per-minute", "1000")
	a := f.invoke(f.warm)
	if a.status != http.StatusOK || a.header.Get("X-Ratelimit-Limit") != "1000" || a.header.Get("X-Ratelimit-Remaining") == "" {
		t.Fatalf("with Redis: %v, X-Ratelimit-Limit %q, X-Ratelimit-Remaining %q; want 200, 1000 and a count",
			a, a.header.Get("X-Ratelimit-Limit"), a.header.Get("X-Ratelimit-Remaining"))
	}

	if err := redis.Stop(); err != nil {
		t.Fatalf("stopping redis-server: %v", err)
	}
	tally := newOutageTally(t)
	for i := range 20 {
		key := f.warm
		if i%2 == 1 {
			key = f.cold
		}
		a := tally.check("invoke", f.invoke(key), http.StatusOK)
		if r := a.header.Get("X-Ratelimit-Remaining"); r != "" {
			t.Errorf("invoke without Redis: X-Ratelimit-Remaining %q, want none (nothing is counted)", r)
		}
		if i%5 == 0 {
			tally.check("GET /readyz", outageCall(http.MethodGet, f.root()+"/readyz", "", nil), http.StatusOK)
			tally.check("GET /healthz", outageCall(http.MethodGet, f.root()+"/healthz", "", nil), http.StatusOK)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tally.report("Redis stopped")
	if !strings.Contains(f.srv.logs.String(), "Redis did not answer") {
		t.Errorf("the server did not log that Redis did not answer:\n%s", f.srv.logs.String())
	}

	startRedis()
	back := time.Now()
	for {
		a := f.invoke(f.warm)
		if a.status == http.StatusOK && a.header.Get("X-Ratelimit-Remaining") != "" {
			t.Logf("Redis back: counting again after %.1f ms", ms(time.Since(back)))
			break
		}
		if a.status != http.StatusOK || time.Since(back) > 5*time.Second {
			t.Fatalf("Redis back: %v, X-Ratelimit-Remaining %q after %v", a, a.header.Get("X-Ratelimit-Remaining"), time.Since(back).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func outageFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
