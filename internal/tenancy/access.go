package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
)

// maxKeyChain bounds how many minting keys authentication follows up from a key. Tokens are
// minted only by keys that are not tokens, so real chains have one link; the bound only
// guards against a corrupt store.
const maxKeyChain = 4

// Authenticate returns the key an Authorization header value presents (docs/contract.md
// §2). ErrNotAuthenticated when the header is empty or its scheme unknown; ErrInvalidToken
// when the key is unknown, revoked or expired — or when any key above it (the key that
// minted a browser token) is, so that revoking a key kills its tokens at once, whatever
// raced with the revocation.
func (m *Manager) Authenticate(ctx context.Context, authorization string) (*aiproxy.APIKey, error) {
	raw, ok := apikeys.ParseAuthorization(authorization)
	if !ok {
		return nil, ErrNotAuthenticated
	}
	if raw == "" {
		return nil, ErrInvalidToken
	}
	key, err := m.Store.APIKeyByHash(ctx, apikeys.Hash(raw))
	if err != nil {
		return nil, notFoundAs(err, ErrInvalidToken)
	}
	now := m.now()
	if !key.Active(now) {
		return nil, ErrInvalidToken
	}
	for parent, n := key.ParentID, 0; parent != 0; n++ {
		if n == maxKeyChain {
			return nil, ErrInvalidToken
		}
		p, err := m.Store.APIKeyByID(ctx, parent)
		if err != nil {
			return nil, notFoundAs(err, ErrInvalidToken)
		}
		if !p.Active(now) {
			return nil, ErrInvalidToken
		}
		parent = p.ParentID
	}
	return key, nil
}

// notFoundAs returns instead for ENOTFOUND, and err otherwise.
func notFoundAs(err, instead error) error {
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return instead
	}
	return err
}

// Need is what an operation needs of its actor on one org.
type Need int

const (
	// AnyKey: any key of the org (discovery, invoke, minting a browser token).
	AnyKey Need = iota
	// Admin: an admin key of the org (the org's keys, credentials, settings, audit).
	Admin
)

// allowed is the one table of roles: operators (and the command line) may do everything;
// an org key acts only on its own org, and only an admin key administers it.
func allowed(a Actor, orgID int64, need Need) bool {
	switch {
	case a.Operator():
		return true
	case a.Key.OrgID != orgID:
		return false
	case need == Admin:
		return a.Key.Role == aiproxy.RoleAdmin
	}
	return true
}

func authorize(a Actor, orgID int64, need Need) error {
	if !allowed(a, orgID, need) {
		return ErrForbidden
	}
	return nil
}

// RequireOperator refuses every actor but an operator (and the command line).
func RequireOperator(a Actor) error {
	if !a.Operator() {
		return ErrForbidden
	}
	return nil
}

// Org returns the org with that slug if the actor may act on it as need says. A key of
// another org gets ErrForbidden whether or not the org exists, and a member key asking for
// Admin gets it before any lookup; only operators learn that an org does not exist
// (docs/contract.md §9).
func (m *Manager) Org(ctx context.Context, a Actor, slug string, need Need) (*aiproxy.Org, error) {
	if need == Admin && !a.Operator() && a.Key.Role != aiproxy.RoleAdmin {
		return nil, ErrForbidden
	}
	org, err := m.Store.OrgBySlug(ctx, slug)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		if a.Operator() {
			return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "Organization '%s' not found.", slug)
		}
		return nil, ErrForbidden
	} else if err != nil {
		return nil, err
	}
	if err := authorize(a, org.ID, need); err != nil {
		return nil, err
	}
	return org, nil
}

// ScopeAllows reports whether the actor's scopes permit service:action. The command line
// has no scopes: everything.
func ScopeAllows(a Actor, service, action string) bool {
	return a.Key == nil || apikeys.ScopeAllows(a.Key.Scopes, service, action)
}
