package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
)

// A job's status, as data: the status action of a job (the poll_action of the action that
// created it) says where its answer holds the provider's word for the job's state, which of
// the four states of the gateway (aiproxy.JobQueued, JobProcessing, JobCompleted, JobFailed)
// each word means, and where the answer holds what the job produced and why it failed.

// DefaultPollInterval is how often the gateway reads a job's status while a client waits
// for it, unless the creating action's poll_interval_seconds says otherwise.
const DefaultPollInterval = 5 * time.Second

// MaxPollInterval bounds poll_interval_seconds.
const MaxPollInterval = 300 * time.Second

// JobStatus tells the state of a job from a 2xx json answer of its status action.
type JobStatus struct {
	Pointer *Pointer            // where the provider's word is (a string)
	States  map[string][]string // aiproxy.JobQueued… → the provider's words for it
	Result  []*Pointer          // what a completed job produced, each kept under its own name
	Error   []*Pointer          // why a failed job failed, each kept under its own name

	word map[string]string // the provider's word → the gateway's state
}

// JobState is what one status answer says of a job.
type JobState struct {
	Status         string          // queued, processing, completed or failed
	ProviderStatus string          // the provider's own word
	Result         json.RawMessage // completed: {name: value} of the result fields found; nil when none
	Error          json.RawMessage // failed: {name: value} of the error fields found; nil when none
}

// Terminal reports whether status is a final state (completed or failed).
func Terminal(status string) bool {
	return status == aiproxy.JobCompleted || status == aiproxy.JobFailed
}

// JobState reads what answer, a decoded 2xx json answer of e (a status action), says of
// the job: ok is false when e has no job_status or the answer holds no word where it says
// (not a status answer). A word the catalog does not list is processing, the word kept as
// ProviderStatus. Result is given only for a completed job, Error only for a failed one:
// each an object of the fields found (not null), under the last name of their pointers.
func (e *Endpoint) JobState(answer any) (JobState, bool) {
	js := e.JobStatus
	if js == nil {
		return JobState{}, false
	}
	v, found := js.Pointer.Lookup(answer)
	if !found {
		return JobState{}, false
	}
	var word string
	switch x := v.(type) {
	case string:
		word = x
	case bool:
		word = strconv.FormatBool(x)
	default:
		n, isNumber := jobID(x)
		if !isNumber {
			return JobState{}, false
		}
		word = n
	}
	if word == "" {
		return JobState{}, false
	}
	st := JobState{Status: aiproxy.JobProcessing, ProviderStatus: word}
	if s, ok := js.word[word]; ok {
		st.Status = s
	}
	switch st.Status {
	case aiproxy.JobCompleted:
		st.Result = pick(js.Result, answer)
	case aiproxy.JobFailed:
		st.Error = pick(js.Error, answer)
	}
	return st, true
}

// pick is the object {last token of p: value} of every pointer that finds a value other
// than null in answer; nil when none does.
func pick(ps []*Pointer, answer any) json.RawMessage {
	out := map[string]any{}
	for _, p := range ps {
		if v, ok := p.Lookup(answer); ok && v != nil {
			out[p.Last()] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}

// PollIntervalFor is how often a job that e created is read while a client waits for it.
func (e *Endpoint) PollIntervalFor() time.Duration {
	if e.PollInterval > 0 {
		return e.PollInterval
	}
	return DefaultPollInterval
}

// The file forms.
type jobStatusFile struct {
	Pointer *string             `yaml:"pointer"`
	States  map[string][]string `yaml:"states"`
	Result  []string            `yaml:"result"`
	Error   []string            `yaml:"error"`
}

var jobStates = []string{aiproxy.JobQueued, aiproxy.JobProcessing, aiproxy.JobCompleted, aiproxy.JobFailed}

// buildJobStatus converts and checks job_status and poll_interval_seconds of one endpoint.
func buildJobStatus(e *Endpoint, ef *endpointFile, fail func(format string, args ...any)) {
	if ef.PollIntervalSeconds != nil {
		n := *ef.PollIntervalSeconds
		switch {
		case e.PollAction == "":
			fail("poll_interval_seconds needs a poll_action: it says how often that action is read")
		case n < 1 || time.Duration(n)*time.Second > MaxPollInterval:
			fail("poll_interval_seconds must be from 1 to %d, got %d", int(MaxPollInterval/time.Second), n)
		default:
			e.PollInterval = time.Duration(n) * time.Second
		}
	}
	f := ef.JobStatus
	if f == nil {
		return
	}
	if e.JobRef == nil {
		fail("job_status needs a job_ref: it reads the state of the one job the action names")
	}
	if e.ResponseMode != ResponseJSON {
		fail("job_status on an endpoint whose response_mode is not json")
	}
	js := &JobStatus{States: map[string][]string{}, word: map[string]string{}}
	pointer := func(field, s string) *Pointer { return valuePointer("job_status", field, s, fail) }
	if f.Pointer == nil {
		fail("job_status: missing pointer (where the answer holds the provider's word for the job's state)")
	} else {
		js.Pointer = pointer("pointer", *f.Pointer)
	}
	states := make([]string, 0, len(f.States))
	for s := range f.States {
		states = append(states, s)
	}
	slices.Sort(states)
	for _, s := range states {
		if !slices.Contains(jobStates, s) {
			fail("job_status: states: unknown state %q (want queued, processing, completed or failed)", s)
			continue
		}
		for _, w := range f.States[s] {
			switch prev, dup := js.word[w]; {
			case w == "":
				fail("job_status: states: %s: empty word", s)
			case dup:
				fail("job_status: states: the word %q is both %s and %s", w, prev, s)
			default:
				js.word[w] = s
				js.States[s] = append(js.States[s], w)
			}
		}
	}
	if len(f.States[aiproxy.JobCompleted]) == 0 {
		fail("job_status: states: missing completed (the provider's words for a finished job)")
	}
	names := map[string]string{}
	for _, field := range []struct {
		name string
		list []string
		dst  *[]*Pointer
	}{{"result", f.Result, &js.Result}, {"error", f.Error, &js.Error}} {
		clear(names)
		for _, s := range field.list {
			p := pointer(field.name, s)
			if p == nil {
				continue
			}
			if other, dup := names[p.Last()]; dup {
				fail("job_status: %s: %q and %q would both be kept as %q", field.name, other, s, p.Last())
				continue
			}
			names[p.Last()] = s
			*field.dst = append(*field.dst, p)
		}
	}
	e.JobStatus = js
}

// checkJobStatuses checks, across the endpoints of s, that the poll_action of every action
// that creates jobs says how to read their state (required of the built-in files, which a
// client can wait on: GET …/jobs/{id}/?wait=).
func checkJobStatuses(s *Service, required bool) []error {
	var errs []error
	for _, e := range s.Endpoints {
		if e == nil || e.PollAction == "" || len(e.CreatesJob) == 0 {
			continue
		}
		poll := s.bySlug[e.PollAction]
		if poll == nil {
			continue // reported by build
		}
		if poll.JobStatus == nil && required {
			errs = append(errs, fmt.Errorf("catalog: %s: service %q: endpoint %q: poll_action %q has no job_status",
				e.file, s.Slug, e.Slug, poll.Slug))
		}
		if poll.JobRef == nil && required {
			errs = append(errs, fmt.Errorf("catalog: %s: service %q: endpoint %q: poll_action %q has no job_ref, so the gateway cannot name the job to it",
				e.file, s.Slug, e.Slug, poll.Slug))
		}
	}
	return errs
}
