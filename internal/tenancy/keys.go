package tenancy

import (
	"context"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
)

// Browser tokens live at most MaxTokenTTL seconds, by default DefaultTokenTTL.
const (
	DefaultTokenTTL = 900
	MaxTokenTTL     = 3600
	// maxKeyTTL bounds ttl_seconds of an API key (a hundred years).
	maxKeyTTL = 100 * 365 * 24 * 3600
)

// roleRank orders roles by power: a key never makes a key of a higher role.
var roleRank = map[aiproxy.Role]int{aiproxy.RoleMember: 1, aiproxy.RoleAdmin: 2, aiproxy.RoleOperator: 3}

// NewKey describes an API key to create.
type NewKey struct {
	Org    *aiproxy.Org // nil for an operator key
	Name   string
	Role   aiproxy.Role
	Scopes []string
	// At most one of ExpiresAt and TTLSeconds; neither: the key does not expire.
	ExpiresAt  *time.Time
	TTLSeconds *int64
}

// CreateKey creates an API key and returns it with its secret, shown this once. An org key
// is made by the org's admins (admin or member role); an operator key (Org nil) only by
// operators. Its scopes must lie within the creating key's.
func (m *Manager) CreateKey(ctx context.Context, a Actor, nk NewKey) (*aiproxy.APIKey, string, error) {
	var orgID int64
	if nk.Org == nil {
		if err := RequireOperator(a); err != nil {
			return nil, "", err
		}
		if nk.Role != aiproxy.RoleOperator {
			return nil, "", invalid("Field 'role': operator keys belong to no org, and org keys are admin or member.")
		}
	} else {
		orgID = nk.Org.ID
		if err := authorize(a, orgID, Admin); err != nil {
			return nil, "", err
		}
		if nk.Role != aiproxy.RoleAdmin && nk.Role != aiproxy.RoleMember {
			return nil, "", invalid("Field 'role' must be 'admin' or 'member'.")
		}
	}
	if err := validName(nk.Name); err != nil {
		return nil, "", err
	}
	if err := validScopes(nk.Scopes); err != nil {
		return nil, "", err
	}
	if a.Key != nil && !apikeys.ScopesWithin(nk.Scopes, a.Key.Scopes) {
		return nil, "", invalid("Field 'scopes' must not allow more than the scopes of the key making the request.")
	}
	if a.Key != nil && roleRank[nk.Role] > roleRank[a.Key.Role] {
		return nil, "", invalid("Field 'role' must not be higher than the role of the key making the request.")
	}
	now := m.now()
	exp := nk.ExpiresAt
	switch {
	case nk.ExpiresAt != nil && nk.TTLSeconds != nil:
		return nil, "", invalid("Fields 'expires_at' and 'ttl_seconds' exclude each other: send one.")
	case nk.TTLSeconds != nil:
		if *nk.TTLSeconds < 1 || *nk.TTLSeconds > maxKeyTTL {
			return nil, "", invalid("Field 'ttl_seconds' must be a positive integer.")
		}
		t := now.Add(time.Duration(*nk.TTLSeconds) * time.Second)
		exp = &t
	case exp != nil && !exp.After(now):
		return nil, "", invalid("Field 'expires_at' must be in the future.")
	case exp != nil && exp.After(now.Add(maxKeyTTL*time.Second)):
		return nil, "", invalid("Field 'expires_at' must be within 100 years.")
	}
	// A key made by a key never outlives it.
	if a.Key != nil && a.Key.ExpiresAt != nil {
		limit := a.Key.ExpiresAt.UTC().Format(time.RFC3339)
		switch {
		case exp == nil:
			return nil, "", invalid("Field 'expires_at' is required: the key making the request expires at %s, and a key it makes may not outlive it.", limit)
		case exp.After(*a.Key.ExpiresAt):
			return nil, "", invalid("Field 'expires_at' must not be later than %s, when the key making the request expires.", limit)
		}
	}
	k := &aiproxy.APIKey{OrgID: orgID, Name: nk.Name, Role: nk.Role, Scopes: nk.Scopes, ExpiresAt: exp}
	secret, err := m.insertKey(ctx, k)
	if err != nil {
		return nil, "", err
	}
	return k, secret, m.audit(ctx, a, orgID, "key.create", k.Prefix, nil, KeyView(k))
}

// insertKey gives k a fresh secret and stores it.
func (m *Manager) insertKey(ctx context.Context, k *aiproxy.APIKey) (string, error) {
	for attempt := 0; ; attempt++ {
		secret, prefix, hash, err := apikeys.NewKey()
		if err != nil {
			return "", err
		}
		k.Prefix, k.Hash, k.CreatedAt = prefix, hash, m.now()
		err = m.Store.CreateAPIKey(ctx, k)
		if aiproxy.ErrorCode(err) == aiproxy.ECONFLICT && attempt < 3 {
			continue // a prefix collision: 48 bits make this rare; draw again
		}
		return secret, err
	}
}

// ListKeys returns an org's keys, newest first, with the browser tokens still in force
// (spent tokens can do nothing and would crowd the list). Its admins and operators.
func (m *Manager) ListKeys(ctx context.Context, a Actor, org *aiproxy.Org) ([]*aiproxy.APIKey, error) {
	if err := authorize(a, org.ID, Admin); err != nil {
		return nil, err
	}
	keys, err := m.Store.ListAPIKeys(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	now := m.now()
	out := keys[:0]
	for _, k := range keys {
		if k.ParentID == 0 || k.Active(now) {
			out = append(out, k)
		}
	}
	return out, nil
}

// RevokeKey revokes the key with that prefix and, in the same store transaction, the
// browser tokens it minted (authentication refuses them anyway once their minting key is
// revoked, so a token minted while this runs is dead too). org, when not nil, is the org the
// request is about: a key of another org is then not found, as if it did not exist. An org
// key is revoked by its org's admins, an operator key only by operators. Revoking a revoked
// key is not an error.
func (m *Manager) RevokeKey(ctx context.Context, a Actor, org *aiproxy.Org, prefix string) error {
	if apikeys.MaybeKey(prefix) {
		// Someone pasted a whole key where its prefix belongs: never echo it back.
		return invalid("Give the key's prefix (its first %d characters), not the whole key.", apikeys.PrefixLen)
	}
	notFound := aiproxy.Errorf(aiproxy.ENOTFOUND, "API key '%s' not found.", prefix)
	k, err := m.Store.APIKeyByPrefix(ctx, prefix)
	if err != nil {
		return notFoundAs(err, notFound)
	}
	if org != nil && k.OrgID != org.ID {
		return notFound
	}
	if k.OrgID == 0 {
		err = RequireOperator(a)
	} else {
		err = authorize(a, k.OrgID, Admin)
	}
	if err != nil {
		return err
	}
	now := m.now()
	rv, err := m.Store.RevokeAPIKey(ctx, prefix, now)
	if err != nil {
		return notFoundAs(err, notFound)
	}
	if !rv.Key && rv.Tokens == 0 {
		return nil // nothing changed (a concurrent revocation did it): nothing to record
	}
	before := KeyView(k)
	revoked := *k // k may be shared with a cache: change a copy
	if rv.Key {
		revoked.RevokedAt = &now
	}
	after := KeyView(&revoked)
	after["tokens_revoked"] = rv.Tokens
	return m.audit(ctx, a, k.OrgID, "key.revoke", k.Prefix, before, after)
}

// MayMint says whether the actor may mint browser tokens for the org: a key of the org (or
// an operator's) that is not itself a token. The command line has no key to mint from.
func MayMint(a Actor, org *aiproxy.Org) error {
	if a.Key == nil || a.Key.ParentID != 0 {
		return ErrForbidden
	}
	return authorize(a, org.ID, AnyKey)
}

// TokenRequest describes a browser token to mint; nil fields take their defaults.
type TokenRequest struct {
	Scopes     *[]string // default: the minting key's
	TTLSeconds *int64    // default DefaultTokenTTL, at most MaxTokenTTL
	Name       *string   // default "browser token from <prefix>"
}

// MintToken mints a browser token for the org: a member key (it may discover and invoke,
// nothing else) whose ParentID is the minting key. Any key of the org that is not itself a
// token may mint, and operators. The token lives at most MaxTokenTTL seconds and never
// beyond the minting key's expiry; its scopes lie within the minting key's; it is valid only
// while the minting key is.
func (m *Manager) MintToken(ctx context.Context, a Actor, org *aiproxy.Org, tr TokenRequest) (*aiproxy.APIKey, string, error) {
	if err := MayMint(a, org); err != nil {
		return nil, "", err
	}
	parent := a.Key
	ttl := int64(DefaultTokenTTL)
	if tr.TTLSeconds != nil {
		ttl = *tr.TTLSeconds
	}
	if ttl < 1 || ttl > MaxTokenTTL {
		return nil, "", invalid("Field 'ttl_seconds' must be an integer from 1 to %d.", MaxTokenTTL)
	}
	scopes := parent.Scopes
	if tr.Scopes != nil {
		scopes = *tr.Scopes
		if err := validScopes(scopes); err != nil {
			return nil, "", err
		}
		if !apikeys.ScopesWithin(scopes, parent.Scopes) {
			return nil, "", invalid("Field 'scopes' must not allow more than the scopes of the key minting the token.")
		}
	}
	name := "browser token from " + parent.Prefix
	if tr.Name != nil {
		name = *tr.Name
		if err := validName(name); err != nil {
			return nil, "", err
		}
	}
	exp := m.now().Add(time.Duration(ttl) * time.Second)
	if parent.ExpiresAt != nil && parent.ExpiresAt.Before(exp) {
		exp = *parent.ExpiresAt
	}
	k := &aiproxy.APIKey{OrgID: org.ID, Name: name, Role: aiproxy.RoleMember, Scopes: scopes, ExpiresAt: &exp, ParentID: parent.ID}
	secret, err := m.insertKey(ctx, k)
	if err != nil {
		return nil, "", err
	}
	if err := m.audit(ctx, a, org.ID, "token.create", k.Prefix, nil, KeyView(k)); err != nil {
		return nil, "", err
	}
	// The minting key may have been revoked while this ran. Authentication refuses the token
	// then anyway; revoking it as well keeps the key list true, and the caller learns why.
	if p, err := m.Store.APIKeyByID(ctx, parent.ID); err != nil {
		return nil, "", err
	} else if p.RevokedAt != nil {
		if _, err := m.Store.RevokeAPIKey(ctx, p.Prefix, m.now()); err != nil {
			return nil, "", err
		}
		return nil, "", ErrInvalidToken
	}
	return k, secret, nil
}
