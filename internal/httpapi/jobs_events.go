package httpapi

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Job events (GET …/orgs/{org}/jobs/{id}/events/, docs/jobs.md "Events"): a server-sent
// event stream of one job's view. `status` carries the view each time it changes (the
// first at once), `done` the final view once the job is completed or failed, and then the
// stream ends. While the stream is open and the job is not terminal, the stream subscribes
// to the job's poller in the hub (jobs_poll.go), the same one ?wait uses: one reader per
// job, however many streams and waiters.
//
// Event ids are "<updated_at in unix nanoseconds>-<8 hex digits of a digest of the view>":
// they grow with the job's updated_at, and two equal ids are the same view. A client that
// reconnects with Last-Event-ID equal to the current view's id is not sent that view again
// (only `done` if the job is terminal); any other id gets the current view.

// Defaults of the stream's timers (the hub's fields replace them in tests).
const (
	jobEventsHeartbeat = 15 * time.Second // a comment line, so that proxies keep the stream
	jobEventsLifetime  = time.Hour        // then the stream ends; clients reconnect with Last-Event-ID
	jobEventsRetry     = 60 * time.Second // the reconnect delay suggested when the job cannot be followed now
)

// jobEventID is the event id of a job's view (see above).
func jobEventID(j *aiproxy.Job, view []byte) string {
	updated := j.UpdatedAt
	if updated.IsZero() {
		updated = j.CreatedAt
	}
	h := fnv.New32a()
	h.Write(view)
	return fmt.Sprintf("%d-%08x", updated.UnixNano(), h.Sum32())
}

// eventsTimers returns the heartbeat interval and the stream's lifetime.
func (h *jobHub) eventsTimers() (heartbeat, lifetime time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	heartbeat, lifetime = jobEventsHeartbeat, jobEventsLifetime
	if h.heartbeat > 0 {
		heartbeat = h.heartbeat
	}
	if h.lifetime > 0 {
		lifetime = h.lifetime
	}
	return heartbeat, lifetime
}

// GET …/orgs/{org}/jobs/{id}/events/ (the keys that may read the job): the job's events.
// Who may read it, and the 404s, are GET …/jobs/{id}/'s, answered before any stream starts.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		id = 0 // not found, once the caller is known to be the org's
	}
	ctx, actor := r.Context(), actorFrom(r)
	j, err := s.tenancy.Job(ctx, actor, org, id)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell buffering reverse proxies in front of us
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	rc := http.NewResponseController(w)
	flush := func() error {
		if err := rc.Flush(); err != nil && err != http.ErrNotSupported {
			return err
		}
		return nil
	}
	_ = flush()
	// From here on the answer has begun: the stream ends without an error body.
	last := r.Header.Get("Last-Event-ID")
	emit := func(j *aiproxy.Job) (done bool, err error) {
		view, err := json.Marshal(s.newJobView(j))
		if err != nil {
			return true, err
		}
		eid := jobEventID(j, view)
		if eid != last {
			if _, err := fmt.Fprintf(w, "id: %s\nevent: status\ndata: %s\n\n", eid, view); err != nil {
				return true, err
			}
			last = eid
		}
		if catalog.Terminal(j.Status) {
			if _, err := fmt.Fprintf(w, "id: %s\nevent: done\ndata: %s\n\n", eid, view); err != nil {
				return true, err
			}
			done = true
		}
		return done, flush()
	}
	if done, err := emit(j); done || err != nil {
		return nil
	}
	p, err := s.tenancy.PollJob(ctx, actor, org, j)
	if err == nil && p == nil {
		// Not followed: nothing will change it, which done says.
		view, _ := json.Marshal(s.newJobView(j))
		fmt.Fprintf(w, "id: %s\nevent: done\ndata: %s\n\n", jobEventID(j, view), view)
		_ = flush()
		return nil
	}
	if err != nil {
		// The org may not use the service now: the stream ends; reconnect later.
		fmt.Fprintf(w, "retry: %d\n\n", jobEventsRetry.Milliseconds())
		_ = flush()
		return nil
	}
	heartbeat, lifetime := s.jobs.eventsTimers()
	end := time.NewTimer(lifetime)
	defer end.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	jp, leave := s.jobs.join(p, actor, org, requestID(ctx))
	defer func() { leave() }()
	for {
		// The tick is taken before the store is read: a read that ends after is not missed.
		ch, stopped := s.jobs.next(jp)
		cur, err := s.tenancy.Job(ctx, actor, org, j.ID)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("reading a job for its event stream failed", "job_id", j.ID, "error", err.Error())
			}
			return nil
		}
		if done, err := emit(cur); done || err != nil {
			return nil
		}
		if stopped {
			// The poller stopped on its own, the job not terminal as read: follow a new one.
			leave()
			jp, leave = s.jobs.join(p, actor, org, requestID(ctx))
			continue
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil // the client left
			case <-end.C:
				return nil // the stream's lifetime: the client reconnects with Last-Event-ID
			case <-beat.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return nil
				}
				if err := flush(); err != nil {
					return nil
				}
			case <-ch:
				break wait
			}
		}
	}
}
