package httpapi

import (
	"context"
	"crypto/rand"
	"net/http"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// One watcher per job (docs/jobs.md): every job created through the gateway is watched
// until it is terminal or 24 hours old, whether or not anyone waits on it. Each replica
// runs one jobWatcher; the store hands out the watch of a job to one replica at a time (a
// lease, ClaimJobWatches) and keeps when the job is next due (next_poll_at), so that across
// replicas the status action of a job is read at most once per poll interval. Waiters
// (jobs_poll.go) never read the upstream themselves: they re-read the job from the store.

const (
	watchTick    = time.Second    // how often a replica claims due jobs
	watchMaxAge  = 24 * time.Hour // jobs older than this are no longer watched
	watchBatch   = 16             // jobs claimed at once
	watchDefault = 5 * time.Second
	maxBackoff   = 5 * time.Minute
	// backoffAfter unchanged reads, the interval grows ×1.5 each read, up to maxBackoff.
	backoffAfter = 10
	// webhookFallback: a job whose provider sends webhooks here is read this many times
	// less often.
	webhookFallback = 6
)

type jobWatcher struct {
	s      *Server
	owner  string
	nudge  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	seen  map[int64]watchSeen // per job watched here: its last state and unchanged reads
	polls map[int64]int       // status reads per job (tests)
}

type watchSeen struct {
	state     string
	unchanged int
	missing   int // status reads in a row the provider answered 404
}

// missingLimit: a job whose status action the provider answers 404 this many times in a
// row is not watched any more (an id the action cannot read, or an object deleted since);
// a client's wait or read still reads it.
const missingLimit = 3

// upstreamNotFound reports whether err is the provider's 404.
func upstreamNotFound(err error) bool {
	ae := aiproxy.AsError(err)
	return ae != nil && ae.Fields != nil && ae.Fields["upstream_status"] == http.StatusNotFound
}

func newJobWatcher(s *Server) *jobWatcher {
	return &jobWatcher{s: s, owner: "replica-" + rand.Text(), nudge: make(chan struct{}, 1),
		seen: map[int64]watchSeen{}, polls: map[int64]int{}}
}

func (w *jobWatcher) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go w.run(ctx)
}

// stop ends the loop and waits for it. The jobs it held are taken over by another replica
// once their leases expire.
func (w *jobWatcher) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
}

// wake makes the loop claim at once (a client started waiting).
func (w *jobWatcher) wake() {
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

// interval is the poll interval of a job whose own is d: the tests' override, if set.
func (w *jobWatcher) interval(d time.Duration) time.Duration {
	h := w.s.jobs
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.interval > 0 {
		return h.interval
	}
	if d <= 0 {
		return watchDefault
	}
	return d
}

func (w *jobWatcher) run(ctx context.Context) {
	defer close(w.done)
	for {
		w.round(ctx)
		t := time.NewTimer(min(watchTick, w.interval(watchTick)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.nudge:
			t.Stop()
		case <-t.C:
		}
	}
}

// leaseFor is how long a claim holds a job watched every iv: long enough for a read, and
// short enough that, the holder dead, another replica (claiming every watchTick) takes
// the job over within two intervals of the death: 2 × iv less a tick and a half.
func leaseFor(iv time.Duration) time.Duration {
	return 2*iv - min(watchTick+watchTick/2, iv/2)
}

// round claims the due jobs and reads each once.
func (w *jobWatcher) round(ctx context.Context) {
	for ctx.Err() == nil {
		now := time.Now()
		// Leases and next polls are on the real clock; a job's age on the gateway's, which
		// stamped its creation.
		jobs, err := w.s.store.ClaimJobWatches(ctx, w.owner, now, w.s.now().Add(-watchMaxAge), now.Add(leaseFor(w.interval(0))), watchBatch)
		if err != nil {
			if ctx.Err() == nil {
				w.s.logger.Warn("claiming jobs to watch failed", "error", err.Error())
			}
			return
		}
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Go(func() { w.watch(ctx, j) })
		}
		wg.Wait()
		if len(jobs) < watchBatch {
			return
		}
	}
}

// watch reads one claimed job's status, tells the waiters here, and sets when it is next due
// (or releases it, terminal).
func (w *jobWatcher) watch(ctx context.Context, j *aiproxy.Job) {
	s := w.s
	later := func(d time.Duration) {
		if err := s.store.SetJobNextPoll(ctx, j.ID, w.owner, time.Now().Add(d)); err != nil && ctx.Err() == nil {
			s.logger.Warn("saving a job's next poll failed", "job_id", j.ID, "error", err.Error())
		}
	}
	org, err := s.store.OrgByID(ctx, j.OrgID)
	if err != nil {
		later(w.interval(0))
		return
	}
	p, err := s.tenancy.PollJob(ctx, tenancy.CLI, org, j)
	if err != nil { // the service is switched off for the org now: later
		later(w.interval(0))
		return
	}
	if p == nil { // not followed: not due again before it is too old to watch
		later(max(j.CreatedAt.Add(watchMaxAge).Sub(s.now()), time.Minute))
		return
	}
	interval := w.interval(p.Interval)
	w.mu.Lock()
	w.polls[j.ID]++
	w.mu.Unlock()
	retryAfter, err := s.pollJob(ctx, p, tenancy.CLI, org, watchRequestPrefix+newRequestID())
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.logger.Warn("reading a job's status failed", "job_id", j.ID, "service", j.Service,
			"action", p.Endpoint.Slug, "error", err.Error())
	}
	w.mu.Lock()
	seen := w.seen[j.ID]
	if upstreamNotFound(err) {
		seen.missing++
	} else {
		seen.missing = 0
	}
	w.seen[j.ID] = seen
	w.mu.Unlock()
	if seen.missing >= missingLimit {
		s.logger.Info("the provider does not know this job's status; no longer watched", "job_id", j.ID, "service", j.Service)
		w.mu.Lock()
		delete(w.seen, j.ID)
		w.mu.Unlock()
		later(max(j.CreatedAt.Add(watchMaxAge).Sub(s.now()), time.Minute))
		return
	}
	cur, jerr := s.store.JobByUpstreamID(ctx, j.Service, j.UpstreamID)
	s.jobs.notify(j.ID)
	if jerr == nil && catalog.Terminal(cur.Status) {
		if s.deliverer != nil {
			s.deliverer.Kick() // the org's webhook, if any, is in the outbox now
		}
		w.mu.Lock()
		delete(w.seen, j.ID)
		w.mu.Unlock()
		if err := s.store.ReleaseJobWatch(ctx, j.ID, w.owner); err != nil && ctx.Err() == nil {
			s.logger.Warn("releasing a job failed", "job_id", j.ID, "error", err.Error())
		}
		return
	}
	next := interval
	if jerr == nil {
		state := cur.Status + "\x00" + cur.ProviderStatus
		w.mu.Lock()
		seen := w.seen[j.ID]
		if seen.state == state {
			seen.unchanged++
		} else {
			seen = watchSeen{state: state, missing: seen.missing}
		}
		w.seen[j.ID] = seen
		w.mu.Unlock()
		for i := backoffAfter; i < seen.unchanged && next < maxBackoff; i++ {
			next = next * 3 / 2
		}
		next = min(next, max(maxBackoff, interval))
	}
	if s.tenancy.WebhookRegistered(ctx, j) {
		// The provider tells the gateway when the job ends (webhooks.go); reading it is
		// only the fallback for a lost event.
		next = max(next, min(webhookFallback*interval, maxBackoff))
	}
	later(max(next, retryAfter))
}

// watchRequestPrefix begins the request id of the watcher's reads (X-Request-Id upstream,
// request_id in the logs), so that the gateway's own background calls can be told from
// the calls clients made, in its logs and in the provider's.
const watchRequestPrefix = "watch-"
