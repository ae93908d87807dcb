package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
)

// Jobs lists page sizes: DefaultJobsLimit unless asked, at most MaxJobsLimit.
const (
	DefaultJobsLimit = 50
	MaxJobsLimit     = 200
)

// JobsQuery asks for one page of an org's jobs, newest first: of one service and status
// when set, with ids below Before (0: from the newest).
type JobsQuery struct {
	Service, Status string
	Before          int64 // -1: the cursor did not parse
	Limit           int
}

// JobsPage returns a page of the jobs the org created through the gateway (any key of the
// org, operators) and the cursor of the next page (0: none). These are the records that
// decide, on a shared provider account, which jobs the org may reach; a client whose
// request ended without an answer looks here for what may have been created. A key with
// scopes sees the jobs it could reach through its actions (the one that created the job,
// or one that reads, changes or lists jobs of that service); its pages may then hold fewer than
// the limit and still have a next.
func (m *Manager) JobsPage(ctx context.Context, a Actor, org *aiproxy.Org, q JobsQuery) ([]*aiproxy.Job, int64, error) {
	if err := authorize(a, org.ID, AnyKey); err != nil {
		return nil, 0, err
	}
	if q.Limit < 1 || q.Limit > MaxJobsLimit {
		return nil, 0, invalid("Query parameter 'limit' must be an integer from 1 to %d.", MaxJobsLimit)
	}
	if q.Before < 0 {
		return nil, 0, invalid("Query parameter 'cursor' must be the cursor of a jobs page.")
	}
	if q.Service != "" && m.Catalog.Service(q.Service) == nil {
		return nil, 0, invalid("Query parameter 'service' must name one of the catalog's services.")
	}
	switch q.Status {
	case "", aiproxy.JobQueued, aiproxy.JobProcessing, aiproxy.JobCompleted, aiproxy.JobFailed:
	default:
		return nil, 0, invalid("Query parameter 'status' must be one of queued, processing, completed, failed.")
	}
	jobs, err := m.Store.ListJobs(ctx, org.ID, q.Service, q.Status, q.Before, q.Limit+1)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(jobs) > q.Limit {
		jobs = jobs[:q.Limit]
		next = jobs[len(jobs)-1].ID
	}
	seen := jobs[:0]
	for _, j := range jobs {
		if m.jobInScope(a, j) {
			seen = append(seen, j)
		}
	}
	return seen, next, nil
}

// jobInScope: the actor's scopes allow the action that created j, or an action of its
// service that reads or changes one job or lists the org's jobs.
func (m *Manager) jobInScope(a Actor, j *aiproxy.Job) bool {
	if a.Key == nil || len(a.Key.Scopes) == 0 || ScopeAllows(a, j.Service, j.Action) {
		return true
	}
	svc := m.Catalog.Service(j.Service)
	if svc == nil {
		return false
	}
	for _, ep := range svc.Endpoints {
		if (ep.JobRef != nil || ep.ListFilter != nil) && ScopeAllows(a, j.Service, ep.Slug) {
			return true
		}
	}
	return false
}
