package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/gateway"
)

// CORS answers (docs/admin-api.md, "CORS").
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-Id, Idempotency-Key"
	corsExposeHeaders = "Content-Type, Content-Length, Content-Disposition, Retry-After, X-Request-Id, X-Ratelimit-Limit, X-Ratelimit-Remaining, Idempotent-Replayed, X-Budget-Remaining-Requests, X-Budget-Remaining-Characters, X-Budget-Remaining-Seconds, X-Budget-Resets-At, Deprecation, Sunset, Link"
	corsMaxAge        = "600"
)

// cors lets browsers call the API from the origins allowed: the deployment-wide list
// (Config.CORSOrigins) and, on routes under …/orgs/{org}/, that org's cors_origins — the
// org exactly as the router parsed it from the path (r.PathValue), never a second reading
// of the raw URL. An allowed origin is echoed (never "*"); any other origin gets no CORS
// header at all, so the browser refuses the answer. Preflights (OPTIONS with Origin and
// Access-Control-Request-Method) are answered here, before authentication: browsers send
// no Authorization on them; cors reports whether it answered. Requests without Origin
// (servers, curl) pass untouched.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := s.originAllowed(r, origin)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if !allowed {
			s.fail(w, r, aiproxy.Errorf(aiproxy.EFORBIDDEN, "Origin %q is not allowed to call this API.", origin))
			return true
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		allowHeaders := corsAllowHeaders
		if s.isNative(r) {
			allowHeaders = nativeAllowHeaders(r.Header.Values("Access-Control-Request-Headers"))
		}
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		if s.isNative(r) {
			// A provider's SDK reads the provider's own answer headers; requests are never
			// credentialed (keys and tokens travel in headers, not cookies), so "*" holds.
			h.Set("Access-Control-Expose-Headers", "*")
		} else {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
	}
	return false
}

// nativeAllowHeaders answers a preflight of the native route: a provider's SDK sends
// headers of its own (its credential header, telemetry, versions), and the gateway's header
// rules drop whatever may not reach the provider, so every header name the browser asks
// for is allowed, with the usual ones; a name that is not a valid header token is left out.
func nativeAllowHeaders(requested []string) string {
	names := strings.Split(corsAllowHeaders, ", ")
	for _, v := range requested {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name != "" && len(names) < 64 && gateway.ValidHeaderName(name) && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
				names = append(names, name)
			}
		}
	}
	return strings.Join(names, ", ")
}

// originAllowed reports whether origin is in the deployment-wide list or in the list of the
// org the route names. Origins compare exactly: browsers send them lower-case, without a
// trailing slash or default port, and stored origins are checked to be in that form.
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	if slices.Contains(s.corsOrigins, origin) {
		return true
	}
	slug := r.PathValue("org")
	if slug == "" {
		return false
	}
	org, err := s.store.OrgBySlug(r.Context(), slug)
	if err != nil {
		return false // unknown org, or the store failing: no CORS, the safe answer
	}
	return slices.Contains(org.CORSOrigins, origin)
}
