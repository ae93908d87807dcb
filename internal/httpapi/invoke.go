package httpapi

import (
	"context"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
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
	st, ep, err := s.action(r, org, r.PathValue("service"), r.PathValue("action"))
	if err != nil {
		return err
	}
	slug, action := st.Service.Slug, ep.Slug
	if ep.WebSocket() {
		s.tenancy.Refused(org, slug, action)
		return errRealtimeOnly(s.prefix, org.Slug, slug, action)
	}
	return s.invokeAction(w, r, org, st, ep)
}

// action is the checks of docs/contract.md §2 and §9 on the action a route names, in
// order (tenancy.Manager.Action), with the request log told of the service and action: an
// alias counts as the action it names, and only catalog names become metric labels. A
// refusal of a known action counts as its refused call.
func (s *Server) action(r *http.Request, org *aiproxy.Org, slug, action string) (tenancy.ServiceState, *catalog.Endpoint, error) {
	li := logInfoFrom(r.Context())
	li.service, li.action = slug, action
	st, ep, err := s.tenancy.Action(r.Context(), actorFrom(r), org, slug, action)
	li.known = ep != nil
	if ep != nil {
		li.action = ep.Slug
	}
	if err != nil {
		if ep != nil {
			s.tenancy.Refused(org, slug, ep.Slug)
		}
		return st, nil, err
	}
	return st, ep, nil
}

// invokeAction performs one call of ep, an HTTP action the caller may use, with the
// envelope in r's body: the org's rate limit, then the gateway call under the
// shared-account rules, idempotently when the client sends an Idempotency-Key. It serves
// the invoke route and the native route alike.
func (s *Server) invokeAction(w http.ResponseWriter, r *http.Request, org *aiproxy.Org, st tenancy.ServiceState, ep *catalog.Endpoint) error {
	slug, action := st.Service.Slug, ep.Slug
	li := logInfoFrom(r.Context())
	var err error
	// The successor's link is its invoke route, whichever route this call came by.
	deprecationHeaders(w.Header(), s.prefix+"/orgs/"+org.Slug+"/services/"+slug+"/"+action+"/", ep)
	if err := s.throttle(w, r, org); err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	inv := s.tenancy.NewInvocation(actorFrom(r), org, st, ep, requestID(r.Context()))
	if key, ok := r.Header[idempotencyKeyHeader]; ok {
		if len(key) != 1 {
			key = []string{""} // several keys: which one would count is anyone's guess
		}
		err = s.invokeIdempotent(w, r, inv, key[0])
	} else {
		_, err = s.call(w, r, inv, callOptions{})
	}
	if errors.Is(err, gateway.ErrAborted) {
		// The response has started: all that is left is to cut the connection, so the
		// client does not take a truncated body for a whole one. Only now, once the call
		// is settled (budget, usage, the idempotency record).
		li.err = err
		panic(http.ErrAbortHandler)
	}
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
			if s.noAccounting {
				return nil
			}
			err = inv.Admit(ctx, source, tenancy.Request{Body: env.Body, Query: env.Query,
				PathParams: env.PathParams, IdempotencyKey: o.idempotent})
			budgetHeaders(w.Header(), inv)
			return err
		},
		Credential:  func(context.Context) (string, error) { return providerKey, nil },
		Fingerprint: o.fingerprint,
		Capture:     o.capture,
	}
	if !s.noAccounting && (len(ep.CreatesJob) > 0 || ep.ListFilter != nil || ep.JobRef != nil) {
		c.TransformJSON = func(status int, body []byte) ([]byte, error) {
			return inv.Transform(r.Context(), status, body)
		}
	}
	res, err := s.gateway.Invoke(w, r, c)
	if !s.noAccounting {
		inv.Finish(context.WithoutCancel(r.Context()), tenancy.Outcome{Sent: res.Sent, Answered: res.Answered, Status: res.UpstreamStatus, Err: err})
		// An error is answered after this: its headers tell of the units given back. (An
		// answer already sent keeps those it was sent with, which were right: it spent them.)
		budgetHeaders(w.Header(), inv)
	}
	logInfoFrom(r.Context()).upstreamStatus = res.UpstreamStatus
	return res, err // gateway.ErrAborted: invoke cuts the connection
}

// remainingHeaders are the header names of each unit's remaining budget, canonical.
var remainingHeaders = map[string]string{
	aiproxy.UnitRequests:   "X-Budget-Remaining-Requests",
	aiproxy.UnitCharacters: "X-Budget-Remaining-Characters",
	aiproxy.UnitSeconds:    "X-Budget-Remaining-Seconds",
}

// budgetHeaders tells the client what is left of its budget after this request.
func budgetHeaders(h http.Header, inv *tenancy.Invocation) {
	if inv.Budget == nil {
		return
	}
	for u, n := range inv.Remaining {
		name, ok := remainingHeaders[u]
		if !ok {
			name = http.CanonicalHeaderKey("X-Budget-Remaining-" + u)
		}
		h[name] = []string{strconv.FormatInt(n, 10)}
	}
	h["X-Budget-Resets-At"] = []string{inv.ResetsAt.Format(time.RFC3339)}
}
