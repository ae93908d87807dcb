package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// jobView is a job record as the API shows it (docs/contract.md, jobs).
type jobView struct {
	ID               int64  `json:"id"`
	Service          string `json:"service"`
	Action           string `json:"action"`
	UpstreamJobID    string `json:"upstream_job_id"`
	Status           string `json:"status"`
	CredentialSource string `json:"credential_source"`
	RequestID        string `json:"request_id"`
	CreatedAt        string `json:"created_at"`
	UpdatedAt        string `json:"updated_at"`
}

func newJobView(j *aiproxy.Job) jobView {
	updated := j.UpdatedAt
	if updated.IsZero() {
		updated = j.CreatedAt
	}
	return jobView{ID: j.ID, Service: j.Service, Action: j.Action, UpstreamJobID: j.UpstreamID, Status: j.Status,
		CredentialSource: string(j.Source), RequestID: j.RequestID,
		CreatedAt: j.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: updated.UTC().Format(time.RFC3339Nano)}
}

// GET …/orgs/{org}/jobs/?service=&status=&limit=&cursor= (any key of the org): the jobs
// the org created through the gateway, newest first.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	jq := tenancy.JobsQuery{Service: q.Get("service"), Status: q.Get("status"), Limit: tenancy.DefaultJobsLimit}
	if v := q.Get("limit"); v != "" {
		if jq.Limit, _ = strconv.Atoi(v); jq.Limit == 0 {
			jq.Limit = -1 // not a number: refused with the range
		}
	}
	if v := q.Get("cursor"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1 {
			jq.Before = -1
		} else {
			jq.Before = n
		}
	}
	jobs, cursor, err := s.tenancy.JobsPage(r.Context(), actorFrom(r), org, jq)
	if err != nil {
		return err
	}
	var next *string
	if cursor != 0 {
		nq := url.Values{"limit": {strconv.Itoa(jq.Limit)}, "cursor": {strconv.FormatInt(cursor, 10)}}
		if jq.Service != "" {
			nq.Set("service", jq.Service)
		}
		if jq.Status != "" {
			nq.Set("status", jq.Status)
		}
		u := s.pageURL(r, nq)
		next = &u
	}
	out := make([]jobView, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, newJobView(j))
	}
	writeJSON(w, http.StatusOK, list{Results: out, Next: next})
	return nil
}
