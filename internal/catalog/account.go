package catalog

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
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

// Where a JobRef reads ids from the invoke envelope.
const (
	JobRefQuery = "query" // a query parameter: every value it is given
	JobRefPath  = "path"  // a placeholder of the path template
	JobRefBody  = "body"  // a JSON pointer into the request body (job_refs only)
)

// JobRef says where an envelope names objects an org owns. The job_ref of a job action is
// the one job it reads or changes: always strict, in the query or the path, and required (an
// envelope that names none names no job of the org's). job_refs are further references,
// optional each: an id field of the body (a video to translate, an uploaded asset a scene
// uses), or a voice in the path of a speech action. On a shared provider key an id a strict
// ref names must be recorded as the org's job; an id a MayBePublic ref names must not be
// recorded as another org's. Either refusal is a 404, as if the object did not exist.
type JobRef struct {
	In      string   // JobRefQuery, JobRefPath or JobRefBody
	Name    string   // query and path: the query parameter, or the path template's placeholder
	Pointer *Pointer // body: where the id is; "*" stands for every element (Pointer.LookupAll)
	// MayBePublic: the id may also name one of the provider's public objects (a premade
	// voice, a stock avatar), which no org owns; refused only when it is recorded as another
	// org's job. Otherwise the ref is strict: the object can only be an org's (a video, a
	// translation, an uploaded asset).
	MayBePublic bool
	// Prefix and Suffix are the text around the id when the value is written with it, as
	// HeyGen's image_key "image/<asset id>/original" (job_refs pattern "image/{id}/original").
	// A value without both is taken whole.
	Prefix, Suffix string
}

// IDs returns the ids r names in an envelope: every non-empty value of the query parameter,
// the path placeholder's value, or what r.Pointer finds in body (decoded JSON, nil when the
// request has none): a string as it is, a number as its decimal text, an array element by
// element. Null, empty strings and values of other types name nothing. With a pattern, a
// value of its form names the id inside it.
func (r *JobRef) IDs(query url.Values, pathParams map[string]string, body any) []string {
	var vs []any
	switch r.In {
	case JobRefQuery:
		for _, v := range query[r.Name] {
			vs = append(vs, v)
		}
	case JobRefPath:
		if v, ok := pathParams[r.Name]; ok {
			vs = append(vs, v)
		}
	case JobRefBody:
		if body == nil {
			return nil
		}
		for _, v := range r.Pointer.LookupAll(body) {
			if a, isArray := v.([]any); isArray {
				vs = append(vs, a...)
			} else {
				vs = append(vs, v)
			}
		}
	}
	var ids []string
	for _, v := range vs {
		id, ok := jobID(v)
		if !ok {
			continue
		}
		if r.Prefix != "" || r.Suffix != "" {
			if len(id) > len(r.Prefix)+len(r.Suffix) && strings.HasPrefix(id, r.Prefix) && strings.HasSuffix(id, r.Suffix) {
				id = id[len(r.Prefix) : len(id)-len(r.Suffix)]
			}
		}
		ids = append(ids, id)
	}
	return ids
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
	// CompletedWhen tells a completed answer of the poll_action from the others (a dubbing
	// states its media's duration while it is still dubbing, and when it failed); nil: any
	// answer in which OutputSeconds finds a length.
	CompletedWhen *Condition
	// AudioSeconds meters a websocket action by the seconds of audio its client sends
	// (realtime.go); nil on every other action.
	AudioSeconds *AudioMeter
}

// Completed reports whether answer, a decoded 2xx json answer of the action's poll_action,
// says the job is completed, so that its OutputSeconds may be counted: CompletedWhen holds,
// or there is no CompletedWhen.
func (m Meter) Completed(answer any) bool {
	return m.CompletedWhen == nil || m.CompletedWhen.Holds(answer)
}

// Condition is a test of a decoded json answer: the value at Pointer is one of Equals.
type Condition struct {
	Pointer *Pointer
	Equals  []string // a string value as it is; a number or a boolean by its JSON text
}

// Holds reports whether answer has, at c.Pointer, a string, number or boolean equal to one
// of c.Equals. Absent, null, an object or an array is none of them.
func (c *Condition) Holds(answer any) bool {
	v, ok := c.Pointer.Lookup(answer)
	if !ok {
		return false
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	default:
		n, isNumber := jobID(x)
		if !isNumber {
			return false
		}
		s = n
	}
	return slices.Contains(c.Equals, s)
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

// refFile is one entry of job_refs.
type refFile struct {
	In          string `yaml:"in"`            // query, path or body
	Name        string `yaml:"name"`          // query and path
	Pointer     string `yaml:"pointer"`       // body
	MayBePublic bool   `yaml:"may_be_public"` // default false: strict
	Pattern     string `yaml:"pattern"`       // e.g. "image/{id}/original"
}

type listFilterFile struct {
	Items *string  `yaml:"items"` // "" (the answer is the array) is allowed, so nil tells it from absent
	ID    string   `yaml:"id"`
	Drop  []string `yaml:"drop"`
}

type meterFile struct {
	Characters    *string         `yaml:"characters"`
	Seconds       *string         `yaml:"seconds"`
	OutputSeconds *string         `yaml:"output_seconds"`
	CompletedWhen *conditionFile  `yaml:"completed_when"`
	AudioSeconds  *audioMeterFile `yaml:"audio_seconds"` // websocket actions (realtime.go)
}

type conditionFile struct {
	Pointer *string  `yaml:"pointer"`
	Equals  []string `yaml:"equals"`
}

// buildAccount converts and checks account_scope, creates_job, job_ref, job_refs,
// list_filter and meter of one endpoint whose other fields buildEndpoint has set.
// requireScope is set for the built-in files, which must classify every action; elsewhere a
// missing account_scope is account.
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

	// pointer parses a pointer; the whole document is allowed only where whole says so,
	// and "*" only in job_refs (wild).
	pointerIn := func(field, s string, whole, wild bool) *Pointer {
		p, err := ParsePointer(s)
		switch {
		case err != nil:
			fail("%s: %v", field, err)
			return nil
		case p.IsRoot() && !whole:
			fail(`%s: the pointer "" names the whole document`, field)
			return nil
		case p.HasWildcard() && !wild:
			fail(`%s: %q: "*" (every element) is only for job_refs pointers`, field, s)
			return nil
		}
		return p
	}
	pointer := func(field, s string, whole bool) *Pointer { return pointerIn(field, s, whole, false) }

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
	for i, rf := range ef.JobRefs {
		if r := buildRef(e, fmt.Sprintf("job_refs[%d]", i), rf, pointerIn, fail); r != nil {
			e.JobRefs = append(e.JobRefs, r)
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
		// A websocket action's "body" is each JSON message its client sends (realtime.go).
		hasBody := e.RequestMode == RequestJSON || e.RequestMode == RequestMultipart || ef.Transport == string(TransportWebSocket)
		if (m.Characters != nil || m.Seconds != nil) && !hasBody {
			fail("meter: characters and seconds read the request body, which request_mode %s does not have", e.RequestMode)
		}
		if m.OutputSeconds != nil && e.CallbackMode != CallbackPoll {
			fail("meter: output_seconds needs callback_mode poll: it reads the poll_action's completed answer")
		}
		if c := m.CompletedWhen; c != nil {
			cond := &Condition{Equals: c.Equals}
			switch {
			case m.OutputSeconds == nil:
				fail("meter: completed_when needs output_seconds: it says when output_seconds is counted")
			case c.Pointer == nil:
				fail("meter: completed_when: missing pointer")
			case len(c.Equals) == 0:
				fail("meter: completed_when: missing equals (the poll_action's words for completed)")
			default:
				cond.Pointer = pointer("meter: completed_when: pointer", *c.Pointer, false)
			}
			e.Meter.CompletedWhen = cond
		}
	}
}

// buildRef converts and checks one entry of job_refs (field names it in messages); nil
// when it is wrong.
func buildRef(e *Endpoint, field string, rf refFile, pointer func(field, s string, whole, wild bool) *Pointer,
	fail func(format string, args ...any)) *JobRef {
	ok := true
	bad := func(format string, args ...any) {
		ok = false
		fail(field+": "+format, args...)
	}
	r := &JobRef{In: rf.In, Name: rf.Name, MayBePublic: rf.MayBePublic}
	switch rf.In {
	case JobRefQuery, JobRefPath:
		switch {
		case rf.Pointer != "":
			bad("pointer is for in body; in %s takes a name", rf.In)
		case rf.Name == "":
			bad("missing name")
		case rf.In == JobRefPath && e.Path != nil && !slices.Contains(e.Path.Params(), rf.Name):
			bad("path template %q has no placeholder {%s}", e.Path, rf.Name)
		case rf.In == JobRefQuery && !validParamName(rf.Name):
			bad("invalid query parameter name %q", rf.Name)
		}
	case JobRefBody:
		switch {
		case rf.Name != "":
			bad("name is for in query or path; in body takes a pointer")
		case rf.Pointer == "":
			bad("missing pointer")
		case e.RequestMode != RequestJSON:
			// A multipart envelope's text fields may come after its files, which stream to
			// the provider after Admit has run; a binary or raw request has no fields.
			bad("in body needs request_mode json, not %s", e.RequestMode)
		default:
			if r.Pointer = pointer(field+": pointer", rf.Pointer, false, true); r.Pointer == nil {
				ok = false
			}
		}
	default:
		bad("in must be query, path or body, got %q", rf.In)
	}
	if rf.Pattern != "" {
		prefix, suffix, found := strings.Cut(rf.Pattern, "{id}")
		if !found || strings.Contains(suffix, "{id}") || prefix == "" && suffix == "" {
			bad("pattern %q must hold {id} once, with text around it", rf.Pattern)
		}
		r.Prefix, r.Suffix = prefix, suffix
	}
	if !rf.MayBePublic && e.AccountScope != AccountScopeJob {
		bad("a strict ref needs account_scope job, not %s (ids that may name the provider's public objects take may_be_public: true)", e.AccountScope)
	}
	if !ok {
		return nil
	}
	return r
}
