package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// What an action does to jobs and to the provider account, as data: on a provider account
// that many orgs share (the platform's key), the gateway lets each org reach only what it
// created, counts what it spends, and refuses what would show or change the whole account.

// AccountScope is what an action reaches of the provider account.
type AccountScope string

const (
	// AccountScopePublic: the provider's catalog (voices, avatars, models, templates,
	// languages), or a computation that reads nothing of the account (speech, sound effects,
	// audio isolation).
	AccountScopePublic AccountScope = "public"
	// AccountScopeJob: creates, reads or changes one object an org owns (a video, a
	// translation, a dubbing, a cloned voice, an uploaded asset). CreatesJob says where a new
	// object's id is in the answer, JobRef where the envelope names an existing one.
	AccountScopeJob AccountScope = "job"
	// AccountScopeAccount: reads or changes the whole account (history, lists of videos and
	// assets, webhooks, the user, the subscription, the quota). The default for an action a
	// deployment's catalog file does not classify: refused on a shared key.
	AccountScopeAccount AccountScope = "account"
)

// Where a JobRef reads the job's id from the invoke envelope.
const (
	JobRefQuery = "query" // a query parameter
	JobRefPath  = "path"  // a placeholder of the path template
)

// JobRef says where a job action's envelope names the job it reads or changes.
type JobRef struct {
	In   string // JobRefQuery or JobRefPath
	Name string // the query parameter, or the path template's placeholder
}

// ListFilter says how an account-wide list answer is cut down to one org's items.
type ListFilter struct {
	Items *Pointer   // the array of items in the 2xx json answer
	ID    string     // the member of each item that holds its id
	Drop  []*Pointer // pagination tokens and counts, removed from a filtered answer so they reveal nothing of other orgs' items
}

// Meter says how an action's use is counted beyond "requests", which is always one per
// call. A nil pointer counts nothing.
type Meter struct {
	// Characters points into the request body at a text whose Unicode code points count.
	Characters *Pointer
	// Seconds points into the request body at a duration, in seconds, the request states.
	Seconds *Pointer
	// OutputSeconds points into the completed answer of the action's poll_action at the
	// length of what the job produced, in seconds; it is counted when that answer is seen.
	OutputSeconds *Pointer
}

// CreatedJobIDs returns the ids of the objects a 2xx json answer of e created, found at
// e.CreatesJob in order: a string as it is, a number as its decimal text, an array of those
// element by element. A pointer that leads nowhere, or to null, adds nothing; one that leads
// to anything else (an object, a boolean, an empty string) is an error.
func (e *Endpoint) CreatedJobIDs(answer any) ([]string, error) {
	var ids []string
	for _, p := range e.CreatesJob {
		v, ok := p.Lookup(answer)
		if !ok || v == nil {
			continue
		}
		vs, isArray := v.([]any)
		if !isArray {
			vs = []any{v}
		}
		for _, x := range vs {
			id, ok := jobID(x)
			if !ok {
				return ids, fmt.Errorf("catalog: %s: creates_job %q: %T is not an id", e.Slug, p, x)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// jobID turns a decoded JSON scalar into an id: strings as they are, numbers as decimal text.
func jobID(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// The fields of this file as a catalog file writes them (see endpointFile).
type jobRefFile struct {
	In   string `yaml:"in"`
	Name string `yaml:"name"`
}

type listFilterFile struct {
	Items *string  `yaml:"items"` // "" (the answer is the array) is allowed, so nil tells it from absent
	ID    string   `yaml:"id"`
	Drop  []string `yaml:"drop"`
}

type meterFile struct {
	Characters    *string `yaml:"characters"`
	Seconds       *string `yaml:"seconds"`
	OutputSeconds *string `yaml:"output_seconds"`
}

// buildAccount converts and checks account_scope, creates_job, job_ref, list_filter and
// meter of one endpoint whose other fields buildEndpoint has set. requireScope is set for
// the built-in files, which must classify every action; elsewhere a missing account_scope
// is account.
func buildAccount(e *Endpoint, ef *endpointFile, requireScope bool, fail func(format string, args ...any)) {
	e.AccountScope = AccountScope(ef.AccountScope)
	switch e.AccountScope {
	case "":
		if requireScope {
			fail("missing account_scope")
		}
		e.AccountScope = AccountScopeAccount
	case AccountScopePublic, AccountScopeJob, AccountScopeAccount:
	default:
		fail("unknown account_scope %q (want public, job or account)", e.AccountScope)
	}

	// pointer parses a pointer; the whole document is allowed only where whole says so.
	pointer := func(field, s string, whole bool) *Pointer {
		p, err := ParsePointer(s)
		switch {
		case err != nil:
			fail("%s: %v", field, err)
			return nil
		case p.IsRoot() && !whole:
			fail(`%s: the pointer "" names the whole document`, field)
			return nil
		}
		return p
	}

	if len(ef.CreatesJob) > 0 {
		if e.AccountScope != AccountScopeJob {
			fail("creates_job needs account_scope job, not %s", e.AccountScope)
		}
		if e.ResponseMode != ResponseJSON {
			fail("creates_job on an endpoint whose response_mode is not json")
		}
		for _, s := range ef.CreatesJob {
			if p := pointer("creates_job", s, false); p != nil {
				e.CreatesJob = append(e.CreatesJob, p)
			}
		}
	}

	if r := ef.JobRef; r != nil {
		e.JobRef = &JobRef{In: r.In, Name: r.Name}
		if e.AccountScope != AccountScopeJob {
			fail("job_ref needs account_scope job, not %s", e.AccountScope)
		}
		switch {
		case r.In != JobRefQuery && r.In != JobRefPath:
			fail("job_ref: in must be query or path, got %q", r.In)
		case r.Name == "":
			fail("job_ref: missing name")
		case r.In == JobRefPath && e.Path != nil && !slices.Contains(e.Path.Params(), r.Name):
			fail("job_ref: path template %q has no placeholder {%s}", e.Path, r.Name)
		case r.In == JobRefQuery && !validParamName(r.Name):
			fail("job_ref: invalid query parameter name %q", r.Name)
		}
	}
	if e.AccountScope == AccountScopeJob && len(ef.CreatesJob) == 0 && ef.JobRef == nil {
		fail("account_scope job needs creates_job or job_ref")
	}

	if lf := ef.ListFilter; lf != nil {
		if e.AccountScope != AccountScopeAccount {
			fail("list_filter needs account_scope account, not %s", e.AccountScope)
		}
		if e.ResponseMode != ResponseJSON {
			fail("list_filter on an endpoint whose response_mode is not json")
		}
		f := &ListFilter{ID: lf.ID}
		if lf.Items == nil {
			fail("list_filter: missing items")
		} else {
			f.Items = pointer("list_filter: items", *lf.Items, true)
		}
		if lf.ID == "" {
			fail("list_filter: missing id")
		}
		for _, s := range lf.Drop {
			if p := pointer("list_filter: drop", s, false); p != nil {
				f.Drop = append(f.Drop, p)
			}
		}
		e.ListFilter = f
	}

	if m := ef.Meter; m != nil {
		if m.Characters != nil {
			e.Meter.Characters = pointer("meter: characters", *m.Characters, false)
		}
		if m.Seconds != nil {
			e.Meter.Seconds = pointer("meter: seconds", *m.Seconds, false)
		}
		if m.OutputSeconds != nil {
			e.Meter.OutputSeconds = pointer("meter: output_seconds", *m.OutputSeconds, false)
		}
		hasBody := e.RequestMode == RequestJSON || e.RequestMode == RequestMultipart
		if (m.Characters != nil || m.Seconds != nil) && !hasBody {
			fail("meter: characters and seconds read the request body, which request_mode %s does not have", e.RequestMode)
		}
		if m.OutputSeconds != nil && e.CallbackMode != CallbackPoll {
			fail("meter: output_seconds needs callback_mode poll: it reads the poll_action's completed answer")
		}
	}
}
