package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// Discovered is one service as an actor sees it in discovery: its state for the org and
// the enabled endpoints the actor's scopes allow.
type Discovered struct {
	ServiceState
	Endpoints []*catalog.Endpoint
	// Source is whose provider key the org's calls use now ("" when none is available).
	Source aiproxy.Source
}

// How an action may be used on a shared provider account, as discovery tells a client.
const (
	SharedNotShared = "not_shared" // the org's calls use its own provider key
	SharedOpen      = "open"       // catalog data or a computation: nothing to protect
	SharedOwnJobs   = "own_jobs"   // only on the objects the org created
	SharedFiltered  = "filtered"   // an account list, cut to the org's own items
	SharedRefused   = "refused"    // reads or changes the whole account: 403
	SharedAllowed   = "allowed"    // account-wide, allowed for this org by an operator
)

// SharedAccess says how ep may be used by the org now, given whose key it would use.
func SharedAccess(ep *catalog.Endpoint, st ServiceState, source aiproxy.Source) string {
	switch {
	case source != aiproxy.SourcePlatform:
		return SharedNotShared
	case ep.AccountScope == catalog.AccountScopePublic:
		return SharedOpen
	case ep.AccountScope == catalog.AccountScopeJob:
		return SharedOwnJobs
	case st.AccountActions == AccountActionsAllow:
		return SharedAllowed
	case ep.ListFilter != nil:
		return SharedFiltered
	}
	return SharedRefused
}

// Discover lists the services the org may use that have at least one endpoint the actor's
// scopes allow, sorted by slug (docs/contract.md §3).
func (m *Manager) Discover(ctx context.Context, a Actor, org *aiproxy.Org) ([]Discovered, error) {
	if err := authorize(a, org.ID, AnyKey); err != nil {
		return nil, err
	}
	var out []Discovered
	for _, svc := range m.Catalog.Services() {
		st, err := m.State(ctx, svc, org.ID)
		if err != nil {
			return nil, err
		}
		eps := visibleEndpoints(a, svc)
		if !st.Enabled() || len(eps) == 0 {
			continue
		}
		out = append(out, Discovered{ServiceState: st, Endpoints: eps})
	}
	return out, nil
}

// DiscoverService returns one service for the org: ENOTFOUND if it is unknown or disabled
// platform-wide, ErrForbidden if it is disabled for the org (docs/contract.md §9).
func (m *Manager) DiscoverService(ctx context.Context, a Actor, org *aiproxy.Org, slug string) (Discovered, error) {
	st, err := m.usable(ctx, a, org, slug)
	if err != nil {
		return Discovered{}, err
	}
	d := Discovered{ServiceState: st, Endpoints: visibleEndpoints(a, st.Service)}
	if m.Vault != nil {
		// No credential (or a policy allowing none) is the invoke's error to give; here it
		// only means no source.
		d.Source, _ = m.Vault.Source(ctx, st.Service.Slug, org.ID, st.Policy)
	}
	return d, nil
}

// Action returns what an invoke of service/action by the actor on the org needs: the
// service's state (its credential policy) and the endpoint. In the contract's order
// (docs/contract.md §9): an unknown or platform-wide disabled service is ENOTFOUND, one
// disabled for the org ErrForbidden, an unknown or disabled action ENOTFOUND, an action
// outside the actor's scopes ErrForbidden (the endpoint is returned with it).
func (m *Manager) Action(ctx context.Context, a Actor, org *aiproxy.Org, service, action string) (ServiceState, *catalog.Endpoint, error) {
	st, err := m.usable(ctx, a, org, service)
	if err != nil {
		return st, nil, err
	}
	ep := st.Service.Endpoint(action)
	if ep == nil || !ep.Enabled {
		return st, nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "Endpoint '%s' not found for external proxy service '%s'.", action, service)
	}
	if !scopeAllowsEndpoint(a, service, ep) {
		return st, ep, ErrForbidden // the endpoint exists: the caller may log it by name
	}
	return st, ep, nil
}

// UsableService returns the service's state if the caller may use it in org: the checks
// Action makes before it looks at the action (the native route finds its action by path).
func (m *Manager) UsableService(ctx context.Context, a Actor, org *aiproxy.Org, slug string) (ServiceState, error) {
	return m.usable(ctx, a, org, slug)
}

// usable returns the service's state if the org may use it.
func (m *Manager) usable(ctx context.Context, a Actor, org *aiproxy.Org, slug string) (ServiceState, error) {
	if err := authorize(a, org.ID, AnyKey); err != nil {
		return ServiceState{}, err
	}
	svc := m.Catalog.Service(slug)
	if svc == nil {
		return ServiceState{}, errServiceNotFound(slug)
	}
	st, err := m.State(ctx, svc, org.ID)
	switch {
	case err != nil:
		return st, err
	case !st.GlobalEnabled:
		return st, errServiceNotFound(slug)
	case !st.OrgEnabled:
		return st, ErrForbidden
	}
	return st, nil
}

// visibleEndpoints are the service's enabled endpoints that the actor's scopes allow.
func visibleEndpoints(a Actor, svc *catalog.Service) []*catalog.Endpoint {
	var out []*catalog.Endpoint
	for _, e := range svc.Endpoints {
		if e.Enabled && scopeAllowsEndpoint(a, svc.Slug, e) {
			out = append(out, e)
		}
	}
	return out
}

// scopeAllowsEndpoint reports whether the actor's scopes permit the action e under its slug
// or one of its aliases (catalog aliases: a key scoped to an action's old slug keeps it
// after a rename, and an alias invokes only what its action's scope allows).
func scopeAllowsEndpoint(a Actor, service string, e *catalog.Endpoint) bool {
	for _, name := range e.Names() {
		if ScopeAllows(a, service, name) {
			return true
		}
	}
	return false
}
