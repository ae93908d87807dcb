package main

// One watcher per job across real replicas (docs/jobs.md, "One watcher per job";
// internal/httpapi/jobs_watch.go): two processes of the shipped binary on one PostgreSQL
// database, in front of one HeyGen simulator slowed so that a test video takes 12 s of real
// time, and the catalog's real poll interval for videos (5 s; no override).
//
// The simulator is one sim.Server reached through two listeners, one per replica (replica A
// is given front A as its HeyGen upstream, B front B): every call it receives is recorded
// with the front it came through, so that the test knows which replica read which job and
// when, to the millisecond, without asking the replicas. Servers and fixtures come from
// replicas_test.go (startServer, server.do/must, randomHex); the build and the processes
// from internal/proctest.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

const (
	// jobWatchInterval is the catalog's poll_interval_seconds of heygen generate-video
	// (internal/catalog/services/heygen.yaml), which the replicas use as is.
	jobWatchInterval = 5 * time.Second
	// jobWatchTick is how often a replica claims due jobs (watchTick in jobs_watch.go).
	jobWatchTick = time.Second
	// jobWatchVideo is how long a test video takes in real time: the simulator renders a
	// test video in 2 s of simulated time (testVideoTotal, internal/sim/heygen/jobs.go),
	// and runs at jobWatchSpeed.
	jobWatchVideo = 12 * time.Second
	jobWatchSpeed = float64(2*time.Second) / float64(jobWatchVideo)

	// jobWatchSlack is what the bounds allow beyond the design's for timing a process
	// (a claim round's own database time, the race detector, a loaded machine).
	jobWatchSlack = 500 * time.Millisecond

	jobWatchOrg       = "watch"
	jobWatchHeyGenKey = "hg-watch-tenant-key-7c31a9e4"
	jobWatchAvatar    = "Abigail_expressive_2024112501"
	jobWatchVoice     = "f38a635bee7a4d1f9b0a654a31d050d2"
	jobWatchStatusURL = "/v1/video_status.get"
)

// ---- the simulator, seen from each replica ----

// jobWatchCall is one call the simulator received.
type jobWatchCall struct {
	front      int // index of the replica whose front it came through
	path       string
	videoID    string // video_id of a status call
	status     string // data.status of a status call's answer
	start, end time.Time
}

// jobWatchSim is one HeyGen simulator behind one listener per replica, recording every call.
type jobWatchSim struct {
	fronts []string // base URL of each front, by replica

	mu    sync.Mutex
	calls []jobWatchCall
}

func startJobWatchSim(t *testing.T, replicas int) *jobWatchSim {
	t.Helper()
	js := &jobWatchSim{}
	srvs := make([]*httptest.Server, replicas)
	for i := range srvs {
		srvs[i] = httptest.NewUnstartedServer(nil)
	}
	// Links in answers (video_url) point at front 0: any front serves every file.
	s := sim.New(simcore.Options{Speed: jobWatchSpeed, Seed: 1, PublicURL: "http://" + srvs[0].Listener.Addr().String()})
	t.Cleanup(s.Close) // runs last
	for i, srv := range srvs {
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { js.serve(i, s, w, r) })
		srv.Start()
		t.Cleanup(srv.Close)
		js.fronts = append(js.fronts, srv.URL)
	}
	return js
}

// jobWatchWriter keeps a copy of the answer's body.
type jobWatchWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *jobWatchWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *jobWatchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (js *jobWatchSim) serve(front int, h http.Handler, w http.ResponseWriter, r *http.Request) {
	c := jobWatchCall{front: front, path: r.URL.Path, start: time.Now()}
	if r.URL.Path != jobWatchStatusURL {
		h.ServeHTTP(w, r)
	} else {
		c.videoID = r.URL.Query().Get("video_id")
		jw := &jobWatchWriter{ResponseWriter: w}
		h.ServeHTTP(jw, r)
		var v struct {
			Data struct {
				Status string `json:"status"`
			} `json:"data"`
		}
		_ = json.Unmarshal(jw.body.Bytes(), &v)
		c.status = v.Data.Status
	}
	c.end = time.Now()
	js.mu.Lock()
	js.calls = append(js.calls, c)
	js.mu.Unlock()
}

// statusReads returns the status calls for video, in the order they were answered.
func (js *jobWatchSim) statusReads(video string) []jobWatchCall {
	js.mu.Lock()
	defer js.mu.Unlock()
	var out []jobWatchCall
	for _, c := range js.calls {
		if c.path == jobWatchStatusURL && c.videoID == video {
			out = append(out, c)
		}
	}
	return out
}

// generated returns when the simulator answered the generate call that created a video
// (the last one it received; the tests create one video each).
func (js *jobWatchSim) generated() time.Time {
	js.mu.Lock()
	defer js.mu.Unlock()
	var at time.Time
	for _, c := range js.calls {
		if c.path == "/v2/video/generate" {
			at = c.end
		}
	}
	return at
}

// waitRead waits until a status read of video matches ok and returns it.
func (js *jobWatchSim) waitRead(t *testing.T, what, video string, timeout time.Duration, ok func(jobWatchCall) bool) jobWatchCall {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range js.statusReads(video) {
			if ok(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no such status read of video %s within %v; reads: %s", what, video, timeout, js.describe(video, time.Time{}))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// describe lists the status reads of video, times relative to since (the first read when
// zero), for messages.
func (js *jobWatchSim) describe(video string, since time.Time) string {
	reads := js.statusReads(video)
	if len(reads) == 0 {
		return "none"
	}
	if since.IsZero() {
		since = reads[0].end
	}
	var b strings.Builder
	for i, c := range reads {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%c %+.2fs %s", 'A'+c.front, c.end.Sub(since).Seconds(), c.status)
	}
	return b.String()
}

// ---- the cluster ----

// jobWatchCluster is replicas of the binary on one PostgreSQL database, an org with a
// member key and a tenant HeyGen key, each replica in front of its own front of one
// simulator.
type jobWatchCluster struct {
	t        *testing.T
	dsn      string
	sim      *jobWatchSim
	replicas []*server
	key      string
}

func newJobWatchCluster(t *testing.T) *jobWatchCluster {
	t.Helper()
	if os.Getenv(pgtest.TestDSNEnv) == "" {
		t.Skip(pgtest.TestDSNEnv + " is not set: skipping the job-watch tests, which need replicas on one PostgreSQL database " +
			"(e.g. " + pgtest.TestDSNEnv + "=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	}
	bin := proctest.Build(t)
	dsn := pgtest.NewTestDatabase(t)
	c := &jobWatchCluster{t: t, dsn: dsn, sim: startJobWatchSim(t, 2)}
	env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
	proctest.Run(t, bin, env, "", "migrate", "--db", dsn)
	proctest.Run(t, bin, env, "", "org", "create", jobWatchOrg, "--db", dsn)
	c.key = strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", jobWatchOrg, "--role", "member", "--name", "app", "--db", dsn))
	proctest.Run(t, bin, env, jobWatchHeyGenKey+"\n", "credential", "set", "heygen", "--org", jobWatchOrg, "--key", "-", "--db", dsn)
	for i, front := range c.sim.fronts {
		c.replicas = append(c.replicas, startServer(t, fmt.Sprintf("replica %c", 'A'+i), bin, env,
			"--db", dsn, "--upstream", "heygen="+front))
	}
	return c
}

// jobWatchView is the part of the job view the tests look at.
type jobWatchView struct {
	ID             int64          `json:"id"`
	Service        string         `json:"service"`
	Action         string         `json:"action"`
	UpstreamJobID  string         `json:"upstream_job_id"`
	Status         string         `json:"status"`
	ProviderStatus *string        `json:"provider_status"`
	Result         map[string]any `json:"result"`
}

// createVideo creates a test video through replica s and returns its job id and the
// provider's video id.
func (c *jobWatchCluster) createVideo(s *server) (int64, string) {
	t := c.t
	t.Helper()
	b := s.must(http.StatusOK, http.MethodPost, "/orgs/"+jobWatchOrg+"/services/heygen/generate-video/", c.key,
		map[string]any{"body": simtest.HeyGenVideoRequest(jobWatchAvatar, jobWatchVoice, "Watched by one replica at a time.")})
	var created struct {
		Data struct {
			VideoID string `json:"video_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.Data.VideoID == "" {
		t.Fatalf("generate-video through %s: no data.video_id: %v: %s", s.name, err, b)
	}
	var list struct {
		Results []jobWatchView `json:"results"`
	}
	b = s.must(http.StatusOK, http.MethodGet, "/orgs/"+jobWatchOrg+"/jobs/?service=heygen&limit=1", c.key, nil)
	if err := json.Unmarshal(b, &list); err != nil || len(list.Results) != 1 || list.Results[0].UpstreamJobID != created.Data.VideoID {
		t.Fatalf("the org's newest heygen job is not video %s: %v: %s", created.Data.VideoID, err, b)
	}
	return list.Results[0].ID, created.Data.VideoID
}

// job GETs job id from replica s, with query q ("" or "?wait=N").
func (c *jobWatchCluster) job(s *server, id int64, q string) (jobWatchView, error) {
	status, b, err := s.do(http.MethodGet, "/orgs/"+jobWatchOrg+"/jobs/"+strconv.FormatInt(id, 10)+"/"+q, c.key, nil)
	if err != nil {
		return jobWatchView{}, err
	}
	if status != http.StatusOK {
		return jobWatchView{}, fmt.Errorf("status %d: %s", status, b)
	}
	var v jobWatchView
	if err := json.Unmarshal(b, &v); err != nil {
		return jobWatchView{}, fmt.Errorf("%v: %s", err, b)
	}
	return v, nil
}

// jobWatchRow is a job's watch columns (internal/postgres/migrations/0006_job_watch.sql).
type jobWatchRow struct {
	owner      *string
	until      *time.Time
	nextPoll   *time.Time
	status     string
	updatedAt  *time.Time
	readAtTime time.Time
}

func (r jobWatchRow) ownerName() string {
	if r.owner == nil {
		return "nobody"
	}
	return *r.owner
}

// row reads job id's watch straight from the database.
func (c *jobWatchCluster) row(id int64) jobWatchRow {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var r jobWatchRow
	if err := conn.QueryRow(ctx, `SELECT watch_owner, watch_until, next_poll_at, status, updated_at FROM jobs WHERE id = $1`, id).
		Scan(&r.owner, &r.until, &r.nextPoll, &r.status, &r.updatedAt); err != nil {
		c.t.Fatalf("reading job %d's watch: %v", id, err)
	}
	r.readAtTime = time.Now()
	return r
}

// kill ends replica i as a crash would (SIGKILL: no shutdown, no lease released) and
// returns when; the test's cleanup will not stop it again.
func (c *jobWatchCluster) kill(i int) time.Time {
	c.t.Helper()
	s := c.replicas[i]
	if err := s.proc.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill -9 %s: %v", s.name, err)
	}
	at := time.Now()
	s.once.Do(func() {}) // stopped: server.stop's SIGTERM would report the kill as an error
	select {
	case <-s.proc.Done():
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s still runs 10 s after SIGKILL", s.name)
	}
	return at
}

// checkOnePerInterval checks that the status reads of video, across every replica, came
// at most once per poll interval: never two closer than the interval (less a little for
// when each read's answer is timed), and no more of them than the span allows.
func (c *jobWatchCluster) checkOnePerInterval(video string) {
	t := c.t
	t.Helper()
	reads := c.sim.statusReads(video)
	if len(reads) == 0 {
		t.Errorf("video %s was never read", video)
		return
	}
	const slack = 300 * time.Millisecond
	for i := 1; i < len(reads); i++ {
		if gap := reads[i].start.Sub(reads[i-1].end); gap < jobWatchInterval-slack {
			t.Errorf("status reads %d (replica %c) and %d (replica %c) of video %s only %.2f s apart, want at least the poll interval %v",
				i, 'A'+reads[i-1].front, i+1, 'A'+reads[i].front, video, gap.Seconds(), jobWatchInterval)
		}
	}
	span := reads[len(reads)-1].end.Sub(reads[0].start)
	if most := int(span/(jobWatchInterval-slack)) + 1; len(reads) > most {
		t.Errorf("%d status reads of video %s in %.1f s, want at most %d (one per %v)", len(reads), video, span.Seconds(), most, jobWatchInterval)
	}
}

// ---- the tests ----

// The replica that watches a job is killed (kill -9) right after it read the job; nobody
// waits on the job, nobody polls the provider. The other replica takes the job over once
// the dead one's lease has expired, reads it at the same pace, and records it completed.
//
// The bound on the takeover: the lease (watch_until) runs 2 × the poll interval less a
// claim tick and a half from the dead replica's last claim, which came just before its read,
// and a replica claims due jobs every second; so the survivor's first read comes within two
// intervals of the kill (the kill here comes right after a claim: the worst case), and
// within a claim tick of the lease's expiry. The time is logged ("takeover after …").
func TestJobWatchMovesToAnotherReplicaWhenTheWatchingOneIsKilled(t *testing.T) {
	c := newJobWatchCluster(t)
	created := time.Now()
	id, video := c.createVideo(c.replicas[0])

	// The watcher's first read: the job is due at once, and either replica may claim it.
	first := c.sim.waitRead(t, "first read", video, 3*jobWatchTick+2*time.Second, func(jobWatchCall) bool { return true })
	watcher, survivor := first.front, 1-first.front
	before := c.row(id)
	killed := c.kill(watcher)
	t.Logf("video %s (job %d) created through replica A; first read by replica %c %.2f s later; replica %c killed %.0f ms after that read (its lease, held by %s, expires %.2f s after the kill)",
		video, id, 'A'+watcher, first.end.Sub(created).Seconds(), 'A'+watcher, float64(killed.Sub(first.end).Microseconds())/1000,
		before.ownerName(), func() float64 {
			if before.until == nil {
				return -1
			}
			return before.until.Sub(killed).Seconds()
		}())
	if before.owner == nil || before.until == nil {
		t.Fatalf("job %d has no watch lease in the database right after its first read: owner %v, until %v", id, before.owner, before.until)
	}
	if first.status == "completed" {
		t.Fatalf("video %s was already completed at its first read: the simulator is too fast for this test", video)
	}

	// Only GETs of the job record from now on, without wait: no client waits, nobody polls.
	// Each is also a check that the survivor answers throughout.
	var done jobWatchView
	deadline := killed.Add(2*jobWatchInterval + jobWatchTick + jobWatchVideo + 2*jobWatchInterval)
	for {
		v, err := c.job(c.replicas[survivor], id, "")
		if err != nil {
			t.Fatalf("GET job %d from replica %c: %v", id, 'A'+survivor, err)
		}
		if v.Status == "completed" || v.Status == "failed" {
			done = v
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %q (provider %v) on replica %c %.1f s after replica %c was killed; reads: %s",
				id, v.Status, v.ProviderStatus, 'A'+survivor, time.Since(killed).Seconds(), 'A'+watcher, c.sim.describe(video, killed))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if done.Status != "completed" {
		t.Fatalf("job %d ended %q, want completed: %+v", id, done.Status, done)
	}
	if u, _ := done.Result["video_url"].(string); u == "" {
		t.Errorf("completed job %d has no result.video_url: %+v", id, done.Result)
	}

	// The takeover: the survivor's first read of the job, timed by the simulator.
	var took *jobWatchCall
	for _, r := range c.sim.statusReads(video) {
		if r.front == watcher && r.start.After(killed) {
			t.Errorf("replica %c read video %s %.2f s after it was killed", 'A'+watcher, video, r.start.Sub(killed).Seconds())
		}
		if r.front == survivor && took == nil {
			took = &r
		}
	}
	if took == nil {
		t.Fatalf("replica %c never read video %s, yet the job is completed; reads: %s", 'A'+survivor, video, c.sim.describe(video, killed))
	}
	gap := took.start.Sub(killed)
	t.Logf("takeover after %.1f s: replica %c's first read of the job came %.2f s after the kill (%.2f s after the dead replica's lease expired; bound 2 × %v = %v); reads (from the kill): %s",
		gap.Seconds(), 'A'+survivor, gap.Seconds(), took.start.Sub(*before.until).Seconds(), jobWatchInterval,
		2*jobWatchInterval, c.sim.describe(video, killed))
	if lease := before.until.Sub(killed); lease > 2*jobWatchInterval-jobWatchTick {
		t.Errorf("the dead replica's lease ran %.2f s past the kill, want at most 2 poll intervals less a claim tick (%v)", lease.Seconds(), 2*jobWatchInterval-jobWatchTick)
	}
	if gap > 2*jobWatchInterval {
		t.Errorf("replica %c took the job over %.2f s after replica %c was killed, want at most 2 poll intervals (%v)",
			'A'+survivor, gap.Seconds(), 'A'+watcher, 2*jobWatchInterval)
	}
	if late := took.start.Sub(*before.until); late > jobWatchTick+jobWatchSlack {
		t.Errorf("replica %c took the job over %.2f s after the dead replica's lease expired, want within a claim tick (%v)",
			'A'+survivor, late.Seconds(), jobWatchTick)
	}
	if took.start.Before(*before.until) {
		t.Errorf("replica %c read the job %.2f s before the dead replica's lease expired", 'A'+survivor, before.until.Sub(took.start).Seconds())
	}

	// In the database the survivor holds the job no more (terminal: released), and it is
	// no longer the dead replica's.
	after := c.row(id)
	if after.status != "completed" {
		t.Errorf("job %d's row says status %q, want completed", id, after.status)
	}
	if after.owner != nil && before.owner != nil && *after.owner == *before.owner {
		t.Errorf("job %d is still held by the dead replica's watcher %s", id, *before.owner)
	}

	// Across both replicas: at most one status read per poll interval.
	c.checkOnePerInterval(video)
}

// A client waits (?wait=60) on one replica for a job the other replica watches: the waiting
// replica never reads the provider itself, and answers completed as soon as the watcher has
// recorded it (its poller re-reads the store every second): within about one poll interval
// of the video's completion.
func TestJobWaitOnOneReplicaSeesCompletionReadByAnother(t *testing.T) {
	c := newJobWatchCluster(t)
	id, video := c.createVideo(c.replicas[0])
	first := c.sim.waitRead(t, "first read", video, 3*jobWatchTick+2*time.Second, func(jobWatchCall) bool { return true })
	watcher, waiter := first.front, 1-first.front

	asked := time.Now()
	v, err := c.job(c.replicas[waiter], id, "?wait=60")
	answered := time.Now()
	if err != nil {
		t.Fatalf("GET job %d?wait=60 from replica %c: %v", id, 'A'+waiter, err)
	}
	if v.Status != "completed" {
		t.Fatalf("job %d?wait=60 on replica %c answered %q after %.1f s, want completed; reads: %s",
			id, 'A'+waiter, v.Status, answered.Sub(asked).Seconds(), c.sim.describe(video, time.Time{}))
	}
	if u, _ := v.Result["video_url"].(string); u == "" {
		t.Errorf("completed job %d has no result.video_url: %+v", id, v.Result)
	}

	// The read that saw it completed, and when the simulator finished the video.
	seen := c.sim.waitRead(t, "the read that saw completion", video, 0, func(r jobWatchCall) bool { return r.status == "completed" })
	finished := c.sim.generated().Add(jobWatchVideo)
	t.Logf("replica %c watched job %d, a client waited on replica %c: the video finished at +0, replica %c read it completed at %+.2f s, the waiter was answered at %+.2f s (%.2f s after that read); reads: %s",
		'A'+watcher, id, 'A'+waiter, 'A'+watcher, seen.end.Sub(finished).Seconds(), answered.Sub(finished).Seconds(),
		answered.Sub(seen.end).Seconds(), c.sim.describe(video, finished))
	if seen.front != watcher {
		t.Errorf("the read that saw video %s completed came from replica %c, want the watcher %c", video, 'A'+seen.front, 'A'+watcher)
	}
	if lag := answered.Sub(seen.end); lag > jobWatchTick+jobWatchSlack {
		t.Errorf("the waiter on replica %c was answered %.2f s after replica %c recorded the job completed, want within about a second",
			'A'+waiter, lag.Seconds(), 'A'+watcher)
	}
	// At worst the watcher read the video just before it finished: the next read is an
	// interval later, on the next claim tick, and the waiter's poller sees it within its
	// second of re-reading the store.
	if lag, most := answered.Sub(finished), jobWatchInterval+2*jobWatchTick+jobWatchSlack; lag > most {
		t.Errorf("the waiter was answered %.2f s after the video finished, want within about one poll interval (%v: the interval, a claim tick, a re-read of the store)",
			lag.Seconds(), most)
	}
	for _, r := range c.sim.statusReads(video) {
		if r.front != watcher {
			t.Errorf("replica %c (the waiter's, not the watcher) read video %s itself at %s", 'A'+r.front, video, r.end.Format(time.TimeOnly))
		}
	}
	c.checkOnePerInterval(video)
}
