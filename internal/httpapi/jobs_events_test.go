package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// sseEvent is one event of a stream, or one comment line (comment set, the rest empty).
type sseEvent struct {
	id, event, data, comment string
}

// sseStream is what a job's event stream gave: the answer's status and headers, its
// events in order, the body when it was not a stream, and whether it ended by itself (EOF)
// rather than by the client leaving.
type sseStream struct {
	status int
	header http.Header
	events []sseEvent
	body   string
	ended  bool
}

// named returns the events named ev.
func (s sseStream) named(ev string) []sseEvent {
	var out []sseEvent
	for _, e := range s.events {
		if e.event == ev {
			out = append(out, e)
		}
	}
	return out
}

// comments counts the comment lines.
func (s sseStream) comments() int {
	n := 0
	for _, e := range s.events {
		if e.comment != "" {
			n++
		}
	}
	return n
}

// jobEvents opens org's job events with key and reads them until the stream ends or ctx
// is done (safe from any goroutine). header pairs are added to the request.
func (e *acctEnv) jobEvents(ctx context.Context, key, org string, id int64, header ...string) (sseStream, error) {
	var s sseStream
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s%s/orgs/%s/jobs/%d/events/", e.srv.URL, admAPI, org, id), nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("Authorization", "Api-Key "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	s.status, s.header = resp.StatusCode, resp.Header
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var b strings.Builder
		_, err := bufio.NewReader(resp.Body).WriteTo(&b)
		s.body = b.String()
		return s, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" || cur.data != "" || cur.id != "" {
				s.events = append(s.events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.events = append(s.events, sseEvent{comment: strings.TrimSpace(line[1:])})
		case strings.HasPrefix(line, "id: "):
			cur.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[len("data: "):]
		}
	}
	if err := sc.Err(); err != nil {
		return s, err // the client left (ctx done)
	}
	s.ended = true
	return s, nil
}

// viewOf decodes an event's data.
func viewOf(t testing.TB, ev sseEvent) jobView {
	t.Helper()
	var v jobView
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
		t.Fatalf("event %s: data is not a job view: %q", ev.event, ev.data)
	}
	return v
}

func statusOf(v jobView) string {
	if v.Status == nil {
		return "null"
	}
	return *v.Status
}

// completedJob records a completed job of org A (no poller needed to stream it).
func (e *acctEnv) completedJob(upstreamID string) *aiproxy.Job {
	e.t.Helper()
	now := time.Now()
	j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: upstreamID,
		Source: aiproxy.SourcePlatform, CreatedAt: now, Status: aiproxy.JobCompleted, ProviderStatus: "completed",
		Result: `{"video_url":"https://example.com/v.mp4"}`, UpdatedAt: now.Add(time.Second)}
	if err := e.store.CreateJob(context.Background(), j); err != nil {
		e.t.Fatal(err)
	}
	return e.jobOf("heygen", upstreamID)
}

// TestJobEventsFollowAVideoFromQueuedToCompletedThenDoneAndTheStreamEnds: the events of a
// video the simulator renders are status events in the order of its states, each view
// different from the one before, the last completed with its result, then done, and then
// the stream ends; the poller stops with it.
func TestJobEventsFollowAVideoFromQueuedToCompletedThenDoneAndTheStreamEnds(t *testing.T) {
	e := waitEnv(t, 5, 50*time.Millisecond) // a test video: 2 simulated seconds, 0.4 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.jobEvents(ctx, e.memberA, "org-a", j.ID)
	if err != nil || s.status != 200 {
		t.Fatalf("events: %d %s %v", s.status, s.body, err)
	}
	if ct, cc := s.header.Get("Content-Type"), s.header.Get("Cache-Control"); ct != "text/event-stream" || cc != "no-cache" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	if !s.ended {
		t.Fatal("the stream did not end after done")
	}
	evs := s.events
	if len(evs) < 3 {
		t.Fatalf("events %+v: want at least status (not terminal), status completed, done", evs)
	}
	rank := map[string]int{"queued": 0, "processing": 1, "completed": 2}
	prev, prevID := -1, ""
	for i, ev := range evs[:len(evs)-1] {
		if ev.event != "status" || ev.id == "" {
			t.Fatalf("event %d is %+v, want a status with an id", i, ev)
		}
		if ev.id == prevID {
			t.Errorf("event %d repeats id %s", i, ev.id)
		}
		v := viewOf(t, ev)
		r, ok := rank[statusOf(v)]
		if !ok || r < prev {
			t.Errorf("event %d: status %s after rank %d", i, statusOf(v), prev)
		}
		prev, prevID = r, ev.id
		if v.ID != j.ID {
			t.Errorf("event %d names job %d", i, v.ID)
		}
	}
	if first := viewOf(t, evs[0]); statusOf(first) == "completed" {
		t.Errorf("the first event is already completed: %s", evs[0].data)
	}
	last, done := evs[len(evs)-2], evs[len(evs)-1]
	if lv := viewOf(t, last); statusOf(lv) != "completed" || lv.Result == nil || string(lv.Result) == "null" {
		t.Errorf("last status %s, want completed with a result", last.data)
	}
	if done.event != "done" || done.data != last.data || done.id != last.id {
		t.Errorf("final event %+v, want done with the last view %s", done, last.data)
	}
	simtest.WaitFor(t, "the poller to stop", 2*time.Second, 10*time.Millisecond, func() bool { return e.api.JobPollers() == 0 })
}

// TestJobEventsOfATerminalJobAreOneStatusAndDoneAtOnce: a completed job's stream is its
// view and done, at once, and nothing reads the provider.
func TestJobEventsOfATerminalJobAreOneStatusAndDoneAtOnce(t *testing.T) {
	e := waitEnv(t, 5, 50*time.Millisecond)
	j := e.completedJob("finished-video")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	s, err := e.jobEvents(ctx, e.adminA, "org-a", j.ID)
	if err != nil || s.status != 200 || !s.ended {
		t.Fatalf("events: %d %s ended=%v %v", s.status, s.body, s.ended, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a terminal job's stream took %v", took)
	}
	if len(s.events) != 2 || s.events[0].event != "status" || s.events[1].event != "done" {
		t.Fatalf("events %+v, want status then done", s.events)
	}
	if v := viewOf(t, s.events[1]); statusOf(v) != "completed" || !strings.Contains(string(v.Result), "video_url") {
		t.Errorf("done %s, want the completed view", s.events[1].data)
	}
	if n := e.statusCalls(); n != 0 {
		t.Errorf("%d status reads for a completed job", n)
	}
}

// TestJobEventsResumedWithTheCurrentLastEventIDDoNotRepeatTheView: a client that
// reconnects with the id of the view it has is not sent it again (a terminal job: only
// done; a running one: nothing until it changes), and one with an unknown id gets the
// current view.
func TestJobEventsResumedWithTheCurrentLastEventIDDoNotRepeatTheView(t *testing.T) {
	e := waitEnv(t, 0.01, 50*time.Millisecond) // a test video: 200 s
	e.api.SetJobEventsTimers(40*time.Millisecond, 0)

	// Terminal.
	done := e.completedJob("finished-video")
	s, err := e.jobEvents(context.Background(), e.memberA, "org-a", done.ID)
	if err != nil || len(s.events) != 2 {
		t.Fatalf("first stream: %+v %v", s.events, err)
	}
	id := s.events[0].id
	s, err = e.jobEvents(context.Background(), e.memberA, "org-a", done.ID, "Last-Event-ID", id)
	if err != nil || !s.ended || len(s.events) != 1 || s.events[0].event != "done" || s.events[0].id != id {
		t.Errorf("resumed with the current id: %+v %v, want done only", s.events, err)
	}
	s, err = e.jobEvents(context.Background(), e.memberA, "org-a", done.ID, "Last-Event-ID", "1-deadbeef")
	if err != nil || len(s.events) != 2 || s.events[0].event != "status" {
		t.Errorf("resumed with an unknown id: %+v %v, want status and done", s.events, err)
	}

	// Running.
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	s, _ = e.jobEvents(ctx, e.memberA, "org-a", j.ID)
	cancel()
	st := s.named("status")
	if len(st) == 0 {
		t.Fatalf("no status event on a running job: %+v", s.events)
	}
	lastID := st[len(st)-1].id
	ctx, cancel = context.WithTimeout(context.Background(), 400*time.Millisecond)
	s, _ = e.jobEvents(ctx, e.memberA, "org-a", j.ID, "Last-Event-ID", lastID)
	cancel()
	for _, ev := range s.named("status") {
		if ev.id == lastID {
			t.Errorf("the view %s was sent again after Last-Event-ID named it", lastID)
		}
	}
	if s.comments() == 0 {
		t.Errorf("the resumed stream sent no keep-alive: %+v", s.events)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	s, _ = e.jobEvents(ctx, e.memberA, "org-a", j.ID, "Last-Event-ID", "1-deadbeef")
	cancel()
	if st := s.named("status"); len(st) == 0 || statusOf(viewOf(t, st[0])) == "completed" {
		t.Errorf("resumed with an unknown id: %+v, want the current view", s.events)
	}
}

// TestJobEventsOfAnotherOrgsJobAreNotFoundBeforeAnyStream: another org's job, or an unknown
// id, is the JSON 404 of GET …/jobs/{id}/, not a stream.
func TestJobEventsOfAnotherOrgsJobAreNotFoundBeforeAnyStream(t *testing.T) {
	e := waitEnv(t, 5, 50*time.Millisecond)
	j := e.completedJob("finished-video")
	for _, c := range []struct {
		name, key, org string
		id             int64
	}{
		{"org B's admin, org A's job", e.adminB, "org-b", j.ID},
		{"org A, an unknown id", e.adminA, "org-a", j.ID + 1000},
	} {
		s, err := e.jobEvents(context.Background(), c.key, c.org, c.id)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.status != 404 || !strings.HasPrefix(s.header.Get("Content-Type"), "application/json") || len(s.events) != 0 {
			t.Errorf("%s: %d %s %+v", c.name, s.status, s.header.Get("Content-Type"), s.events)
		}
		var body map[string]any
		if json.Unmarshal([]byte(s.body), &body) != nil || body["detail"] != "Not found." {
			t.Errorf("%s: body %s", c.name, s.body)
		}
	}
	if n := e.statusCalls(); n != 0 {
		t.Errorf("%d status reads for refused streams", n)
	}
}

// TestJobEventsSendAKeepAliveCommentEveryHeartbeat: a stream with nothing new carries a
// comment line every heartbeat interval.
func TestJobEventsSendAKeepAliveCommentEveryHeartbeat(t *testing.T) {
	e := waitEnv(t, 0.01, 50*time.Millisecond)
	e.api.SetJobEventsTimers(50*time.Millisecond, 0)
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	s, _ := e.jobEvents(ctx, e.memberA, "org-a", j.ID)
	if n := s.comments(); n < 3 {
		t.Errorf("%d keep-alive comments in 500 ms at a 50 ms heartbeat: %+v", n, s.events)
	}
	for _, ev := range s.events {
		if ev.comment != "" && ev.comment != "keep-alive" {
			t.Errorf("comment %q", ev.comment)
		}
	}
}

// TestJobEventsStreamEndsAfterItsLifetime: a stream lasts its lifetime at most, then ends
// without done (the client reconnects with Last-Event-ID).
func TestJobEventsStreamEndsAfterItsLifetime(t *testing.T) {
	e := waitEnv(t, 0.01, 50*time.Millisecond)
	e.api.SetJobEventsTimers(0, 300*time.Millisecond)
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	s, err := e.jobEvents(ctx, e.memberA, "org-a", j.ID)
	if err != nil || !s.ended {
		t.Fatalf("the stream did not end by itself: %v", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("the stream lasted %v, its lifetime 300 ms", took)
	}
	if len(s.named("done")) != 0 || len(s.named("status")) == 0 {
		t.Errorf("events %+v, want status events and no done", s.events)
	}
	simtest.WaitFor(t, "the poller to stop", 2*time.Second, 10*time.Millisecond, func() bool { return e.api.JobPollers() == 0 })
}

// TestJobEventStreamsAndWaitersShareOnePollerThatReadsOncePerInterval: twenty event
// streams and a few ?wait requests on one job cause one upstream status read per poll
// interval, and every stream ends with done.
func TestJobEventStreamsAndWaitersShareOnePollerThatReadsOncePerInterval(t *testing.T) {
	const interval = 150 * time.Millisecond
	e := waitEnv(t, 2, interval) // a test video: 2 simulated seconds, 1 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	before := e.statusCalls()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(f string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(f, args...))
		mu.Unlock()
	}
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := e.memberA
			if i%2 == 1 {
				key = e.adminA
			}
			if i >= 20 {
				status, v, body, err := e.getJob(ctx, key, j.ID, "wait=30")
				if err != nil || status != 200 || v.Status == nil || *v.Status != "completed" {
					fail("waiter %d: %d %s %v", i, status, body, err)
				}
				return
			}
			s, err := e.jobEvents(ctx, key, "org-a", j.ID)
			if err != nil || !s.ended || len(s.named("done")) != 1 || s.events[len(s.events)-1].event != "done" {
				fail("stream %d: ended=%v %+v %v", i, s.ended, s.events, err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, f := range failures {
		t.Error(f)
	}
	calls := e.statusCalls() - before
	if most := int(took/interval) + 2; calls > most {
		t.Errorf("20 streams and 4 waiters over %v caused %d status reads; at most %d (one per %v) expected", took, calls, most, interval)
	}
	if calls == 0 {
		t.Error("no status read reached the upstream")
	}
	simtest.WaitFor(t, "the poller to stop", 2*time.Second, 10*time.Millisecond, func() bool { return e.api.JobPollers() == 0 })
}

// TestJobEventsStopPollingWhenTheClientLeaves: once the only stream's client has gone, the
// gateway no longer reads the job's status.
func TestJobEventsStopPollingWhenTheClientLeaves(t *testing.T) {
	const interval = 50 * time.Millisecond
	e := waitEnv(t, 0.1, interval) // a test video: 20 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s, _ := e.jobEvents(ctx, e.memberA, "org-a", j.ID)
	if s.ended {
		t.Fatalf("the stream ended before the client left: %+v", s.events)
	}
	if e.statusCalls() == 0 {
		t.Fatal("nothing was read while the client listened")
	}
	simtest.WaitFor(t, "the poller to stop", 2*time.Second, 10*time.Millisecond, func() bool { return e.api.JobPollers() == 0 })
	n := e.statusCalls()
	time.Sleep(6 * interval)
	// The job is still watched (one watcher per job, docs/jobs.md), at most once per interval.
	if after := e.statusCalls(); after-n > 6+1 {
		t.Errorf("%d status reads in 6 intervals after the client left; at most one per interval expected", after-n)
	}
}
