package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy budget set SERVICE --org SLUG --period day|month [--requests N] [--characters N]
// [--seconds N]: sets (replaces) the org's budget for the service and prints it as JSON.
func cmdBudgetSet(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("budget set", io)
	orgSlug := c.fs.String("org", "", "org slug")
	period := c.fs.String("period", "month", "day or month")
	limits := map[string]*int64{}
	for _, u := range []string{aiproxy.UnitRequests, aiproxy.UnitCharacters, aiproxy.UnitSeconds} {
		limits[u] = c.fs.Int64(u, 0, "limit of "+u+" per period")
	}
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	if *orgSlug == "" {
		return usagef("budget set: --org SLUG is required")
	}
	set := map[string]*int64{}
	for u, n := range limits {
		if wasSet(c.fs, u) {
			set[u] = n
		}
	}
	if len(set) == 0 {
		return usagef("budget set: give at least one of --requests, --characters, --seconds")
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	o, err := org(ctx, m, *orgSlug)
	if err != nil {
		return err
	}
	b, err := m.PutBudget(ctx, tenancy.CLI, o, pos[0], tenancy.BudgetChange{Period: period, Limits: set})
	if err != nil {
		return err
	}
	return printJSON(io, tenancy.BudgetView(b))
}

// aiproxy budget show SERVICE --org SLUG: prints the org's budget for the service.
func cmdBudgetShow(ctx context.Context, io stdio, args []string) error {
	return budgetByName(ctx, io, "budget show", args, func(m *tenancy.Manager, o *aiproxy.Org, service string) error {
		b, err := m.Budget(ctx, tenancy.CLI, o, service)
		if err != nil {
			return err
		}
		return printJSON(io, tenancy.BudgetView(b))
	})
}

// aiproxy budget delete SERVICE --org SLUG: removes the org's budget for the service.
func cmdBudgetDelete(ctx context.Context, io stdio, args []string) error {
	return budgetByName(ctx, io, "budget delete", args, func(m *tenancy.Manager, o *aiproxy.Org, service string) error {
		return m.DeleteBudget(ctx, tenancy.CLI, o, service)
	})
}

// budgetByName parses SERVICE --org SLUG and runs fn on them.
func budgetByName(ctx context.Context, io stdio, name string, args []string, fn func(*tenancy.Manager, *aiproxy.Org, string) error) error {
	c := newAdminCmd(name, io)
	orgSlug := c.fs.String("org", "", "org slug")
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	if *orgSlug == "" {
		return usagef("%s: --org SLUG is required", name)
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	o, err := org(ctx, m, *orgSlug)
	if err != nil {
		return err
	}
	return fn(m, o, pos[0])
}

func printJSON(io stdio, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(io.stdout, string(b))
	return err
}
