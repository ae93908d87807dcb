package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// GET …/orgs/ (operators): every org.
func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	orgs, err := s.tenancy.ListOrgs(r.Context(), actorFrom(r))
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
	if err := tenancy.RequireOperator(actorFrom(r)); err != nil {
		return err // before reading the body
	}
	var body struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"slug": "Field 'slug' must be a string.",
		"name": "Field 'name' must be a string.",
	}); err != nil {
		return err
	}
	o, err := s.tenancy.CreateOrg(r.Context(), actorFrom(r), body.Slug, body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tenancy.OrgView(o))
	return nil
}

// GET …/orgs/{org}/ (its admins, operators).
func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenancy.OrgView(org))
	return nil
}

// PATCH …/orgs/{org}/ (its admins, operators): {"cors_origins": [...]} and, operators
// only, {"rate_limit_per_minute": N}.
func (s *Server) patchOrg(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	var body struct {
		CORSOrigins *[]string `json:"cors_origins"`
		RateLimit   *int      `json:"rate_limit_per_minute"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"cors_origins":          tenancy.OriginsMessage,
		"rate_limit_per_minute": tenancy.RateLimitMessage,
	}); err != nil {
		return err
	}
	updated, err := s.tenancy.UpdateOrg(r.Context(), actorFrom(r), org,
		tenancy.OrgChange{CORSOrigins: body.CORSOrigins, RateLimitPerMinute: body.RateLimit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenancy.OrgView(updated))
	return nil
}

// DELETE …/orgs/{org}/ (operators): the org with its keys, credentials and settings.
func (s *Server) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	if err := tenancy.RequireOperator(actorFrom(r)); err != nil {
		return err
	}
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	if err := s.tenancy.DeleteOrg(r.Context(), actorFrom(r), org); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET …/orgs/{org}/audit/ (its admins, operators).
func (s *Server) orgAudit(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	return s.listAudit(w, r, org)
}

// GET …/audit/ (operators): platform-wide changes (platform credentials, global settings).
func (s *Server) platformAudit(w http.ResponseWriter, r *http.Request) error {
	return s.listAudit(w, r, nil)
}

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
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, org *aiproxy.Org) error {
	q := r.URL.Query()
	limit := tenancy.DefaultAuditLimit
	if v := q.Get("limit"); v != "" {
		if limit, _ = strconv.Atoi(v); limit == 0 {
			limit = -1 // not a number: refused below with the range
		}
	}
	var before int64
	if v := q.Get("before"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1 {
			before = -1
		} else {
			before = n
		}
	}
	entries, more, err := s.tenancy.AuditPage(r.Context(), actorFrom(r), org, before, limit)
	if err != nil {
		return err
	}
	var next *string
	if more {
		u := s.pageURL(r, url.Values{"limit": {strconv.Itoa(limit)}, "before": {strconv.FormatInt(entries[len(entries)-1].ID, 10)}})
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

// pageURL is the link to this request's path with query q: absolute under the configured
// public URL, else relative (path and query). Never built from the client's Host header,
// which the client chooses.
func (s *Server) pageURL(r *http.Request, q url.Values) string {
	return s.publicURL + r.URL.EscapedPath() + "?" + q.Encode()
}
