package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// ServiceState is a service as one org sees it: the catalog defaults overridden by the
// platform-wide settings, then by the org's.
type ServiceState struct {
	Service       *catalog.Service
	GlobalEnabled bool // not switched off platform-wide
	OrgEnabled    bool // not switched off for the org
	Policy        aiproxy.Policy
	// AccountActions is "allow" when actions on the whole provider account may be used
	// with the shared platform key, else "refuse".
	AccountActions string
	// RequireIdempotencyKey: billable actions must carry an Idempotency-Key.
	RequireIdempotencyKey bool
}

// Values of ServiceSettings.AccountActions.
const (
	AccountActionsRefuse = "refuse"
	AccountActionsAllow  = "allow"
)

// Enabled reports whether the org may use the service.
func (s ServiceState) Enabled() bool { return s.GlobalEnabled && s.OrgEnabled }

// Layer is the one rule of settings: the catalog default, overridden by the platform-wide
// row, then by the org's row; a nil field of a row keeps the level below. Either row may be
// nil (nothing stored at that level). Invoke, discovery, the admin API and the command line
// all get settings through it.
func Layer(svc *catalog.Service, global, org *aiproxy.ServiceSettings) ServiceState {
	st := ServiceState{Service: svc, GlobalEnabled: true, OrgEnabled: true, Policy: svc.CredentialPolicy,
		AccountActions: AccountActionsRefuse}
	for i, row := range []*aiproxy.ServiceSettings{global, org} {
		if row == nil {
			continue
		}
		if row.Enabled != nil {
			if i == 0 {
				st.GlobalEnabled = *row.Enabled
			} else {
				st.OrgEnabled = *row.Enabled
			}
		}
		if row.Policy != nil {
			st.Policy = *row.Policy
		}
		if row.AccountActions != nil {
			st.AccountActions = *row.AccountActions
		}
		if row.RequireIdempotencyKey != nil {
			st.RequireIdempotencyKey = *row.RequireIdempotencyKey
		}
	}
	return st
}

// State returns the service's state for the org (orgID 0: the platform-wide level).
func (m *Manager) State(ctx context.Context, svc *catalog.Service, orgID int64) (ServiceState, error) {
	global, err := m.row(ctx, svc.Slug, 0)
	if err != nil {
		return ServiceState{}, err
	}
	var own *aiproxy.ServiceSettings
	if orgID != 0 {
		if own, err = m.row(ctx, svc.Slug, orgID); err != nil {
			return ServiceState{}, err
		}
	}
	return Layer(svc, global, own), nil
}

// row returns the stored settings of (service, org), nil when there are none.
func (m *Manager) row(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	s, err := m.Store.ServiceSettings(ctx, service, orgID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil, nil
	}
	return s, err
}

// Service returns the catalog service with that slug, or ENOTFOUND with the contract's text.
func (m *Manager) Service(slug string) (*catalog.Service, error) {
	if svc := m.Catalog.Service(slug); svc != nil {
		return svc, nil
	}
	return nil, errServiceNotFound(slug)
}

func errServiceNotFound(slug string) error {
	return aiproxy.Errorf(aiproxy.ENOTFOUND, "External proxy service '%s' not found or disabled.", slug)
}

// SettingsReport is what is in force at one level (for an org: the platform-wide and org
// switches combined, the policy after overrides), and the level's own row.
type SettingsReport struct {
	Service               string
	IsEnabled             bool
	Policy                aiproxy.Policy
	AccountActions        string
	RequireIdempotencyKey bool
	Overrides             *aiproxy.ServiceSettings // never nil; nil fields are inherited
}

// Settings reports the settings of a service at one level: org nil is the platform-wide
// level (operators), else the org's (its admins, operators).
func (m *Manager) Settings(ctx context.Context, a Actor, service string, org *aiproxy.Org) (*SettingsReport, error) {
	svc, orgID, err := m.settingsLevel(a, service, org)
	if err != nil {
		return nil, err
	}
	return m.report(ctx, svc, orgID)
}

func (m *Manager) report(ctx context.Context, svc *catalog.Service, orgID int64) (*SettingsReport, error) {
	st, err := m.State(ctx, svc, orgID)
	if err != nil {
		return nil, err
	}
	own, err := m.row(ctx, svc.Slug, orgID)
	if err != nil {
		return nil, err
	}
	if own == nil {
		own = &aiproxy.ServiceSettings{Service: svc.Slug, OrgID: orgID}
	}
	return &SettingsReport{Service: svc.Slug, IsEnabled: st.Enabled(), Policy: st.Policy,
		AccountActions: st.AccountActions, RequireIdempotencyKey: st.RequireIdempotencyKey, Overrides: own}, nil
}

// settingsLevel checks the actor may reach the settings of service at that level.
func (m *Manager) settingsLevel(a Actor, service string, org *aiproxy.Org) (*catalog.Service, int64, error) {
	var orgID int64
	if org == nil {
		if err := RequireOperator(a); err != nil {
			return nil, 0, err
		}
	} else {
		orgID = org.ID
		if err := authorize(a, orgID, Admin); err != nil {
			return nil, 0, err
		}
	}
	svc, err := m.Service(service)
	return svc, orgID, err
}

// PolicyPatch is a partial credential policy: a nil field keeps the value in force.
type PolicyPatch struct {
	AllowTenantKey        *bool   `json:"allow_tenant_key"`
	AllowPlatformKey      *bool   `json:"allow_platform_key"`
	DefaultSource         *string `json:"default_source"`
	FallbackToPlatformKey *bool   `json:"fallback_to_platform_key"`
}

// over lays the patch over p.
func (pp *PolicyPatch) over(p aiproxy.Policy) (aiproxy.Policy, error) {
	if pp.AllowTenantKey != nil {
		p.AllowTenantKey = *pp.AllowTenantKey
	}
	if pp.AllowPlatformKey != nil {
		p.AllowPlatformKey = *pp.AllowPlatformKey
	}
	if pp.FallbackToPlatformKey != nil {
		p.FallbackToPlatformKey = *pp.FallbackToPlatformKey
	}
	if pp.DefaultSource != nil {
		p.DefaultSource = aiproxy.Source(*pp.DefaultSource)
		if !p.DefaultSource.Valid() {
			return p, invalid("Field 'credential_policy.default_source' must be 'tenant' or 'platform'.")
		}
	}
	return p, nil
}

// SettingsChange is a partial update of one level's settings. Enabled sets the switch,
// ClearEnabled removes the level's switch (the level below applies again); Policy is laid
// over the policy in force at this level, ClearPolicy removes the level's policy.
type SettingsChange struct {
	Enabled      *bool
	ClearEnabled bool
	Policy       *PolicyPatch
	ClearPolicy  bool
	// AccountActions ("allow" or "refuse") and RequireIdempotencyKey set the level's
	// value; the Clear fields remove it.
	AccountActions             *string
	ClearAccountActions        bool
	RequireIdempotencyKey      *bool
	ClearRequireIdempotencyKey bool
}

func (ch SettingsChange) empty() bool {
	return ch.Enabled == nil && !ch.ClearEnabled && ch.Policy == nil && !ch.ClearPolicy &&
		ch.AccountActions == nil && !ch.ClearAccountActions && ch.RequireIdempotencyKey == nil && !ch.ClearRequireIdempotencyKey
}

// UpdateSettings applies ch at one level (org nil: platform-wide, operators only; an org:
// its admins). Only operators may change a credential policy: it decides whose provider
// key — and so whose money — an org spends. Everything is checked before anything changes.
func (m *Manager) UpdateSettings(ctx context.Context, a Actor, service string, org *aiproxy.Org, ch SettingsChange) (*SettingsReport, error) {
	svc, orgID, err := m.settingsLevel(a, service, org)
	if err != nil {
		return nil, err
	}
	if ch.empty() {
		return nil, invalid("Request body must set 'is_enabled', 'credential_policy', 'account_actions' or 'require_idempotency_key'.")
	}
	// Whose key an org spends, and whether it may reach the whole shared account, are the
	// platform's decisions, not the org's.
	if (ch.Policy != nil || ch.ClearPolicy || ch.AccountActions != nil || ch.ClearAccountActions) && !a.Operator() {
		return nil, ErrForbidden
	}
	if v := ch.AccountActions; v != nil && *v != AccountActionsAllow && *v != AccountActionsRefuse {
		return nil, invalid("Field 'account_actions' must be 'allow', 'refuse' or null.")
	}
	cur, err := m.row(ctx, svc.Slug, orgID)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		cur = &aiproxy.ServiceSettings{Service: svc.Slug, OrgID: orgID}
	}
	next := *cur
	if ch.ClearEnabled {
		next.Enabled = nil
	}
	if ch.Enabled != nil {
		next.Enabled = ch.Enabled
	}
	if ch.ClearPolicy {
		next.Policy = nil
	}
	if ch.ClearAccountActions {
		next.AccountActions = nil
	}
	if ch.AccountActions != nil {
		next.AccountActions = ch.AccountActions
	}
	if ch.ClearRequireIdempotencyKey {
		next.RequireIdempotencyKey = nil
	}
	if ch.RequireIdempotencyKey != nil {
		next.RequireIdempotencyKey = ch.RequireIdempotencyKey
	}
	if ch.Policy != nil {
		st, err := m.State(ctx, svc, orgID)
		if err != nil {
			return nil, err
		}
		p, err := ch.Policy.over(st.Policy)
		if err != nil {
			return nil, err
		}
		next.Policy = &p
	}
	next.UpdatedAt = m.now()
	if err := m.Store.PutServiceSettings(ctx, &next); err != nil {
		return nil, err
	}
	if err := m.audit(ctx, a, orgID, "service.settings", svc.Slug, SettingsView(cur), SettingsView(&next)); err != nil {
		return nil, err
	}
	return m.report(ctx, svc, orgID)
}
