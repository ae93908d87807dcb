package httpapi

import (
	"github.com/aiproxy/aiproxy"
	"net/http"
	"slices"
	"strings"
)

// CORS answers (docs/admin-api.md, "CORS").
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-Id"
	corsExposeHeaders = "Content-Type, Content-Length, Content-Disposition, Retry-After, X-Request-Id, X-Ratelimit-Limit, X-Ratelimit-Remaining"
	corsMaxAge        = "600"
)

// withCORS lets browsers call the API from the origins allowed: the deployment-wide list
// (Config.CORSOrigins) and, under …/orgs/{org}/, the org's own cors_origins. An allowed
// origin is echoed (never "*"); any other origin gets no CORS header at all, so the browser
// refuses the response. Preflights (OPTIONS with Origin and Access-Control-Request-Method)
// are answered here, before authentication: browsers send no Authorization on them.
// Requests without Origin (servers, curl) pass straight through.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := s.originAllowed(r, origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				s.fail(w, r, aiproxy.Errorf(aiproxy.EFORBIDDEN, "Origin %q is not allowed to call this API.", origin))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed reports whether origin is in the deployment-wide list or in the list of the
// org named in the path. Origins compare exactly (browsers send them lower-case, without a
// trailing slash or default port).
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	if slices.Contains(s.cors, origin) {
		return true
	}
	slug := s.orgInPath(r.URL.Path)
	if slug == "" {
		return false
	}
	org, err := s.store.OrgBySlug(r.Context(), slug)
	if err != nil {
		return false // unknown org, or the store failing: no CORS, the safe answer
	}
	return slices.Contains(org.CORSOrigins, origin)
}

// orgInPath returns {org} of a path under …/orgs/{org}, or "".
func (s *Server) orgInPath(path string) string {
	rest, ok := strings.CutPrefix(path, s.prefix+"/orgs/")
	if !ok {
		return ""
	}
	slug, _, _ := strings.Cut(rest, "/")
	return slug
}
