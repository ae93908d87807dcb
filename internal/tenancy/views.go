package tenancy

import (
	"time"

	"github.com/aiproxy/aiproxy"
)

// OrgView is an org as the API and the audit trail show it.
func OrgView(o *aiproxy.Org) map[string]any {
	origins := o.CORSOrigins
	if origins == nil {
		origins = []string{}
	}
	return map[string]any{"slug": o.Slug, "name": o.Name, "cors_origins": origins,
		"rate_limit_per_minute": o.RateLimitPerMinute, "created_at": o.CreatedAt.UTC().Format(time.RFC3339)}
}

// KeyView is an API key without its secret.
func KeyView(k *aiproxy.APIKey) map[string]any {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return map[string]any{
		"prefix": k.Prefix, "name": k.Name, "role": string(k.Role), "scopes": scopes,
		"created_at": k.CreatedAt.UTC().Format(time.RFC3339), "last_used_at": timeOrNil(k.LastUsedAt),
		"expires_at": timeOrNil(k.ExpiresAt), "revoked_at": timeOrNil(k.RevokedAt),
	}
}

// CredentialView is a credential masked: never the key, only its last four characters and
// a fingerprint.
func CredentialView(c *aiproxy.Credential) map[string]any {
	masked := "****"
	if c.Last4 != "" {
		masked = "****" + c.Last4
	}
	return map[string]any{
		"service": c.Service, "source": string(c.Source), "key": masked, "fingerprint": c.Fingerprint,
		"master_key_id": c.Sealed.KEKID,
		"created_at":    c.CreatedAt.UTC().Format(time.RFC3339), "updated_at": c.UpdatedAt.UTC().Format(time.RFC3339),
	}
}

// SettingsView is a settings row; absent values are null (inherited).
func SettingsView(s *aiproxy.ServiceSettings) map[string]any {
	v := map[string]any{"service": s.Service, "is_enabled": nil, "credential_policy": nil,
		"account_actions": nil, "require_idempotency_key": nil}
	if s.Enabled != nil {
		v["is_enabled"] = *s.Enabled
	}
	if s.Policy != nil {
		v["credential_policy"] = *s.Policy
	}
	if s.AccountActions != nil {
		v["account_actions"] = *s.AccountActions
	}
	if s.RequireIdempotencyKey != nil {
		v["require_idempotency_key"] = *s.RequireIdempotencyKey
	}
	return v
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}
