package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// withActor records the authenticated caller in the request's state.
func withActor(r *http.Request, key *aiproxy.APIKey) *http.Request {
	if st := stateFrom(r.Context()); st != nil {
		st.actor = tenancy.Actor{Key: key}
		st.log.keyPrefix = key.Prefix
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), ctxState, &reqState{actor: tenancy.Actor{Key: key}}))
}

// actorFrom returns the authenticated caller of the request.
func actorFrom(r *http.Request) tenancy.Actor {
	if st := stateFrom(r.Context()); st != nil {
		return st.actor
	}
	return tenancy.Actor{}
}

// authenticate checks the Authorization header (docs/contract.md §2) and records the key's
// use for last_used_at.
func (s *Server) authenticate(r *http.Request) (*aiproxy.APIKey, error) {
	authz := r.Header.Get("Authorization")
	switch {
	case authz != "":
	case s.isRealtime(r):
		authz = realtimeAuthorization(r) // a browser's token: subprotocol or query (realtime.go)
	case s.isNative(r):
		authz = s.nativeAuthorization(r) // the provider's credential header (native.go)
	}
	key, err := s.tenancy.Authenticate(r.Context(), authz)
	if err != nil {
		return nil, err
	}
	s.touches.touch(key.ID, s.now())
	return key, nil
}

// org returns the org named in the URL if the caller may act on it as need says
// (tenancy.Manager.Org), and names it in the request log.
func (s *Server) org(r *http.Request, need tenancy.Need) (*aiproxy.Org, error) {
	slug := r.PathValue("org")
	if li := logInfoFrom(r.Context()); li != nil {
		li.org = slug
	}
	return s.tenancy.Org(r.Context(), actorFrom(r), slug, need)
}

// touchBatcher records when keys were last used without a database write per request:
// uses are collected in memory and written in one batch a second.
type touchBatcher struct {
	store  aiproxy.Store
	logger *slog.Logger
	mu     sync.Mutex
	used   map[int64]time.Time
	stop   chan struct{}
	done   chan struct{}
}

func newTouchBatcher(store aiproxy.Store, logger *slog.Logger) *touchBatcher {
	t := &touchBatcher{store: store, logger: logger, used: map[int64]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t
}

func (t *touchBatcher) touch(id int64, at time.Time) {
	t.mu.Lock()
	t.used[id] = at
	t.mu.Unlock()
}

func (t *touchBatcher) loop() {
	defer close(t.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.flush()
		case <-t.stop:
			t.flush()
			return
		}
	}
}

func (t *touchBatcher) flush() {
	t.mu.Lock()
	used := t.used
	if len(used) == 0 {
		t.mu.Unlock()
		return
	}
	t.used = map[int64]time.Time{}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.store.TouchAPIKeys(ctx, used); err != nil {
		t.logger.Warn("recording key use failed", slog.String("error", err.Error()))
	}
}

// Close writes what is pending and stops the loop.
func (t *touchBatcher) Close() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
}
