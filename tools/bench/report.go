package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// sample is one request as the load generator saw it.
type sample struct {
	Start   time.Time
	Latency time.Duration // to the last byte of the body
	OK      bool
	Err     string
}

// stats summarises one target × action × scenario. Latencies are in milliseconds and
// cover every request, failed ones included (as vegeta reports them).
type stats struct {
	Target       string         `json:"target"`
	Action       string         `json:"action"`
	Scenario     string         `json:"scenario"`
	Kind         string         `json:"kind"`
	Rate         int            `json:"rate,omitempty"`
	Concurrency  int            `json:"concurrency,omitempty"`
	Requests     int            `json:"requests"`
	OK           int            `json:"ok"`
	SuccessRatio float64        `json:"success_ratio"`
	RPS          float64        `json:"rps"` // successful requests per second of wall time
	P50          float64        `json:"p50_ms"`
	P90          float64        `json:"p90_ms"`
	P99          float64        `json:"p99_ms"`
	Max          float64        `json:"max_ms"`
	Mean         float64        `json:"mean_ms"`
	Errors       map[string]int `json:"errors,omitempty"`
}

// summarize computes the stats of a run: the wall time runs from the first request sent
// to the last answer read (vegeta's duration plus wait).
func summarize(samples []sample) stats {
	var s stats
	s.Requests = len(samples)
	if len(samples) == 0 {
		return s
	}
	lat := make([]time.Duration, len(samples))
	first, last := samples[0].Start, samples[0].Start
	var sum time.Duration
	for i, x := range samples {
		lat[i] = x.Latency
		sum += x.Latency
		if x.Start.Before(first) {
			first = x.Start
		}
		if end := x.Start.Add(x.Latency); end.After(last) {
			last = end
		}
		if x.OK {
			s.OK++
		} else {
			if s.Errors == nil {
				s.Errors = map[string]int{}
			}
			s.Errors[x.Err]++
		}
	}
	slices.Sort(lat)
	s.SuccessRatio = float64(s.OK) / float64(s.Requests)
	if wall := last.Sub(first); wall > 0 {
		s.RPS = float64(s.OK) / wall.Seconds()
	}
	s.P50 = ms(percentile(lat, 50))
	s.P90 = ms(percentile(lat, 90))
	s.P99 = ms(percentile(lat, 99))
	s.Max = ms(lat[len(lat)-1])
	s.Mean = ms(sum / time.Duration(len(lat)))
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted: the smallest value
// with at least p% of the values at or below it. Zero for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, NaN when either side is missing (zero): a missing target or a run with
// no successful request must not read as "infinitely better".
func ratio(a, b float64) float64 {
	if a == 0 || b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// comparison is aiproxy against the others for one action × scenario.
type comparison struct {
	Action   string `json:"action"`
	Scenario string `json:"scenario"`
	// Added latency over the direct call, ms, per proxy.
	AddedP50 map[string]float64 `json:"added_p50_ms"`
	AddedP99 map[string]float64 `json:"added_p99_ms"`
	// aiproxy / floor and aiproxy / nginx: throughput (>1 is faster), latency (>1 is slower).
	RPSvsFloor jsonFloat `json:"rps_aiproxy_over_floor"`
	P50vsFloor jsonFloat `json:"p50_aiproxy_over_floor"`
	P99vsFloor jsonFloat `json:"p99_aiproxy_over_floor"`
	RPSvsNginx jsonFloat `json:"rps_aiproxy_over_nginx"`
	P50vsNginx jsonFloat `json:"p50_aiproxy_over_nginx"`
	P99vsNginx jsonFloat `json:"p99_aiproxy_over_nginx"`
}

// jsonFloat writes NaN as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%.4g", float64(f))), nil
}

// compare builds the comparisons from the runs, one per action × scenario that aiproxy ran,
// in the order the runs came.
func compare(runs []stats) []comparison {
	type key struct{ action, scenario string }
	by := map[key]map[string]stats{}
	var order []key
	for _, r := range runs {
		k := key{r.Action, r.Scenario}
		if by[k] == nil {
			by[k] = map[string]stats{}
			order = append(order, k)
		}
		by[k][r.Target] = r
	}
	var out []comparison
	for _, k := range order {
		m := by[k]
		ai, ok := m["aiproxy"]
		if !ok {
			continue
		}
		c := comparison{Action: k.action, Scenario: k.scenario, AddedP50: map[string]float64{}, AddedP99: map[string]float64{}}
		if d, ok := m["direct"]; ok && d.OK > 0 {
			for _, name := range []string{"floor", "nginx", "aiproxy"} {
				if p, ok := m[name]; ok && p.OK > 0 {
					c.AddedP50[name] = round3(p.P50 - d.P50)
					c.AddedP99[name] = round3(p.P99 - d.P99)
				}
			}
		}
		nan := math.NaN()
		c.RPSvsFloor, c.P50vsFloor, c.P99vsFloor = jsonFloat(nan), jsonFloat(nan), jsonFloat(nan)
		c.RPSvsNginx, c.P50vsNginx, c.P99vsNginx = jsonFloat(nan), jsonFloat(nan), jsonFloat(nan)
		if f, ok := m["floor"]; ok {
			c.RPSvsFloor, c.P50vsFloor, c.P99vsFloor = jsonFloat(ratio(ai.RPS, f.RPS)), jsonFloat(ratio(ai.P50, f.P50)), jsonFloat(ratio(ai.P99, f.P99))
		}
		if n, ok := m["nginx"]; ok {
			c.RPSvsNginx, c.P50vsNginx, c.P99vsNginx = jsonFloat(ratio(ai.RPS, n.RPS)), jsonFloat(ratio(ai.P50, n.P50)), jsonFloat(ratio(ai.P99, n.P99))
		}
		out = append(out, c)
	}
	return out
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// fmtMs prints milliseconds with three significant digits.
func fmtMs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// fmtAdded prints an added latency with its sign.
func fmtAdded(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	if v >= 0 {
		return "+" + fmtMs(v)
	}
	return fmtMs(v)
}

func fmtRatio(v jsonFloat) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(v))
}

// report is everything one run produced: tools/bench/results/latest.json.
type report struct {
	GeneratedAt string `json:"generated_at"`
	Mode        string `json:"mode"`
	// AccountingOnly: --accounting-only, a partial run.
	AccountingOnly bool              `json:"accounting_only,omitempty"`
	Only           string            `json:"only,omitempty"` // --only: a partial run
	Machine        machine           `json:"machine"`
	Config         runConfig         `json:"config"`
	Nginx          nginxInfo         `json:"nginx"`
	Aiproxy        aiproxyInfo       `json:"aiproxy"`
	Runs           []stats           `json:"runs"`
	Comparisons    []comparison      `json:"comparisons"`
	Memory         []memoryRun       `json:"memory,omitempty"`
	Streams        *streamsRun       `json:"streams,omitempty"`
	Accounting     *accountingReport `json:"accounting,omitempty"`
	JobWaiters     *jobWaitersRun    `json:"job_waiters,omitempty"`
	Realtime       *realtimeRun      `json:"realtime,omitempty"`
	Notes          []string          `json:"notes,omitempty"`
	Elapsed        time.Duration     `json:"-"`
	ElapsedS       float64           `json:"elapsed_s"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	MemoryGiB int    `json:"memory_gib"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	// The 1-minute load average before and after: the machine may be shared.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

type runConfig struct {
	Duration     string `json:"step_duration"`
	ChunkBytes   int    `json:"stream_chunk_bytes"`
	ChunkDelay   string `json:"stream_chunk_delay"`
	VoicesBytes  int    `json:"voices_json_bytes"`
	AudioBytes   int    `json:"audio_bytes"`
	StreamChunks int    `json:"stream_chunks"`
}

type nginxInfo struct {
	Available bool   `json:"available"`
	Version   string `json:"version,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

type aiproxyInfo struct {
	PeakRSSMiB   float64 `json:"peak_rss_mib_after_load"`
	LogLines     int     `json:"request_log_lines"`
	PprofEnabled bool    `json:"pprof_addr_flag"`
}

// memoryRun is one large transfer through a fresh aiproxy.
type memoryRun struct {
	Name       string  `json:"name"`
	Bytes      int64   `json:"bytes"`
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty"`
	Seconds    float64 `json:"seconds"`
	MiBPerSec  float64 `json:"mib_per_s"`
	PeakRSSMiB float64 `json:"aiproxy_peak_rss_mib"`
	IdleRSSMiB float64 `json:"aiproxy_idle_rss_mib"`
}

// streamsRun is N concurrent open streams through a fresh aiproxy.
type streamsRun struct {
	Streams        int            `json:"streams"`
	Hold           string         `json:"hold"`
	Opened         int            `json:"opened"` // got response headers
	Completed      int            `json:"completed"`
	Errors         map[string]int `json:"errors,omitempty"`
	IdleRSSMiB     float64        `json:"aiproxy_idle_rss_mib"`
	PeakRSSMiB     float64        `json:"aiproxy_peak_rss_mib"`
	RSSAllOpenMiB  float64        `json:"aiproxy_rss_all_open_mib"`
	KiBPerStream   float64        `json:"kib_per_stream"`
	Goroutines     int            `json:"goroutines,omitempty"`
	GoroutinesNote string         `json:"goroutines_note,omitempty"`
	Threads        int            `json:"os_threads"`
}

// markdown renders the report's tables: the block between the markers in
// docs/benchmarks.md, and the stdout summary.
func (r *report) markdown() string {
	var b strings.Builder
	flags := map[bool]string{true: " --quick", false: ""}[r.Mode == "quick"]
	if r.AccountingOnly {
		flags += " --accounting-only"
	}
	if r.Only != "" {
		flags += " --only " + r.Only
	}
	fmt.Fprintf(&b, "Generated by `go -C tools run ./bench%s` on %s: %d CPUs, %d GiB, %s, Linux %s; %s per step; run took %.0f s; load average %s before, %s after.\n\n",
		flags, r.GeneratedAt, r.Machine.CPUs, r.Machine.MemoryGiB,
		r.Machine.GoVersion, r.Machine.Kernel, r.Config.Duration, r.ElapsedS, r.Machine.LoadStart, r.Machine.LoadEnd)
	if len(r.Runs) > 0 {
		if !r.Nginx.Available {
			fmt.Fprintf(&b, "nginx: missing (%s).\n\n", r.Nginx.Reason)
		} else {
			fmt.Fprintf(&b, "nginx %s.\n\n", r.Nginx.Version)
		}
		b.WriteString("### aiproxy against the floor and nginx\n\n")
		b.WriteString("Throughput ratio > 1: aiproxy served more requests/s; latency ratio > 1: aiproxy was slower.\n\n")
		b.WriteString(r.ratioTable())
		b.WriteString("\n### Every run\n\n")
		b.WriteString("Latencies in ms, to the last byte of the body. \"+p50\"/\"+p99\": added over the direct call.\n\n")
		b.WriteString(r.runTable())
	}
	if len(r.Memory) > 0 || r.Streams != nil {
		b.WriteString("\n### Memory and concurrency (aiproxy, a fresh process each)\n\n")
		b.WriteString(r.memoryTable())
	}
	if r.Accounting != nil {
		b.WriteString("\n")
		b.WriteString(r.Accounting.markdown())
	}
	if r.JobWaiters != nil {
		b.WriteString("\n")
		b.WriteString(r.JobWaiters.markdown())
	}
	if r.Realtime != nil {
		b.WriteString("\n")
		b.WriteString(r.Realtime.markdown())
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func (r *report) ratioTable() string {
	var b strings.Builder
	b.WriteString("| action | load | rps ai/floor | p50 ai/floor | p99 ai/floor | rps ai/nginx | p50 ai/nginx | p99 ai/nginx | +p50 ai | +p99 ai |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Comparisons {
		a50, ok50 := c.AddedP50["aiproxy"]
		a99, ok99 := c.AddedP99["aiproxy"]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Action, c.Scenario,
			fmtRatio(c.RPSvsFloor), fmtRatio(c.P50vsFloor), fmtRatio(c.P99vsFloor),
			fmtRatio(c.RPSvsNginx), fmtRatio(c.P50vsNginx), fmtRatio(c.P99vsNginx),
			fmtAdded(a50, ok50), fmtAdded(a99, ok99))
	}
	return b.String()
}

func (r *report) runTable() string {
	added := map[[3]string][2]float64{}
	for _, c := range r.Comparisons {
		for name, v := range c.AddedP50 {
			added[[3]string{c.Action, c.Scenario, name}] = [2]float64{v, c.AddedP99[name]}
		}
	}
	var b strings.Builder
	b.WriteString("| action | load | target | req/s | ok | p50 | p90 | p99 | max | +p50 | +p99 |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Runs {
		a, ok := added[[3]string{s.Action, s.Scenario, s.Target}]
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Action, s.Scenario, s.Target, s.RPS, fmtPercent(s.SuccessRatio),
			fmtMs(s.P50), fmtMs(s.P90), fmtMs(s.P99), fmtMs(s.Max), fmtAdded(a[0], ok), fmtAdded(a[1], ok))
	}
	return b.String()
}

func (r *report) memoryTable() string {
	var b strings.Builder
	b.WriteString("| run | result | time | aiproxy idle RSS | aiproxy peak RSS | notes |\n")
	b.WriteString("|---|---|---:|---:|---:|---|\n")
	for _, m := range r.Memory {
		res := "ok"
		if !m.OK {
			res = "FAILED: " + m.Error
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f s | %.0f MiB | %.0f MiB | %.0f MiB/s |\n", m.Name, res, m.Seconds, m.IdleRSSMiB, m.PeakRSSMiB, m.MiBPerSec)
	}
	if s := r.Streams; s != nil {
		res := fmt.Sprintf("%d/%d opened, %d completed", s.Opened, s.Streams, s.Completed)
		if len(s.Errors) > 0 {
			res += ", errors: " + fmtErrors(s.Errors)
		}
		g := s.GoroutinesNote
		if s.Goroutines > 0 {
			g = fmt.Sprintf("%d goroutines", s.Goroutines)
		}
		fmt.Fprintf(&b, "| %d concurrent streams held %s | %s | – | %.0f MiB | %.0f MiB | %.0f MiB with all open (%.0f KiB/stream), %d OS threads; %s |\n",
			s.Streams, s.Hold, res, s.IdleRSSMiB, s.PeakRSSMiB, s.RSSAllOpenMiB, s.KiBPerStream, s.Threads, g)
	}
	return b.String()
}

func fmtPercent(v float64) string {
	if v == 1 {
		return "100%"
	}
	return fmt.Sprintf("%.2f%%", v*100)
}

func fmtErrors(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys[:min(len(keys), 3)] {
		parts = append(parts, fmt.Sprintf("%d× %s", m[k], k))
	}
	return strings.Join(parts, "; ")
}

const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// spliceMarkers replaces what lies between the markers in doc with generated, leaving the
// hand-written rest alone. A doc without the markers gets them appended.
func spliceMarkers(doc, generated string) string {
	block := beginMarker + "\n" + strings.TrimRight(generated, "\n") + "\n" + endMarker
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + block + "\n"
	}
	return doc[:i] + block + doc[j+len(endMarker):]
}

// writeDoc updates the generated section of the doc at path.
func writeDoc(path, generated string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(spliceMarkers(string(old), generated)), 0o644)
}
