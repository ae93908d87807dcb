package main

import (
	"context"
	"encoding/csv"
	"strconv"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy usage [--org SLUG] [--from DATE] [--to DATE] [--by day|action|service|org]...:
// prints usage as CSV (one row per group, a header first), the same report as the admin
// API's GET …/usage/.
func cmdUsage(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("usage", io)
	orgSlug := c.fs.String("org", "", "one org's usage (default: every org)")
	from := c.fs.String("from", "", "first day, e.g. 2026-12-01")
	to := c.fs.String("to", "", "last day, e.g. 2026-12-31")
	var by multiFlag
	c.fs.Var(&by, "by", "group by day, action, service or org (repeatable or comma-separated; default: service, action, day)")
	if _, err := c.args(args); err != nil {
		return err
	}
	var group []string
	for _, b := range by {
		group = append(group, splitList(b)...)
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	o, err := orgOrPlatform(ctx, m, *orgSlug)
	if err != nil {
		return err
	}
	rows, err := m.Usage(ctx, tenancy.CLI, o, tenancy.UsageReportQuery{From: *from, To: *to, GroupBy: group})
	if err != nil {
		return err
	}
	if len(group) == 0 {
		group = tenancy.DefaultUsageGroupBy
	}
	w := csv.NewWriter(io.stdout)
	_ = w.Write(append(append([]string{}, group...), "calls", "billable_calls", "failed_calls", "refused", "replayed",
		aiproxy.UnitRequests, aiproxy.UnitCharacters, aiproxy.UnitSeconds))
	for _, r := range rows {
		var rec []string
		for _, g := range group {
			rec = append(rec, map[string]string{"org": r.Org, "service": r.Service, "action": r.Action, "day": r.Day}[g])
		}
		for _, n := range []int64{r.Calls, r.BillableCalls, r.FailedCalls, r.Refused, r.Replayed,
			r.Units[aiproxy.UnitRequests], r.Units[aiproxy.UnitCharacters], r.Units[aiproxy.UnitSeconds]} {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return w.Error()
}
