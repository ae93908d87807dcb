package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy/internal/proctest"
)

type benchOptions struct {
	quick        bool
	duration     time.Duration
	load         bool
	mem          bool
	streams      int
	hold         time.Duration
	installNginx bool
	chunkBytes   int
	chunkDelay   time.Duration
	root         string // the repository: where aiproxy is built from
	resultsDir   string
	doc          string
	keep         bool
	rev          string
	// The accounting comparison (accounting.go).
	accounting       bool
	accountingOnly   bool
	accountingRounds int
	postgresDSN      string // a server the bench creates its database on; "" skips PostgreSQL
	redisAddr        string
	profileDir       string // CPU profiles of the comparison's servers; "" for none
	// The job-waiters run (jobwaiters.go): waiters event streams on waiterJobs videos that
	// take jobRender each.
	waiters    int
	waiterJobs int
	jobRender  time.Duration
	// The realtime run (realtime.go): rtSessions WebSocket sessions of rtFrames frames, one
	// every rtInterval.
	rtSessions int
	rtFrames   int
	rtInterval time.Duration
	only       string // --only, as given
}

// parts are the runs --only chooses from.
var parts = []string{"load", "accounting", "mem", "streams", "job-waiters", "realtime"}

// actions returns the three actions under load with their open-loop rates: the rates
// differ because a 1 MiB answer or a 100-chunk stream costs far more than a 20 KB list.
func actions(quick bool, o benchOptions, voicesLen int) []action {
	as := []action{
		{Slug: "list-voices", Label: "list-voices: 20 KB JSON", Method: "GET", Path: voicesPath,
			WantBytes: int64(voicesLen), Rates: []int{500, 1000, 2000, 4000}},
		{Slug: "tts", Label: "tts: 1 MiB passthrough", Method: "POST", Path: ttsPathPrefix + benchVoiceID,
			WantBytes: audioBytes, Rates: []int{50, 100, 200, 400}},
		{Slug: "tts-stream", Label: fmt.Sprintf("tts-stream: %d x %d B chunks", streamChunks, o.chunkBytes), Method: "POST",
			Path: ttsPathPrefix + benchVoiceID + "/stream", WantBytes: int64(streamChunks * o.chunkBytes), Rates: []int{100, 200, 400, 800}},
	}
	if quick {
		for i := range as {
			as[i].Rates = as[i].Rates[:2]
		}
	}
	return as
}

func scenarios(a action, quick bool, d time.Duration) []scenario {
	var out []scenario
	for _, r := range a.Rates {
		out = append(out, scenario{Kind: "open", Rate: r, Duration: d})
	}
	concs := []int{1, 16, 64}
	if quick {
		concs = []int{16}
	}
	for _, c := range concs {
		out = append(out, scenario{Kind: "closed", Conc: c, Duration: d})
	}
	return out
}

func cmdBench(ctx context.Context, args []string) error {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "CI mode: fewer rates, 1 s steps, no memory or streams runs, one round of the accounting comparison, 500 job waiters on 10 jobs, 200 realtime sessions; a minute or two")
	fs.DurationVar(&o.duration, "duration", 0, "length of each load step (default 2s, 1s with --quick)")
	fs.BoolVar(&o.load, "load", true, "run the load steps (false: only --mem and --streams)")
	fs.BoolVar(&o.mem, "mem", false, "1 GiB download and upload through aiproxy, with its peak RSS (default on without --quick)")
	fs.IntVar(&o.streams, "streams", 0, "hold this many concurrent streams open through aiproxy (default 10000 without --quick)")
	fs.DurationVar(&o.hold, "hold", 30*time.Second, "how long the upstream holds each of the --streams open")
	fs.BoolVar(&o.installNginx, "install-nginx", false, "apt-get install nginx-light when nginx is missing (without it, and without nginx, the nginx comparison is skipped)")
	fs.IntVar(&o.chunkBytes, "chunk-bytes", 1024, "bytes per tts-stream chunk")
	fs.DurationVar(&o.chunkDelay, "chunk-delay", 0, "upstream pause between tts-stream chunks")
	fs.StringVar(&o.resultsDir, "results", defaultResults, "where latest.json and latency.png go; the default is in the repository, a path given is from the working directory")
	fs.StringVar(&o.doc, "doc", defaultDoc, "the doc whose generated section is rewritten (\"\" for none); the default is in the repository, a path given is from the working directory")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, configs, database)")
	fs.StringVar(&o.rev, "rev", "", "build aiproxy from this git revision (git archive) instead of the working tree")
	fs.BoolVar(&o.accounting, "accounting", true, "compare invoke throughput with jobs, usage and budgets on and with serve --accounting=false, on SQLite and on PostgreSQL + Redis")
	accountingOnly := fs.Bool("accounting-only", false, "run only the accounting comparison (no load steps against the floor and nginx, no memory or streams runs)")
	fs.IntVar(&o.accountingRounds, "accounting-rounds", 0, "rounds of each accounting step (default 3, 1 with --quick)")
	fs.StringVar(&o.postgresDSN, "postgres", envOr("AIPROXY_TEST_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server (postgres:// URL) the accounting comparison creates and drops a database on; \"\" skips PostgreSQL")
	fs.StringVar(&o.redisAddr, "redis", envOr("AIPROXY_TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis (host:port) the accounting comparison's PostgreSQL servers count budgets in")
	fs.StringVar(&o.profileDir, "profile", "", "write CPU profiles of the accounting comparison's servers (one extra step per store, action and mode) to this directory")
	fs.IntVar(&o.waiters, "waiters", 0, "job-waiters run: event streams on HeyGen test videos (default 10000, 500 with --quick; 0 skips the run)")
	fs.IntVar(&o.waiterJobs, "waiter-jobs", 0, "job-waiters run: videos the waiters are spread over (default 100, 10 with --quick)")
	fs.DurationVar(&o.jobRender, "job-render", 0, "job-waiters run: real time a test video takes in the simulator (default 25s, 15s with --quick)")
	fs.IntVar(&o.rtSessions, "realtime-sessions", 0, "realtime run: concurrent WebSocket sessions relayed to an echo server (default 2000, 200 with --quick; 0 skips the run)")
	fs.IntVar(&o.rtFrames, "realtime-frames", 20, "realtime run: text frames each session sends")
	fs.DurationVar(&o.rtInterval, "realtime-interval", 0, "realtime run: pause between one session's frames (default 1s, 250ms with --quick)")
	fs.StringVar(&o.only, "only", "", "run only these parts, comma-separated: "+strings.Join(parts, ", ")+" (as with --accounting-only, latest.json goes to a temp dir and no doc is rewritten unless --results/--doc say otherwise)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if !set["duration"] {
		o.duration = map[bool]time.Duration{true: time.Second, false: 2 * time.Second}[o.quick]
	}
	if !set["mem"] {
		o.mem = !o.quick
	}
	if !set["streams"] && !o.quick {
		o.streams = 10000
	}
	if !set["waiters"] {
		o.waiters = map[bool]int{true: 500, false: 10000}[o.quick]
	}
	if !set["waiter-jobs"] {
		o.waiterJobs = map[bool]int{true: 10, false: 100}[o.quick]
	}
	if !set["job-render"] {
		o.jobRender = map[bool]time.Duration{true: 15 * time.Second, false: 25 * time.Second}[o.quick]
	}
	if !set["realtime-sessions"] {
		o.rtSessions = map[bool]int{true: 200, false: 2000}[o.quick]
	}
	if !set["realtime-interval"] {
		o.rtInterval = map[bool]time.Duration{true: 250 * time.Millisecond, false: time.Second}[o.quick]
	}
	if o.rtSessions > 0 && (o.rtFrames < 1 || o.rtInterval <= 0) {
		return errors.New("--realtime-frames must be at least 1 and --realtime-interval positive")
	}
	if o.waiters > 0 && (o.waiterJobs < 1 || o.waiterJobs > o.waiters) {
		return errors.New("--waiter-jobs must be from 1 to --waiters")
	}
	if o.waiters > 0 && o.jobRender < jobWaitersPollInterval {
		return fmt.Errorf("--job-render must be at least the poll interval (%s)", jobWaitersPollInterval)
	}
	if !set["accounting-rounds"] {
		o.accountingRounds = map[bool]int{true: 1, false: 3}[o.quick]
	}
	if o.accountingRounds < 1 {
		return errors.New("--accounting-rounds must be at least 1")
	}
	if *accountingOnly && o.only != "" {
		return errors.New("--accounting-only and --only: give one")
	}
	if o.only != "" {
		want := map[string]bool{}
		for _, p := range strings.Split(o.only, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(parts, p) {
				return fmt.Errorf("--only: unknown part %q (want %s)", p, strings.Join(parts, ", "))
			}
			want[p] = true
		}
		o.load, o.accounting, o.mem = want["load"], want["accounting"], want["mem"]
		if !want["streams"] {
			o.streams = 0
		} else if o.streams == 0 {
			o.streams = 10000
		}
		if !want["job-waiters"] {
			o.waiters = 0
		}
		if !want["realtime"] {
			o.rtSessions = 0
		}
	}
	if *accountingOnly {
		o.accountingOnly = true
		o.accounting, o.load, o.mem, o.streams, o.waiters, o.rtSessions = true, false, false, 0, 0, 0
	}
	if o.accountingOnly || o.only != "" {
		// A partial run must not replace the committed results: unless told where, its
		// latest.json goes to a temp dir and no doc is rewritten.
		if !set["results"] {
			if o.resultsDir, err = os.MkdirTemp("", "aiproxy-bench-results-"); err != nil {
				return err
			}
			set["results"] = true
		}
		if !set["doc"] {
			o.doc = ""
		}
	}
	if o.profileDir != "" {
		if o.profileDir, err = filepath.Abs(o.profileDir); err != nil {
			return err
		}
	}
	// The repository is found from the working directory, so the bench runs from the root
	// (go -C tools run ./bench) or from tools/ (go run ./bench) alike. The default outputs
	// are the repository's; paths given on the command line are the caller's.
	if o.root, err = proctest.RepoRoot(); err != nil {
		return err
	}
	if o.resultsDir, err = outputPath(o.root, o.resultsDir, set["results"]); err != nil {
		return err
	}
	if o.doc, err = outputPath(o.root, o.doc, set["doc"]); err != nil {
		return err
	}
	return runBench(ctx, o)
}

// The default outputs, relative to the repository root.
var (
	defaultResults = filepath.Join("tools", "bench", "results")
	defaultDoc     = filepath.Join("docs", "benchmarks.md")
)

// outputPath makes p absolute: a default against the repository root, a path the caller
// gave against the working directory. "" stays "" (no output).
func outputPath(root, p string, given bool) (string, error) {
	switch {
	case p == "" || filepath.IsAbs(p):
		return p, nil
	case !given:
		return filepath.Join(root, p), nil
	default:
		return filepath.Abs(p)
	}
}

// envOr returns the value of the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func runBench(ctx context.Context, o benchOptions) (err error) {
	began := time.Now()
	rep := &report{
		GeneratedAt:    began.UTC().Format("2006-01-02 15:04 UTC"),
		Mode:           map[bool]string{true: "quick", false: "full"}[o.quick],
		AccountingOnly: o.accountingOnly,
		Only:           o.only,
		Machine:        machineInfo(),
	}
	fdLimit, err := raiseFileLimit(1 << 17)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("RLIMIT_NOFILE could only be raised to %d (%v).", fdLimit, err))
	}
	tmp, err := os.MkdirTemp("", "aiproxy-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("temp dir (kept): %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	elevenKey, heygenKey := randomHex(16), randomHex(16)
	self, err := os.Executable()
	if err != nil {
		return err
	}

	// The upstream lives for the whole run.
	upstream, upAddr, err := startServing(ctx, 10*time.Second, func(addr string) (*child, error) {
		return startChild("upstream", filepath.Join(tmp, "upstream.log"), nil, self, "upstream",
			"--addr", addr, "--eleven-key", elevenKey, "--heygen-key", heygenKey,
			"--chunk-bytes", fmt.Sprint(o.chunkBytes), "--chunk-delay", o.chunkDelay.String())
	})
	if err != nil {
		return err
	}
	defer upstream.stop()
	upURL := "http://" + upAddr

	logf("building aiproxy and preparing its database")
	ai, err := installAiproxy(ctx, o.root, tmp, o.rev, elevenKey, heygenKey)
	if err != nil {
		return err
	}
	rep.Aiproxy.PprofEnabled = ai.pprof

	voicesLen := len(voiceList(20 << 10))
	acts := actions(o.quick, o, voicesLen)
	rep.Config = runConfig{Duration: o.duration.String(), ChunkBytes: o.chunkBytes, ChunkDelay: o.chunkDelay.String(),
		VoicesBytes: voicesLen, AudioBytes: audioBytes, StreamChunks: streamChunks}

	if o.load {
		if err := loadPhase(ctx, o, rep, acts, tmp, self, upAddr, upURL, elevenKey, ai); err != nil {
			return err
		}
	}
	if o.accounting {
		if rep.Accounting, err = accountingPhase(ctx, o, ai, tmp, upURL, voicesLen); err != nil {
			return err
		}
	}
	if o.mem {
		for _, run := range []func(context.Context, string, string, int) memoryRun{download1GiB, upload1GiB} {
			m, err := withFreshAiproxy(ctx, ai, tmp, upURL, func(base string, pid int, _ string) memoryRun {
				return run(ctx, base, ai.apiKey, pid)
			})
			if err != nil {
				return err
			}
			logf("memory: %s: ok=%v %.1f s, peak RSS %.0f MiB %s", m.Name, m.OK, m.Seconds, m.PeakRSSMiB, m.Error)
			rep.Memory = append(rep.Memory, m)
		}
	}
	if o.streams > 0 {
		// aiproxy holds two descriptors per stream (client and upstream connection) plus a
		// few of its own: asking for more than the limit allows measures EMFILE, not aiproxy.
		if most := int(fdLimit-64) / 2; o.streams > most {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Concurrent streams capped at %d of the %d asked: RLIMIT_NOFILE is %d here and aiproxy needs two descriptors per stream.", most, o.streams, fdLimit))
			o.streams = most
		}
		logf("streams: opening %d concurrent streams, each held %s", o.streams, o.hold)
		// All the streams use the bench's one key: lift the per-key bound on requests in
		// progress (256 by default), which would otherwise answer 429 past it.
		var extra []string
		if ai.inflightFlag {
			extra = []string{"--max-inflight-per-key", "0"}
		}
		s, err := withFreshAiproxy(ctx, ai, tmp, upURL, func(base string, pid int, pprofURL string) *streamsRun {
			return holdStreams(ctx, base, ai.apiKey, pid, pprofURL, o.streams, o.hold, logf)
		}, extra...)
		if err != nil {
			return err
		}
		rep.Streams = s
	}
	if o.waiters > 0 {
		// Each waiter holds a descriptor in the bench and one in aiproxy, which have the
		// same limit; keep some for the rest.
		if most := int(fdLimit) - 256; o.waiters > most {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Job waiters capped at %d of the %d asked: RLIMIT_NOFILE is %d here.", most, o.waiters, fdLimit))
			o.waiters = most
			o.waiterJobs = min(o.waiterJobs, most)
		}
		logf("job-waiters: %d event streams on %d videos of %s each", o.waiters, o.waiterJobs, o.jobRender)
		if rep.JobWaiters, err = jobWaiters(ctx, ai, tmp, o.waiters, o.waiterJobs, o.jobRender); err != nil {
			return fmt.Errorf("job-waiters: %w", err)
		}
		jr := rep.JobWaiters
		logf("job-waiters: %d/%d done, reads per interval %.2f (max), %.1f KiB per waiter, done after completed p99 %s ms, max %s ms: %s",
			jr.Done, jr.Waiters, jr.ReadsPerIntervalMax, jr.KiBPerWaiter, fmtMs(jr.DoneP99Ms), fmtMs(jr.DoneMaxMs), map[bool]string{true: "OK", false: "FAIL"}[jr.OK])
	}
	if o.rtSessions > 0 {
		// Each session holds two descriptors in the bench (the client's and the echo
		// server's end) and two in aiproxy, which have the same limit; keep some for the rest.
		if most := (int(fdLimit) - 256) / 2; o.rtSessions > most {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Realtime sessions capped at %d of the %d asked: RLIMIT_NOFILE is %d here.", most, o.rtSessions, fdLimit))
			o.rtSessions = most
		}
		if !ai.realtimeFlag && o.rtSessions > defaultRealtimeSessionsPerOrg {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Realtime sessions capped at %d of the %d asked: this aiproxy serve has no --realtime-sessions-per-org.", defaultRealtimeSessionsPerOrg, o.rtSessions))
			o.rtSessions = defaultRealtimeSessionsPerOrg
		}
		logf("realtime: %d sessions, %d frames each, one every %s", o.rtSessions, o.rtFrames, o.rtInterval)
		if rep.Realtime, err = realtime(ctx, ai, tmp, o.rtSessions, o.rtFrames, o.rtInterval, o.quick); err != nil {
			return fmt.Errorf("realtime: %w", err)
		}
		rr := rep.Realtime
		logf("realtime: relayed %d/%d frames echoed, %d dropped, %d duplicated, %d reordered; added per frame p50 %s ms, p99 %s ms; %.1f KiB per session: %s",
			rr.Relayed.Echoed, rr.Relayed.FramesSent, rr.Relayed.Dropped, rr.Relayed.Duplicated, rr.Relayed.Reordered,
			fmtMs(rr.AddedP50Ms), fmtMs(rr.AddedP99Ms), rr.KiBPerSession, map[bool]string{true: "OK", false: "FAIL"}[rr.OK])
		for _, m := range rr.Missed {
			logf("realtime: target missed (reported, not failed): %s", m)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	rep.Machine.LoadEnd = loadAverage()
	rep.Elapsed = time.Since(began)
	rep.ElapsedS = float64(rep.Elapsed.Round(time.Second) / time.Second)
	if err := writeOutputs(o, rep, acts); err != nil {
		return err
	}
	// Targets that fail the run (the others are reported only: too noisy on shared machines).
	var failed []error
	if jr := rep.JobWaiters; jr != nil && !jr.OK {
		failed = append(failed, fmt.Errorf("job-waiters FAILED: %s", strings.Join(jr.Failures, "; ")))
	}
	if rr := rep.Realtime; rr != nil && !rr.OK {
		failed = append(failed, fmt.Errorf("realtime FAILED: %s", strings.Join(rr.Failures, "; ")))
	}
	return errors.Join(failed...)
}

// loadPhase starts the floor, nginx and aiproxy, checks each answers every action whole,
// then runs every scenario against every target, targets interleaved so drift in the
// machine's state spreads over all of them.
func loadPhase(ctx context.Context, o benchOptions, rep *report, acts []action, tmp, self, upAddr, upURL, elevenKey string, ai *aiproxyInstall) error {
	targets := []*target{{Name: "direct", Base: upURL, client: newLoadClient(), request: upstreamRequest(upURL, elevenKey)}}

	floor, floorAddr, err := startServing(ctx, 10*time.Second, func(addr string) (*child, error) {
		return startChild("floor", filepath.Join(tmp, "floor.log"), nil, self, "floor", "--addr", addr, "--upstream", upURL, "--key", elevenKey)
	})
	if err != nil {
		return err
	}
	defer floor.stop()
	targets = append(targets, &target{Name: "floor", Base: "http://" + floorAddr, PID: floor.pid(), client: newLoadClient(), request: upstreamRequest("http://"+floorAddr, "")})

	if bin, reason := ensureNginx(ctx, o.installNginx, logf); bin == "" {
		rep.Nginx = nginxInfo{Reason: reason}
		logf("skipping the nginx comparison: %s", reason)
	} else {
		dir := filepath.Join(tmp, "nginx")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		ng, err := startNginx(bin, dir, addr, upAddr, elevenKey)
		if err == nil {
			defer ng.stop()
			err = ng.waitReady(ctx, "http://"+addr+"/healthz", 10*time.Second)
		}
		if err != nil {
			rep.Nginx = nginxInfo{Reason: "nginx would not start: " + err.Error()}
			logf("%s", rep.Nginx.Reason)
		} else {
			rep.Nginx = nginxInfo{Available: true, Version: nginxVersion(bin)}
			targets = append(targets, &target{Name: "nginx", Base: "http://" + addr, PID: ng.pid(), client: newLoadClient(), request: upstreamRequest("http://"+addr, "")})
		}
	}

	aiLog := filepath.Join(tmp, "aiproxy.log")
	srv, aiAddr, err := startServing(ctx, 20*time.Second, func(addr string) (*child, error) {
		return ai.serve(addr, upURL, "", aiLog)
	})
	if err != nil {
		return err
	}
	defer srv.stop()
	aiBase := "http://" + aiAddr
	targets = append(targets, &target{Name: "aiproxy", Base: aiBase, PID: srv.pid(), client: newLoadClient(), request: invokeRequest(aiBase, ai.apiKey)})

	for _, t := range targets {
		for _, a := range acts {
			if err := t.check(ctx, a); err != nil {
				rep.Notes = append(rep.Notes, "check failed before the load: "+err.Error())
				logf("CHECK FAILED: %v", err)
			}
		}
	}
	for _, a := range acts {
		for _, t := range targets {
			t.attack(ctx, a, scenario{Kind: "closed", Conc: 8, Duration: 200 * time.Millisecond}) // warm pools, not recorded
		}
		for _, s := range scenarios(a, o.quick, o.duration) {
			for _, t := range targets {
				if err := ctx.Err(); err != nil {
					return err
				}
				st := summarize(t.attack(ctx, a, s))
				st.Target, st.Action, st.Scenario, st.Kind, st.Rate, st.Concurrency = t.Name, a.Slug, s.String(), s.Kind, s.Rate, s.Conc
				rep.Runs = append(rep.Runs, st)
				logf("%-11s %-8s %-7s %7.0f req/s ok %-7s p50 %6s p99 %6s ms", a.Slug, s, t.Name, st.RPS, fmtPercent(st.SuccessRatio), fmtMs(st.P50), fmtMs(st.P99))
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	rep.Comparisons = compare(rep.Runs)
	_, rep.Aiproxy.PeakRSSMiB = rssMiB(srv.pid())
	srv.stop()
	if data, err := os.ReadFile(aiLog); err == nil {
		rep.Aiproxy.LogLines = strings.Count(string(data), "\n")
	}
	return nil
}

// withFreshAiproxy runs f against a newly started aiproxy (with the extra serve flags), so
// its peak RSS is f's alone.
func withFreshAiproxy[T any](ctx context.Context, ai *aiproxyInstall, tmp, upURL string, f func(base string, pid int, pprofURL string) T, extra ...string) (T, error) {
	var zero T
	pprofAddr := ""
	if ai.pprof {
		var err error
		if pprofAddr, err = freeAddr(); err != nil {
			return zero, err
		}
	}
	srv, addr, err := startServing(ctx, 20*time.Second, func(addr string) (*child, error) {
		return ai.serveDB(addr, ai.db, upURL, pprofAddr, filepath.Join(tmp, fmt.Sprintf("aiproxy-%d.log", time.Now().UnixNano())), extra...)
	})
	if err != nil {
		return zero, err
	}
	defer srv.stop()
	pprofURL := ""
	if pprofAddr != "" {
		pprofURL = "http://" + pprofAddr
	}
	return f("http://"+addr, srv.pid(), pprofURL), nil
}

func writeOutputs(o benchOptions, rep *report, acts []action) error {
	if err := os.MkdirAll(o.resultsDir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.resultsDir, "latest.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var targets []string
	for _, name := range []string{"direct", "floor", "nginx", "aiproxy"} {
		for _, r := range rep.Runs {
			if r.Target == name {
				targets = append(targets, name)
				break
			}
		}
	}
	if len(rep.Runs) > 0 {
		if err := drawChart(filepath.Join(o.resultsDir, "latency.png"), acts, rep.Runs, targets); err != nil {
			return err
		}
	}
	md := rep.markdown()
	if o.doc != "" {
		if len(rep.Runs) > 0 {
			md += "\n![p50 and p99 latency against offered rate](" + relLink(o.doc, filepath.Join(o.resultsDir, "latency.png")) + ")\n"
		}
		if err := writeDoc(o.doc, md); err != nil {
			return err
		}
	}
	fmt.Println(md)
	wrote := []string{filepath.Join(o.resultsDir, "latest.json")}
	if len(rep.Runs) > 0 {
		wrote = append(wrote, filepath.Join(o.resultsDir, "latency.png"))
	}
	if o.doc != "" {
		wrote = append(wrote, o.doc)
	}
	fmt.Printf("Wrote %s.\n", strings.Join(wrote, ", "))
	return nil
}

// relLink is the markdown link from the doc at doc to the file at target: relative, with
// slashes, when one can be made.
func relLink(doc, target string) string {
	rel, err := filepath.Rel(filepath.Dir(doc), target)
	if err != nil {
		return filepath.ToSlash(target)
	}
	return filepath.ToSlash(rel)
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAverage()}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if st, err := procMeminfo(); err == nil {
		m.MemoryGiB = int((st + (1 << 19)) >> 20) // kB to GiB, rounded
	}
	return m
}

// loadAverage is the 1-minute load average.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func procMeminfo() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	var kb int64
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			_, err := fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
			return kb, err
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
