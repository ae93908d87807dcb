package main

import (
	"context"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy org set-rate-limit SLUG --per-minute N (0: the deployment default).
func cmdOrgSetRateLimit(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("org set-rate-limit", io)
	perMinute := c.fs.Int("per-minute", 0, "invokes per minute (0: the deployment default)")
	pos, err := c.args(args, "SLUG")
	if err != nil {
		return err
	}
	if !wasSet(c.fs, "per-minute") {
		return usagef("org set-rate-limit: --per-minute N is required (0: the deployment default)")
	}
	if *perMinute < 0 || *perMinute > tenancy.MaxRateLimitPerMinute {
		return usagef("org set-rate-limit: --per-minute must be from 0 to %d", tenancy.MaxRateLimitPerMinute)
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	o, err := org(ctx, m, pos[0])
	if err != nil {
		return err
	}
	_, err = m.UpdateOrg(ctx, tenancy.CLI, o, tenancy.OrgChange{RateLimitPerMinute: perMinute})
	return err
}
