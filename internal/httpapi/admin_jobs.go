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

// jobView is a job record as the API shows it (docs/contract.md §15, docs/jobs.md).
type jobView struct {
	ID               int64           `json:"id"`
	Service          string          `json:"service"`
	Action           string          `json:"action"`
	UpstreamJobID    string          `json:"upstream_job_id"`
	Status           *string         `json:"status"`          // null: an object whose state the gateway does not follow
	ProviderStatus   *string         `json:"provider_status"` // null until a status answer is seen
	CredentialSource string          `json:"credential_source"`
	RequestID        string          `json:"request_id"`
	CreatedAt        string          `json:"created_at"`
	UpdatedAt        string          `json:"updated_at"`
	Result           json.RawMessage `json:"result"` // null when none
	Error            json.RawMessage `json:"error"`  // null when none
}

func (s *Server) newJobView(j *aiproxy.Job) jobView {
	updated := j.UpdatedAt
	if updated.IsZero() {
		updated = j.CreatedAt
	}
	v := jobView{ID: j.ID, Service: j.Service, Action: j.Action, UpstreamJobID: j.UpstreamID,
		CredentialSource: string(j.Source), RequestID: j.RequestID,
		CreatedAt: j.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: updated.UTC().Format(time.RFC3339Nano)}
	if st := s.tenancy.JobStatus(j); st != "" {
		v.Status = &st
	}
	if j.ProviderStatus != "" {
		ps := j.ProviderStatus
		v.ProviderStatus = &ps
	}
	if j.Result != "" && json.Valid([]byte(j.Result)) {
		v.Result = json.RawMessage(j.Result)
	}
	if j.Error != "" && json.Valid([]byte(j.Error)) {
		v.Error = json.RawMessage(j.Error)
	}
	return v
}

var errWait = invalid("Query parameter 'wait' must be an integer from 0 to %d (seconds).", int(maxWait/time.Second))

// GET …/orgs/{org}/jobs/{id}/?wait=N (any key of the org whose scopes reach the job): one
// job. With wait, a job that is not terminal is read from the provider until it is, or N
// seconds pass (jobs_poll.go).
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	var wait time.Duration
	if q := r.URL.Query(); q.Has("wait") {
		n, err := strconv.Atoi(q.Get("wait"))
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxWait || len(q["wait"]) > 1 {
			return errWait
		}
		wait = time.Duration(n) * time.Second
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		id = 0 // not found, once the caller is known to be the org's
	}
	j, err := s.tenancy.Job(r.Context(), actorFrom(r), org, id)
	if err != nil {
		return err
	}
	if j, err = s.waitJob(r, org, j, wait); err != nil {
		return err
	}
	j = s.refreshResult(r.Context(), actorFrom(r), org, j)
	writeJSON(w, http.StatusOK, s.newJobView(j))
	return nil
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
		out = append(out, s.newJobView(j))
	}
	writeJSON(w, http.StatusOK, list{Results: out, Next: next})
	return nil
}
