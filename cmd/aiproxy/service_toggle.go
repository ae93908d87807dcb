package main

import (
	"context"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy service enable SERVICE [--org SLUG]
func cmdServiceEnable(ctx context.Context, io stdio, args []string) error {
	return toggleService(ctx, io, "service enable", true, args)
}

// aiproxy service disable SERVICE [--org SLUG]
func cmdServiceDisable(ctx context.Context, io stdio, args []string) error {
	return toggleService(ctx, io, "service disable", false, args)
}

// toggleService switches a service on or off, platform-wide or (--org) for one org.
func toggleService(ctx context.Context, io stdio, name string, enabled bool, args []string) error {
	c := newAdminCmd(name, io)
	orgSlug := c.fs.String("org", "", "org slug (only for this org)")
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := service(m, name, pos[0]); err != nil {
		return err
	}
	o, err := orgOrPlatform(ctx, m, *orgSlug)
	if err != nil {
		return err
	}
	_, err = m.UpdateSettings(ctx, tenancy.CLI, pos[0], o, tenancy.SettingsChange{Enabled: &enabled})
	return err
}
