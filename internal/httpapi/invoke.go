package httpapi

import (
	"context"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// invoke serves POST …/services/{service}/{action}/: the checks of docs/contract.md §2 and
// §9 in order (tenancy.Manager.Action), the org's rate limit, then the gateway call under
// the shared-account rules (tenancy.Invocation), idempotently when the client sends an
// Idempotency-Key.
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
		if ep != nil {
			s.tenancy.Refused(org, slug, action)
		}
		return err
	}
	if err := s.throttle(w, r, org); err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	inv := s.tenancy.NewInvocation(actorFrom(r), org, st, ep, requestID(r.Context()))
	if key, ok := r.Header[idempotencyKeyHeader]; ok {
		return s.invokeIdempotent(w, r, inv, strings.Join(key, ","))
	}
	_, err = s.call(w, r, inv, callOptions{})
	return err
}

// callOptions are what an idempotent invoke adds to a call.
type callOptions struct {
	idempotent  bool
	fingerprint hash.Hash
	capture     *gateway.Capture
}

// call performs the gateway call of inv: the provider key is resolved and the invocation
// admitted once the envelope is known and before any byte goes upstream; a 2xx json answer
// passes through inv.Transform; the outcome settles budgets and usage.
func (s *Server) call(w http.ResponseWriter, r *http.Request, inv *tenancy.Invocation, o callOptions) (gateway.Result, error) {
	st, ep := inv.State, inv.Endpoint
	var providerKey string
	c := gateway.Call{
		Service:   st.Service,
		Endpoint:  ep,
		RequestID: inv.RequestID,
		Before: func(ctx context.Context, env *gateway.Envelope) error {
			key, source, err := s.vault.Resolve(ctx, st.Service.Slug, inv.Org.ID, st.Policy)
			if err != nil {
				return err
			}
			providerKey = key
			err = inv.Admit(ctx, source, tenancy.Request{Body: env.Body, Query: env.Query,
				PathParams: env.PathParams, IdempotencyKey: o.idempotent})
			budgetHeaders(w.Header(), inv)
			return err
		},
		Credential:  func(context.Context) (string, error) { return providerKey, nil },
		Fingerprint: o.fingerprint,
		Capture:     o.capture,
	}
	if len(ep.CreatesJob) > 0 || ep.ListFilter != nil || ep.JobRef != nil {
		c.TransformJSON = func(status int, body []byte) ([]byte, error) {
			return inv.Transform(r.Context(), status, body)
		}
	}
	res, err := s.gateway.Invoke(w, r, c)
	inv.Finish(context.WithoutCancel(r.Context()), tenancy.Outcome{Sent: res.Sent, Answered: res.Answered, Status: res.UpstreamStatus, Err: err})
	li := logInfoFrom(r.Context())
	li.upstreamStatus = res.UpstreamStatus
	if errors.Is(err, gateway.ErrAborted) {
		// The response has started: all that is left is to cut the connection, so the
		// client does not take a truncated body for a whole one.
		li.err = err
		panic(http.ErrAbortHandler)
	}
	return res, err
}

// budgetHeaders tells the client what is left of its budget after this request.
func budgetHeaders(h http.Header, inv *tenancy.Invocation) {
	if inv.Budget == nil {
		return
	}
	for u, n := range inv.Remaining {
		h.Set("X-Budget-Remaining-"+strings.ToUpper(u[:1])+u[1:], strconv.FormatInt(n, 10))
	}
	h.Set("X-Budget-Resets-At", inv.ResetsAt.Format("2006-01-02T15:04:05Z07:00"))
}
