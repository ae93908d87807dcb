package tenancy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// A provider account shared by many orgs (the platform's key) is safe to share when each
// org reaches only what it created, cannot read or change the whole account, and cannot
// spend more than its budget. An Invocation follows one invoke through those rules: Admit
// before any byte goes upstream, Transform on a 2xx json answer, Finish with the outcome.
// With the org's own key (tenant) nothing is refused, but jobs and usage are recorded all
// the same.

// BudgetLedger reserves budget units across replicas (internal/budgets implements it over
// Redis and the store; nil in Manager: the store alone).
type BudgetLedger interface {
	Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (ok bool, used aiproxy.Units, err error)
	Commit(ctx context.Context, r *aiproxy.BudgetReservation) error
	Release(ctx context.Context, r *aiproxy.BudgetReservation) error
}

// storeLedger is the ledger when none is configured: the store's own counters.
type storeLedger struct{ s aiproxy.Store }

func (l storeLedger) Reserve(ctx context.Context, r *aiproxy.BudgetReservation, limits aiproxy.Units) (bool, aiproxy.Units, error) {
	return l.s.ReserveBudget(ctx, r, limits)
}
func (l storeLedger) Commit(ctx context.Context, r *aiproxy.BudgetReservation) error {
	return l.s.CommitBudget(ctx, r.ID)
}
func (l storeLedger) Release(ctx context.Context, r *aiproxy.BudgetReservation) error {
	return l.s.ReleaseBudget(ctx, r.ID)
}

func (m *Manager) ledger() BudgetLedger {
	if m.Budgets != nil {
		return m.Budgets
	}
	return storeLedger{m.Store}
}

// reservationTTL is how long reserved units stay taken if the process that reserved them
// dies before committing or releasing: then the sweeper gives them back. It is longer than
// any call is expected to last (an upload of gigabytes, a long stream), because a call
// still running when its reservation expires would not be counted in the budget when it
// ends (usage counts it all the same).
const reservationTTL = 2 * time.Hour

// The refusals of a shared account (docs/contract.md §9, docs/cost-control.md).
var (
	errJobNotFound     = aiproxy.Errorf(aiproxy.ENOTFOUND, "Not found.")
	errAccountAction   = aiproxy.Errorf(aiproxy.EFORBIDDEN, "This action reads or changes the whole provider account, which this organization shares with others.")
	errUnfilterable    = aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider's answer does not have the shape this action's catalog entry describes, so it cannot be cut to this organization's items.")
	errIdempotencyNeed = aiproxy.Errorf(aiproxy.EINVALID, "This organization requires an Idempotency-Key header on billable actions.")
)

// Invocation is one invoke on its way through the shared-account rules.
type Invocation struct {
	m         *Manager
	Actor     Actor
	Org       *aiproxy.Org
	State     ServiceState
	Endpoint  *catalog.Endpoint
	RequestID string

	// Set by Admit.
	Source      aiproxy.Source
	Units       aiproxy.Units // what the call is metered in, known before it
	Budget      *aiproxy.Budget
	Remaining   aiproxy.Units // budget units left after the reservation
	ResetsAt    time.Time     // when the budget's window ends
	reservation *aiproxy.BudgetReservation
	job         *aiproxy.Job // the job a job_ref names, when recorded
	filter      bool         // the answer is an account list, cut to the org's items

	takeMu sync.Mutex    // Take
	taken  aiproxy.Units // units added by Take (reserved and committed as they came)
}

// NewInvocation starts following an invoke of ep on org by a.
func (m *Manager) NewInvocation(a Actor, org *aiproxy.Org, st ServiceState, ep *catalog.Endpoint, requestID string) *Invocation {
	return &Invocation{m: m, Actor: a, Org: org, State: st, Endpoint: ep, RequestID: requestID}
}

// Request is what Admit needs of the envelope.
type Request struct {
	Body           json.RawMessage
	Query          url.Values
	PathParams     map[string]string
	IdempotencyKey bool // the request carries one
}

// Admit decides, before any byte goes upstream, whether the invoke may go on, given whose
// provider key it will use: the org's own (tenant) or the shared one (platform). On the
// shared key: an action on the whole account is refused (403) unless the operator allowed
// it for the org or its answer can be cut to the org's items; an action on one job of
// another org is 404 as if the job did not exist, and so is an envelope that names, where
// the catalog's job_refs say (query, path or body), an object of another org's or, for a
// strict ref, one the org did not create (admitRefs). On any key: a billable action without an
// Idempotency-Key is 400 where the org requires one, and the request's units are reserved
// in the org's budget (402 when they do not fit).
func (inv *Invocation) Admit(ctx context.Context, source aiproxy.Source, req Request) error {
	inv.Source = source
	ep := inv.Endpoint
	if inv.State.RequireIdempotencyKey && ep.Billable && !req.IdempotencyKey {
		return errIdempotencyNeed
	}
	if ep.JobRef != nil {
		// Every value counts: a query may name the job twice, and which one the provider
		// reads is the provider's affair, so each must be the org's. Naming none (an empty
		// id) names no job of the org's either.
		ids := jobRefValues(ep.JobRef, req)
		if len(ids) == 0 && source == aiproxy.SourcePlatform {
			return errJobNotFound
		}
		for _, id := range ids {
			j, err := inv.m.Store.JobByUpstreamID(ctx, inv.State.Service.Slug, id)
			switch {
			case err == nil && j.OrgID == inv.Org.ID:
				if len(ids) == 1 {
					inv.job = j
				}
			case err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND:
				return err
			case source == aiproxy.SourcePlatform:
				return errJobNotFound // another org's job, or none created through the gateway
			}
		}
	}
	if len(ep.JobRefs) > 0 && source == aiproxy.SourcePlatform {
		if err := inv.admitRefs(ctx, req); err != nil {
			return err
		}
	}
	if source == aiproxy.SourcePlatform && ep.AccountScope == catalog.AccountScopeAccount && inv.State.AccountActions != AccountActionsAllow {
		if ep.ListFilter == nil {
			return errAccountAction
		}
		inv.filter = true
	}
	inv.Units = units(ep, req.Body)
	return inv.reserve(ctx)
}

// jobRefValues are the job ids the envelope names (none, one, or a query parameter given
// more than once), empty values left out.
func jobRefValues(ref *catalog.JobRef, req Request) []string {
	var vs []string
	if ref.In == catalog.JobRefPath {
		vs = []string{req.PathParams[ref.Name]}
	} else {
		vs = req.Query[ref.Name]
	}
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		if v != "" {
			ids = append(ids, v)
		}
	}
	return ids
}

// maxRefIDs bounds the ids one envelope may name through job_refs, and so the store lookups
// Admit makes for them (HeyGen takes 50 scenes at most).
const maxRefIDs = 500

var (
	errTooManyRefs = aiproxy.Errorf(aiproxy.EINVALID, "This request names more than %d objects.", maxRefIDs)
	errRefsBody    = aiproxy.Errorf(aiproxy.EINVALID, "The request body is not JSON.")
	errRefsTwice   = aiproxy.Errorf(aiproxy.EINVALID, "The request body names a member twice (names that differ only in case count as one).")
)

// admitRefs applies, on the shared key, the further references the catalog lists for the
// action (job_refs) to the envelope, every id each one finds: an id a strict ref names must
// be one of the org's jobs; an id a may_be_public ref names must not be another org's (one
// the gateway never recorded is the provider's public object, a premade voice or a stock
// avatar, or nothing of any org's). A refusal is 404, as if the object did not exist.
func (inv *Invocation) admitRefs(ctx context.Context, req Request) error {
	var body any
	for _, r := range inv.Endpoint.JobRefs {
		if r.In != catalog.JobRefBody || len(req.Body) == 0 {
			continue
		}
		// The catalog gives body refs to request_mode json actions only, whose body the
		// envelope holds whole by now. A multipart action has no JSON body: its text fields
		// may follow its files, which go upstream after Admit, so no ref reads them.
		var err error
		if body, err = decodeRefsBody(req.Body); err == errRefsTwice {
			return errRefsTwice
		} else if err != nil {
			return errRefsBody
		}
		break
	}
	strict := map[string]bool{} // every id named → whether a strict ref names it
	var ids []string            // every id named, once, in order
	for _, r := range inv.Endpoint.JobRefs {
		for _, id := range r.IDs(req.Query, req.PathParams, body) {
			s, seen := strict[id]
			if !seen {
				ids = append(ids, id)
			}
			strict[id] = s || !r.MayBePublic
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > maxRefIDs {
		return errTooManyRefs
	}
	service := inv.State.Service.Slug
	owned, err := inv.m.Store.OwnedJobs(ctx, inv.Org.ID, service, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if owned[id] {
			continue
		}
		if strict[id] {
			return errJobNotFound // another org's, or nothing created through the gateway
		}
		j, err := inv.m.Store.JobByUpstreamID(ctx, service, id)
		switch {
		case err == nil && j.OrgID != inv.Org.ID:
			return errJobNotFound // another org's
		case err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND:
			return err
		}
	}
	return nil
}

// decodeRefsBody decodes a request body for admitRefs, numbers as json.Number. An object
// with a member twice, or with two members whose names differ only in case, is refused
// (errRefsTwice): the body goes upstream as it is, and which of the two the provider reads
// is its parser's affair (the last, the first, or either spelling for a case-insensitive
// decoder), so the gateway could check one id and the provider use the other.
func decodeRefsBody(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return decodeRefsValue(dec)
}

func decodeRefsValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := map[string]any{}
		folded := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			f := string(bytes.ToLower(bytes.ToUpper([]byte(k))))
			if folded[f] {
				return nil, errRefsTwice
			}
			folded[f] = true
			if obj[k], err = decodeRefsValue(dec); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token() // }
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := decodeRefsValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ]
		return arr, err
	}
	return tok, nil // a string, json.Number, bool or nil
}

// units is what a call of ep with body is metered in: one request, and the characters or
// seconds the catalog says the body states.
func units(ep *catalog.Endpoint, body json.RawMessage) aiproxy.Units {
	u := aiproxy.Units{aiproxy.UnitRequests: 1}
	if ep.SessionSeconds() {
		// A realtime session metered in seconds reserves its first second with the call;
		// the session takes the next ones as they begin (Take).
		u[aiproxy.UnitSeconds] = 1
		return u
	}
	if (ep.Meter.Characters == nil && ep.Meter.Seconds == nil) || len(body) == 0 {
		return u
	}
	// Only the values metered are decoded, not the whole body (a speech request is mostly
	// its text).
	if p := ep.Meter.Characters; p != nil {
		if raw, ok := p.LookupRaw(body); ok {
			if n, ok := jsonStringRunes(raw); ok {
				u[aiproxy.UnitCharacters] = int64(n)
			}
		}
	}
	if p := ep.Meter.Seconds; p != nil {
		var n float64
		if raw, ok := p.LookupRaw(body); ok && !isJSONKind(raw, 'n') && json.Unmarshal(raw, &n) == nil && n > 0 {
			u[aiproxy.UnitSeconds] = int64(math.Ceil(n))
		}
	}
	return u
}

// jsonStringRunes counts the code points of the JSON string literal raw (quotes included)
// as json.Unmarshal would decode it, without decoding it: an escape is one code point, a
// surrogate pair of escapes one, a byte that is not UTF-8 one (Unmarshal makes it U+FFFD).
// False when raw is not a string literal.
func jsonStringRunes(raw []byte) (int, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return 0, false
	}
	s, n := raw[1:len(raw)-1], 0
	if bytes.IndexByte(s, '\\') < 0 {
		return utf8.RuneCount(s), true
	}
	for i := 0; i < len(s); n++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == 'u':
			r1 := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r1) && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if utf16.DecodeRune(r1, hex4(s[i+2:])) != utf8.RuneError {
					i += 6 // a pair: one code point
				}
			}
		case s[i] == '\\':
			i += 2
		case s[i] < utf8.RuneSelf:
			i++
		default:
			_, size := utf8.DecodeRune(s[i:])
			i += size
		}
	}
	return n, true
}

// hex4 reads four hex digits (-1 if they are not).
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

// isJSONKind reports whether the JSON text raw starts with c ('"': a string, 'n': null).
func isJSONKind(raw json.RawMessage, c byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == c
}

func lookup(p *catalog.Pointer, v any) any {
	x, _ := p.Lookup(v)
	return x
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// reserve takes the request's units from the org's budget for the service, if it has one.
func (inv *Invocation) reserve(ctx context.Context) error {
	b, err := inv.m.Store.GetBudget(ctx, inv.Org.ID, inv.State.Service.Slug)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	now := inv.m.now()
	window, resets := BudgetWindow(b.Period, now)
	r := &aiproxy.BudgetReservation{OrgID: inv.Org.ID, Service: b.Service,
		Window: window, Units: inv.Units, ExpiresAt: now.Add(reservationTTL)}
	ok, used, err := inv.m.ledger().Reserve(ctx, r, b.Limits)
	if err != nil {
		return err
	}
	inv.Budget, inv.ResetsAt = b, resets
	inv.Remaining = aiproxy.Units{}
	for u, limit := range b.Limits {
		inv.Remaining[u] = max(0, limit-used[u])
	}
	if !ok {
		return budgetExhausted(b, used, inv.Units, resets)
	}
	inv.reservation = r
	return nil
}

// BudgetWindow returns the window of period containing t and when it ends: a UTC day
// ("2026-12-02") or month ("2026-12").
func BudgetWindow(period string, t time.Time) (string, time.Time) {
	t = t.UTC()
	if period == PeriodDay {
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return d.Format(time.DateOnly), d.AddDate(0, 0, 1)
	}
	m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return m.Format("2006-01"), m.AddDate(0, 1, 0)
}

// budgetExhausted is the 402 of a request whose units do not fit: it names the first unit
// (in display order) that would go over.
func budgetExhausted(b *aiproxy.Budget, used, want aiproxy.Units, resets time.Time) error {
	for _, u := range knownUnits {
		limit, ok := b.Limits[u]
		if !ok || used[u]+want[u] <= limit {
			continue
		}
		return &aiproxy.Error{Code: aiproxy.EBUDGET,
			Message: fmt.Sprintf("The %s budget of %d %s per %s is used up.", b.Service, limit, u, b.Period),
			Fields: map[string]any{"unit": u, "limit": limit, "used": used[u], "requested": want[u],
				"resets_at": resets.Format(time.RFC3339)}}
	}
	return &aiproxy.Error{Code: aiproxy.EBUDGET, Message: fmt.Sprintf("The %s budget is used up.", b.Service),
		Fields: map[string]any{"resets_at": resets.Format(time.RFC3339)}}
}

// Transform is applied to a 2xx json answer before it is sent: the objects it created are
// recorded as the org's jobs; on the shared key an account list is cut to the org's own
// items, its pagination tokens and counts removed; the state a status answer shows of the
// job it names is recorded, and a completed job's output is metered.
func (inv *Invocation) Transform(ctx context.Context, status int, body []byte) ([]byte, error) {
	ep := inv.Endpoint
	needIDs := len(ep.CreatesJob) > 0
	needState := inv.job != nil && (inv.job.Status != aiproxy.JobCompleted || ep.JobStatus != nil)
	if !needIDs && !inv.filter && !needState {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if needIDs {
		ids, err := ep.CreatedJobIDs(v)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			j := &aiproxy.Job{OrgID: inv.Org.ID, Service: inv.State.Service.Slug, Action: ep.Slug, UpstreamID: id,
				Source: inv.Source, RequestID: inv.RequestID, KeyPrefix: inv.keyPrefix(), CreatedAt: inv.m.now()}
			if Followed(inv.State.Service, ep) {
				j.Status = aiproxy.JobQueued // until a status answer is seen
			}
			if err := inv.m.Store.CreateJob(ctx, j); err != nil && aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
				return nil, err
			}
		}
	}
	if needState {
		inv.recordState(ctx, v)
	}
	if !inv.filter {
		return body, nil
	}
	return inv.filterList(ctx, v)
}

// recordState records what a status answer of the invocation's job shows of it (the
// action's job_status: state, the provider's word, result, error), and meters, once per
// job, the length of what a completed job produced when the creating action's catalog
// entry says where a status answer states it. A job whose length is metered is recorded
// completed only together with its metering: until the answer states a length, it stays
// processing (the provider's word kept), so that it is counted next time. A completed job
// stays completed; its result is refreshed (signed links expire). Nothing is written when
// nothing changed.
func (inv *Invocation) recordState(ctx context.Context, answer any) {
	old := inv.job
	j := *old
	if st, ok := inv.Endpoint.JobState(answer); ok && (old.Status != aiproxy.JobCompleted || st.Status == aiproxy.JobCompleted) {
		j.Status, j.ProviderStatus, j.Result, j.Error = st.Status, st.ProviderStatus, string(st.Result), string(st.Error)
	}
	var seconds float64
	if old.Status != aiproxy.JobCompleted {
		creator := inv.State.Service.Endpoint(old.Action)
		if creator != nil && creator.Meter.OutputSeconds != nil {
			if creator.Meter.Completed(answer) {
				if n, ok := number(lookup(creator.Meter.OutputSeconds, answer)); ok && n > 0 {
					seconds, j.Status = n, aiproxy.JobCompleted
				}
			}
			if seconds == 0 && j.Status == aiproxy.JobCompleted {
				j.Status = aiproxy.JobProcessing // not counted yet
			}
		}
	}
	if j.Status == old.Status && j.ProviderStatus == old.ProviderStatus && j.Result == old.Result && j.Error == old.Error {
		return
	}
	j.UpdatedAt = inv.m.now()
	if err := inv.m.Store.UpdateJobStatus(ctx, &j); err != nil {
		return // recorded, and counted, next time
	}
	*inv.job = j
	if seconds > 0 {
		inv.m.Meter.Record(aiproxy.UsageDelta{OrgID: inv.Org.ID, Service: j.Service, Action: j.Action, Source: j.Source,
			Units: aiproxy.Units{aiproxy.UnitSeconds: int64(math.Ceil(seconds))}}, j.UpdatedAt)
	}
}

// filterList keeps the items of an account list that the org created, and drops the
// answer's pagination tokens and counts, which would tell of other orgs' items.
func (inv *Invocation) filterList(ctx context.Context, answer any) ([]byte, error) {
	lf := inv.Endpoint.ListFilter
	items, found := lf.Items.Lookup(answer)
	list, ok := items.([]any)
	if !ok && !(found && items == nil) {
		// Not the shape the catalog describes (the provider moved its list?): passing it
		// on unfiltered could show other orgs' items, so nothing is passed on.
		return nil, errUnfilterable
	}
	if ok {
		var ids []string
		for _, it := range list {
			if id, ok := itemID(it, lf.ID); ok {
				ids = append(ids, id)
			}
		}
		owned, err := inv.m.Store.OwnedJobs(ctx, inv.Org.ID, inv.State.Service.Slug, ids)
		if err != nil {
			return nil, err
		}
		kept := make([]any, 0, len(list))
		for _, it := range list {
			if id, ok := itemID(it, lf.ID); ok && owned[id] {
				kept = append(kept, it)
			}
		}
		if lf.Items.IsRoot() {
			answer = kept
		} else if !lf.Items.Set(answer, kept) {
			return nil, fmt.Errorf("list_filter: cannot replace %s", lf.Items)
		}
	}
	for _, p := range lf.Drop {
		p.Delete(answer)
	}
	return json.Marshal(answer)
}

func itemID(item any, field string) (string, bool) {
	obj, ok := item.(map[string]any)
	if !ok {
		return "", false
	}
	switch x := obj[field].(type) {
	case string:
		return x, x != ""
	case json.Number:
		return x.String(), true
	}
	return "", false
}

func (inv *Invocation) keyPrefix() string {
	if inv.Actor.Key == nil {
		return "cli"
	}
	return inv.Actor.Key.Prefix
}

// Outcome is how an invoke ended.
type Outcome struct {
	Sent     bool  // some of the request reached the upstream
	Answered bool  // the upstream answered with a status
	Status   int   // the upstream's status, when it answered
	Err      error // the invoke's error, if any
}

func (o Outcome) accepted() bool { return o.Answered && o.Status >= 200 && o.Status <= 299 }

// Finish settles the invoke: budget units are committed when the upstream accepted the call
// or may have run it (sent, no answer), and released when it refused it or never got it;
// usage is recorded either way.
func (inv *Invocation) Finish(ctx context.Context, o Outcome) {
	spent := o.Sent && (o.accepted() || !o.Answered)
	if r := inv.reservation; r != nil {
		var err error
		if spent {
			err = inv.m.ledger().Commit(ctx, r)
		} else {
			err = inv.m.ledger().Release(ctx, r)
			if err == nil {
				// What is left is again what was left before this request.
				for u, n := range inv.Units {
					if limit, ok := inv.Budget.Limits[u]; ok {
						inv.Remaining[u] = min(limit, inv.Remaining[u]+n)
					}
				}
			}
		}
		if err != nil {
			inv.m.logf("settling a budget reservation failed; it expires by itself", "error", err.Error())
		}
	}
	d := aiproxy.UsageDelta{OrgID: inv.Org.ID, Service: inv.State.Service.Slug, Action: inv.Endpoint.Slug, Source: inv.Source}
	switch {
	case !o.Sent:
		d.Refused = 1
	case o.accepted():
		d.Calls = 1
		if inv.Endpoint.Billable {
			d.BillableCalls = 1
		}
	default:
		d.Calls, d.FailedCalls = 1, 1
	}
	if spent {
		d.Units = inv.Units
	}
	inv.takeMu.Lock()
	defer inv.takeMu.Unlock()
	if len(inv.taken) > 0 {
		// Taken units were committed as they came: they count whatever the outcome.
		d.Units = maps.Clone(d.Units)
		if d.Units == nil {
			d.Units = aiproxy.Units{}
		}
		for u, n := range inv.taken {
			d.Units[u] += n
		}
	}
	inv.m.Meter.Record(d, inv.m.now())
}

// Refused records an invoke refused before it was admitted (policy, scope, throttling,
// bad input found before Admit): no call, no units.
func (m *Manager) Refused(org *aiproxy.Org, service, action string) {
	m.Meter.Record(aiproxy.UsageDelta{OrgID: org.ID, Service: service, Action: action, Refused: 1}, m.now())
}

// Replayed records an idempotent replay: an answer given again, without an upstream call.
func (inv *Invocation) Replayed() {
	inv.m.Meter.Record(aiproxy.UsageDelta{OrgID: inv.Org.ID, Service: inv.State.Service.Slug, Action: inv.Endpoint.Slug,
		Source: inv.Source, Replayed: 1}, inv.m.now())
}
