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
	var af adminFlags
	fs := newFlags(name)
	af.add(fs, io)
	orgSlug := fs.String("org", "", "org slug (only for this org)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("%s: want exactly one SERVICE", name)
	}
	m, done, err := af.manager(ctx, io, false)
	if err != nil {
		return err
	}
	defer done()
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
