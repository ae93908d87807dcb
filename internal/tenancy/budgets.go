package tenancy

import (
	"context"
	"sort"

	"github.com/aiproxy/aiproxy"
)

// Budget periods.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// maxBudgetLimit bounds a limit (far above any provider's monthly quota).
const maxBudgetLimit = 1_000_000_000_000_000

// knownUnits are the units a budget may limit and usage counts, in display order.
var knownUnits = []string{aiproxy.UnitRequests, aiproxy.UnitCharacters, aiproxy.UnitSeconds}

// BudgetChange is a budget as a client sends it; nil fields are missing.
type BudgetChange struct {
	Period *string
	Limits map[string]*int64
}

// Budget returns the org's budget for the service (its admins, operators).
func (m *Manager) Budget(ctx context.Context, a Actor, org *aiproxy.Org, service string) (*aiproxy.Budget, error) {
	if err := authorize(a, org.ID, Admin); err != nil {
		return nil, err
	}
	svc, err := m.Service(service)
	if err != nil {
		return nil, err
	}
	b, err := m.Store.GetBudget(ctx, org.ID, svc.Slug)
	if err != nil {
		return nil, notFoundAs(err, aiproxy.Errorf(aiproxy.ENOTFOUND, "Organization '%s' has no budget for '%s'.", org.Slug, svc.Slug))
	}
	return b, nil
}

// PutBudget sets the org's budget for the service (operators: the budget protects the
// shared account from the org). Everything is checked before anything is written.
func (m *Manager) PutBudget(ctx context.Context, a Actor, org *aiproxy.Org, service string, ch BudgetChange) (*aiproxy.Budget, error) {
	if err := RequireOperator(a); err != nil {
		return nil, err
	}
	svc, err := m.Service(service)
	if err != nil {
		return nil, err
	}
	if ch.Period == nil || (*ch.Period != PeriodDay && *ch.Period != PeriodMonth) {
		return nil, invalid("Field 'period' must be 'day' or 'month'.")
	}
	if len(ch.Limits) == 0 {
		return nil, invalid("Field 'limits' must set at least one of requests, characters, seconds.")
	}
	limits := aiproxy.Units{}
	names := make([]string, 0, len(ch.Limits))
	for u := range ch.Limits {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		if !knownUnit(u) {
			return nil, invalid("Field 'limits' has an unknown unit '%s': use requests, characters or seconds.", u)
		}
		n := ch.Limits[u]
		if n == nil || *n < 1 || *n > maxBudgetLimit {
			return nil, invalid("Field 'limits.%s' must be a positive integer.", u)
		}
		limits[u] = *n
	}
	before, err := m.Store.GetBudget(ctx, org.ID, svc.Slug)
	if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		return nil, err
	}
	b := &aiproxy.Budget{OrgID: org.ID, Service: svc.Slug, Period: *ch.Period, Limits: limits, UpdatedAt: m.now()}
	if err := m.Store.PutBudget(ctx, b); err != nil {
		return nil, err
	}
	var bv any
	if before != nil {
		bv = BudgetView(before)
	}
	return b, m.audit(ctx, a, org.ID, "budget.set", svc.Slug, bv, BudgetView(b))
}

// DeleteBudget removes the org's budget for the service (operators).
func (m *Manager) DeleteBudget(ctx context.Context, a Actor, org *aiproxy.Org, service string) error {
	if err := RequireOperator(a); err != nil {
		return err
	}
	b, err := m.Budget(ctx, a, org, service)
	if err != nil {
		return err
	}
	if err := m.Store.DeleteBudget(ctx, org.ID, b.Service); err != nil {
		return err
	}
	return m.audit(ctx, a, org.ID, "budget.delete", b.Service, BudgetView(b), nil)
}

func knownUnit(u string) bool {
	for _, k := range knownUnits {
		if u == k {
			return true
		}
	}
	return false
}

// BudgetView is a budget as the API and the audit trail show it.
func BudgetView(b *aiproxy.Budget) map[string]any {
	limits := map[string]int64{}
	for u, n := range b.Limits {
		limits[u] = n
	}
	return map[string]any{"service": b.Service, "period": b.Period, "limits": limits,
		"updated_at": b.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z07:00")}
}
