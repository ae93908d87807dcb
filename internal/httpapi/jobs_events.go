package httpapi

import (
	"bytes"
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
	last := r.Header.Get("Last-Event-ID")
	var p *tenancy.JobPoll
	var perr error
	if !catalog.Terminal(j.Status) && r.Method != http.MethodHead {
		p, perr = s.tenancy.PollJob(ctx, actor, org, j)
	}
	if p != nil {
		// A job to follow: on HTTP/1.1 the connection is taken over, and the job's poller
		// writes the stream from here on (jobs_stream.go).
		if done, err := s.takeOverEvents(w, r, org, j, p, last); done || err != nil {
			return err
		}
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
	emit := func(snap *jobSnapshot) (done bool, err error) {
		var b bytes.Buffer
		st := eventStream{last: last}
		done = st.appendEvents(&b, snap)
		last = st.last
		if _, err := w.Write(b.Bytes()); err != nil {
			return true, err
		}
		return done, flush()
	}
	first, err := s.newSnapshot(j)
	if err != nil {
		return nil
	}
	if done, err := emit(first); done || err != nil {
		return nil
	}
	if perr == nil && p == nil {
		// Not followed: nothing will change it, which done says.
		fmt.Fprintf(w, "id: %s\nevent: done\ndata: %s\n\n", first.eid, first.view)
		_ = flush()
		return nil
	}
	if perr != nil {
		// The org may not use the service now: the stream ends; reconnect later.
		fmt.Fprintf(w, "retry: %d\n\n", jobEventsRetry.Milliseconds())
		_ = flush()
		return nil
	}
	// HTTP/2: a goroutine per stream, reading the poller's snapshots.
	heartbeat, lifetime := s.jobs.eventsTimers()
	end := time.NewTimer(lifetime)
	defer end.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	jp, leave := s.jobs.join(p, actor, org, requestID(ctx))
	defer func() { leave() }()
	for {
		// The tick is taken before the snapshot is read: a read that ends after is not missed.
		ch, stopped := s.jobs.next(jp)
		if snap := jp.snapshot(); snap != nil {
			if done, err := emit(snap); done || err != nil {
				return nil
			}
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

// takeOverEvents starts a taken-over stream of j (jobs_stream.go): its head and first event
// written, it is handed to the job's poller, and the handler is done (done true). done
// false: the connection cannot be taken over; nothing was written.
func (s *Server) takeOverEvents(w http.ResponseWriter, r *http.Request, org *aiproxy.Org, j *aiproxy.Job, p *tenancy.JobPoll, last string) (bool, error) {
	ctx, actor := r.Context(), actorFrom(r)
	if r.ProtoMajor != 1 {
		return false, nil
	}
	var keyID int64
	if actor.Key != nil {
		keyID = actor.Key.ID
	}
	if err := s.jobs.reserveStream(keyID); err != nil {
		return true, err
	}
	first, err := s.newSnapshot(j)
	if err != nil {
		s.jobs.releaseStream(keyID)
		return true, err
	}
	_, lifetime := s.jobs.eventsTimers()
	st, err := s.takeOver(w, r, first, last, keyID, lifetime)
	if st == nil {
		s.jobs.releaseStream(keyID)
		if err != nil {
			return true, nil // taken over, and the client is gone already
		}
		return false, nil
	}
	for {
		jp, leave := s.jobs.join(p, actor, org, requestID(ctx))
		st.leave = leave
		if s.jobs.addStream(jp, st) {
			return true, nil
		}
		leave() // the poller stopped meanwhile: join its successor
	}
}
