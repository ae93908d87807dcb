package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// invoke serves POST …/services/{service}/{action}/: the checks of docs/contract.md §2 and
// §9 in order (tenancy.Manager.Action), the org's rate limit, then the gateway call.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	slug, action := r.PathValue("service"), r.PathValue("action")
	li := logInfoFrom(r.Context())
	li.service, li.action = slug, action
	st, ep, err := s.tenancy.Action(r.Context(), actorFrom(r), org, slug, action)
	li.known = ep != nil // only catalog names become metric labels
	if err != nil {
		return err
	}
	if err := s.throttle(w, r, org); err != nil {
		return err
	}
	res, err := s.gateway.Invoke(w, r, gateway.Call{
		Service:   st.Service,
		Endpoint:  ep,
		RequestID: requestID(r.Context()),
		Credential: func(ctx context.Context) (string, error) {
			key, _, err := s.vault.Resolve(ctx, slug, org.ID, st.Policy)
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
