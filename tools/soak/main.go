// Command soak holds mixed traffic against the demo wiring (gateway and simulators in one
// process) for a set time, samples the server's resident memory, goroutines and open file
// descriptors, and fails when any of them keeps growing or any request ends unexpectedly.
//
//	cd tools && go run ./soak --duration 2m     # or, from the root: go -C tools run ./soak
//
// It finds the repository from the working directory, builds ./cmd/aiproxy there (or uses
// --bin), runs `aiproxy demo --addr 127.0.0.1:0`, and writes
// tools/soak/results/soak-<duration>.md and .png (or under --out).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aiproxy/aiproxy/internal/proctest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type options struct {
	duration    time.Duration
	concurrency int
	interval    time.Duration
	bin         string
	out         string
	root        string // the repository, when needed: to build aiproxy or for the default --out
	speed       float64
	growth      float64
	slackRSS    float64 // MiB
	slackGo     float64
	slackFD     float64
}

func run() error {
	var o options
	flag.DurationVar(&o.duration, "duration", 2*time.Minute, "how long to hold the traffic")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent clients")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "sampling interval")
	flag.StringVar(&o.bin, "bin", "", "aiproxy binary (default: build ./cmd/aiproxy)")
	flag.StringVar(&o.out, "out", "", "where to write the report and chart (default: tools/soak/results in the repository)")
	flag.Float64Var(&o.speed, "speed", 50, "simulator speed (demo --speed)")
	flag.Float64Var(&o.growth, "growth", 1.5, "fail when a resource's last-quarter average exceeds this × its first-quarter average + slack")
	flag.Float64Var(&o.slackRSS, "slack-rss-mib", 24, "RSS slack, MiB")
	flag.Float64Var(&o.slackGo, "slack-goroutines", 50, "goroutine slack")
	flag.Float64Var(&o.slackFD, "slack-fds", 50, "open file descriptor slack")
	flag.Parse()
	if o.duration <= 0 || o.concurrency <= 0 || o.interval <= 0 {
		return errors.New("--duration, --concurrency and --interval must be positive")
	}

	if o.bin == "" || o.out == "" {
		root, err := proctest.RepoRoot()
		if err != nil {
			return err
		}
		o.root = root
		if o.out == "" {
			o.out = filepath.Join(root, "tools", "soak", "results")
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work, err := os.MkdirTemp("", "aiproxy-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(work, "aiproxy")
		fmt.Printf("building ./cmd/aiproxy in %s\n", o.root)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aiproxy")
		build.Dir = o.root
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	d, err := startDemo(ctx, bin, work, o.speed)
	if err != nil {
		return err
	}
	defer d.stop()
	fmt.Printf("demo pid %d at %s (org %s); soaking for %v with %d clients\n", d.cmd.Process.Pid, d.url, d.org, o.duration, o.concurrency)

	res := soak(ctx, d, o)
	exitErr := d.stop()
	res.exit = exitErr
	verdict := res.judge(o)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	name := "soak-" + shortDuration(o.duration)
	md := filepath.Join(o.out, name+".md")
	png := filepath.Join(o.out, name+".png")
	if err := drawChart(png, res.samples, o.duration); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	report := res.markdown(o, verdict, filepath.Base(png))
	if err := os.WriteFile(md, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Print(res.summary(verdict))
	fmt.Printf("report: %s\nchart:  %s\n", md, png)
	if len(verdict) > 0 {
		return fmt.Errorf("FAILED: %s", strings.Join(verdict, "; "))
	}
	return nil
}

// demo is the running `aiproxy demo` process.
type demo struct {
	cmd        *exec.Cmd
	url        string
	metricsURL string // where /metrics is served without a key
	org, key   string
	logPath    string
	once       sync.Once
	exitErr    error
	waitDone   chan struct{}
}

func startDemo(ctx context.Context, bin, work string, speed float64) (*demo, error) {
	logPath := filepath.Join(work, "demo.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// /metrics on the gateway's own listener needs an operator key; the demo serves it
	// without one on a listener of its own, on loopback.
	cmd := exec.Command(bin, "demo", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(work, "demo"),
		"--speed", strconv.FormatFloat(speed, 'f', -1, 64), "--log-format", "json", "--metrics-addr", metricsAddr)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &demo{cmd: cmd, logPath: logPath, waitDone: make(chan struct{}), metricsURL: "http://" + metricsAddr}
	vars := make(chan map[string]string, 1)
	go func() {
		got := map[string]string{}
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "AIPROXY_") {
				got[k] = v
			}
			if !sent && got["AIPROXY_URL"] != "" && got["AIPROXY_ORG"] != "" && got["AIPROXY_KEY"] != "" {
				vars <- got
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		d.exitErr = cmd.Wait()
		logf.Close()
		close(d.waitDone)
	}()
	select {
	case v := <-vars:
		d.url, d.org, d.key = v["AIPROXY_URL"], v["AIPROXY_ORG"], v["AIPROXY_KEY"]
		return d, nil
	case <-d.waitDone:
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("the demo exited before printing its credentials: %v\n%s", d.exitErr, log)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-d.waitDone
		return nil, errors.New("the demo printed no credentials within 30 s")
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-d.waitDone
		return nil, ctx.Err()
	}
}

// stop asks the demo to shut down (SIGTERM, graceful) and waits; it kills it after 30 s.
func (d *demo) stop() error {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.waitDone:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.waitDone
			d.exitErr = errors.New("did not stop within 30 s of SIGTERM; killed")
		}
	})
	return d.exitErr
}

// request is one kind of call in the mix, with the statuses it is expected to get.
type request struct {
	name     string
	method   string
	path     string // after the org's prefix
	body     string
	auth     string // "" means the demo key
	expected []int
}

const voiceID = "21m00Tcm4TlvDq8ikWAM"

func mix() []request {
	// enable_logging=false is ElevenLabs' zero-retention mode: the simulator, like the real
	// account, otherwise keeps a history item for every generation, and its growth would
	// hide the gateway's.
	tts := `{"path_params": {"voice_id": "` + voiceID + `"}, "query": {"enable_logging": false}, "body": {"text": "The soak test keeps talking to the simulator.", "model_id": "eleven_multilingual_v2"}}`
	return []request{
		{name: "list services", method: "GET", path: "services/", expected: []int{200}},
		{name: "service detail", method: "GET", path: "services/elevenlabs/", expected: []int{200}},
		{name: "invoke json: heygen list-avatars", method: "POST", path: "services/heygen/list-avatars/", body: `{}`, expected: []int{200}},
		{name: "invoke json: elevenlabs list-voices", method: "POST", path: "services/elevenlabs/list-voices/", body: `{}`, expected: []int{200}},
		{name: "passthrough: elevenlabs tts", method: "POST", path: "services/elevenlabs/tts/", body: tts, expected: []int{200}},
		{name: "stream: elevenlabs tts-stream", method: "POST", path: "services/elevenlabs/tts-stream/", body: tts, expected: []int{200}},
		{name: "error: missing path parameter", method: "POST", path: "services/elevenlabs/tts/", body: `{"body": {"text": "x"}}`, expected: []int{400}},
		{name: "error: unknown action", method: "POST", path: "services/heygen/no-such-action/", body: `{}`, expected: []int{404}},
		{name: "error: unknown service", method: "GET", path: "services/no-such-service/", expected: []int{404}},
		{name: "error: malformed envelope", method: "POST", path: "services/heygen/list-avatars/", body: `[1, 2]`, expected: []int{400}},
		{name: "error: invalid key", method: "GET", path: "services/", auth: "Api-Key aip_not_a_real_key_000000000000", expected: []int{401}},
	}
}

// counts are one request kind's results.
type counts struct {
	n, unexpected atomic.Int64
	bytes         atomic.Int64
	nanos         atomic.Int64
	mu            sync.Mutex
	statuses      map[string]int
}

func (c *counts) record(status string, ok bool, bytes int64, d time.Duration) {
	c.n.Add(1)
	if !ok {
		c.unexpected.Add(1)
	}
	c.bytes.Add(bytes)
	c.nanos.Add(int64(d))
	c.mu.Lock()
	c.statuses[status]++
	c.mu.Unlock()
}

// sample is one measurement of the server process.
type sample struct {
	at         time.Duration
	rssKiB     int64
	goroutines int64
	fds        int64
	requests   int64
	errors     int64
}

type results struct {
	kinds    []request
	counts   []*counts
	samples  []sample
	examples []string // the first unexpected results
	elapsed  time.Duration
	exit     error
	logLines map[string]int // demo log lines by level
	notable  []string       // the first WARN and ERROR lines
}

func soak(ctx context.Context, d *demo, o options) *results {
	kinds := mix()
	res := &results{kinds: kinds}
	for range kinds {
		res.counts = append(res.counts, &counts{statuses: map[string]int{}})
	}
	client := &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, IdleConnTimeout: 30 * time.Second},
	}
	defer client.CloseIdleConnections()
	var (
		total, unexpected atomic.Int64
		exMu              sync.Mutex
	)
	start := time.Now()
	deadline := start.Add(o.duration)
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tctx.Err() == nil {
				i := int(next.Add(1)-1) % len(kinds)
				k := kinds[i]
				status, ok, n, dur, detail := call(tctx, client, d, k)
				if tctx.Err() != nil && !ok {
					return // cut off by the end of the soak: not a server error
				}
				res.counts[i].record(status, ok, n, dur)
				total.Add(1)
				if !ok {
					unexpected.Add(1)
					exMu.Lock()
					if len(res.examples) < 20 {
						res.examples = append(res.examples, fmt.Sprintf("%s: %s %s", k.name, status, detail))
					}
					exMu.Unlock()
				}
			}
		}()
	}

	pid := d.cmd.Process.Pid
	takeSample := func() {
		s := sample{at: time.Since(start), requests: total.Load(), errors: unexpected.Load()}
		s.rssKiB = rssKiB(pid)
		s.fds = openFDs(pid)
		s.goroutines = goroutines(client, d.metricsURL)
		res.samples = append(res.samples, s)
		fmt.Printf("%7s  rss %6.1f MiB  goroutines %4d  fds %4d  requests %7d  unexpected %d\n",
			s.at.Round(time.Second), float64(s.rssKiB)/1024, s.goroutines, s.fds, s.requests, s.errors)
	}
	takeSample()
	tick := time.NewTicker(o.interval)
loop:
	for {
		select {
		case <-tick.C:
			takeSample()
		case <-tctx.Done():
			break loop
		}
	}
	tick.Stop()
	wg.Wait()
	res.elapsed = time.Since(start)
	time.Sleep(time.Second) // let the server finish what the last clients left
	takeSample()
	res.logLines, res.notable = logLevels(d.logPath)
	return res
}

// call sends one request and reads the whole answer.
func call(ctx context.Context, client *http.Client, d *demo, k request) (status string, ok bool, n int64, dur time.Duration, detail string) {
	var body io.Reader
	if k.body != "" {
		body = strings.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, d.url+"/api/ai-proxy/orgs/"+d.org+"/"+k.path, body)
	if err != nil {
		return "request error", false, 0, 0, err.Error()
	}
	auth := k.auth
	if auth == "" {
		auth = "Api-Key " + d.key
	}
	req.Header.Set("Authorization", auth)
	if k.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return "transport error", false, 0, time.Since(start), err.Error()
	}
	defer resp.Body.Close()
	var head [512]byte
	m, _ := io.ReadFull(resp.Body, head[:])
	rest, rerr := io.Copy(io.Discard, resp.Body)
	n = int64(m) + rest
	dur = time.Since(start)
	status = strconv.Itoa(resp.StatusCode)
	if rerr != nil {
		return status + " (body read failed)", false, n, dur, rerr.Error()
	}
	for _, e := range k.expected {
		if resp.StatusCode == e {
			if e == 200 && n == 0 {
				return status + " (empty body)", false, n, dur, ""
			}
			return status, true, n, dur, ""
		}
	}
	return status, false, n, dur, strings.TrimSpace(string(head[:m]))
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

func openFDs(pid int) int64 {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return int64(len(entries))
}

// goroutines scrapes go_goroutines from the server's /metrics.
func goroutines(client *http.Client, base string) int64 {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return -1
}

// logLevels counts the demo's JSON log lines by level.
func logLevels(path string) (map[string]int, []string) {
	out := map[string]int{}
	var notable []string
	f, err := os.Open(path)
	if err != nil {
		return out, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		_, rest, ok := strings.Cut(l, `"level":"`)
		if !ok {
			out["(not json)"]++
			continue
		}
		lvl, _, _ := strings.Cut(rest, `"`)
		out[lvl]++
		if (lvl == "WARN" || lvl == "ERROR") && len(notable) < 10 {
			notable = append(notable, l)
		}
	}
	return out, notable
}

// metric extracts one resource from the samples.
type metric struct {
	name  string
	unit  string
	slack float64
	get   func(sample) float64
}

func metrics(o options) []metric {
	return []metric{
		{"RSS", "MiB", o.slackRSS, func(s sample) float64 { return float64(s.rssKiB) / 1024 }},
		{"goroutines", "", o.slackGo, func(s sample) float64 { return float64(s.goroutines) }},
		{"open fds", "", o.slackFD, func(s sample) float64 { return float64(s.fds) }},
	}
}

// quarters returns the averages of the first and last quarter of the samples taken while
// the traffic ran (the first sample, before any traffic, and the last, after it, left out).
func quarters(samples []sample, get func(sample) float64) (first, last float64) {
	s := samples
	if len(s) > 4 {
		s = s[1 : len(s)-1]
	}
	q := len(s) / 4
	if q == 0 {
		q = 1
	}
	avg := func(xs []sample) float64 {
		var t float64
		for _, x := range xs {
			t += get(x)
		}
		return t / float64(len(xs))
	}
	return avg(s[:q]), avg(s[len(s)-q:])
}

// judge lists the reasons to fail.
func (r *results) judge(o options) []string {
	var why []string
	var unexpected int64
	for _, c := range r.counts {
		unexpected += c.unexpected.Load()
	}
	if unexpected > 0 {
		why = append(why, fmt.Sprintf("%d unexpected results", unexpected))
	}
	if len(r.samples) < 4 {
		why = append(why, fmt.Sprintf("only %d samples: run longer or sample more often", len(r.samples)))
	}
	for _, s := range r.samples {
		if s.rssKiB < 0 || s.goroutines < 0 || s.fds < 0 {
			why = append(why, fmt.Sprintf("a sample at %v could not be taken", s.at.Round(time.Second)))
			break
		}
	}
	if len(r.samples) >= 4 {
		for _, m := range metrics(o) {
			first, last := quarters(r.samples, m.get)
			if last > o.growth*first+m.slack {
				why = append(why, fmt.Sprintf("%s grew: last-quarter average %.1f > %.1f × first-quarter average %.1f + %.0f", m.name, last, o.growth, first, m.slack))
			}
		}
	}
	if r.exit != nil {
		why = append(why, fmt.Sprintf("the demo did not shut down cleanly: %v", r.exit))
	}
	if n := r.logLines["ERROR"]; n > 0 {
		why = append(why, fmt.Sprintf("%d ERROR lines in the server log", n))
	}
	return why
}

func (r *results) totals() (n, unexpected, bytes int64) {
	for _, c := range r.counts {
		n += c.n.Load()
		unexpected += c.unexpected.Load()
		bytes += c.bytes.Load()
	}
	return
}

func (r *results) summary(verdict []string) string {
	n, unexpected, bytes := r.totals()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d requests in %v (%.0f/s), %d unexpected, %.1f MiB received\n", n, r.elapsed.Round(time.Second),
		float64(n)/r.elapsed.Seconds(), unexpected, float64(bytes)/(1<<20))
	for _, e := range r.examples {
		fmt.Fprintf(&b, "  unexpected: %s\n", e)
	}
	if len(verdict) == 0 {
		b.WriteString("PASS\n")
	} else {
		fmt.Fprintf(&b, "FAIL: %s\n", strings.Join(verdict, "; "))
	}
	return b.String()
}

func (r *results) markdown(o options, verdict []string, png string) string {
	n, unexpected, bytes := r.totals()
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak: %v\n\n", o.duration)
	fmt.Fprintf(&b, "`go -C tools run ./soak --duration %v --concurrency %d --interval %v --speed %g`, run %s.\n\n",
		o.duration, o.concurrency, o.interval, o.speed, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	verdictText := "**PASS**"
	if len(verdict) > 0 {
		verdictText = "**FAIL**: " + strings.Join(verdict, "; ")
	}
	fmt.Fprintf(&b, "Verdict: %s\n\n", verdictText)
	fmt.Fprintf(&b, "%d requests in %v (%.0f/s), **%d unexpected**, %.1f MiB of answers read. Server log lines by level: %v. Shutdown: %s.\n\n",
		n, r.elapsed.Round(time.Second), float64(n)/r.elapsed.Seconds(), unexpected, float64(bytes)/(1<<20), fmtLevels(r.logLines), exitText(r.exit))
	b.WriteString("| request | expected | count | unexpected | statuses | mean ms |\n|---|---|---:|---:|---|---:|\n")
	for i, k := range r.kinds {
		c := r.counts[i]
		var exp []string
		for _, e := range k.expected {
			exp = append(exp, strconv.Itoa(e))
		}
		c.mu.Lock()
		var st []string
		for s, v := range c.statuses {
			st = append(st, fmt.Sprintf("%s×%d", s, v))
		}
		c.mu.Unlock()
		sort.Strings(st)
		mean := 0.0
		if c.n.Load() > 0 {
			mean = float64(c.nanos.Load()) / float64(c.n.Load()) / 1e6
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %.1f |\n", k.name, strings.Join(exp, ", "), c.n.Load(), c.unexpected.Load(), strings.Join(st, " "), mean)
	}
	if len(r.notable) > 0 {
		b.WriteString("\nServer WARN/ERROR log lines (first 10):\n\n")
		for _, l := range r.notable {
			fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(l, "`", "'"))
		}
	}
	if len(r.examples) > 0 {
		b.WriteString("\nUnexpected results (first 20):\n\n")
		for _, e := range r.examples {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	b.WriteString("\n## Growth check\n\nFirst and last quarter of the samples taken under traffic; fail when last > ")
	fmt.Fprintf(&b, "%g × first + slack.\n\n| resource | first quarter | last quarter | limit | |\n|---|---:|---:|---:|---|\n", o.growth)
	if len(r.samples) >= 4 {
		for _, m := range metrics(o) {
			first, last := quarters(r.samples, m.get)
			limit := o.growth*first + m.slack
			ok := "ok"
			if last > limit {
				ok = "**grew**"
			}
			fmt.Fprintf(&b, "| %s %s | %.1f | %.1f | %.1f | %s |\n", m.name, m.unit, first, last, limit, ok)
		}
	}
	fmt.Fprintf(&b, "\n## Samples\n\n![resources over time](%s)\n\n", png)
	b.WriteString("| t | RSS MiB | goroutines | open fds | requests | unexpected |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.samples {
		fmt.Fprintf(&b, "| %v | %.1f | %d | %d | %d | %d |\n", s.at.Round(time.Second), float64(s.rssKiB)/1024, s.goroutines, s.fds, s.requests, s.errors)
	}
	return b.String()
}

func fmtLevels(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func exitText(err error) string {
	if err == nil {
		return "clean (exit 0 after SIGTERM)"
	}
	return err.Error()
}

// shortDuration is 2m for 2m0s, 1h for 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// freeAddr returns a loopback address with a port free at the time of asking.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
