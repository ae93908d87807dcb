package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// The realtime run (docs/benchmarks.md "Realtime relay", docs/realtime.md): many WebSocket
// sessions of ElevenLabs' tts-websocket relayed by aiproxy to an echo server in this
// process, against the same sessions straight to the echo server. The targets:
//
//   - 2,000 concurrent relayed sessions, zero dropped frames (every echo back, in order,
//     exactly once);
//   - aiproxy's RSS per session ≤ 64 KiB (RSS with every session open and idle, after their
//     frames, minus RSS before the first opened, over the sessions);
//   - added latency per frame, p50 ≤ 1 ms: a frame's round trip relayed (client → aiproxy →
//     echo → aiproxy → client) minus the same frame's round trip direct (client → echo),
//     percentile against percentile, both phases with the same sessions, frames and schedule.
//
// A dropped, duplicated, reordered or corrupted frame, or a session that does not open or
// breaks, fails the bench in every mode. The latency and memory targets never fail it: a
// full run reports each as met or missed; --quick prints the figures without a verdict
// (CI machines are too noisy, and 200 sessions share the process's fixed cost).

// Targets and fixed parameters of the run.
const (
	realtimeMaxKiB        = 64  // aiproxy RSS per relayed session
	realtimeMaxAddedP50Ms = 1.0 // added latency per frame, p50
	realtimeRamp          = 500 // sessions opened per second
	realtimeModel         = "eleven_flash_v2_5"
	// The text of frame i of session s is realtimeTextMin + (131 s + 57 i) mod
	// realtimeTextSpread bytes: frames of about 100 to 500 bytes in all.
	realtimeTextMin    = 40
	realtimeTextSpread = 401
	// How long a session waits for its last echo after sending its last frame.
	realtimeEchoWait = 15 * time.Second
	// aiproxy's bound on an org's sessions without --realtime-sessions-per-org
	// (httpapi.DefaultRealtimeSessionsPerOrg; importing httpapi would pull the gateway's
	// dependencies into this module).
	defaultRealtimeSessionsPerOrg = 100
)

// echoPath is the upstream path of tts-websocket for the bench's voice.
var echoPath = ttsPathPrefix + benchVoiceID + "/stream-input"

// realtimeRun is the run's report: tools/bench/results/latest.json "realtime".
type realtimeRun struct {
	Sessions         int     `json:"sessions"`
	FramesPerSession int     `json:"frames_per_session"`
	FrameIntervalMs  float64 `json:"frame_interval_ms"`    // between one session's frames
	OfferedFramesPS  float64 `json:"offered_frames_per_s"` // all sessions together
	FrameBytesMin    int     `json:"frame_bytes_min"`
	FrameBytesMax    int     `json:"frame_bytes_max"`
	Quick            bool    `json:"quick"` // the latency and memory targets were not checked
	// The two phases: the sessions straight to the echo server, then through aiproxy.
	Direct  realtimePhase `json:"direct"`
	Relayed realtimePhase `json:"relayed"`
	// Relayed minus direct, percentile by percentile, ms.
	AddedP50Ms float64 `json:"added_p50_ms"`
	AddedP90Ms float64 `json:"added_p90_ms"`
	AddedP99Ms float64 `json:"added_p99_ms"`
	// aiproxy's memory during the relayed phase.
	RSSBeforeMiB  float64 `json:"aiproxy_rss_before_mib"`   // before the first session (after one warm-up session)
	RSSAllOpenMiB float64 `json:"aiproxy_rss_all_open_mib"` // every session open and idle, after its frames
	// Every session open, before the first frame: what holding a session costs before any
	// message passed (not a target; it tells holding from what the traffic left behind).
	RSSOpenNoFramesMiB    float64 `json:"aiproxy_rss_open_before_frames_mib"`
	KiBPerSessionNoFrames float64 `json:"kib_per_session_before_frames"`
	// From aiproxy's runtime (its pprof heap page) at the all-open snapshot, when serve has
	// --pprof-addr: heap in use and goroutine stacks, MiB.
	HeapInuseMiB  float64 `json:"aiproxy_heap_inuse_mib,omitempty"`
	StackInuseMiB float64 `json:"aiproxy_stack_inuse_mib,omitempty"`
	LiveHeapMiB   float64 `json:"aiproxy_live_heap_after_gc_mib,omitempty"` // read after the snapshot, the process asked to collect first
	OpenAtRSS     int     `json:"open_at_rss_snapshot"`
	PeakRSSMiB    float64 `json:"aiproxy_peak_rss_mib"`
	KiBPerSession float64 `json:"kib_per_session"`
	Goroutines    int     `json:"goroutines,omitempty"` // aiproxy's, with every session open
	Threads       int     `json:"os_threads"`
	// Targets: met or not; Missed says how, in a full run (a quick run gives no verdict).
	LatencyTargetMet bool     `json:"added_p50_target_met"`
	MemoryTargetMet  bool     `json:"rss_target_met"`
	Missed           []string `json:"targets_missed,omitempty"`
	Notes            []string `json:"notes,omitempty"`
	Failures         []string `json:"failures,omitempty"` // these fail the bench
	OK               bool     `json:"ok"`
}

// realtimePhase is one phase's sessions and frames.
type realtimePhase struct {
	Opened     int            `json:"opened"`
	Errors     map[string]int `json:"errors,omitempty"` // sessions that did not open or broke
	OpenS      float64        `json:"open_s"`           // from the first dial to the last session open
	FramesSent int            `json:"frames_sent"`
	Echoed     int            `json:"frames_echoed"` // distinct frames that came back whole
	Dropped    int            `json:"frames_dropped"`
	Duplicated int            `json:"frames_duplicated"`
	Reordered  int            `json:"frames_reordered"`
	Corrupted  int            `json:"frames_corrupted"` // not a frame of the session, or not the bytes sent
	// Round trip of each frame (first arrival), ms.
	P50Ms  float64 `json:"rtt_p50_ms"`
	P90Ms  float64 `json:"rtt_p90_ms"`
	P99Ms  float64 `json:"rtt_p99_ms"`
	MaxMs  float64 `json:"rtt_max_ms"`
	MeanMs float64 `json:"rtt_mean_ms"`
	rtts   []time.Duration
	// The smallest and largest frame sent.
	minBytes, maxBytes int
}

// seqChecker checks the echoes of one session: every sequence number from 0 to k−1 once,
// in order.
type seqChecker struct {
	seen       []bool
	got        int // distinct sequence numbers seen
	highest    int // the highest seen, −1 before the first
	duplicated int // a sequence number seen again
	reordered  int // a sequence number lower than one seen before it (arrived late)
	invalid    int // outside 0 … k−1
}

func newSeqChecker(k int) *seqChecker { return &seqChecker{seen: make([]bool, k), highest: -1} }

// add records one echo and says whether it is the first arrival of a valid frame.
func (c *seqChecker) add(seq int) bool {
	switch {
	case seq < 0 || seq >= len(c.seen):
		c.invalid++
		return false
	case c.seen[seq]:
		c.duplicated++
		return false
	}
	c.seen[seq] = true
	c.got++
	if seq < c.highest {
		c.reordered++
	}
	c.highest = max(c.highest, seq)
	return true
}

func (c *seqChecker) complete() bool { return c.got == len(c.seen) }

// dropped is how many frames never came back (so far).
func (c *seqChecker) dropped() int { return len(c.seen) - c.got }

// addedLatency is relayed minus direct at the p-th percentile, in ms; NaN when either has
// no values. Neither slice is changed.
func addedLatency(relayed, direct []time.Duration, p float64) float64 {
	if len(relayed) == 0 || len(direct) == 0 {
		return math.NaN()
	}
	r, d := slices.Clone(relayed), slices.Clone(direct)
	slices.Sort(r)
	slices.Sort(d)
	return ms(percentile(r, p) - percentile(d, p))
}

// rtFrame is one frame: a tts-websocket text message (the gateway meters its text) with
// what the echo is checked against.
type rtFrame struct {
	Text    string `json:"text"`
	Session int    `json:"session"`
	Seq     int    `json:"seq"`
	SentNs  int64  `json:"sent_ns"`
}

// frameText is the text of frame seq of session s: its length varies with both.
func frameText(s, seq int) string {
	n := realtimeTextMin + (131*s+57*seq)%realtimeTextSpread
	const words = "the quick brown fox jumps over the lazy dog "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

// newEchoServer is the provider: tts-websocket's path, the provider key checked (so a relay
// that forgot it fails), every message sent back at once, as it came.
func newEchoServer(key string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET "+echoPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("xi-api-key") != key {
			http.Error(w, `{"detail":{"status":"invalid_api_key"}}`, http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return // a close is answered by Read itself
			}
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	})
	return mux
}

// rtSession is what one session of a phase did.
type rtSession struct {
	err        string
	sent       int
	check      *seqChecker
	corrupted  int
	rtts       []time.Duration
	minB, maxB int
}

// rtPhaseConfig describes one phase.
type rtPhaseConfig struct {
	name     string
	n, k     int
	interval time.Duration
	dial     func(ctx context.Context) (*websocket.Conn, *http.Response, error)
	echoWait time.Duration // how long a session waits for its echoes after its last frame; 0: realtimeEchoWait
	// opened is called once every session is open (or failed to), before the first frame;
	// idle once every session has its echoes (or gave up on them) and before any closes.
	// Both get the number of sessions open.
	opened, idle func(open int)
}

// runRealtimePhase opens n sessions at realtimeRamp a second and, once all are open, has
// each send k frames, one every interval, the sessions spread evenly over the interval;
// each reads its echoes as they come. When every session has all its echoes (or waited
// echoWait past its last frame), idle runs, then every session closes.
func runRealtimePhase(ctx context.Context, c rtPhaseConfig) realtimePhase {
	ph := realtimePhase{Errors: map[string]int{}}
	if c.echoWait <= 0 {
		c.echoWait = realtimeEchoWait
	}
	deadline := time.Now().Add(time.Duration(c.n)*time.Second/realtimeRamp + time.Duration(c.k)*c.interval + c.echoWait + time.Minute)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	sess := make([]rtSession, c.n)
	conns := make([]*websocket.Conn, c.n)
	var dials sync.WaitGroup
	tick := time.NewTicker(time.Second / realtimeRamp)
	first := time.Now()
	for i := range sess {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		dials.Go(func() {
			conn, resp, err := c.dial(ctx)
			if err != nil {
				sess[i].err = dialError(resp, err)
				return
			}
			conns[i] = conn
		})
	}
	tick.Stop()
	dials.Wait()
	ph.OpenS = time.Since(first).Seconds()
	for i := range sess {
		if conns[i] != nil {
			ph.Opened++
		}
	}
	logf("realtime %s: %d of %d sessions open in %.1f s", c.name, ph.Opened, c.n, ph.OpenS)
	if c.opened != nil {
		c.opened(ph.Opened)
	}

	// Every open session: a reader, and a writer on the common schedule.
	start := time.Now().Add(100 * time.Millisecond)
	closeAll := make(chan struct{})
	var framesDone, ended sync.WaitGroup
	for i := range sess {
		conn := conns[i]
		if conn == nil {
			continue
		}
		s := &sess[i]
		s.check = newSeqChecker(c.k)
		s.rtts = make([]time.Duration, 0, c.k)
		s.minB = math.MaxInt
		framesDone.Add(1)
		ended.Go(func() {
			offset := time.Duration(i) * c.interval / time.Duration(c.n)
			all := make(chan struct{})
			readDone := make(chan string, 1)
			go func() { readDone <- readEchoes(ctx, conn, i, s, all) }()
			var werr error
			for seq := range c.k {
				time.Sleep(time.Until(start.Add(offset + time.Duration(seq)*c.interval)))
				f, _ := json.Marshal(rtFrame{Text: frameText(i, seq), Session: i, Seq: seq, SentNs: time.Now().UnixNano()})
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				werr = conn.Write(wctx, websocket.MessageText, f)
				wcancel()
				if werr != nil {
					break
				}
				s.sent++
				s.minB, s.maxB = min(s.minB, len(f)), max(s.maxB, len(f))
			}
			var rerr string
			readEnded := false
			select {
			case <-all:
			case rerr = <-readDone:
				readEnded = true
			case <-time.After(time.Until(start.Add(offset + time.Duration(c.k)*c.interval + c.echoWait))):
			}
			framesDone.Done()
			if !readEnded {
				select {
				case <-closeAll:
				case <-ctx.Done():
				}
				_ = conn.Close(websocket.StatusNormalClosure, "")
				rerr = <-readDone
			}
			conn.CloseNow()
			switch {
			case werr != nil:
				s.err = "write: " + shortErr(werr)
			case rerr != "":
				s.err = rerr
			}
		})
	}
	framesDone.Wait()
	open := 0
	for i := range sess {
		if conns[i] != nil {
			open++
		}
	}
	if c.idle != nil {
		c.idle(open)
	}
	close(closeAll)
	ended.Wait()
	ph.summarize(sess, c.k)
	return ph
}

// readEchoes reads one session's echoes until the connection ends: every frame is checked
// and its round trip kept; all is closed once every frame came back. It returns why the
// session ended, "" for a normal close.
func readEchoes(ctx context.Context, conn *websocket.Conn, session int, s *rtSession, all chan struct{}) string {
	closed := false
	for {
		typ, data, err := conn.Read(ctx)
		now := time.Now()
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return ""
			}
			return "read: " + shortErr(err)
		}
		var f rtFrame
		if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil || f.Session != session || f.Seq < 0 || f.Seq >= len(s.check.seen) || f.Text != frameText(session, f.Seq) {
			s.corrupted++
			continue
		}
		if s.check.add(f.Seq) {
			s.rtts = append(s.rtts, now.Sub(time.Unix(0, f.SentNs)))
		}
		if !closed && s.check.complete() {
			closed = true
			close(all)
		}
	}
}

// summarize adds up a phase's sessions.
func (ph *realtimePhase) summarize(sess []rtSession, k int) {
	var sum time.Duration
	ph.minBytes = math.MaxInt
	for _, s := range sess {
		if s.sent > 0 {
			ph.minBytes, ph.maxBytes = min(ph.minBytes, s.minB), max(ph.maxBytes, s.maxB)
		}
		if s.err != "" {
			ph.Errors[s.err]++
		}
		if s.check == nil {
			continue
		}
		ph.FramesSent += s.sent
		ph.Echoed += s.check.got
		ph.Dropped += s.sent - s.check.got
		ph.Duplicated += s.check.duplicated
		ph.Reordered += s.check.reordered
		ph.Corrupted += s.corrupted + s.check.invalid
		ph.rtts = append(ph.rtts, s.rtts...)
		for _, d := range s.rtts {
			sum += d
		}
	}
	if len(ph.rtts) > 0 {
		sorted := slices.Clone(ph.rtts)
		slices.Sort(sorted)
		ph.P50Ms, ph.P90Ms, ph.P99Ms = ms(percentile(sorted, 50)), ms(percentile(sorted, 90)), ms(percentile(sorted, 99))
		ph.MaxMs = ms(sorted[len(sorted)-1])
		ph.MeanMs = ms(sum / time.Duration(len(sorted)))
	}
	if ph.minBytes == math.MaxInt {
		ph.minBytes = 0
	}
	if len(ph.Errors) == 0 {
		ph.Errors = nil
	}
}

func dialError(resp *http.Response, err error) string {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Sprintf("dial: status %d", resp.StatusCode)
	}
	return "dial: " + shortErr(err)
}

// shortErr drops the per-connection parts of an error (addresses) so equal failures count
// together.
func shortErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// realtime runs the realtime scenario: the echo server, a fresh aiproxy pointed at it, the
// direct phase, then the relayed phase with aiproxy's memory sampled.
func realtime(ctx context.Context, ai *aiproxyInstall, tmp string, n, k int, interval time.Duration, quick bool) (*realtimeRun, error) {
	rr := &realtimeRun{Sessions: n, FramesPerSession: k, FrameIntervalMs: ms(interval),
		OfferedFramesPS: float64(n) / interval.Seconds(), Quick: quick}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	echo := &http.Server{Handler: newEchoServer(ai.elevenKey), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = echo.Serve(ln) }()
	defer echo.Close()
	echoURL := "http://" + ln.Addr().String()

	pprofAddr := ""
	if ai.pprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	// Every session uses the bench's one org: raise its sessions to the run's (a build
	// without the flag keeps its default, and the caller asked for no more sessions than
	// that). A session is not a request in progress of its key, so that bound stays.
	var extra []string
	if ai.realtimeFlag {
		extra = append(extra, "--realtime-sessions-per-org", strconv.Itoa(n+1))
	}
	srv, aiAddr, err := startServing(ctx, 20*time.Second, func(addr string) (*child, error) {
		return ai.serveDB(addr, ai.db, echoURL, pprofAddr, filepath.Join(tmp, "aiproxy-realtime.log"), extra...)
	})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	pid := srv.pid()

	q := url.Values{"voice_id": {benchVoiceID}, "model_id": {realtimeModel}}
	relayedURL := fmt.Sprintf("ws://%s/api/ai-proxy/orgs/%s/services/elevenlabs/realtime/tts-websocket/?%s", aiAddr, benchOrg, q.Encode())
	directURL := "ws://" + ln.Addr().String() + echoPath + "?" + url.Values{"model_id": {realtimeModel}}.Encode()
	dialer := func(u string, h http.Header) func(context.Context) (*websocket.Conn, *http.Response, error) {
		return func(ctx context.Context) (*websocket.Conn, *http.Response, error) {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
		}
	}
	direct := dialer(directURL, http.Header{"Xi-Api-Key": {ai.elevenKey}})
	relayed := dialer(relayedURL, http.Header{"Authorization": {"Api-Key " + ai.apiKey}})

	// One session each way first: the handshake paths, the first key and store reads, the
	// pools; none of it is measured.
	for _, d := range []func(context.Context) (*websocket.Conn, *http.Response, error){direct, relayed} {
		if err := warmSession(ctx, d); err != nil {
			return nil, fmt.Errorf("warm-up session: %w (aiproxy log: %s)", err, tail(srv.log, 3))
		}
	}

	rr.Direct = runRealtimePhase(ctx, rtPhaseConfig{name: "direct", n: n, k: k, interval: interval, dial: direct})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // the direct sessions' goroutines wind down

	rr.RSSBeforeMiB, _ = rssMiB(pid)
	stop := make(chan struct{})
	peak := make(chan float64, 1)
	go func() { peak <- watchRSS(pid, 250*time.Millisecond, stop, nil) }()
	rr.Relayed = runRealtimePhase(ctx, rtPhaseConfig{name: "relayed", n: n, k: k, interval: interval, dial: relayed,
		opened: func(open int) {
			time.Sleep(time.Second) // let the last handshakes settle
			rr.RSSOpenNoFramesMiB, _ = rssMiB(pid)
			if open > 0 {
				rr.KiBPerSessionNoFrames = (rr.RSSOpenNoFramesMiB - rr.RSSBeforeMiB) * 1024 / float64(open)
			}
		},
		idle: func(open int) {
			time.Sleep(time.Second) // let the last echoes' buffers settle
			rr.RSSAllOpenMiB, _ = rssMiB(pid)
			rr.OpenAtRSS = open
			if st, err := procStatus(pid); err == nil {
				rr.Threads = int(st["Threads"])
			}
			if pprofAddr != "" {
				rr.Goroutines = goroutineCount("http://" + pprofAddr)
				mem := runtimeMemStats("http://"+pprofAddr, false)
				rr.HeapInuseMiB, rr.StackInuseMiB = float64(mem["HeapInuse"])/(1<<20), float64(mem["Stack"])/(1<<20)
				// After the RSS snapshot: what of the heap is live (the rest is garbage
				// the next collection frees).
				live := runtimeMemStats("http://"+pprofAddr, true)
				rr.LiveHeapMiB = float64(live["HeapAlloc"]) / (1 << 20)
			}
			logf("realtime relayed: %d sessions open and idle, aiproxy RSS %.1f MiB (%.1f before)", open, rr.RSSAllOpenMiB, rr.RSSBeforeMiB)
		}})
	close(stop)
	rr.PeakRSSMiB = <-peak
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rr.summarize()
	if w := logWarnings(srv.log, 3); w != "" {
		rr.Notes = append(rr.Notes, "aiproxy logged: "+w+".")
	}
	return rr, nil
}

// runtimeMemStats reads the runtime.MemStats lines ("# HeapInuse = 123", "# Stack = 123 /
// 456": in use / from the system) at the end of a pprof listener's heap page; empty when it
// cannot. gc asks the process to collect its garbage first.
func runtimeMemStats(base string, gc bool) map[string]int64 {
	out := map[string]int64{}
	u := base + "/debug/pprof/heap?debug=1"
	if gc {
		u += "&gc=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok || !strings.HasPrefix(sc.Text(), "# ") {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				out[k] = n
			}
		}
	}
	return out
}

// warmSession opens one session, has one frame echoed and closes it.
func warmSession(ctx context.Context, dial func(context.Context) (*websocket.Conn, *http.Response, error)) error {
	conn, resp, err := dial(ctx)
	if err != nil {
		return errors.New(dialError(resp, err))
	}
	defer conn.CloseNow()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f, _ := json.Marshal(rtFrame{Text: frameText(0, 0), Seq: 0, SentNs: time.Now().UnixNano()})
	if err := conn.Write(rctx, websocket.MessageText, f); err != nil {
		return err
	}
	_, data, err := conn.Read(rctx)
	if err != nil {
		return err
	}
	var echo rtFrame
	if json.Unmarshal(data, &echo) != nil || echo.Text != frameText(0, 0) {
		return fmt.Errorf("echo %.100q, want %.100q", data, f)
	}
	return conn.Close(websocket.StatusNormalClosure, "")
}

// summarize computes the added latency and memory and checks the targets.
func (rr *realtimeRun) summarize() {
	rr.FrameBytesMin, rr.FrameBytesMax = rr.Relayed.minBytes, rr.Relayed.maxBytes
	rr.AddedP50Ms = addedLatency(rr.Relayed.rtts, rr.Direct.rtts, 50)
	rr.AddedP90Ms = addedLatency(rr.Relayed.rtts, rr.Direct.rtts, 90)
	rr.AddedP99Ms = addedLatency(rr.Relayed.rtts, rr.Direct.rtts, 99)
	if rr.OpenAtRSS > 0 {
		rr.KiBPerSession = (rr.RSSAllOpenMiB - rr.RSSBeforeMiB) * 1024 / float64(rr.OpenAtRSS)
	}
	rr.LatencyTargetMet = !math.IsNaN(rr.AddedP50Ms) && rr.AddedP50Ms <= realtimeMaxAddedP50Ms
	rr.MemoryTargetMet = rr.OpenAtRSS == rr.Sessions && rr.KiBPerSession <= realtimeMaxKiB

	fail := func(format string, args ...any) { rr.Failures = append(rr.Failures, fmt.Sprintf(format, args...)) }
	for _, p := range []struct {
		name string
		ph   *realtimePhase
	}{{"direct", &rr.Direct}, {"relayed", &rr.Relayed}} {
		ph := p.ph
		if ph.Opened < rr.Sessions {
			fail("%s: %d of %d sessions did not open (%s)", p.name, rr.Sessions-ph.Opened, rr.Sessions, fmtErrors(ph.Errors))
		} else if len(ph.Errors) > 0 {
			fail("%s: sessions ended badly (%s)", p.name, fmtErrors(ph.Errors))
		}
		if want := rr.Sessions * rr.FramesPerSession; ph.FramesSent < want && ph.Opened == rr.Sessions {
			fail("%s: %d of %d frames could not be sent", p.name, want-ph.FramesSent, want)
		}
		if ph.Dropped+ph.Duplicated+ph.Reordered+ph.Corrupted > 0 {
			fail("%s: of %d frames sent, %d dropped, %d duplicated, %d reordered, %d corrupted",
				p.name, ph.FramesSent, ph.Dropped, ph.Duplicated, ph.Reordered, ph.Corrupted)
		}
	}
	if !rr.Quick {
		if !rr.LatencyTargetMet {
			rr.Missed = append(rr.Missed, fmt.Sprintf("added latency per frame p50 %s ms, above %.0f ms", fmtMs(rr.AddedP50Ms), realtimeMaxAddedP50Ms))
		}
		if !rr.MemoryTargetMet {
			rr.Missed = append(rr.Missed, fmt.Sprintf("%.1f KiB of aiproxy RSS per session (%d of %d open at the snapshot), above %d KiB", rr.KiBPerSession, rr.OpenAtRSS, rr.Sessions, realtimeMaxKiB))
		}
	}
	rr.OK = len(rr.Failures) == 0
}

// markdown is the run's section of the generated results.
func (rr *realtimeRun) markdown() string {
	var b strings.Builder
	b.WriteString("### Realtime relay (aiproxy, a fresh process)\n\n")
	fmt.Fprintf(&b, "%d concurrent `tts-websocket` sessions, each sending %d text frames of %d–%d bytes, one every %s (%.0f frames/s in all), to an echo server in the bench process: "+
		"first straight to it (direct), then through aiproxy (relayed). Round trip per frame, from its send to its echo; \"added\" is relayed minus direct, percentile by percentile. "+
		"RSS per session: aiproxy's RSS with every session open and idle after its frames, minus before the first, over the sessions. Targets: no frame dropped, duplicated or reordered; added p50 ≤ %.0f ms; ≤ %d KiB per session.\n\n",
		rr.Sessions, rr.FramesPerSession, rr.FrameBytesMin, rr.FrameBytesMax, time.Duration(rr.FrameIntervalMs*float64(time.Millisecond)), rr.OfferedFramesPS, realtimeMaxAddedP50Ms, realtimeMaxKiB)
	b.WriteString("| path | sessions open | frames sent | echoed | dropped / dup / reordered / corrupted | RTT p50 | p90 | p99 | max |\n")
	b.WriteString("|---|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, p := range []struct {
		name string
		ph   realtimePhase
	}{{"direct", rr.Direct}, {"relayed", rr.Relayed}} {
		open := fmt.Sprintf("%d/%d", p.ph.Opened, rr.Sessions)
		if len(p.ph.Errors) > 0 {
			open += ", errors: " + fmtErrors(p.ph.Errors)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d / %d / %d / %d | %s | %s | %s | %s ms |\n", p.name, open, p.ph.FramesSent, p.ph.Echoed,
			p.ph.Dropped, p.ph.Duplicated, p.ph.Reordered, p.ph.Corrupted, fmtMs(p.ph.P50Ms), fmtMs(p.ph.P90Ms), fmtMs(p.ph.P99Ms), fmtMs(p.ph.MaxMs))
	}
	met := func(ok bool) string {
		switch {
		case rr.Quick:
			return "not checked (--quick)"
		case ok:
			return "met"
		}
		return "**missed**"
	}
	fmt.Fprintf(&b, "\n| added per frame p50 / p90 / p99 | aiproxy RSS before → all open | per session | peak RSS | added p50 ≤ %.0f ms | ≤ %d KiB per session | result |\n", realtimeMaxAddedP50Ms, realtimeMaxKiB)
	b.WriteString("|---|---|---:|---:|---|---|---|\n")
	res := "ok: every frame back, in order, once"
	if !rr.OK {
		res = "FAIL: " + strings.Join(rr.Failures, "; ")
	}
	fmt.Fprintf(&b, "| %s / %s / %s ms | %.1f → %.1f MiB (%d open) | %.1f KiB | %.1f MiB | %s | %s | %s |\n",
		fmtAdded(rr.AddedP50Ms, !math.IsNaN(rr.AddedP50Ms)), fmtAdded(rr.AddedP90Ms, !math.IsNaN(rr.AddedP90Ms)), fmtAdded(rr.AddedP99Ms, !math.IsNaN(rr.AddedP99Ms)),
		rr.RSSBeforeMiB, rr.RSSAllOpenMiB, rr.OpenAtRSS, rr.KiBPerSession, rr.PeakRSSMiB, met(rr.LatencyTargetMet), met(rr.MemoryTargetMet), res)
	g := ""
	if rr.Goroutines > 0 {
		g = fmt.Sprintf(", %d goroutines", rr.Goroutines)
	}
	if rr.HeapInuseMiB > 0 {
		g += fmt.Sprintf(", heap in use %.1f MiB (%.1f MiB live after a forced collection, read after the snapshot), goroutine stacks %.1f MiB", rr.HeapInuseMiB, rr.LiveHeapMiB, rr.StackInuseMiB)
	}
	fmt.Fprintf(&b, "\nSessions opened in %.1f s direct, %.1f s relayed (at %d/s). With every session open before the first frame, aiproxy's RSS was %.1f MiB (%.1f KiB per session); with all open and idle after the frames, %d OS threads%s.\n",
		rr.Direct.OpenS, rr.Relayed.OpenS, realtimeRamp, rr.RSSOpenNoFramesMiB, rr.KiBPerSessionNoFrames, rr.Threads, g)
	for _, n := range rr.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(rr.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}
