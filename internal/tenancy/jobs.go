package tenancy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
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
	if c := svc.Endpoint(j.Action); c != nil && scopeAllowsEndpoint(a, j.Service, c) {
		return true // the creating action, renamed since or named by an alias
	}
	for _, ep := range svc.Endpoints {
		if (ep.JobRef != nil || ep.ListFilter != nil) && scopeAllowsEndpoint(a, j.Service, ep) {
			return true
		}
	}
	return false
}

// Followed reports whether the gateway follows the state of the jobs creator makes: it has
// a poll_action whose catalog entry says how to read the state (job_status).
func Followed(svc *catalog.Service, creator *catalog.Endpoint) bool {
	return statusAction(svc, creator) != nil
}

// statusAction is the poll_action of creator when it can tell a job's state, else nil.
func statusAction(svc *catalog.Service, creator *catalog.Endpoint) *catalog.Endpoint {
	if svc == nil || creator == nil || creator.PollAction == "" {
		return nil
	}
	if p := svc.Endpoint(creator.PollAction); p != nil && p.JobStatus != nil && p.JobRef != nil {
		return p
	}
	return nil
}

// JobStatus is the status a job is shown with: its recorded one; "queued" for a job the
// gateway follows (its creating action has a status action) that no status answer has
// shown yet; "" (none) for an object the gateway does not follow (an asset, a voice).
func (m *Manager) JobStatus(j *aiproxy.Job) string {
	if j.Status != "" {
		return j.Status
	}
	if svc := m.Catalog.Service(j.Service); svc != nil && Followed(svc, svc.Endpoint(j.Action)) {
		return aiproxy.JobQueued
	}
	return ""
}

// Job returns one job of the org by its id, for any key of the org whose scopes reach it
// (see jobInScope); another org's job, or one out of the key's reach, is not found.
func (m *Manager) Job(ctx context.Context, a Actor, org *aiproxy.Org, id int64) (*aiproxy.Job, error) {
	if err := authorize(a, org.ID, AnyKey); err != nil {
		return nil, err
	}
	if id < 1 {
		return nil, errJobNotFound
	}
	// The store lists an org's jobs only: the newest with an id below id+1 is the job, if
	// the org has it.
	jobs, err := m.Store.ListJobs(ctx, org.ID, "", "", id+1, 1)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 || jobs[0].ID != id || jobs[0].OrgID != org.ID || !m.jobInScope(a, jobs[0]) {
		return nil, errJobNotFound
	}
	return jobs[0], nil
}

// JobPoll is what reading a job's status through its status action takes: the org's
// settings of the service (whose provider key to use), the status action, the invoke
// envelope that names the job where the action's job_ref says, and how often to read it.
type JobPoll struct {
	Job      *aiproxy.Job
	State    ServiceState
	Endpoint *catalog.Endpoint
	Envelope json.RawMessage
	Interval time.Duration
}

// PollJob returns how to read j's status on the provider, or nil when the gateway does not
// follow it (no status action, or the action is disabled); an error when the org may not
// use the service now (switched off).
func (m *Manager) PollJob(ctx context.Context, a Actor, org *aiproxy.Org, j *aiproxy.Job) (*JobPoll, error) {
	svc := m.Catalog.Service(j.Service)
	if svc == nil {
		return nil, nil
	}
	poll := statusAction(svc, svc.Endpoint(j.Action))
	if poll == nil || !poll.Enabled {
		return nil, nil
	}
	st, err := m.usable(ctx, a, org, j.Service)
	if err != nil {
		return nil, err
	}
	var env any
	if poll.JobRef.In == catalog.JobRefPath {
		env = map[string]any{"path_params": map[string]string{poll.JobRef.Name: j.UpstreamID}}
	} else {
		env = map[string]any{"query": map[string]string{poll.JobRef.Name: j.UpstreamID}}
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return &JobPoll{Job: j, State: st, Endpoint: poll, Envelope: b, Interval: svc.Endpoint(j.Action).PollIntervalFor()}, nil
}
