// Package aiproxy is the domain of the gateway: organizations, API keys, provider
// credentials and their policy, service settings, the audit trail, the error codes the rest
// of the program speaks, and the store interfaces that backends implement.
//
// Packages are arranged around it: catalog (the actions, as data), gateway (the upstream
// call), httpapi (the HTTP surface), secrets (sealing credentials), auth (keys), sqlite and
// postgres (stores), sim (provider simulators) and cmd/aiproxy, which wires them.
package aiproxy

import (
	"context"
	"time"
)

// Role is what an API key may do.
type Role string

const (
	// RoleAdmin may do everything on its org.
	RoleAdmin Role = "admin"
	// RoleMember may discover and invoke.
	RoleMember Role = "member"
	// RoleOperator is bound to no org and manages platform-wide settings.
	RoleOperator Role = "operator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember || r == RoleOperator }

// Org is a tenant, identified in URLs by its slug.
type Org struct {
	ID          int64
	Slug        string
	Name        string
	CORSOrigins []string // origins allowed to call this org from a browser
	// RateLimitPerMinute caps the org's invokes; 0 means the deployment default applies
	// (itself 0, unlimited, unless the server is configured otherwise).
	RateLimitPerMinute int
	CreatedAt          time.Time
}

// APIKey is a credential a client presents to the gateway. Only its hash is stored.
type APIKey struct {
	ID         int64
	OrgID      int64  // 0 for operator keys
	Prefix     string // short visible identifier, unique
	Hash       string // hex SHA-256 of the whole key
	Name       string
	Role       Role
	Scopes     []string // "service:action" patterns; empty means every action
	ParentID   int64    // for browser tokens: the key that minted it
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Active reports whether the key may be used at now.
func (k *APIKey) Active(now time.Time) bool {
	if k.RevokedAt != nil {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Source says whose provider key a credential is.
type Source string

const (
	// SourceTenant is the org's own provider key.
	SourceTenant Source = "tenant"
	// SourcePlatform is one provider key shared by every org.
	SourcePlatform Source = "platform"
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool { return s == SourceTenant || s == SourcePlatform }

// Credential is a provider key, sealed. OrgID is 0 for platform credentials.
type Credential struct {
	Service     string // service slug
	Source      Source
	OrgID       int64
	Sealed      Sealed
	Fingerprint string // short hash of the plaintext, safe to show
	Last4       string // last four characters of the plaintext, safe to show
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Sealed is an envelope-encrypted secret: the plaintext is encrypted under its own data key
// (DEK), and the DEK is wrapped by the key-encryption key (KEK) named by KEKID.
type Sealed struct {
	KEKID      string
	WrappedDEK []byte
	Ciphertext []byte
}

// Policy decides which credential sources a service may use (contract §7).
type Policy struct {
	AllowTenantKey        bool   `json:"allow_tenant_key"`
	AllowPlatformKey      bool   `json:"allow_platform_key"`
	DefaultSource         Source `json:"default_source"`
	FallbackToPlatformKey bool   `json:"fallback_to_platform_key"`
}

// TenantOnly is the catalog default for the built-in services.
var TenantOnly = Policy{AllowTenantKey: true, DefaultSource: SourceTenant}

// ServiceSettings override a service's catalog defaults, globally (OrgID 0) or for one org.
// A nil field keeps the value of the level below (org → global → catalog).
type ServiceSettings struct {
	Service   string
	OrgID     int64
	Enabled   *bool
	Policy    *Policy
	UpdatedAt time.Time
}

// Revocation is what revoking a key changed.
type Revocation struct {
	Key    bool // the key was not revoked before: this call revoked it
	Tokens int  // keys it minted that were revoked with it
}

// AuditEntry records one change made through the admin API or the command line.
type AuditEntry struct {
	ID        int64
	OrgID     int64  // 0 for platform-wide changes
	Actor     string // key prefix, or "cli"
	Action    string // e.g. "credential.set"
	Target    string // e.g. "heygen"
	Before    string // JSON, never a secret
	After     string // JSON, never a secret
	CreatedAt time.Time
}

// Store is everything the gateway persists. Implementations: sqlite, postgres.
// Lookups return an *Error with code ENOTFOUND when nothing matches; creations return
// ECONFLICT when a unique value (org slug, key prefix) is taken.
type Store interface {
	// CreateOrg stores o and sets its ID and CreatedAt.
	CreateOrg(ctx context.Context, o *Org) error
	// OrgBySlug returns ENOTFOUND if no org has that slug.
	OrgBySlug(ctx context.Context, slug string) (*Org, error)
	// OrgByID returns ENOTFOUND if no org has that id.
	OrgByID(ctx context.Context, id int64) (*Org, error)
	ListOrgs(ctx context.Context) ([]*Org, error)
	// UpdateOrg saves Name, CORSOrigins and RateLimitPerMinute. Returns ENOTFOUND if the
	// org is gone.
	UpdateOrg(ctx context.Context, o *Org) error
	// DeleteOrg removes the org with its keys, credentials and settings (its audit stays).
	DeleteOrg(ctx context.Context, id int64) error

	// CreateAPIKey stores k and sets its ID and CreatedAt. ECONFLICT if the prefix is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns ENOTFOUND if no key has that hash (revoked keys are returned).
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// APIKeyByPrefix returns ENOTFOUND if no key has that prefix.
	APIKeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// APIKeyByID returns ENOTFOUND if no key has that id (revoked keys are returned).
	APIKeyByID(ctx context.Context, id int64) (*APIKey, error)
	// ListAPIKeys lists an org's keys (orgID 0: operator keys), newest first.
	ListAPIKeys(ctx context.Context, orgID int64) ([]*APIKey, error)
	// RevokeAPIKey marks the key with that prefix revoked at, and in the same transaction
	// every key it minted (ParentID) that is not revoked yet, and says what it changed. A
	// key already revoked keeps its first revocation time. ENOTFOUND if no key has that
	// prefix.
	RevokeAPIKey(ctx context.Context, prefix string, at time.Time) (Revocation, error)
	// TouchAPIKeys records last use of keys (id → time), in one batch.
	TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error

	// PutCredential creates or replaces the credential for (service, source, org).
	PutCredential(ctx context.Context, c *Credential) error
	// GetCredential returns ENOTFOUND if none is stored.
	GetCredential(ctx context.Context, service string, source Source, orgID int64) (*Credential, error)
	// DeleteCredential returns ENOTFOUND if none is stored.
	DeleteCredential(ctx context.Context, service string, source Source, orgID int64) error
	// ListCredentials lists every stored credential (for key rotation).
	ListCredentials(ctx context.Context) ([]*Credential, error)
	// RewrapCredential replaces the sealed DEK of one credential if its KEK id is still
	// oldKEKID (compare-and-swap, so a concurrent PutCredential wins). Reports whether it did.
	RewrapCredential(ctx context.Context, c *Credential, oldKEKID string) (bool, error)

	// ServiceSettings returns the settings for (service, org); ENOTFOUND if none.
	ServiceSettings(ctx context.Context, service string, orgID int64) (*ServiceSettings, error)
	// ListServiceSettings lists every stored settings row.
	ListServiceSettings(ctx context.Context) ([]*ServiceSettings, error)
	// PutServiceSettings creates or replaces the settings for (s.Service, s.OrgID).
	PutServiceSettings(ctx context.Context, s *ServiceSettings) error

	// AppendAudit stores e and sets its ID and CreatedAt.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns an org's entries (orgID 0: platform) newest first, with ID < before
	// (before 0: from the newest), at most limit.
	ListAudit(ctx context.Context, orgID int64, before int64, limit int) ([]*AuditEntry, error)

	// Version returns a number that changes whenever anything above changes (except
	// TouchAPIKeys and AppendAudit), so caches can tell when to reload.
	Version(ctx context.Context) (int64, error)

	Close() error
}
