package httpapi_test

// The harness of the shared-account tests (shared_account_test.go, idempotency_test.go,
// usage_budget_test.go): a gateway on SQLite with a clock the test moves, an upstream that
// counts what reaches it (the provider simulators, or a handler the test sets), platform
// keys for both providers, and helpers for usage, budgets and idempotent invokes.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/postgres"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Platform keys: one provider account that every org on the platform policy shares.
const (
	platformHeyGenKey = "hg-platform-shared-key-7a41"
	platformElevenKey = "el-platform-shared-key-93c2"
)

// A HeyGen avatar and voice the simulator knows.
const (
	simAvatar = "Abigail_expressive_2024112501"
	simVoice  = "f38a635bee7a4d1f9b0a654a31d050d2"
)

// fakeClock is the gateway's clock in these tests: it stands still until the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// acctStart is when every shared-account test begins (mid-month, mid-day, UTC).
var acctStart = time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// acctOptions adjust newAcctEnv.
type acctOptions struct {
	postgres    bool // the store is PostgreSQL (the test skips unless AIPROXY_TEST_POSTGRES_DSN is set)
	sim         bool // the provider simulators answer (else the recording upstream's handler)
	idemMaxBody int64
	// ledger, when set, makes the budget ledger from the env's store and clock (nil: the
	// store's own counters).
	ledger func(store aiproxy.Store, now func() time.Time) tenancy.BudgetLedger
	// strictWebhooks refuses org webhooks on private addresses and over http, as a
	// deployment does (else tests' receivers on 127.0.0.1 are allowed).
	strictWebhooks bool
}

// acctEnv is an env for the shared-account tests.
type acctEnv struct {
	*env
	clock *fakeClock
	sim   *sim.Server // with opts.sim
	gw    *gateway.Gateway
}

func newAcctEnv(t *testing.T, opts ...acctOptions) *acctEnv {
	t.Helper()
	var o acctOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	var store aiproxy.Store
	var err error
	if o.postgres {
		store, err = postgres.Open(ctx, pgtest.NewTestDatabase(t))
	} else {
		store, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "aiproxy.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := base.Override(fstest.MapFS{"testsvc.yaml": {Data: []byte(testService)}})
	if err != nil {
		t.Fatal(err)
	}
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	kr, err := masterkeys.NewKeyring(mk)
	if err != nil {
		t.Fatal(err)
	}
	vault := &providerkeys.Vault{Store: store, Keyring: kr}
	up := newUpstream(t)
	var simulator *sim.Server
	if o.sim {
		simulator, _ = simtest.Start(t, simcore.Options{Seed: 7}, sim.New)
		up.set(simulator.ServeHTTP)
	}
	u, _ := url.Parse(up.URL)
	gw := gateway.New(gateway.Config{Upstreams: map[string]*url.URL{"heygen": u, "elevenlabs": u, "testsvc": u}})
	t.Cleanup(gw.Close)
	clock := &fakeClock{t: acctStart}
	var ledger tenancy.BudgetLedger
	if o.ledger != nil {
		ledger = o.ledger(store, clock.Now)
	}
	logs := &proctest.Buffer{}
	api := httpapi.New(httpapi.Config{
		Store: store, Catalog: cat, Gateway: gw, Vault: vault,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: clock.Now,
		IdempotencyMaxBody: o.idemMaxBody, Budgets: ledger, WebhookAllowPrivate: !o.strictWebhooks,
		WebhookTimeout: 2 * time.Second,
	})
	t.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, api: api, store: store, up: up, logs: logs, mgr: api.Tenancy()}
	e.orgA = e.org("org-a")
	e.orgB = e.org("org-b")
	e.adminA = e.key(e.orgA, aiproxy.RoleAdmin, nil)
	e.memberA = e.key(e.orgA, aiproxy.RoleMember, nil)
	e.adminB = e.key(e.orgB, aiproxy.RoleAdmin, nil)
	_, e.operator, err = e.mgr.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Role: aiproxy.RoleOperator})
	if err != nil {
		t.Fatal(err)
	}
	for svc, k := range map[string]string{"heygen": heygenKey, "elevenlabs": elevenKey, "testsvc": "test-tenant-key-123"} {
		e.cred(svc, aiproxy.SourceTenant, e.orgA, k)
	}
	e.cred("testsvc", aiproxy.SourceTenant, e.orgB, "test-tenant-key-456")
	e.cred("heygen", aiproxy.SourcePlatform, nil, platformHeyGenKey)
	e.cred("elevenlabs", aiproxy.SourcePlatform, nil, platformElevenKey)
	return &acctEnv{env: e, clock: clock, sim: simulator, gw: gw}
}

// eachStore runs test on SQLite, then on PostgreSQL when AIPROXY_TEST_POSTGRES_DSN names a
// server (else that subtest skips): the rules must not depend on the store.
func eachStore(t *testing.T, test func(t *testing.T, o acctOptions)) {
	t.Run("SQLite", func(t *testing.T) { test(t, acctOptions{}) })
	t.Run("PostgreSQL", func(t *testing.T) { test(t, acctOptions{postgres: true}) })
}

// withSim is o with the provider simulators answering.
func (o acctOptions) withSim() acctOptions {
	o.sim = true
	return o
}

// platformPolicy makes every org use the platform's shared key for the service (the
// platform-wide level); tenantPolicy makes one org use its own key again.
func (e *acctEnv) platformPolicy(service string) {
	e.t.Helper()
	p := aiproxy.Policy{AllowPlatformKey: true, DefaultSource: aiproxy.SourcePlatform}
	if _, err := e.mgr.UpdateSettings(context.Background(), tenancy.CLI, service, nil, tenancy.SettingsChange{Policy: policyPatch(p)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *acctEnv) tenantPolicy(service string, org *aiproxy.Org) {
	e.t.Helper()
	p := aiproxy.Policy{AllowTenantKey: true, DefaultSource: aiproxy.SourceTenant}
	if _, err := e.mgr.UpdateSettings(context.Background(), tenancy.CLI, service, org, tenancy.SettingsChange{Policy: policyPatch(p)}); err != nil {
		e.t.Fatal(err)
	}
}

// call invokes service/action of org with key; header pairs are added to the request.
func (e *acctEnv) call(key, org, service, action, envelope string, header ...string) response {
	e.t.Helper()
	h := append([]string{"Content-Type", "application/json"}, header...)
	return e.do("POST", "/api/ai-proxy/orgs/"+org+"/services/"+service+"/"+action+"/", "Api-Key "+key,
		strings.NewReader(envelope), h...)
}

// callKey is call with an Idempotency-Key.
func (e *acctEnv) callKey(key, org, service, action, envelope, idemKey string) response {
	e.t.Helper()
	return e.call(key, org, service, action, envelope, "Idempotency-Key", idemKey)
}

// replayOf sends a duplicate of a request that completed. The gateway records the answer
// of an idempotent request just after the client has it, so a duplicate sent at once may
// still find the key in progress (409): that is retried, briefly, and nothing else.
func (e *acctEnv) replayOf(key, org, service, action, envelope, idemKey string) response {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := e.callKey(key, org, service, action, envelope, idemKey)
		if r.Status != http.StatusConflict || !bytes.Contains(r.Body, []byte("still in progress")) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectCalls fails the test unless the upstream has received exactly n requests.
func (e *acctEnv) expectCalls(what string, n int) {
	e.t.Helper()
	if got := e.up.count(); got != n {
		e.t.Errorf("%s: the upstream received %d requests, want %d", what, got, n)
	}
}

// jobOf returns the recorded job of the upstream id (nil when none).
func (e *acctEnv) jobOf(service, upstreamID string) *aiproxy.Job {
	e.t.Helper()
	j, err := e.store.JobByUpstreamID(context.Background(), service, upstreamID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil
	} else if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// usageRow is one row of a usage report as the API answers it.
type usageRow struct {
	Org           string           `json:"org,omitempty"`
	Service       string           `json:"service,omitempty"`
	Action        string           `json:"action,omitempty"`
	Day           string           `json:"day,omitempty"`
	Calls         int64            `json:"calls"`
	BillableCalls int64            `json:"billable_calls"`
	FailedCalls   int64            `json:"failed_calls"`
	Refused       int64            `json:"refused"`
	Replayed      int64            `json:"replayed"`
	Units         map[string]int64 `json:"units"`
}

func (r usageRow) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// units is a usage row's units: requests, characters and seconds, all present.
func units(requests, characters, seconds int64) map[string]int64 {
	return map[string]int64{aiproxy.UnitRequests: requests, aiproxy.UnitCharacters: characters, aiproxy.UnitSeconds: seconds}
}

// usage reads a usage report (path under the API prefix) as key, after writing what the
// meter holds.
func (e *acctEnv) usage(key, path string) ([]usageRow, response) {
	e.t.Helper()
	e.mgr.Meter.Flush(context.Background())
	r := e.admCall("GET", path, key, "")
	if r.Status != http.StatusOK {
		return nil, r
	}
	var page struct {
		Results []usageRow `json:"results"`
	}
	admJSON(e.t, r, &page)
	return page.Results, r
}

// expectUsage waits until the usage report at path reads want (usage of a successful call
// is metered just after its answer went out), then fails the test if it never does.
func (e *acctEnv) expectUsage(key, path string, want ...usageRow) {
	e.t.Helper()
	if want == nil {
		want = []usageRow{}
	}
	wantJSON, _ := json.Marshal(want)
	deadline := time.Now().Add(3 * time.Second)
	for {
		rows, r := e.usage(key, path)
		if r.Status != http.StatusOK {
			e.t.Fatalf("usage %s: %d %s", path, r.Status, r.Body)
		}
		if rows == nil {
			rows = []usageRow{}
		}
		got, _ := json.Marshal(rows)
		if bytes.Equal(got, wantJSON) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("usage %s:\n got %s\nwant %s", path, got, wantJSON)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// budgetUsed returns the counters of the org's budget window for the service.
func (e *acctEnv) budgetUsed(org *aiproxy.Org, service, window string) aiproxy.Units {
	e.t.Helper()
	u, err := e.store.BudgetUsed(context.Background(), org.ID, service, window)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// expectBudgetUsed waits until the window's counters read want (a successful call's units
// are committed just after its answer went out).
func (e *acctEnv) expectBudgetUsed(org *aiproxy.Org, service, window string, want aiproxy.Units) {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := e.budgetUsed(org, service, window)
		if fmt.Sprint(nonZero(got)) == fmt.Sprint(nonZero(want)) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("budget %s/%s used = %v, want %v", service, window, got, want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nonZero(u aiproxy.Units) map[string]int64 {
	out := map[string]int64{}
	for k, v := range u {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// auditEntry is one entry of an audit page.
type auditEntry struct {
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// audit reads the newest entries of an audit trail (path under the API prefix).
func (e *acctEnv) audit(path string) []auditEntry {
	e.t.Helper()
	r := e.admCall("GET", path, e.operator, "")
	if r.Status != http.StatusOK {
		e.t.Fatalf("audit %s: %d %s", path, r.Status, r.Body)
	}
	var page struct {
		Results []auditEntry `json:"results"`
	}
	admJSON(e.t, r, &page)
	return page.Results
}

// assertJSONEq checks that got is the JSON value want (compared after decoding).
func assertJSONEq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: not JSON: %s", what, got)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation %s", what, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s = %s, want %s", what, gb, wb)
	}
}

// readCSV parses a CSV body.
func readCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v: %s", err, body)
	}
	return recs
}

// decode decodes a JSON body into a generic value.
func decode(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return v
}

// readAllErr reads and closes an answer's body, returning the read's error.
func readAllErr(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
