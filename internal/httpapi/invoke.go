package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/gateway"
)

func scopeAllows(p *principal, service, action string) bool {
	return apikeys.ScopeAllows(p.key.Scopes, service, action)
}

// invoke serves POST …/services/{service}/{action}/: the checks of contract §2 and §9 in
// order, the org's rate limit, then the gateway call.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, false)
	if err != nil {
		return err
	}
	slug, action := r.PathValue("service"), r.PathValue("action")
	li := logInfoFrom(r.Context())
	li.service, li.action = slug, action
	st, err := s.lookupService(r.Context(), slug, org)
	if err != nil {
		return err
	}
	ep := st.svc.Endpoint(action)
	if ep == nil || !ep.Enabled {
		return errEndpointNotFound(action, slug)
	}
	li.known = true
	if !scopeAllows(principalFrom(r.Context()), slug, action) {
		return errForbidden
	}
	if err := s.throttle(w, r, org); err != nil {
		return err
	}
	res, err := s.gateway.Invoke(w, r, gateway.Call{
		Service:   st.svc,
		Endpoint:  ep,
		RequestID: requestID(r.Context()),
		Credential: func(ctx context.Context) (string, error) {
			key, _, err := s.vault.Resolve(ctx, slug, org.ID, st.policy)
			return key, err
		},
	})
	li.upstreamStatus = res.UpstreamStatus
	if errors.Is(err, gateway.ErrAborted) {
		// The response has started: all that is left is to cut the connection, so the
		// client does not take a truncated body for a whole one.
		li.err = err
		panic(http.ErrAbortHandler)
	}
	return err
}
