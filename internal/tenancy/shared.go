package tenancy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"time"
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
// dies before committing or releasing: then the sweeper gives them back.
const reservationTTL = 30 * time.Minute

// The refusals of a shared account (docs/contract.md §9, docs/cost-control.md).
var (
	errJobNotFound     = aiproxy.Errorf(aiproxy.ENOTFOUND, "Not found.")
	errAccountAction   = aiproxy.Errorf(aiproxy.EFORBIDDEN, "This action reads or changes the whole provider account, which this organization shares with others.")
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
// another org is 404 as if the job did not exist. On any key: a billable action without an
// Idempotency-Key is 400 where the org requires one, and the request's units are reserved
// in the org's budget (402 when they do not fit).
func (inv *Invocation) Admit(ctx context.Context, source aiproxy.Source, req Request) error {
	inv.Source = source
	ep := inv.Endpoint
	if inv.State.RequireIdempotencyKey && ep.Billable && !req.IdempotencyKey {
		return errIdempotencyNeed
	}
	if ep.JobRef != nil {
		if id := jobRefValue(ep.JobRef, req); id != "" {
			j, err := inv.m.Store.JobByUpstreamID(ctx, inv.State.Service.Slug, id)
			switch {
			case err == nil && j.OrgID == inv.Org.ID:
				inv.job = j
			case err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND:
				return err
			case source == aiproxy.SourcePlatform:
				return errJobNotFound // another org's job, or none created through the gateway
			}
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

// jobRefValue is the job id the envelope names, or "".
func jobRefValue(ref *catalog.JobRef, req Request) string {
	if ref.In == catalog.JobRefPath {
		return req.PathParams[ref.Name]
	}
	return req.Query.Get(ref.Name)
}

// units is what a call of ep with body is metered in: one request, and the characters or
// seconds the catalog says the body states.
func units(ep *catalog.Endpoint, body json.RawMessage) aiproxy.Units {
	u := aiproxy.Units{aiproxy.UnitRequests: 1}
	if (ep.Meter.Characters == nil && ep.Meter.Seconds == nil) || len(body) == 0 {
		return u
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return u
	}
	if p := ep.Meter.Characters; p != nil {
		if s, ok := lookup(p, v).(string); ok {
			u[aiproxy.UnitCharacters] = int64(utf8.RuneCountInString(s))
		}
	}
	if p := ep.Meter.Seconds; p != nil {
		if n, ok := number(lookup(p, v)); ok && n > 0 {
			u[aiproxy.UnitSeconds] = int64(math.Ceil(n))
		}
	}
	return u
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
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	r := &aiproxy.BudgetReservation{ID: hex.EncodeToString(id), OrgID: inv.Org.ID, Service: b.Service,
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
// items, its pagination tokens and counts removed; a completed job's output is metered.
func (inv *Invocation) Transform(ctx context.Context, status int, body []byte) ([]byte, error) {
	ep := inv.Endpoint
	needIDs := len(ep.CreatesJob) > 0
	needOutput := inv.job != nil && inv.job.Status != aiproxy.JobCompleted
	if !needIDs && !inv.filter && !needOutput {
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
			if err := inv.m.Store.CreateJob(ctx, j); err != nil && aiproxy.ErrorCode(err) != aiproxy.ECONFLICT {
				return nil, err
			}
		}
	}
	if needOutput {
		inv.meterOutput(ctx, v)
	}
	if !inv.filter {
		return body, nil
	}
	return inv.filterList(ctx, v)
}

// meterOutput counts, once per job, the length of what a completed job produced, when the
// creating action's catalog entry says where a status answer states it.
func (inv *Invocation) meterOutput(ctx context.Context, answer any) {
	creator := inv.State.Service.Endpoint(inv.job.Action)
	if creator == nil || creator.Meter.OutputSeconds == nil {
		return
	}
	n, ok := number(lookup(creator.Meter.OutputSeconds, answer))
	if !ok || n <= 0 {
		return // not completed yet
	}
	j := *inv.job
	j.Status, j.UpdatedAt = aiproxy.JobCompleted, inv.m.now()
	if err := inv.m.Store.UpdateJobStatus(ctx, &j); err != nil {
		return // counted next time
	}
	inv.m.Meter.Record(aiproxy.UsageDelta{OrgID: inv.Org.ID, Service: j.Service, Action: j.Action, Source: j.Source,
		Units: aiproxy.Units{aiproxy.UnitSeconds: int64(math.Ceil(n))}}, j.UpdatedAt)
}

// filterList keeps the items of an account list that the org created, and drops the
// answer's pagination tokens and counts, which would tell of other orgs' items.
func (inv *Invocation) filterList(ctx context.Context, answer any) ([]byte, error) {
	lf := inv.Endpoint.ListFilter
	items, _ := lf.Items.Lookup(answer)
	list, ok := items.([]any)
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
