package main

import (
	"context"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy policy set SERVICE [--org SLUG] [--allow-tenant=BOOL] [--allow-platform=BOOL]
// [--default-source tenant|platform] [--fallback=BOOL] [--account-actions allow|refuse]
// [--require-idempotency-key=BOOL]: the flags given are laid over the settings in force
// at that level (platform-wide without --org), as the admin API does.
func cmdPolicySet(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("policy set", io)
	orgSlug := c.fs.String("org", "", "org slug (per-org override)")
	allowTenant := c.fs.Bool("allow-tenant", false, "allow the org's own key")
	allowPlatform := c.fs.Bool("allow-platform", false, "allow the platform key")
	defaultSource := c.fs.String("default-source", "", "tenant or platform")
	fallback := c.fs.Bool("fallback", false, "fall back to the other source when the default has no key")
	accountActions := c.fs.String("account-actions", "", "allow or refuse: whole-account actions on the shared (platform) key")
	requireIdem := c.fs.Bool("require-idempotency-key", false, "billable actions without an Idempotency-Key are refused")
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	var pp tenancy.PolicyPatch
	if wasSet(c.fs, "allow-tenant") {
		pp.AllowTenantKey = allowTenant
	}
	if wasSet(c.fs, "allow-platform") {
		pp.AllowPlatformKey = allowPlatform
	}
	if *defaultSource != "" {
		if !aiproxy.Source(*defaultSource).Valid() {
			return usagef("policy set: --default-source must be tenant or platform")
		}
		pp.DefaultSource = defaultSource
	}
	if wasSet(c.fs, "fallback") {
		pp.FallbackToPlatformKey = fallback
	}
	var ch tenancy.SettingsChange
	if pp != (tenancy.PolicyPatch{}) {
		ch.Policy = &pp
	}
	if *accountActions != "" {
		if *accountActions != tenancy.AccountActionsAllow && *accountActions != tenancy.AccountActionsRefuse {
			return usagef("policy set: --account-actions must be allow or refuse")
		}
		ch.AccountActions = accountActions
	}
	if wasSet(c.fs, "require-idempotency-key") {
		ch.RequireIdempotencyKey = requireIdem
	}
	if ch == (tenancy.SettingsChange{}) {
		return usagef("policy set: nothing to set")
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := service(m, "policy set", pos[0]); err != nil {
		return err
	}
	o, err := orgOrPlatform(ctx, m, *orgSlug)
	if err != nil {
		return err
	}
	_, err = m.UpdateSettings(ctx, tenancy.CLI, pos[0], o, ch)
	return err
}
