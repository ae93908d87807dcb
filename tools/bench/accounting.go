package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The accounting comparison (issue 11): what job records, usage metering and budgets cost
// an invoke. For each store, SQLite and PostgreSQL with budgets counted in Redis, two
// aiproxy processes serve the same data: one as shipped, the org holding a budget so large
// it never runs out (every invoke reserves units before the upstream call and commits them
// after), the other with `serve --accounting=false`. The same closed loop drives both,
// steps interleaved, at concurrencies where the machine is saturated; the check is that
// throughput with accounting on is at least accountingTarget × off.

const (
	accountingTarget = 0.9
	// budgetRequests is the org's monthly budget: far more than any run sends, so that
	// every invoke reserves and commits and none is refused.
	budgetRequests = 1_000_000_000_000
	// smallAudio is the passthrough answer of the comparison's tts: small, so that what
	// an invoke costs in aiproxy is not drowned in copying a megabyte.
	smallAudio = 4 << 10
	// saturatedBusy: a step with the machine's CPUs at least this busy is saturated.
	saturatedBusy = 0.95
	// Budget headers aiproxy sets once it reserved (internal/httpapi budgetHeaders).
	budgetRemainingHeader = "X-Budget-Remaining-Requests"
)

// Which stores the comparison runs on.
const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres+redis"
)

// accountingAction is an action of the comparison with the name its rows carry.
type accountingAction struct {
	Name string
	action
}

func accountingActions(voicesLen int) []accountingAction {
	return []accountingAction{
		{Name: "list-voices", action: action{Slug: "list-voices", Label: "list-voices: 20 KB JSON", Method: http.MethodGet,
			Path: voicesPath, WantBytes: int64(voicesLen)}},
		{Name: "tts-4k", action: action{Slug: "tts", Label: "tts: 4 KiB passthrough", Method: http.MethodPost,
			Path: ttsPathPrefix + benchVoiceID, WantBytes: smallAudio, Query: map[string]string{"size": strconv.Itoa(smallAudio)}}},
	}
}

// accountingConcurrency is the sweep: both ends saturate the machine (the report shows it),
// and the ratio is taken over all of them.
func accountingConcurrency() []int { return []int{16, 64} }

// accountingReport is the comparison in latest.json.
type accountingReport struct {
	Target      float64           `json:"target"`
	Budget      int64             `json:"budget_requests_per_month"`
	Concurrency []int             `json:"concurrency"`
	Rounds      int               `json:"rounds"`
	Duration    string            `json:"step_duration"`
	Runs        []accountingRun   `json:"runs"`
	Rows        []accountingRow   `json:"rows"`
	Checks      []accountingCheck `json:"checks"`
	Counted     []accountingCount `json:"counted,omitempty"`
	Skipped     []string          `json:"skipped,omitempty"`
	Notes       []string          `json:"notes,omitempty"`
	Profiles    []string          `json:"profiles,omitempty"`
}

// accountingRun is one step: one store, action, mode, concurrency and round.
type accountingRun struct {
	Store       string         `json:"store"`
	Action      string         `json:"action"`
	Accounting  bool           `json:"accounting"`
	Concurrency int            `json:"concurrency"`
	Round       int            `json:"round"`
	Requests    int            `json:"requests"`
	OK          int            `json:"ok"`
	RPS         float64        `json:"rps"`
	P50         float64        `json:"p50_ms"`
	P99         float64        `json:"p99_ms"`
	CPUBusy     jsonFloat      `json:"machine_cpu_busy"`           // of all CPUs, 0–1
	AiproxyCPU  jsonFloat      `json:"aiproxy_cpu_us_per_request"` // the aiproxy process alone
	Errors      map[string]int `json:"errors,omitempty"`
}

// accountingRow is the mean over the rounds of one store × action × concurrency.
type accountingRow struct {
	Store       string    `json:"store"`
	Action      string    `json:"action"`
	Concurrency int       `json:"concurrency"`
	RPSOff      float64   `json:"rps_off"`
	RPSOn       float64   `json:"rps_on"`
	Ratio       jsonFloat `json:"rps_on_over_off"`
	P50Off      float64   `json:"p50_ms_off"`
	P50On       float64   `json:"p50_ms_on"`
	BusyOff     jsonFloat `json:"machine_cpu_busy_off"`
	BusyOn      jsonFloat `json:"machine_cpu_busy_on"`
	CPUOff      jsonFloat `json:"aiproxy_cpu_us_per_request_off"`
	CPUOn       jsonFloat `json:"aiproxy_cpu_us_per_request_on"`
}

// accountingCheck is the verdict for one store × action: each mode's throughput is its
// best over the concurrency sweep (the mean over rounds at one concurrency), and the check
// is on/off of those.
type accountingCheck struct {
	Store  string        `json:"store"`
	Action string        `json:"action"`
	Off    saturatedMode `json:"off"`
	On     saturatedMode `json:"on"`
	Ratio  jsonFloat     `json:"rps_on_over_off"`
	Pass   bool          `json:"pass"`
	// Saturated: both modes were (see saturatedMode), so the ratio compares like with like.
	Saturated bool `json:"saturated"`
}

// saturatedMode is one mode's best throughput over the sweep and why it is the most the
// machine gives: the CPUs were busy at that concurrency, or more clients brought no more.
type saturatedMode struct {
	RPS         float64   `json:"rps"`
	Concurrency int       `json:"concurrency"` // where it peaked
	Busy        jsonFloat `json:"machine_cpu_busy"`
	// Throughput at the highest concurrency over the lowest: about 1 or less when more
	// clients brought no more throughput. NaN with one concurrency.
	Scale     jsonFloat `json:"rps_high_over_low_concurrency"`
	Saturated bool      `json:"saturated"`
}

// accountingCount checks that accounting was really on: what the budget and the usage
// meter counted against what the bench saw answered by the aiproxy with accounting on.
type accountingCount struct {
	Store      string `json:"store"`
	Answered   int    `json:"answered"`    // 2xx answers, checks and warm-ups included
	BudgetUsed int64  `json:"budget_used"` // requests reserved or committed, from the last answer's budget header
	UsageCalls int64  `json:"usage_calls"` // `aiproxy usage` after the server stopped; -1 if unknown
}

// accountingStore is a store prepared for the comparison.
type accountingStore struct {
	name    string
	onDB    string   // the --db of the server with accounting on
	offDB   string   // and of the one with it off (the same PostgreSQL; a copy of the SQLite file)
	extra   []string // serve flags both get
	apiKey  string
	cleanup func()
}

// accountingInstance is one of the two servers of a store.
type accountingInstance struct {
	on       bool
	t        *target
	srv      *child
	pprofURL string
	answered int // 2xx answers
}

func (in *accountingInstance) mode() string { return map[bool]string{true: "on", false: "off"}[in.on] }

// accountingPhase runs the comparison on SQLite, then on PostgreSQL + Redis (skipped, with
// the reason, when either is unreachable). Only the cancellation of ctx is an error: a
// store that cannot be prepared is reported as skipped.
func accountingPhase(ctx context.Context, o benchOptions, ai *aiproxyInstall, tmp, upURL string, voicesLen int) (*accountingReport, error) {
	ar := &accountingReport{Target: accountingTarget, Budget: budgetRequests, Concurrency: accountingConcurrency(),
		Rounds: o.accountingRounds, Duration: o.duration.String()}
	if !ai.accountingFlag {
		ar.Skipped = append(ar.Skipped, "aiproxy serve has no --accounting flag (built from a revision before issue 11)")
		logf("accounting: skipped: %s", ar.Skipped[0])
		return ar, nil
	}
	acts := accountingActions(voicesLen)
	for _, name := range []string{storeSQLite, storePostgres} {
		var st *accountingStore
		var err error
		switch name {
		case storeSQLite:
			st, err = prepareSQLite(ctx, ai, tmp)
		case storePostgres:
			st, err = preparePostgres(ctx, ai, o.postgresDSN, o.redisAddr)
		}
		if err == nil {
			err = runAccountingStore(ctx, o, ai, ar, st, acts, tmp, upURL)
			st.cleanup()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			ar.Skipped = append(ar.Skipped, fmt.Sprintf("%s: %v", name, err))
			logf("accounting: %s skipped: %v", name, err)
		}
	}
	ar.summarize()
	for _, c := range ar.Checks {
		logf("%s", ar.checkLine(c))
	}
	return ar, nil
}

// prepareSQLite makes the SQLite database of the comparison: the bench org, key and
// credentials and the budget; the server with accounting off gets a copy of the file.
func prepareSQLite(ctx context.Context, ai *aiproxyInstall, tmp string) (*accountingStore, error) {
	st := &accountingStore{name: storeSQLite, onDB: filepath.Join(tmp, "accounting-on.db"), offDB: filepath.Join(tmp, "accounting-off.db"), cleanup: func() {}}
	var err error
	if st.apiKey, err = ai.prepare(ctx, st.onDB); err != nil {
		return nil, err
	}
	if err := setBudget(ctx, ai, st.onDB); err != nil {
		return nil, err
	}
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(st.onDB + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		} else if err != nil {
			return nil, err
		}
		if err := os.WriteFile(st.offDB+suffix, data, 0o600); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func setBudget(ctx context.Context, ai *aiproxyInstall, db string) error {
	_, err := ai.adminDB(ctx, db, "", "budget", "set", "elevenlabs", "--org", benchOrg, "--period", "month",
		"--requests", strconv.FormatInt(budgetRequests, 10))
	return err
}

// preparePostgres creates a database of its own on the server at dsn (dropped by cleanup),
// prepares it as prepareSQLite does, and checks that Redis answers at redisAddr. The org
// gets a random id, so that its Redis keys (under aiproxy's default prefix, shared with
// anything else using that Redis) are its own; cleanup removes them.
func preparePostgres(ctx context.Context, ai *aiproxyInstall, dsn, redisAddr string) (*accountingStore, error) {
	if dsn == "" {
		return nil, errors.New("no --postgres server given")
	}
	if redisAddr == "" {
		return nil, errors.New("no --redis address given")
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("--postgres: want a postgres:// URL")
	}
	if _, err := exec.LookPath("psql"); err != nil {
		return nil, errors.New("psql is not on PATH (the bench creates and drops its database with it)")
	}
	if _, err := psql(ctx, dsn, "SELECT 1"); err != nil {
		return nil, fmt.Errorf("the PostgreSQL server at %s does not answer: %v", u.Host, err)
	}
	if err := pingRedis(redisAddr); err != nil {
		return nil, fmt.Errorf("the Redis at %s does not answer: %v", redactRedis(redisAddr), err)
	}
	name := "aiproxy_bench_" + randomHex(6)
	if _, err := psql(ctx, dsn, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	db := *u
	db.Path, db.RawPath = "/"+name, ""
	st := &accountingStore{name: storePostgres, onDB: db.String(), offDB: db.String(), extra: []string{"--redis-addr", redisAddr}}
	var orgID int64
	st.cleanup = func() {
		if orgID != 0 {
			if _, err := deleteRedisBudgetKeys(redisAddr, orgID); err != nil {
				logf("accounting: removing the bench org's budget keys from Redis: %v", err)
			}
		}
		if _, err := psql(context.WithoutCancel(ctx), dsn, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			logf("accounting: dropping database %s: %v", name, err)
		}
	}
	fail := func(err error) (*accountingStore, error) {
		st.cleanup()
		return nil, err
	}
	if _, err := ai.adminDB(ctx, st.onDB, "", "migrate"); err != nil {
		return fail(err)
	}
	// Best effort: without it the org is 1, as in every fresh database.
	_, _ = psql(ctx, st.onDB, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('orgs', 'id'), %d)", 1_000_000_000+rand.Int64N(1_000_000_000)))
	if st.apiKey, err = ai.prepare(ctx, st.onDB); err != nil {
		return fail(err)
	}
	if err := setBudget(ctx, ai, st.onDB); err != nil {
		return fail(err)
	}
	out, err := psql(ctx, st.onDB, "SELECT id FROM orgs WHERE slug = '"+benchOrg+"'")
	if err != nil {
		return fail(err)
	}
	if orgID, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
		return fail(fmt.Errorf("the bench org's id: %q", out))
	}
	return st, nil
}

// psql runs one statement on the database at dsn and returns its unaligned output.
func psql(ctx context.Context, dsn, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=3")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("psql: %w: %s", err, strings.Join(strings.Fields(stderr.String()), " "))
	}
	return string(out), nil
}

// redactRedis drops a password from a redis:// address.
func redactRedis(addr string) string {
	if u, err := url.Parse(addr); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return addr
}

// runAccountingStore starts the two servers of st and runs every step against them.
func runAccountingStore(ctx context.Context, o benchOptions, ai *aiproxyInstall, ar *accountingReport, st *accountingStore, acts []accountingAction, tmp, upURL string) error {
	logf("accounting: %s: accounting on against --accounting=false", st.name)
	slug := strings.ReplaceAll(st.name, "+", "-")
	var insts []*accountingInstance
	defer func() {
		for _, in := range insts {
			in.srv.stop()
		}
	}()
	for _, on := range []bool{true, false} {
		in := &accountingInstance{on: on}
		db, extra := st.onDB, slices.Clone(st.extra)
		if !on {
			db, extra = st.offDB, append(extra, "--accounting=false")
		}
		pprofAddr := ""
		if o.profileDir != "" && ai.pprof {
			var err error
			if pprofAddr, err = freeAddr(); err != nil {
				return err
			}
			in.pprofURL = "http://" + pprofAddr
		}
		srv, addr, err := startServing(ctx, 20*time.Second, func(addr string) (*child, error) {
			return ai.serveDB(addr, db, upURL, pprofAddr, filepath.Join(tmp, fmt.Sprintf("aiproxy-%s-%s.log", slug, in.mode())), extra...)
		})
		if err != nil {
			return err
		}
		in.srv = srv
		base := "http://" + addr
		in.t = &target{Name: "aiproxy-" + in.mode(), Base: base, PID: srv.pid(), client: newLoadClient(), request: invokeRequest(base, st.apiKey)}
		insts = append(insts, in)
	}
	on := insts[0]

	// Both answer every action whole; only the one with accounting on reserves.
	for _, a := range acts {
		for _, in := range insts {
			h, err := in.t.fetch(ctx, a.action)
			if err != nil {
				return fmt.Errorf("check before the load: %w", err)
			}
			in.answered++
			if reserved := h.Get(budgetRemainingHeader) != ""; reserved != in.on {
				return fmt.Errorf("check before the load: %s %s: %s %q: a budget reservation with accounting %s is not what this compares",
					in.t.Name, a.Name, budgetRemainingHeader, h.Get(budgetRemainingHeader), in.mode())
			}
		}
	}

	for _, a := range acts {
		for _, in := range insts {
			in.answered += countOK(in.t.attack(ctx, a.action, scenario{Kind: "closed", Conc: 16, Duration: 300 * time.Millisecond})) // warm-up, not recorded
		}
		for ci, c := range ar.Concurrency {
			for r := range ar.Rounds {
				order := insts
				if (ci+r)%2 == 1 { // on first, then off first: drift hurts both alike
					order = []*accountingInstance{insts[1], insts[0]}
				}
				for _, in := range order {
					if err := ctx.Err(); err != nil {
						return err
					}
					run := measureAccounting(ctx, in, a, c, o.duration)
					run.Store, run.Round = st.name, r+1
					ar.Runs = append(ar.Runs, run)
					logf("accounting: %-14s %-11s c=%-3d %-3s %7.0f req/s ok %-7s p50 %6s ms, CPU %s busy, aiproxy %s µs/req",
						st.name, a.Name, c, in.mode(), run.RPS, fmtPercent(float64(run.OK)/float64(max(run.Requests, 1))),
						fmtMs(run.P50), fmtBusy(run.CPUBusy), fmtMicros(run.AiproxyCPU))
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
	}

	if o.profileDir != "" {
		if err := profileAccounting(ctx, o, ar, st.name, slug, insts, acts); err != nil {
			ar.Notes = append(ar.Notes, fmt.Sprintf("%s: profiles: %v", st.name, err))
		}
	}

	// What accounting counted: the budget (from one more answer's header), then, once the
	// server has stopped and flushed, the usage meter.
	count := accountingCount{Store: st.name, UsageCalls: -1}
	h, err := on.t.fetch(ctx, acts[0].action)
	if err != nil {
		return fmt.Errorf("after the load: %w", err)
	}
	on.answered++
	count.Answered = on.answered
	if rem, err := strconv.ParseInt(h.Get(budgetRemainingHeader), 10, 64); err == nil {
		count.BudgetUsed = budgetRequests - rem
	}
	on.srv.stop()
	if calls, err := usageCalls(ctx, ai, st.onDB); err != nil {
		ar.Notes = append(ar.Notes, fmt.Sprintf("%s: aiproxy usage: %v", st.name, err))
	} else {
		count.UsageCalls = calls
	}
	ar.Counted = append(ar.Counted, count)
	return nil
}

func countOK(samples []sample) int {
	n := 0
	for _, s := range samples {
		if s.OK {
			n++
		}
	}
	return n
}

// measureAccounting runs one closed-loop step against in, with the machine's CPU use and
// the aiproxy process's CPU time over it.
func measureAccounting(ctx context.Context, in *accountingInstance, a accountingAction, conc int, d time.Duration) accountingRun {
	b0, t0, ok0 := machineCPU()
	p0, okp0 := procCPU(in.t.PID)
	samples := in.t.attack(ctx, a.action, scenario{Kind: "closed", Conc: conc, Duration: d})
	b1, t1, ok1 := machineCPU()
	p1, okp1 := procCPU(in.t.PID)
	in.answered += countOK(samples)
	s := summarize(samples)
	run := accountingRun{Action: a.Name, Accounting: in.on, Concurrency: conc, Requests: s.Requests, OK: s.OK,
		RPS: s.RPS, P50: s.P50, P99: s.P99, Errors: s.Errors, CPUBusy: jsonFloat(math.NaN()), AiproxyCPU: jsonFloat(math.NaN())}
	if ok0 && ok1 {
		run.CPUBusy = jsonFloat(cpuBusy(b0, t0, b1, t1))
	}
	if okp0 && okp1 && s.OK > 0 {
		run.AiproxyCPU = jsonFloat(float64(p1-p0) / float64(time.Microsecond) / float64(s.OK))
	}
	return run
}

// profileAccounting takes a CPU profile of each server during one more step per action at
// the highest concurrency (not recorded), to o.profileDir.
func profileAccounting(ctx context.Context, o benchOptions, ar *accountingReport, store, slug string, insts []*accountingInstance, acts []accountingAction) error {
	if insts[0].pprofURL == "" {
		return errors.New("aiproxy serve has no --pprof-addr")
	}
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	secs := max(2, int(o.duration/time.Second))
	conc := ar.Concurrency[len(ar.Concurrency)-1]
	for _, a := range acts {
		for _, in := range insts {
			path := filepath.Join(o.profileDir, fmt.Sprintf("%s-%s-%s.pprof", slug, a.Name, in.mode()))
			done := make(chan error, 1)
			go func() { done <- fetchProfile(ctx, in.pprofURL, secs, path) }()
			in.answered += countOK(in.t.attack(ctx, a.action, scenario{Kind: "closed", Conc: conc, Duration: time.Duration(secs)*time.Second + 500*time.Millisecond}))
			if err := <-done; err != nil {
				return err
			}
			ar.Profiles = append(ar.Profiles, path)
			logf("accounting: %s %s %s: CPU profile %s", store, a.Name, in.mode(), path)
		}
	}
	return nil
}

func fetchProfile(ctx context.Context, base string, secs int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// usageCalls sums the calls `aiproxy usage` reports for the bench org.
func usageCalls(ctx context.Context, ai *aiproxyInstall, db string) (int64, error) {
	out, err := ai.adminDB(ctx, db, "", "usage", "--org", benchOrg, "--by", "action")
	if err != nil {
		return 0, err
	}
	return sumCSVColumn(out, "calls")
}

// sumCSVColumn sums the column named col of a CSV with a header row.
func sumCSVColumn(data, col string) (int64, error) {
	rows, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, errors.New("no header row")
	}
	i := slices.Index(rows[0], col)
	if i < 0 {
		return 0, fmt.Errorf("no column %q in %v", col, rows[0])
	}
	var sum int64
	for _, r := range rows[1:] {
		n, err := strconv.ParseInt(r[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("column %s: %w", col, err)
		}
		sum += n
	}
	return sum, nil
}

// summarize builds the rows (means over rounds) and the checks from the runs.
func (ar *accountingReport) summarize() {
	type key struct {
		store, action string
		conc          int
	}
	type side struct{ rps, p50, busy, cpu []float64 }
	by := map[key]*[2]side{} // [off, on]
	var order []key
	for _, r := range ar.Runs {
		k := key{r.Store, r.Action, r.Concurrency}
		if by[k] == nil {
			by[k] = &[2]side{}
			order = append(order, k)
		}
		s := &by[k][b2i(r.Accounting)]
		s.rps = append(s.rps, r.RPS)
		s.p50 = append(s.p50, r.P50)
		s.busy = append(s.busy, float64(r.CPUBusy))
		s.cpu = append(s.cpu, float64(r.AiproxyCPU))
	}
	ar.Rows, ar.Checks = nil, nil
	for _, k := range order {
		s := by[k]
		row := accountingRow{Store: k.store, Action: k.action, Concurrency: k.conc,
			RPSOff: mean(s[0].rps), RPSOn: mean(s[1].rps), P50Off: mean(s[0].p50), P50On: mean(s[1].p50),
			BusyOff: jsonFloat(mean(s[0].busy)), BusyOn: jsonFloat(mean(s[1].busy)),
			CPUOff: jsonFloat(mean(s[0].cpu)), CPUOn: jsonFloat(mean(s[1].cpu))}
		row.Ratio = jsonFloat(ratio(row.RPSOn, row.RPSOff))
		ar.Rows = append(ar.Rows, row)
	}
	type pair struct{ store, action string }
	var pairs []pair
	for _, k := range order {
		if p := (pair{k.store, k.action}); !slices.Contains(pairs, p) {
			pairs = append(pairs, p)
		}
	}
	for _, p := range pairs {
		var rows []accountingRow
		for _, row := range ar.Rows {
			if row.Store == p.store && row.Action == p.action {
				rows = append(rows, row)
			}
		}
		ar.Checks = append(ar.Checks, checkAccounting(p.store, p.action, rows, ar.Target))
	}
}

// checkAccounting is the check of one store × action from its rows (one per concurrency).
func checkAccounting(store, action string, rows []accountingRow, target float64) accountingCheck {
	c := accountingCheck{Store: store, Action: action, Ratio: jsonFloat(math.NaN())}
	if len(rows) == 0 {
		return c
	}
	c.Off = saturation(rows, func(r accountingRow) (float64, jsonFloat) { return r.RPSOff, r.BusyOff })
	c.On = saturation(rows, func(r accountingRow) (float64, jsonFloat) { return r.RPSOn, r.BusyOn })
	c.Ratio = jsonFloat(ratio(c.On.RPS, c.Off.RPS))
	c.Pass = !math.IsNaN(float64(c.Ratio)) && float64(c.Ratio) >= target
	c.Saturated = c.Off.Saturated && c.On.Saturated
	return c
}

// saturation is one mode's peak over rows and whether it is at saturation: the machine's
// CPUs at least saturatedBusy busy at the peak, or the highest concurrency serving no more
// than 5 % over the lowest.
func saturation(rows []accountingRow, mode func(accountingRow) (rps float64, busy jsonFloat)) saturatedMode {
	m := saturatedMode{Busy: jsonFloat(math.NaN()), Scale: jsonFloat(math.NaN())}
	lo, hi := rows[0], rows[0]
	for _, r := range rows {
		if rps, busy := mode(r); rps > m.RPS {
			m.RPS, m.Concurrency, m.Busy = rps, r.Concurrency, busy
		}
		if r.Concurrency < lo.Concurrency {
			lo = r
		}
		if r.Concurrency > hi.Concurrency {
			hi = r
		}
	}
	if hi.Concurrency > lo.Concurrency {
		h, _ := mode(hi)
		l, _ := mode(lo)
		m.Scale = jsonFloat(ratio(h, l))
	}
	m.Saturated = float64(m.Busy) >= saturatedBusy || (!math.IsNaN(float64(m.Scale)) && m.Scale <= 1.05)
	return m
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mean of xs; NaN for none.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// checkLine is a check as the bench prints it.
func (ar *accountingReport) checkLine(c accountingCheck) string {
	if math.IsNaN(float64(c.Ratio)) {
		return fmt.Sprintf("accounting overhead, %s, %s: no result FAIL", c.Store, c.Action)
	}
	verdict, cmp := "OK", "≥"
	if !c.Pass {
		verdict, cmp = "FAIL", "<"
	}
	sat := "saturated"
	if !c.Saturated {
		sat = "NOT SATURATED"
	}
	mode := func(name string, m saturatedMode) string {
		s := fmt.Sprintf("%s %.0f req/s at c=%d, CPU %s busy", name, m.RPS, m.Concurrency, fmtBusy(m.Busy))
		if n := len(ar.Concurrency); n > 1 {
			s += fmt.Sprintf(", c=%d/c=%d %s", ar.Concurrency[n-1], ar.Concurrency[0], fmtRatio(m.Scale))
		}
		return s
	}
	return fmt.Sprintf("accounting overhead, %s, %s: on/off = %.2f %s %.1f %s (%s; %s; %s)",
		c.Store, c.Action, float64(c.Ratio), cmp, ar.Target, verdict, mode("on", c.On), mode("off", c.Off), sat)
}

func fmtBusy(v jsonFloat) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", float64(v)*100)
}

func fmtMicros(v jsonFloat) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(v))
}

// markdown is the comparison's section of the report.
func (ar *accountingReport) markdown() string {
	var b strings.Builder
	b.WriteString("### Accounting overhead: jobs, usage and budgets on against `--accounting=false`\n\n")
	fmt.Fprintf(&b, "Per store, two aiproxy processes on the same data: one as shipped, the org holding a budget of %d requests a month "+
		"(so every invoke reserves and commits), one with `serve --accounting=false`. Closed loop at %s clients, %d round(s) of %s per step, "+
		"the two processes interleaved; rows are means over the rounds. \"CPU busy\": all the machine's CPUs over the step; "+
		"\"aiproxy CPU\": the aiproxy process's CPU time per answered request. "+
		"The check compares each mode's best throughput over the concurrencies; target on/off ≥ %.1f.\n\n",
		ar.Budget, joinInts(ar.Concurrency), ar.Rounds, ar.Duration, ar.Target)
	if len(ar.Rows) > 0 {
		b.WriteString("| store | action | clients | req/s off | req/s on | on/off | p50 off | p50 on | CPU busy off | CPU busy on | aiproxy CPU off | aiproxy CPU on |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range ar.Rows {
			fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %s | %s | %s | %s | %s | %s µs | %s µs |\n",
				r.Store, r.Action, r.Concurrency, r.RPSOff, r.RPSOn, fmtRatio(r.Ratio), fmtMs(r.P50Off), fmtMs(r.P50On),
				fmtBusy(r.BusyOff), fmtBusy(r.BusyOn), fmtMicros(r.CPUOff), fmtMicros(r.CPUOn))
		}
		b.WriteString("\n")
	}
	for _, c := range ar.Checks {
		fmt.Fprintf(&b, "- %s\n", ar.checkLine(c))
	}
	for _, c := range ar.Counted {
		usage := "unknown"
		if c.UsageCalls >= 0 {
			usage = strconv.FormatInt(c.UsageCalls, 10)
		}
		// The budget is taken in blocks (budgets.Blocks, budgetBlock requests each): it
		// counts every answered request, and at most one block more than were served.
		all := "every one counted (the budget at most a block ahead)"
		if c.BudgetUsed < int64(c.Answered) || c.BudgetUsed >= int64(c.Answered)+budgetBlock || c.UsageCalls != int64(c.Answered) {
			all = "NOT every one counted"
		}
		fmt.Fprintf(&b, "- %s, accounting on: %d requests answered; the budget counted %d, the usage meter %s: %s.\n", c.Store, c.Answered, c.BudgetUsed, usage, all)
	}
	for _, s := range ar.Skipped {
		fmt.Fprintf(&b, "- Skipped: %s.\n", s)
	}
	for _, n := range ar.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " and ")
}

// budgetBlock is budgets.BlockRequests: far from its limit a budget is taken 256 requests
// at a time.
const budgetBlock = 256
