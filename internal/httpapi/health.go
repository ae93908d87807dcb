package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// readyTimeout bounds the store probe of /readyz.
const readyTimeout = time.Second

// errStoreUnavailable is the answer when the gateway's own database does not answer.
var errStoreUnavailable = &aiproxy.Error{Code: aiproxy.EUNAVAILABLE, RetryAfter: "5",
	Message: "The gateway's database is unavailable; try again shortly."}

// healthRoutes serves, outside the API prefix: GET /healthz (the process is up), GET
// /readyz (the store answers within a second: load balancers route traffic only to ready
// replicas) and, when given, GET /metrics for operator keys only — metrics name orgs and
// actions, which is not for the public port.
func (s *Server) healthRoutes(metrics http.Handler) {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if _, err := s.store.Version(ctx); err != nil {
			s.logger.WarnContext(r.Context(), "readiness: the store does not answer", "error", err.Error())
			s.fail(w, r, errStoreUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if metrics == nil {
		return
	}
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		key, err := s.authenticate(r)
		if err == nil {
			err = tenancy.RequireOperator(tenancy.Actor{Key: key})
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}
