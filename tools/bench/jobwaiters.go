package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The job-waiters run (docs/benchmarks.md "Job waiters"): many clients follow a few HeyGen
// videos through GET …/jobs/{id}/events/, and the bench checks the three promises of
// docs/jobs.md that matter at that scale:
//
//   - the upstream is read at most once per poll interval per job, however many wait on it
//     (counted by a small reverse proxy in this process between aiproxy and `aiproxy sim`);
//   - a waiter costs aiproxy little memory (RSS with all connected minus RSS before, per
//     waiter);
//   - every waiter hears `done` soon after the simulator first answers "completed".
//
// Each waiter is one raw HTTP/1.1 connection read by one goroutine: 10,000 of them need
// 10,000 descriptors on each side, which raiseFileLimit provides (the limit is inherited by
// aiproxy).

// Targets of the run.
const (
	jobWaitersMaxKiB = 32 // aiproxy RSS per waiter
	// Status reads per job: at most one per poll interval of the job's lifetime, plus one
	// (the first read).
	jobWaitersPollInterval = 5 * time.Second // heygen generate-video's poll_interval_seconds in the catalog
	// How long a test video takes in the simulator's time (internal/sim/heygen jobs.go,
	// testVideoTotal); `aiproxy sim --speed` divides it.
	simTestVideo = 2 * time.Second
	// Waiters connect at this rate (the listen backlog is 4096 on most machines).
	jobWaitersRamp = 2000
)

// The HeyGen paths the counting proxy looks at.
const (
	heygenGeneratePath = "/v2/video/generate"
	heygenStatusPath   = "/v1/video_status.get"
)

// jobWaitersRun is the run's report: tools/bench/results/latest.json "job_waiters".
type jobWaitersRun struct {
	Waiters       int            `json:"waiters"`
	Jobs          int            `json:"jobs"`
	PollIntervalS float64        `json:"poll_interval_s"`
	RenderS       float64        `json:"render_s"`  // real time a test video takes in the simulator
	SimSpeed      float64        `json:"sim_speed"` // aiproxy sim --speed
	RampS         float64        `json:"ramp_s"`    // from the first connection to the last first event
	Connected     int            `json:"connected"` // got the first status event
	Done          int            `json:"done"`      // got done with a completed job
	Errors        map[string]int `json:"errors,omitempty"`
	JobsCompleted int            `json:"jobs_completed"` // the simulator answered completed
	// Status reads (GET /v1/video_status.get) the simulator received per video, over the
	// whole run (one more poll interval after the last done, to catch reads after the end).
	StatusReads        int     `json:"status_reads"`
	StatusReadsMin     int     `json:"status_reads_per_job_min"`
	StatusReadsMax     int     `json:"status_reads_per_job_max"`
	ReadsAfterComplete int     `json:"status_reads_after_completed"`
	LifetimeMeanS      float64 `json:"job_lifetime_mean_s"` // creation to the completing read
	// (reads − 1) / (lifetime / poll interval): at most 1 when the upstream is read at most
	// once per interval after the first read. Max and mean over the jobs.
	ReadsPerIntervalMax  float64 `json:"reads_per_interval_max"`
	ReadsPerIntervalMean float64 `json:"reads_per_interval_mean"`
	// aiproxy's memory.
	RSSBeforeMiB       float64 `json:"aiproxy_rss_before_mib"` // jobs created, no waiter yet
	RSSAllConnectedMiB float64 `json:"aiproxy_rss_all_connected_mib"`
	ConnectedAtRSS     int     `json:"connected_at_rss_snapshot"` // waiters connected when it was taken
	PeakRSSMiB         float64 `json:"aiproxy_peak_rss_mib"`
	KiBPerWaiter       float64 `json:"kib_per_waiter"`
	Goroutines         int     `json:"goroutines,omitempty"` // with all connected
	Threads            int     `json:"os_threads"`
	// From the simulator's first "completed" answer for the job (as the counting proxy got
	// it) to each waiter's done, ms.
	DoneP50Ms float64 `json:"done_after_completed_p50_ms"`
	DoneP99Ms float64 `json:"done_after_completed_p99_ms"`
	DoneMaxMs float64 `json:"done_after_completed_max_ms"`
	// From the end of the render (creation + render time, nominal) to the job's first done:
	// how late the gateway learns of the end, up to one poll interval plus the watcher's
	// one-second tick. Not a target.
	DetectMaxMs float64  `json:"render_end_to_first_done_max_ms"`
	Notes       []string `json:"notes,omitempty"`
	Failures    []string `json:"failures,omitempty"`
	OK          bool     `json:"ok"`
}

// videoRecord is what the counting proxy saw of one video.
type videoRecord struct {
	created     time.Time   // the simulator's answer to generate
	reads       []time.Time // each status read, when its answer came back
	completedAt time.Time   // the first answer saying completed (or failed)
	final       string
}

// countingProxy forwards everything to the simulator and records, per video, its creation
// and every status read.
type countingProxy struct {
	mu     sync.Mutex
	videos map[string]*videoRecord
	proxy  *httputil.ReverseProxy
}

func newCountingProxy(simURL string) (*countingProxy, error) {
	target, err := url.Parse(simURL)
	if err != nil {
		return nil, err
	}
	cp := &countingProxy{videos: map[string]*videoRecord{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	cp.proxy = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:      tr,
		ModifyResponse: cp.record,
	}
	return cp, nil
}

func (cp *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { cp.proxy.ServeHTTP(w, r) }

// record reads the answers of generate and status (small JSON) and notes what they say.
func (cp *countingProxy) record(resp *http.Response) error {
	req := resp.Request
	gen := req.Method == http.MethodPost && req.URL.Path == heygenGeneratePath
	status := req.Method == http.MethodGet && req.URL.Path == heygenStatusPath
	if !gen && !status {
		return nil
	}
	now := time.Now()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return err
	}
	var answer struct {
		Data struct {
			VideoID string `json:"video_id"`
			Status  string `json:"status"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &answer)
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if gen {
		if resp.StatusCode == http.StatusOK && answer.Data.VideoID != "" {
			cp.video(answer.Data.VideoID).created = now
		}
		return nil
	}
	v := cp.video(req.URL.Query().Get("video_id"))
	v.reads = append(v.reads, now)
	if (answer.Data.Status == "completed" || answer.Data.Status == "failed") && v.completedAt.IsZero() {
		v.completedAt, v.final = now, answer.Data.Status
	}
	return nil
}

// video returns the record of id, making it. Caller holds cp.mu.
func (cp *countingProxy) video(id string) *videoRecord {
	v := cp.videos[id]
	if v == nil {
		v = &videoRecord{}
		cp.videos[id] = v
	}
	return v
}

// snapshot copies the record of id.
func (cp *countingProxy) snapshot(id string) videoRecord {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	v := cp.videos[id]
	if v == nil {
		return videoRecord{}
	}
	out := *v
	out.reads = slices.Clone(v.reads)
	return out
}

// waiterRecord is one waiter's stream.
type waiterRecord struct {
	job         int // index into the run's jobs
	firstStatus time.Time
	done        time.Time
	err         string
}

// benchJob is one video created through the gateway.
type benchJob struct {
	id      int64  // the gateway's job id
	videoID string // upstream_job_id
}

// jobWaiters runs the scenario: `aiproxy sim` behind a counting proxy, a fresh aiproxy
// with a fresh database pointed at the proxy, jobs videos, waiters streams spread evenly
// over them.
func jobWaiters(ctx context.Context, ai *aiproxyInstall, tmp string, waiters, jobs int, render time.Duration) (*jobWaitersRun, error) {
	jr := &jobWaitersRun{Waiters: waiters, Jobs: jobs, PollIntervalS: jobWaitersPollInterval.Seconds(),
		RenderS: render.Seconds(), SimSpeed: float64(simTestVideo) / float64(render), Errors: map[string]int{}}

	sim, simAddr, err := startServing(ctx, 10*time.Second, func(addr string) (*child, error) {
		return startChild("sim", filepath.Join(tmp, "jobs-sim.log"), nil, ai.bin, "sim", "--addr", addr,
			"--speed", strconv.FormatFloat(jr.SimSpeed, 'g', -1, 64))
	})
	if err != nil {
		return nil, err
	}
	defer sim.stop()
	cp, err := newCountingProxy("http://" + simAddr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	proxySrv := &http.Server{Handler: cp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = proxySrv.Serve(ln) }()
	defer proxySrv.Close()

	// A database of its own: org bench, an admin key, the credentials.
	db := filepath.Join(tmp, "jobs.db")
	apiKey, err := ai.prepare(ctx, db)
	if err != nil {
		return nil, err
	}
	pprofAddr := ""
	if ai.pprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	srv, aiAddr, err := startServing(ctx, 20*time.Second, func(addr string) (*child, error) {
		args := []string{"serve", "--addr", addr, "--db", db, "--upstream", "heygen=http://" + ln.Addr().String(), "--log-level", "info"}
		if pprofAddr != "" {
			args = append(args, "--pprof-addr", pprofAddr)
		}
		// Every stream uses the one key: lift the bound on its requests in progress.
		if ai.inflightFlag {
			args = append(args, "--max-inflight-per-key", "0")
		}
		return startChild("aiproxy", filepath.Join(tmp, "aiproxy-jobs.log"), ai.env, ai.bin, args...)
	})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	pid, base := srv.pid(), "http://"+aiAddr

	created := time.Now()
	js, err := createVideos(ctx, base, apiKey, jobs)
	if err != nil {
		return nil, err
	}
	logf("job-waiters: %d videos created in %.1f s, each rendering %s", len(js), time.Since(created).Seconds(), render)
	jr.RSSBeforeMiB, _ = rssMiB(pid)

	// The waiters: waiter i follows job i % jobs, so every job has its share early.
	recs := make([]waiterRecord, waiters)
	var connected, finished atomic.Int64
	deadline := time.Now().Add(render + 2*time.Minute)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / jobWaitersRamp)
	rampStart := time.Now()
	for i := range recs {
		select {
		case <-wctx.Done():
		case <-tick.C:
		}
		recs[i].job = i % len(js)
		path := fmt.Sprintf("/api/ai-proxy/orgs/%s/jobs/%d/events/", benchOrg, js[recs[i].job].id)
		wg.Go(func() {
			followEvents(wctx, aiAddr, path, apiKey, deadline, &recs[i], &connected)
			finished.Add(1)
		})
	}
	tick.Stop()

	// Sample aiproxy while the waiters are connected: once all have their first event (or
	// half the render time has passed), the snapshot; the peak throughout.
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	snap := false
	jr.PeakRSSMiB = watchRSS(pid, 250*time.Millisecond, all, func() {
		if !snap && (connected.Load() == int64(waiters) || time.Since(created) > render/2) {
			snap = true
			jr.RampS = time.Since(rampStart).Seconds()
			time.Sleep(time.Second) // let the last handshakes settle
			jr.RSSAllConnectedMiB, _ = rssMiB(pid)
			jr.ConnectedAtRSS = int(connected.Load())
			if jr.ConnectedAtRSS < waiters {
				jr.Notes = append(jr.Notes, fmt.Sprintf("The RSS snapshot was taken with %d of %d waiters connected (half the render time had passed).", jr.ConnectedAtRSS, waiters))
			}
			if st, err := procStatus(pid); err == nil {
				jr.Threads = int(st["Threads"])
			}
			if pprofAddr != "" {
				jr.Goroutines = goroutineCount("http://" + pprofAddr)
			}
			logf("job-waiters: %d of %d waiters connected in %.1f s, aiproxy RSS %.1f MiB (%.1f before)",
				connected.Load(), waiters, jr.RampS, jr.RSSAllConnectedMiB, jr.RSSBeforeMiB)
			for _, j := range js {
				if v := cp.snapshot(j.videoID); !v.completedAt.IsZero() {
					jr.Notes = append(jr.Notes, "a job completed before all waiters were connected: the render is too short for this many waiters")
					break
				}
			}
		}
	})
	// One more poll interval: a read after the end would show now.
	logf("job-waiters: all waiters finished; watching the upstream one more poll interval")
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(jobWaitersPollInterval + time.Second):
	}
	jr.summarize(js, recs, cp, render)
	if w := logWarnings(srv.log, 3); w != "" {
		jr.Notes = append(jr.Notes, "aiproxy logged: "+w+".")
	}
	return jr, nil
}

// summarize computes the figures and checks the targets.
func (jr *jobWaitersRun) summarize(js []benchJob, recs []waiterRecord, cp *countingProxy, render time.Duration) {
	interval := jobWaitersPollInterval
	videos := make([]videoRecord, len(js))
	firstDone := make([]time.Time, len(js))
	for i, j := range js {
		videos[i] = cp.snapshot(j.videoID)
	}
	var delays []time.Duration
	for _, w := range recs {
		if !w.firstStatus.IsZero() {
			jr.Connected++
		}
		v := videos[w.job]
		switch {
		case w.err != "":
			jr.Errors[w.err]++
			continue
		case w.done.IsZero():
			jr.Errors["no done"]++
			continue
		case v.completedAt.IsZero():
			jr.Errors["done, but the simulator never answered completed"]++
			continue
		}
		jr.Done++
		delays = append(delays, w.done.Sub(v.completedAt))
		if f := firstDone[w.job]; f.IsZero() || w.done.Before(f) {
			firstDone[w.job] = w.done
		}
	}
	if len(delays) > 0 {
		slices.Sort(delays)
		jr.DoneP50Ms = ms(percentile(delays, 50))
		jr.DoneP99Ms = ms(percentile(delays, 99))
		jr.DoneMaxMs = ms(delays[len(delays)-1])
	}
	jr.StatusReadsMin = math.MaxInt
	var perInterval []float64
	var lifetimes []float64
	for i, v := range videos {
		n := len(v.reads)
		jr.StatusReads += n
		jr.StatusReadsMin = min(jr.StatusReadsMin, n)
		jr.StatusReadsMax = max(jr.StatusReadsMax, n)
		if v.completedAt.IsZero() || v.created.IsZero() {
			continue
		}
		jr.JobsCompleted++
		for _, r := range v.reads {
			if r.After(v.completedAt) {
				jr.ReadsAfterComplete++
			}
		}
		life := v.completedAt.Sub(v.created)
		lifetimes = append(lifetimes, life.Seconds())
		perInterval = append(perInterval, float64(n-1)/(float64(life)/float64(interval)))
		if !firstDone[i].IsZero() {
			jr.DetectMaxMs = max(jr.DetectMaxMs, ms(firstDone[i].Sub(v.created.Add(render))))
		}
	}
	if jr.StatusReadsMin == math.MaxInt {
		jr.StatusReadsMin = 0
	}
	if len(perInterval) > 0 {
		jr.ReadsPerIntervalMax = slices.Max(perInterval)
		jr.ReadsPerIntervalMean = mean(perInterval)
		jr.LifetimeMeanS = mean(lifetimes)
	}
	if jr.ConnectedAtRSS > 0 {
		jr.KiBPerWaiter = (jr.RSSAllConnectedMiB - jr.RSSBeforeMiB) * 1024 / float64(jr.ConnectedAtRSS)
	}

	fail := func(format string, args ...any) { jr.Failures = append(jr.Failures, fmt.Sprintf(format, args...)) }
	if bad := jr.Waiters - jr.Done; bad > 0 {
		fail("%d of %d waiters without done (%s)", bad, jr.Waiters, fmtErrors(jr.Errors))
	}
	if jr.JobsCompleted < jr.Jobs {
		fail("%d of %d jobs never completed upstream", jr.Jobs-jr.JobsCompleted, jr.Jobs)
	}
	if jr.ReadsPerIntervalMax > 1+1e-9 {
		fail("a job's status was read %.2f times per poll interval (after the first read), above 1", jr.ReadsPerIntervalMax)
	}
	if jr.KiBPerWaiter > jobWaitersMaxKiB {
		fail("%.1f KiB of aiproxy RSS per waiter, above %d", jr.KiBPerWaiter, jobWaitersMaxKiB)
	}
	if jr.DoneMaxMs > ms(interval) {
		fail("a waiter got done %.0f ms after the job completed, above one poll interval (%s)", jr.DoneMaxMs, interval)
	}
	jr.OK = len(jr.Failures) == 0
	if len(jr.Errors) == 0 {
		jr.Errors = nil
	}
}

// logWarnings summarises the WARN and ERROR lines of an aiproxy log (slog text): the n
// most frequent messages, each with the end of its error, and their counts.
func logWarnings(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, " level=WARN ") && !strings.Contains(line, " level=ERROR ") {
			continue
		}
		key := "?"
		if m := logMsg.FindStringSubmatch(line); m != nil {
			key = m[1]
		}
		if m := logErr.FindStringSubmatch(line); m != nil {
			e := m[1]
			if i := strings.LastIndex(e, ": "); i >= 0 {
				e = e[i+2:]
			}
			key += " (" + e + ")"
		}
		counts[key]++
	}
	if len(counts) == 0 {
		return ""
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return counts[b] - counts[a] })
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%d× %s", counts[k], k))
	}
	return strings.Join(parts, "; ")
}

var (
	logMsg = regexp.MustCompile(`\bmsg="((?:[^"\\]|\\.)*)"`)
	logErr = regexp.MustCompile(`\berror="((?:[^"\\]|\\.)*)"`)
)

// createVideos creates n test videos through the gateway (generate-video, a few at a time)
// and finds their job ids in GET …/jobs/?service=heygen.
func createVideos(ctx context.Context, base, apiKey string, n int) ([]benchJob, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	videoIDs := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			videoIDs[i], errs[i] = createVideo(ctx, client, base, apiKey, i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	byVideo := map[string]int64{}
	next := base + "/api/ai-proxy/orgs/" + benchOrg + "/jobs/?service=heygen&limit=200"
	for next != "" {
		var page struct {
			Results []struct {
				ID            int64  `json:"id"`
				UpstreamJobID string `json:"upstream_job_id"`
			} `json:"results"`
			Next *string `json:"next"`
		}
		if err := getJSON(ctx, client, next, apiKey, &page); err != nil {
			return nil, err
		}
		for _, j := range page.Results {
			byVideo[j.UpstreamJobID] = j.ID
		}
		next = ""
		if page.Next != nil && *page.Next != "" {
			next = *page.Next
			if strings.HasPrefix(next, "/") {
				next = base + next
			}
		}
	}
	js := make([]benchJob, n)
	for i, v := range videoIDs {
		id, ok := byVideo[v]
		if !ok {
			return nil, fmt.Errorf("video %s is not among the org's jobs", v)
		}
		js[i] = benchJob{id: id, videoID: v}
	}
	return js, nil
}

// createVideo invokes heygen generate-video with the documentation's test-mode body and
// returns the video id.
func createVideo(ctx context.Context, client *http.Client, base, apiKey string, i int) (string, error) {
	env, _ := json.Marshal(map[string]any{"body": map[string]any{
		"test": true,
		"video_inputs": []any{map[string]any{
			"character": map[string]any{"type": "avatar", "avatar_id": "Abigail_expressive_2024112501", "avatar_style": "normal"},
			"voice":     map[string]any{"type": "text", "input_text": fmt.Sprintf("Hello from the bench, video %d.", i), "voice_id": "f38a635bee7a4d1f9b0a654a31d050d2"},
		}},
		"dimension": map[string]any{"width": 1280, "height": 720},
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, invokeURL(base, "heygen", "generate-video"), bytes.NewReader(env))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Api-Key "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var answer struct {
		Data struct {
			VideoID string `json:"video_id"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &answer) != nil || answer.Data.VideoID == "" {
		return "", fmt.Errorf("generate-video: status %d: %.300s", resp.StatusCode, body)
	}
	return answer.Data.VideoID, nil
}

func getJSON(ctx context.Context, client *http.Client, u, apiKey string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Api-Key "+apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.300s", u, resp.StatusCode, body)
	}
	return json.Unmarshal(body, into)
}

// followEvents opens one event stream on its own connection and reads it until done: the
// time of the first status event and of done go into rec, or why it ended without done.
func followEvents(ctx context.Context, addr, path, apiKey string, deadline time.Time, rec *waiterRecord, connected *atomic.Int64) {
	fail := func(err error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		rec.err = msg
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fail(err)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(deadline)
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Api-Key %s\r\nAccept: text/event-stream\r\n\r\n", path, addr, apiKey); err != nil {
		fail(err)
		return
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fail(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Errorf("status %d", resp.StatusCode))
		return
	}
	// Server-sent events: "field: value" lines, an event ends at a blank line.
	lines := bufio.NewReader(resp.Body)
	var event, data string
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = errors.New("stream ended without done")
			}
			fail(err)
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			switch event {
			case "status":
				if rec.firstStatus.IsZero() {
					rec.firstStatus = time.Now()
					connected.Add(1)
				}
			case "done":
				now := time.Now()
				var view struct {
					Status string `json:"status"`
				}
				if json.Unmarshal([]byte(data), &view) != nil || view.Status != "completed" {
					fail(fmt.Errorf("done with status %q", view.Status))
					return
				}
				rec.done = now
				return
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
}

// markdown is the run's section of the generated results.
func (jr *jobWaitersRun) markdown() string {
	var b strings.Builder
	b.WriteString("### Job waiters (aiproxy, a fresh process)\n\n")
	fmt.Fprintf(&b, "%d event streams (`GET …/jobs/{id}/events/`, one connection each) on %d HeyGen test videos that `aiproxy sim --speed %s` renders in %s; poll interval %s. "+
		"Status reads are the simulator's `GET /v1/video_status.get` per video, until one interval after the last done; \"per interval\" is (reads − 1) / (lifetime / interval), lifetime from creation to the read that saw it completed. "+
		"\"done after completed\": from the simulator's first completed answer to each waiter's done. Targets: ≤ 1 read per interval, ≤ %d KiB per waiter, every done within one interval.\n\n",
		jr.Waiters, jr.Jobs, strconv.FormatFloat(jr.SimSpeed, 'g', 4, 64), time.Duration(jr.RenderS*float64(time.Second)), time.Duration(jr.PollIntervalS*float64(time.Second)), jobWaitersMaxKiB)
	b.WriteString("| waiters | jobs | done | status reads per job | reads per interval (max) | aiproxy RSS before | with all connected | per waiter | done after completed p50 / p99 / max | result |\n")
	b.WriteString("|---:|---:|---|---|---:|---:|---:|---:|---:|---|\n")
	res := "ok"
	if !jr.OK {
		res = "FAIL: " + strings.Join(jr.Failures, "; ")
	}
	done := fmt.Sprintf("%d/%d", jr.Done, jr.Waiters)
	if len(jr.Errors) > 0 {
		done += ", errors: " + fmtErrors(jr.Errors)
	}
	fmt.Fprintf(&b, "| %d | %d | %s | %d–%d over %.1f s | %.2f | %.1f MiB | %.1f MiB | %.1f KiB | %s / %s / %s ms | %s |\n",
		jr.Waiters, jr.Jobs, done, jr.StatusReadsMin, jr.StatusReadsMax, jr.LifetimeMeanS, jr.ReadsPerIntervalMax,
		jr.RSSBeforeMiB, jr.RSSAllConnectedMiB, jr.KiBPerWaiter, fmtMs(jr.DoneP50Ms), fmtMs(jr.DoneP99Ms), fmtMs(jr.DoneMaxMs), res)
	g := ""
	if jr.Goroutines > 0 {
		g = fmt.Sprintf(", %d goroutines", jr.Goroutines)
	}
	fmt.Fprintf(&b, "\nWaiters connected in %.1f s; aiproxy peak RSS %.1f MiB, %d OS threads%s; %d status reads in all, %d after completion; render end to a job's first done at most %s ms.\n",
		jr.RampS, jr.PeakRSSMiB, jr.Threads, g, jr.StatusReads, jr.ReadsAfterComplete, fmtMs(jr.DetectMaxMs))
	for _, n := range jr.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(jr.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}
