package tenancy

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
)

// UsageReportQuery asks for usage: days From to To inclusive ("" for open ends, dates as
// 2006-01-02) and the fields rows are grouped by (service, action, day, and for the
// platform-wide report org). Rows sum everything not grouped by.
type UsageReportQuery struct {
	From, To string
	GroupBy  []string
}

// UsageReportRow is one row of a usage report; the fields not grouped by are empty.
type UsageReportRow struct {
	Org           string        `json:"org,omitempty"`
	Service       string        `json:"service,omitempty"`
	Action        string        `json:"action,omitempty"`
	Day           string        `json:"day,omitempty"`
	Calls         int64         `json:"calls"`
	BillableCalls int64         `json:"billable_calls"`
	FailedCalls   int64         `json:"failed_calls"`
	Refused       int64         `json:"refused"`
	Replayed      int64         `json:"replayed"`
	Units         aiproxy.Units `json:"units"`
}

// DefaultUsageGroupBy is how rows are grouped unless asked otherwise.
var DefaultUsageGroupBy = []string{"service", "action", "day"}

// Usage reports usage: org nil is every org (operators), else the org's (its admins,
// operators).
func (m *Manager) Usage(ctx context.Context, a Actor, org *aiproxy.Org, q UsageReportQuery) ([]UsageReportRow, error) {
	var orgID int64
	if org == nil {
		if err := RequireOperator(a); err != nil {
			return nil, err
		}
	} else {
		orgID = org.ID
		if err := authorize(a, orgID, Admin); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct{ name, v string }{{"from", q.From}, {"to", q.To}} {
		if d.v == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d.v); err != nil {
			return nil, invalid("Query parameter '%s' must be a date like 2026-12-01.", d.name)
		}
	}
	if q.From != "" && q.To != "" && q.From > q.To {
		return nil, invalid("Query parameter 'from' must not be after 'to'.")
	}
	group := q.GroupBy
	if len(group) == 0 {
		group = DefaultUsageGroupBy
	}
	by := map[string]bool{}
	for _, g := range group {
		switch g {
		case "service", "action", "day":
		case "org":
			if org != nil {
				return nil, invalid("Query parameter 'group_by' may name 'org' only in the platform-wide report.")
			}
		default:
			allowed := "service, action, day"
			if org == nil {
				allowed += ", org"
			}
			return nil, invalid("Query parameter 'group_by' has an unknown field '%s': use %s.", g, allowed)
		}
		by[g] = true
	}
	rows, err := m.Store.ListUsage(ctx, aiproxy.UsageQuery{OrgID: orgID, From: q.From, To: q.To})
	if err != nil {
		return nil, err
	}
	slugs := map[int64]string{}
	if by["org"] {
		orgs, err := m.Store.ListOrgs(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			slugs[o.ID] = o.Slug
		}
	}
	type groupKey struct{ Org, Service, Action, Day string }
	sums := map[groupKey]*UsageReportRow{} // keyed by the grouped fields only
	var order []groupKey
	for _, r := range rows {
		var k groupKey
		if by["org"] {
			k.Org = slugs[r.OrgID]
			if k.Org == "" {
				k.Org = "deleted-org-" + strconv.FormatInt(r.OrgID, 10)
			}
		}
		if by["service"] {
			k.Service = r.Service
		}
		if by["action"] {
			k.Action = r.Action
		}
		if by["day"] {
			k.Day = r.Day
		}
		s := sums[k]
		if s == nil {
			s = &UsageReportRow{Org: k.Org, Service: k.Service, Action: k.Action, Day: k.Day, Units: aiproxy.Units{}}
			sums[k] = s
			order = append(order, k)
		}
		s.Calls += r.Calls
		s.BillableCalls += r.BillableCalls
		s.FailedCalls += r.FailedCalls
		s.Refused += r.Refused
		s.Replayed += r.Replayed
		for u, n := range r.Units {
			s.Units[u] += n
		}
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		return strings.Join([]string{a.Day, a.Org, a.Service, a.Action}, "\x00") < strings.Join([]string{b.Day, b.Org, b.Service, b.Action}, "\x00")
	})
	out := make([]UsageReportRow, 0, len(order))
	for _, k := range order {
		r := *sums[k]
		for _, u := range knownUnits {
			if _, ok := r.Units[u]; !ok {
				r.Units[u] = 0
			}
		}
		out = append(out, r)
	}
	return out, nil
}
