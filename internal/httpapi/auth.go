package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
)

// principal is the authenticated caller.
type principal struct {
	key *aiproxy.APIKey
}

func (p *principal) operator() bool { return p.key.Role == aiproxy.RoleOperator }

func withPrincipal(r *http.Request, p *principal) *http.Request {
	if st := stateFrom(r.Context()); st != nil {
		st.principal = p
		st.log.keyPrefix = p.key.Prefix
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), ctxState, &reqState{principal: p}))
}

func principalFrom(ctx context.Context) *principal {
	if st := stateFrom(ctx); st != nil {
		return st.principal
	}
	return nil
}

// authenticate checks the Authorization header (contract §2): no header or an unknown
// scheme is 401 "not provided"; an unknown, revoked or expired key is 401 "Invalid token.".
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	raw, ok := apikeys.ParseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return nil, errNotAuthenticated
	}
	if raw == "" {
		return nil, errInvalidToken
	}
	key, err := s.store.APIKeyByHash(r.Context(), apikeys.Hash(raw))
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil, errInvalidToken
	} else if err != nil {
		return nil, err
	}
	now := s.now()
	if !key.Active(now) {
		return nil, errInvalidToken
	}
	s.touches.touch(key.ID, now)
	if st := stateFrom(r.Context()); st != nil {
		st.who = principal{key: key}
		return &st.who, nil
	}
	return &principal{key: key}, nil
}

// orgFor returns the org named in the URL if the caller may act on it. An org key of
// another org gets 403 whether or not the org exists; only operators learn that an org
// does not exist (contract §9).
func (s *Server) orgFor(r *http.Request, needAdmin bool) (*aiproxy.Org, error) {
	p := principalFrom(r.Context())
	slug := r.PathValue("org")
	if li := logInfoFrom(r.Context()); li != nil {
		li.org = slug
	}
	if needAdmin && p.key.Role == aiproxy.RoleMember {
		return nil, errForbidden
	}
	org, err := s.store.OrgBySlug(r.Context(), slug)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		if p.operator() {
			return nil, detail(http.StatusNotFound, "Organization '%s' not found.", slug)
		}
		return nil, errForbidden
	} else if err != nil {
		return nil, err
	}
	if !p.operator() && p.key.OrgID != org.ID {
		return nil, errForbidden
	}
	return org, nil
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
