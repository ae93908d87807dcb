package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// maxCORSOrigins bounds an org's origin list.
const maxCORSOrigins = 100

// GET …/orgs/ (operators): every org.
func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	if err := requireOperator(r); err != nil {
		return err
	}
	orgs, err := s.store.ListOrgs(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, tenancy.OrgView(o))
	}
	writeJSON(w, http.StatusOK, list{Results: out})
	return nil
}

// POST …/orgs/ (operators): {"slug", "name"} → 201.
func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	if err := requireOperator(r); err != nil {
		return err
	}
	var body struct {
		Slug *string `json:"slug"`
		Name *string `json:"name"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"slug": "Field 'slug' must be a string.",
		"name": "Field 'name' must be a string.",
	}); err != nil {
		return err
	}
	if body.Slug == nil {
		return invalid("Field 'slug' is required.")
	}
	name := ""
	if body.Name != nil {
		name = *body.Name
	}
	if len(name) > 200 {
		return invalid("Field 'name' must be at most 200 characters.")
	}
	o, err := s.tenancy.CreateOrg(r.Context(), actor(r), *body.Slug, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tenancy.OrgView(o))
	return nil
}

// GET …/orgs/{org}/ (its admins, operators).
func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenancy.OrgView(org))
	return nil
}

// PATCH …/orgs/{org}/ (its admins, operators): {"cors_origins": [...]} and, operators
// only, {"rate_limit_per_minute": N}. Everything is checked before anything changes.
func (s *Server) patchOrg(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	const originsMsg = "Field 'cors_origins' must be a list of origins like https://app.example.com."
	var body struct {
		CORSOrigins *[]string `json:"cors_origins"`
		RateLimit   *int      `json:"rate_limit_per_minute"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"cors_origins":          originsMsg,
		"rate_limit_per_minute": tenancy.RateLimitMessage,
	}); err != nil {
		return err
	}
	if body.CORSOrigins == nil && body.RateLimit == nil {
		return invalid("%s", originsMsg)
	}
	if body.RateLimit != nil {
		// The limit guards the platform's provider credits against the org: not the org's
		// to lift.
		if err := requireOperator(r); err != nil {
			return err
		}
		if n := *body.RateLimit; n < 0 || n > tenancy.MaxRateLimitPerMinute {
			return invalid("%s", tenancy.RateLimitMessage)
		}
	}
	var origins []string
	if body.CORSOrigins != nil {
		origins = make([]string, 0, len(*body.CORSOrigins))
		seen := map[string]bool{}
		for _, o := range *body.CORSOrigins {
			if !seen[o] {
				seen[o] = true
				origins = append(origins, o)
			}
		}
		if len(origins) > maxCORSOrigins {
			return invalid("Field 'cors_origins' may list at most %d origins.", maxCORSOrigins)
		}
	}
	// The origins first: SetCORSOrigins checks them before it writes, and the limit has
	// been checked above, so a refusal changes nothing. On a copy: the org may be the
	// cache's, shared with requests in flight.
	updated := *org
	if body.CORSOrigins != nil {
		if err := s.tenancy.SetCORSOrigins(r.Context(), actor(r), &updated, origins); err != nil {
			return err
		}
	}
	if body.RateLimit != nil {
		if err := s.tenancy.SetRateLimit(r.Context(), actor(r), &updated, *body.RateLimit); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, tenancy.OrgView(&updated))
	return nil
}

// DELETE …/orgs/{org}/ (operators): the org with its keys, credentials and settings.
func (s *Server) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	if err := requireOperator(r); err != nil {
		return err
	}
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	if err := s.tenancy.DeleteOrg(r.Context(), actor(r), org); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET …/orgs/{org}/audit/ (its admins, operators).
func (s *Server) orgAudit(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	return s.listAudit(w, r, org.ID)
}

// GET …/audit/ (operators): platform-wide changes (platform credentials, global settings).
func (s *Server) platformAudit(w http.ResponseWriter, r *http.Request) error {
	if err := requireOperator(r); err != nil {
		return err
	}
	return s.listAudit(w, r, 0)
}

const (
	defaultAuditLimit = 50
	maxAuditLimit     = 200
)

// auditView is one audit entry as the API shows it; before and after are the JSON the
// entry recorded (never a secret), or null.
type auditView struct {
	ID        int64           `json:"id"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Before    json.RawMessage `json:"before"`
	After     json.RawMessage `json:"after"`
	CreatedAt string          `json:"created_at"`
}

func rawOrNull(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// listAudit answers one page of the audit trail, newest first: ?limit=N (1-200, default
// 50) and ?before=ID (entries older than that id); next is the URL of the following page.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, orgID int64) error {
	q := r.URL.Query()
	limit := defaultAuditLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return invalid("Query parameter 'limit' must be an integer from 1 to %d.", maxAuditLimit)
		}
		limit = n
	}
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return invalid("Query parameter 'before' must be a positive integer (an audit entry id).")
		}
		before = n
	}
	entries, err := s.store.ListAudit(r.Context(), orgID, before, limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(entries) > limit {
		entries = entries[:limit]
		u := pageURL(r, url.Values{"limit": {strconv.Itoa(limit)}, "before": {strconv.FormatInt(entries[limit-1].ID, 10)}})
		next = &u
	}
	out := make([]auditView, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditView{ID: e.ID, Actor: e.Actor, Action: e.Action, Target: e.Target,
			Before: rawOrNull(e.Before), After: rawOrNull(e.After), CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339Nano)})
	}
	writeJSON(w, http.StatusOK, list{Results: out, Next: next})
	return nil
}

// pageURL is the absolute URL of this request's path with query q, as the client reached
// it (Host, and X-Forwarded-Proto behind a TLS-terminating proxy).
func pageURL(r *http.Request, q url.Values) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s?%s", scheme, r.Host, r.URL.EscapedPath(), q.Encode())
}
