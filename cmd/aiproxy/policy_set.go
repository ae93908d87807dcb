package main

import (
	"context"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy policy set SERVICE [--org SLUG] [--allow-tenant=BOOL] [--allow-platform=BOOL]
// [--default-source tenant|platform] [--fallback=BOOL]: the flags given are laid over the
// policy in force at that level (platform-wide without --org), as the admin API does.
func cmdPolicySet(ctx context.Context, io stdio, args []string) error {
	var af adminFlags
	fs := newFlags("policy set")
	af.add(fs, io)
	orgSlug := fs.String("org", "", "org slug (per-org override)")
	allowTenant := fs.Bool("allow-tenant", false, "allow the org's own key")
	allowPlatform := fs.Bool("allow-platform", false, "allow the platform key")
	defaultSource := fs.String("default-source", "", "tenant or platform")
	fallback := fs.Bool("fallback", false, "fall back to the other source when the default has no key")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("policy set: want exactly one SERVICE")
	}
	var pp tenancy.PolicyPatch
	if wasSet(fs, "allow-tenant") {
		pp.AllowTenantKey = allowTenant
	}
	if wasSet(fs, "allow-platform") {
		pp.AllowPlatformKey = allowPlatform
	}
	if *defaultSource != "" {
		if !aiproxy.Source(*defaultSource).Valid() {
			return usagef("policy set: --default-source must be tenant or platform")
		}
		pp.DefaultSource = defaultSource
	}
	if wasSet(fs, "fallback") {
		pp.FallbackToPlatformKey = fallback
	}
	if pp == (tenancy.PolicyPatch{}) {
		return usagef("policy set: nothing to set")
	}
	m, done, err := af.manager(ctx, io, false)
	if err != nil {
		return err
	}
	defer done()
	if _, err := service(m, "policy set", pos[0]); err != nil {
		return err
	}
	o, err := orgOrPlatform(ctx, m, *orgSlug)
	if err != nil {
		return err
	}
	_, err = m.UpdateSettings(ctx, tenancy.CLI, pos[0], o, tenancy.SettingsChange{Policy: &pp})
	return err
}
