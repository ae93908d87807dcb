// Package tenancy is the set of changes an operator or org admin can make — orgs, API keys,
// credentials, service settings — each validated and recorded in the audit trail. The
// command line and the admin API both go through it, so they behave the same.
package tenancy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
)

// Manager performs audited changes.
type Manager struct {
	Store   aiproxy.Store
	Vault   *providerkeys.Vault
	Catalog *catalog.Catalog
	Now     func() time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

// ValidSlug reports whether s can name an org: lowercase letters, digits and inner
// hyphens, at most 64 characters.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

func (m *Manager) audit(ctx context.Context, actor string, orgID int64, action, target string, before, after any) error {
	e := &aiproxy.AuditEntry{OrgID: orgID, Actor: actor, Action: action, Target: target,
		Before: auditJSON(before), After: auditJSON(after), CreatedAt: m.now()}
	return m.Store.AppendAudit(ctx, e)
}

func auditJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// CreateOrg creates an org. EINVALID for a bad slug, ECONFLICT if taken.
func (m *Manager) CreateOrg(ctx context.Context, actor, slug, name string) (*aiproxy.Org, error) {
	if !ValidSlug(slug) {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "Field 'slug' must be 1-64 lowercase letters, digits or inner hyphens: %q.", slug)
	}
	if name == "" {
		name = slug
	}
	o := &aiproxy.Org{Slug: slug, Name: name, CreatedAt: m.now()}
	if err := m.Store.CreateOrg(ctx, o); err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.ECONFLICT {
			return nil, aiproxy.Errorf(aiproxy.ECONFLICT, "Organization '%s' already exists.", slug)
		}
		return nil, err
	}
	return o, m.audit(ctx, actor, o.ID, "org.create", slug, nil, OrgView(o))
}

// DeleteOrg deletes an org with its keys, credentials and settings.
func (m *Manager) DeleteOrg(ctx context.Context, actor string, o *aiproxy.Org) error {
	if err := m.Store.DeleteOrg(ctx, o.ID); err != nil {
		return err
	}
	return m.audit(ctx, actor, o.ID, "org.delete", o.Slug, OrgView(o), nil)
}

// SetCORSOrigins replaces an org's allowed browser origins.
func (m *Manager) SetCORSOrigins(ctx context.Context, actor string, o *aiproxy.Org, origins []string) error {
	for _, or := range origins {
		if !ValidOrigin(or) {
			return aiproxy.Errorf(aiproxy.EINVALID, "Field 'cors_origins' must list origins like https://app.example.com, not %q.", or)
		}
	}
	before := OrgView(o)
	o2 := *o
	o2.CORSOrigins = origins
	if err := m.Store.UpdateOrg(ctx, &o2); err != nil {
		return err
	}
	*o = o2
	return m.audit(ctx, actor, o.ID, "org.update", o.Slug, before, OrgView(o))
}

// MaxRateLimitPerMinute bounds an org's rate limit (about 16,000 requests a second).
const MaxRateLimitPerMinute = 1_000_000

// RateLimitMessage is the one sentence for a bad rate limit, from the API or the CLI.
var RateLimitMessage = fmt.Sprintf("Field 'rate_limit_per_minute' must be an integer from 0 to %d.", MaxRateLimitPerMinute)

// SetRateLimit sets how many invokes per minute the org may make; 0 leaves it to the
// deployment default. Only operators may call it: the limit protects the platform's
// provider credits from the org, so the org may not lift it.
func (m *Manager) SetRateLimit(ctx context.Context, actor string, o *aiproxy.Org, perMinute int) error {
	if perMinute < 0 || perMinute > MaxRateLimitPerMinute {
		return aiproxy.Errorf(aiproxy.EINVALID, "%s", RateLimitMessage)
	}
	before := OrgView(o)
	o2 := *o
	o2.RateLimitPerMinute = perMinute
	if err := m.Store.UpdateOrg(ctx, &o2); err != nil {
		return err
	}
	*o = o2
	return m.audit(ctx, actor, o.ID, "org.rate_limit", o.Slug, before, OrgView(o))
}

// NewKey describes a key to create.
type NewKey struct {
	OrgID     int64 // 0 with Role operator
	Name      string
	Role      aiproxy.Role
	Scopes    []string
	ExpiresAt *time.Time
	ParentID  int64
}

// CreateKey creates an API key and returns it with the secret, shown this once.
func (m *Manager) CreateKey(ctx context.Context, actor string, nk NewKey) (*aiproxy.APIKey, string, error) {
	if !nk.Role.Valid() {
		return nil, "", aiproxy.Errorf(aiproxy.EINVALID, "Field 'role' must be one of admin, member, operator.")
	}
	if (nk.Role == aiproxy.RoleOperator) != (nk.OrgID == 0) {
		return nil, "", aiproxy.Errorf(aiproxy.EINVALID, "Field 'role': operator keys belong to no org, and org keys are admin or member.")
	}
	for _, sc := range nk.Scopes {
		if !apikeys.ValidScope(sc) {
			return nil, "", aiproxy.Errorf(aiproxy.EINVALID, "Field 'scopes' has an invalid pattern %q: use service:action, e.g. heygen:* or elevenlabs:tts*.", sc)
		}
	}
	if nk.ExpiresAt != nil && !nk.ExpiresAt.After(m.now()) {
		return nil, "", aiproxy.Errorf(aiproxy.EINVALID, "Field 'expires_at' must be in the future.")
	}
	for attempt := 0; ; attempt++ {
		secret, prefix, hash, err := apikeys.NewKey()
		if err != nil {
			return nil, "", err
		}
		k := &aiproxy.APIKey{OrgID: nk.OrgID, Prefix: prefix, Hash: hash, Name: nk.Name, Role: nk.Role,
			Scopes: nk.Scopes, ExpiresAt: nk.ExpiresAt, ParentID: nk.ParentID, CreatedAt: m.now()}
		err = m.Store.CreateAPIKey(ctx, k)
		if aiproxy.ErrorCode(err) == aiproxy.ECONFLICT && attempt < 3 {
			continue // a prefix collision: 48 bits make this rare; draw again
		}
		if err != nil {
			return nil, "", err
		}
		action := "key.create"
		if nk.ParentID != 0 {
			action = "token.create"
		}
		return k, secret, m.audit(ctx, actor, nk.OrgID, action, k.Prefix, nil, KeyView(k))
	}
}

// RevokeKey revokes the key with that prefix.
func (m *Manager) RevokeKey(ctx context.Context, actor string, k *aiproxy.APIKey) error {
	if err := m.Store.RevokeAPIKey(ctx, k.Prefix, m.now()); err != nil {
		return err
	}
	before := KeyView(k)
	now := m.now()
	k.RevokedAt = &now
	return m.audit(ctx, actor, k.OrgID, "key.revoke", k.Prefix, before, KeyView(k))
}

// Service returns the catalog service or EINVALID naming it.
func (m *Manager) Service(slug string) (*catalog.Service, error) {
	svc := m.Catalog.Service(slug)
	if svc == nil {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "External proxy service '%s' not found or disabled.", slug)
	}
	return svc, nil
}

// SetCredential stores a provider key for service (orgID 0 with SourcePlatform).
func (m *Manager) SetCredential(ctx context.Context, actor, service string, source aiproxy.Source, orgID int64, key string) (*aiproxy.Credential, error) {
	if _, err := m.Service(service); err != nil {
		return nil, err
	}
	before, _ := m.Store.GetCredential(ctx, service, source, orgID)
	c, err := m.Vault.Set(ctx, service, source, orgID, key)
	if err != nil {
		return nil, err
	}
	var bv any
	if before != nil {
		bv = CredentialView(before)
	}
	return c, m.audit(ctx, actor, orgID, "credential.set", service+"/"+string(source), bv, CredentialView(c))
}

// DeleteCredential removes a provider key.
func (m *Manager) DeleteCredential(ctx context.Context, actor, service string, source aiproxy.Source, orgID int64) error {
	before, err := m.Store.GetCredential(ctx, service, source, orgID)
	if err != nil {
		return err
	}
	if err := m.Store.DeleteCredential(ctx, service, source, orgID); err != nil {
		return err
	}
	return m.audit(ctx, actor, orgID, "credential.delete", service+"/"+string(source), CredentialView(before), nil)
}

// Settings returns the stored settings of (service, org), empty when none.
func (m *Manager) Settings(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	s, err := m.Store.ServiceSettings(ctx, service, orgID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return &aiproxy.ServiceSettings{Service: service, OrgID: orgID}, nil
	}
	return s, err
}

// EffectivePolicy is the policy in force for (service, org): the org's override, else the
// global one, else the catalog default. orgID 0 gives the global level.
func (m *Manager) EffectivePolicy(ctx context.Context, service string, orgID int64) (aiproxy.Policy, error) {
	svc, err := m.Service(service)
	if err != nil {
		return aiproxy.Policy{}, err
	}
	p := svc.CredentialPolicy
	ids := []int64{0}
	if orgID != 0 {
		ids = append(ids, orgID)
	}
	for _, id := range ids {
		s, err := m.Settings(ctx, service, id)
		if err != nil {
			return p, err
		}
		if s.Policy != nil {
			p = *s.Policy
		}
	}
	return p, nil
}

// SettingsChange is a partial update of one settings row. A nil field is left alone;
// ClearPolicy removes the policy override, ClearEnabled the is_enabled one (the level below
// applies again).
type SettingsChange struct {
	Enabled      *bool
	Policy       *aiproxy.Policy
	ClearPolicy  bool
	ClearEnabled bool
}

// UpdateSettings applies ch to the settings of (service, org).
func (m *Manager) UpdateSettings(ctx context.Context, actor, service string, orgID int64, ch SettingsChange) (*aiproxy.ServiceSettings, error) {
	if _, err := m.Service(service); err != nil {
		return nil, err
	}
	if ch.Policy != nil {
		if err := ValidatePolicy(*ch.Policy); err != nil {
			return nil, err
		}
	}
	cur, err := m.Settings(ctx, service, orgID)
	if err != nil {
		return nil, err
	}
	before := SettingsView(cur)
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
	if ch.Policy != nil {
		next.Policy = ch.Policy
	}
	next.UpdatedAt = m.now()
	if err := m.Store.PutServiceSettings(ctx, &next); err != nil {
		return nil, err
	}
	return &next, m.audit(ctx, actor, orgID, "service.settings", service, before, SettingsView(&next))
}

// ValidatePolicy checks a policy's fields.
func ValidatePolicy(p aiproxy.Policy) error {
	if !p.DefaultSource.Valid() {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'default_source' must be 'tenant' or 'platform'.")
	}
	return nil
}
