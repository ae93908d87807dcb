package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Waiting for a job (GET …/jobs/{id}/?wait=N): the job's status action is read by the
// replica that watches the job (jobs_watch.go), at most once per poll interval across
// replicas, as the org would through invoke (its provider key, its budget, the
// shared-account rules; tenancy.Invocation records the state each answer shows). However
// many requests wait on one job, one poller per job and process follows it: it re-reads the
// job from the store when this replica's watcher has read it, and at least every second
// (the watcher may be another replica), and tells its waiters; it stops when the job is
// terminal or the last waiter has left. Waiters never read the upstream themselves.

// jobHub holds the pollers of the jobs being waited on, by job id.
type jobHub struct {
	s        *Server
	mu       sync.Mutex
	pollers  map[int64]*jobPoller
	interval time.Duration // > 0: replaces every job's poll interval (tests)

	heartbeat, lifetime time.Duration // > 0: replace the event streams' (jobs_events.go; tests)
	streamsByKey        map[int64]int // taken-over event streams open, per key (jobs_stream.go)
	maxStreams          int           // > 0: replaces MaxStreamsPerKey (tests)
}

func newJobHub(s *Server) *jobHub { return &jobHub{s: s, pollers: map[int64]*jobPoller{}} }

// jobPoller reads one job's status while anyone waits on it.
type jobPoller struct {
	waiters int
	tick    chan struct{} // closed (and replaced) after each read, and when the poller stops
	changed chan struct{} // the watcher read the job here (notify)
	cancel  context.CancelFunc
	stopped bool

	// The job as the poller last read it, shared by every waiter (who never read the store
	// themselves: ten thousand waiters on a job are one read per tick), and the event streams
	// it writes to itself (jobs_stream.go). Guarded by smu, not the hub's lock: writing to
	// the streams of one job holds up nobody else.
	smu     sync.Mutex
	snap    *jobSnapshot
	streams []*eventStream
	beat    time.Time // the last keep-alive sent to the streams
}

// jobSnapshot is one read of a job: the job, its view as JSON, and the view's event id.
type jobSnapshot struct {
	job  *aiproxy.Job
	view []byte
	eid  string
}

// snapshot returns the poller's last read of the job, nil before the first.
func (jp *jobPoller) snapshot() *jobSnapshot {
	jp.smu.Lock()
	defer jp.smu.Unlock()
	return jp.snap
}

// join subscribes a waiter to the job's poller, starting one if none runs; leave must be
// called once the waiter is done. p says how to read the job; actor, org and requestID are
// the waiter's, used by a poller it starts.
func (h *jobHub) join(p *tenancy.JobPoll, actor tenancy.Actor, org *aiproxy.Org, requestID string) (jp *jobPoller, leave func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := p.Job.ID
	jp = h.pollers[id]
	if jp == nil || jp.stopped {
		ctx, cancel := context.WithCancel(context.Background())
		jp = &jobPoller{tick: make(chan struct{}), changed: make(chan struct{}, 1), cancel: cancel, beat: time.Now()}
		h.pollers[id] = jp
		go h.run(ctx, jp, p, actor, org)
		if h.s.watcher != nil {
			h.s.watcher.wake()
		}
	}
	jp.waiters++
	var once sync.Once
	return jp, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if jp.waiters--; jp.waiters == 0 {
				h.stop(id, jp)
			}
		})
	}
}

// next returns the channel closed after jp's next read, and whether jp has stopped.
func (h *jobHub) next(jp *jobPoller) (<-chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return jp.tick, jp.stopped
}

// stop ends jp and tells its waiters. Caller holds h.mu.
func (h *jobHub) stop(id int64, jp *jobPoller) {
	if jp.stopped {
		return
	}
	jp.stopped = true
	jp.cancel()
	close(jp.tick)
	if h.pollers[id] == jp {
		delete(h.pollers, id)
	}
}

// broadcast tells jp's waiters that the job may have changed.
func (h *jobHub) broadcast(jp *jobPoller) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !jp.stopped {
		close(jp.tick)
		jp.tick = make(chan struct{})
	}
}

// notify tells the poller of job id, if any, that the watcher has read the job.
func (h *jobHub) notify(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if jp := h.pollers[id]; jp != nil {
		select {
		case jp.changed <- struct{}{}:
		default:
		}
	}
}

// run re-reads the job from the store when the watcher here has read it, and at least
// every second (every interval when shorter), until the job is terminal or nobody waits.
func (h *jobHub) run(ctx context.Context, jp *jobPoller, p *tenancy.JobPoll, actor tenancy.Actor, org *aiproxy.Org) {
	every := min(p.Interval, time.Second)
	h.mu.Lock()
	if h.interval > 0 {
		every = min(h.interval, time.Second)
	}
	h.mu.Unlock()
	if every <= 0 {
		every = time.Second
	}
	defer func() {
		h.mu.Lock()
		h.stop(p.Job.ID, jp)
		h.mu.Unlock()
	}()
	for {
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-jp.changed:
			t.Stop()
		case <-t.C:
		}
		j, jerr := h.s.tenancy.Job(ctx, actor, org, p.Job.ID)
		if ctx.Err() != nil {
			return
		}
		if jerr == nil {
			if snap, err := h.s.newSnapshot(j); err == nil {
				jp.smu.Lock()
				jp.snap = snap
				jp.smu.Unlock()
			}
		}
		h.serveStreams(jp)
		h.broadcast(jp)
		if jerr == nil && catalog.Terminal(j.Status) {
			return
		}
	}
}

// newSnapshot renders j's view once, for every waiter and stream.
func (s *Server) newSnapshot(j *aiproxy.Job) (*jobSnapshot, error) {
	view, err := json.Marshal(s.newJobView(j))
	if err != nil {
		return nil, err
	}
	return &jobSnapshot{job: j, view: view, eid: jobEventID(j, view)}, nil
}

// pollJob invokes the job's status action once, server side, as an invoke of the org
// would: the org's provider key, admission, the recorded state (Transform), usage and
// budget. It returns how long the provider asked to wait (a 429's Retry-After).
func (s *Server) pollJob(ctx context.Context, p *tenancy.JobPoll, actor tenancy.Actor, org *aiproxy.Org, requestID string) (time.Duration, error) {
	ctx = context.WithValue(ctx, ctxState, &reqState{id: requestID, actor: actor,
		log: logInfo{org: org.Slug, service: p.Job.Service, action: p.Endpoint.Slug, known: true}})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, s.prefix+"/orgs/"+org.Slug+"/services/"+p.Job.Service+"/"+p.Endpoint.Slug+"/",
		bytes.NewReader(p.Envelope))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Content-Type", "application/json")
	inv := s.tenancy.NewInvocation(actor, org, p.State, p.Endpoint, requestID)
	w := &memWriter{header: http.Header{}, limit: 64 << 10}
	_, err = s.call(w, r, inv, callOptions{})
	var ae *aiproxy.Error
	if errors.As(err, &ae) && ae.Code == aiproxy.ETHROTTLED {
		return parseRetryAfter(ae.RetryAfter, s.now()), err
	}
	return 0, err
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date; 0 when neither.
// It is capped at five minutes, the longest wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxWait)
}

// memWriter is the ResponseWriter of a server-side call: it keeps the status and at most
// limit bytes of the body, which nobody reads but a debugger.
type memWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int
}

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := w.limit - w.body.Len(); room > 0 {
		w.body.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// maxWait is the longest ?wait= a client may ask for.
const maxWait = 300 * time.Second

// waitJob waits, at most d or until the client leaves, for j to be terminal, polling its
// status action through the hub; it returns the job as last recorded.
func (s *Server) waitJob(r *http.Request, org *aiproxy.Org, j *aiproxy.Job, d time.Duration) (*aiproxy.Job, error) {
	ctx, actor := r.Context(), actorFrom(r)
	if d <= 0 || catalog.Terminal(j.Status) {
		return j, nil
	}
	p, err := s.tenancy.PollJob(ctx, actor, org, j)
	if err != nil || p == nil {
		return j, nil // the gateway cannot read it now: the job as it stands
	}
	jp, leave := s.jobs.join(p, actor, org, requestID(ctx))
	defer leave()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		// The tick is taken before the snapshot is read: a read that ends after is not missed.
		ch, stopped := s.jobs.next(jp)
		if snap := jp.snapshot(); snap != nil {
			j = snap.job
		}
		if catalog.Terminal(j.Status) || stopped {
			return j, nil // done, or the poller stopped on its own: the job as recorded
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err() // the client left: nobody to answer
		case <-deadline.C:
			return j, nil
		case <-ch:
		}
	}
}
