package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/aiproxy/aiproxy"
)

// The per-org session limit across replicas (docs/realtime.md, "Limits and close codes").
// With a shared count (Redis: redislimit.Limiter), an org's sessions are entries with a
// lease in one set that every replica checks and adds to in one atomic step; a running
// session renews its lease every third of it, and leaves when it ends. A replica that dies
// stops renewing, and its sessions stop counting once their leases end. When the shared
// count does not answer, the session is counted on this replica alone (as without Redis),
// like rate limits, which fail open too.

// RealtimeSessions counts realtime sessions across replicas.
type RealtimeSessions interface {
	// EnterSession adds id to org's sessions with a lease unless limit are in progress.
	EnterSession(ctx context.Context, org int64, id string, limit int, lease time.Duration) (bool, error)
	// RenewSession extends id's lease.
	RenewSession(ctx context.Context, org int64, id string, lease time.Duration) error
	// LeaveSession removes id.
	LeaveSession(ctx context.Context, org int64, id string) error
}

// DefaultRealtimeSessionLease is how long a shared count holds a session whose replica
// stopped renewing it.
const DefaultRealtimeSessionLease = 30 * time.Second

// sharedSessionsTimeout bounds one call to the shared count.
const sharedSessionsTimeout = time.Second

// realtimeSessions is the shared count, or nil.
func (s *Server) realtimeSessions() RealtimeSessions {
	if s.rt.limits.Sessions != nil {
		return s.rt.limits.Sessions
	}
	rs, _ := s.limiter.(RealtimeSessions)
	return rs
}

// joinRealtime takes one of org's sessions, or refuses (429) when all are in progress:
// across replicas with a shared count, else on this replica. leave gives it back.
func (s *Server) joinRealtime(ctx context.Context, org int64) (leave func(), err error) {
	h := s.rt
	shared := s.realtimeSessions()
	local := func() (func(), error) {
		if err := h.enter(org, true); err != nil {
			return nil, err
		}
		return func() { h.leave(org) }, nil
	}
	if shared == nil {
		return local()
	}
	if h.ctx.Err() != nil {
		return nil, aiproxy.Errorf(aiproxy.EUNAVAILABLE, "The gateway is shutting down.")
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	lease := h.limits.SessionLease
	cctx, cancel := context.WithTimeout(ctx, sharedSessionsTimeout)
	ok, err := shared.EnterSession(cctx, org, id, h.limits.MaxSessionsPerOrg, lease)
	cancel()
	if err != nil {
		s.logger.Warn("realtime: the shared session count did not answer; counting on this replica",
			slog.Int64("org", org), slog.String("error", err.Error()))
		return local()
	}
	if !ok {
		return nil, errRealtimeSessions
	}
	give := func() {
		ctx, cancel := context.WithTimeout(context.Background(), sharedSessionsTimeout)
		defer cancel()
		if err := shared.LeaveSession(ctx, org, id); err != nil {
			s.logger.Warn("realtime: leaving the shared session count failed; the lease ends by itself",
				slog.Int64("org", org), slog.String("error", err.Error()))
		}
	}
	if err := h.enter(org, false); err != nil {
		give()
		return nil, err
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), sharedSessionsTimeout)
				if err := shared.RenewSession(ctx, org, id, lease); err != nil {
					s.logger.Warn("realtime: renewing a session's lease failed", slog.Int64("org", org), slog.String("error", err.Error()))
				}
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		give()
		h.leave(org)
	}, nil
}
