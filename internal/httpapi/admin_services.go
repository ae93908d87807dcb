package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// serviceByCredentialName is the catalog service storing its key under name (contract §7),
// or 404 naming it.
func (s *Server) serviceByCredentialName(name string) (*catalog.Service, error) {
	for _, svc := range s.catalog.Services() {
		if svc.CredentialName == name {
			return svc, nil
		}
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "Credential '%s' is not used by any external proxy service.", name)
}

// credentialView is a stored credential, masked (tenancy.CredentialView), with its name.
func credentialView(svc *catalog.Service, c *aiproxy.Credential) map[string]any {
	v := tenancy.CredentialView(c)
	v["credential_name"] = svc.CredentialName
	return v
}

func errCredentialNotFound(name string, source aiproxy.Source) error {
	return aiproxy.Errorf(aiproxy.ENOTFOUND, "No %s credential '%s' is stored.", source, name)
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request, source aiproxy.Source, orgID int64) error {
	name := r.PathValue("credential_name")
	svc, err := s.serviceByCredentialName(name)
	if err != nil {
		return err
	}
	c, err := s.store.GetCredential(r.Context(), svc.Slug, source, orgID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return errCredentialNotFound(name, source)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialView(svc, c))
	return nil
}

// putCredential stores {"key": "…"} (contract §7 schema) and answers the masked view.
func (s *Server) putCredential(w http.ResponseWriter, r *http.Request, source aiproxy.Source, orgID int64) error {
	name := r.PathValue("credential_name")
	svc, err := s.serviceByCredentialName(name)
	if err != nil {
		return err
	}
	const keyMsg = "Field 'key' must be a non-empty string."
	var body struct {
		Key *string `json:"key"`
	}
	if err := decodeBody(w, r, &body, map[string]string{"key": keyMsg}); err != nil {
		return err
	}
	if body.Key == nil {
		return invalid(keyMsg)
	}
	key := strings.TrimSpace(*body.Key)
	if key == "" {
		return invalid(keyMsg)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c == 0x7f {
			// It goes into an upstream header: no spaces or control characters.
			return invalid("Field 'key' must not contain spaces or control characters.")
		}
	}
	c, err := s.tenancy.SetCredential(r.Context(), actor(r), svc.Slug, source, orgID, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialView(svc, c))
	return nil
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, source aiproxy.Source, orgID int64) error {
	name := r.PathValue("credential_name")
	svc, err := s.serviceByCredentialName(name)
	if err != nil {
		return err
	}
	err = s.tenancy.DeleteCredential(r.Context(), actor(r), svc.Slug, source, orgID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return errCredentialNotFound(name, source)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// orgCredential wraps a credential handler for the org's tenant credential.
func (s *Server) orgCredential(fn func(http.ResponseWriter, *http.Request, aiproxy.Source, int64) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		org, err := s.orgFor(r, true)
		if err != nil {
			return err
		}
		return fn(w, r, aiproxy.SourceTenant, org.ID)
	}
}

// platformCredential wraps a credential handler for the platform credential (operators).
func (s *Server) platformCredential(fn func(http.ResponseWriter, *http.Request, aiproxy.Source, int64) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := requireOperator(r); err != nil {
			return err
		}
		return fn(w, r, aiproxy.SourcePlatform, 0)
	}
}

func (s *Server) getOrgCredential(w http.ResponseWriter, r *http.Request) error {
	return s.orgCredential(s.getCredential)(w, r)
}

func (s *Server) putOrgCredential(w http.ResponseWriter, r *http.Request) error {
	return s.orgCredential(s.putCredential)(w, r)
}

func (s *Server) deleteOrgCredential(w http.ResponseWriter, r *http.Request) error {
	return s.orgCredential(s.deleteCredential)(w, r)
}

func (s *Server) getPlatformCredential(w http.ResponseWriter, r *http.Request) error {
	return s.platformCredential(s.getCredential)(w, r)
}

func (s *Server) putPlatformCredential(w http.ResponseWriter, r *http.Request) error {
	return s.platformCredential(s.putCredential)(w, r)
}

func (s *Server) deletePlatformCredential(w http.ResponseWriter, r *http.Request) error {
	return s.platformCredential(s.deleteCredential)(w, r)
}

// settingsAnswer is GET/PUT …/settings/: what is in force at this level (for an org: the
// global and org switches combined, the policy after overrides) and the level's own row.
func (s *Server) settingsAnswer(ctx context.Context, svc *catalog.Service, orgID int64) (map[string]any, error) {
	st, err := s.serviceState(ctx, svc, orgID)
	if err != nil {
		return nil, err
	}
	own, err := s.tenancy.Settings(ctx, svc.Slug, orgID)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"service":           svc.Slug,
		"is_enabled":        st.globalEnabled && st.orgEnabled,
		"credential_policy": st.policy,
		"overrides":         tenancy.SettingsView(own),
	}, nil
}

func (s *Server) catalogService(slug string) (*catalog.Service, error) {
	svc := s.catalog.Service(slug)
	if svc == nil {
		return nil, errServiceNotFound(slug)
	}
	return svc, nil
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, orgID int64) error {
	svc, err := s.catalogService(r.PathValue("service"))
	if err != nil {
		return err
	}
	v, err := s.settingsAnswer(r.Context(), svc, orgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// policyPatch is a partial credential policy; absent fields keep the effective value.
type policyPatch struct {
	AllowTenantKey        *bool   `json:"allow_tenant_key"`
	AllowPlatformKey      *bool   `json:"allow_platform_key"`
	DefaultSource         *string `json:"default_source"`
	FallbackToPlatformKey *bool   `json:"fallback_to_platform_key"`
}

// putSettings applies {"is_enabled": bool|null, "credential_policy": {...}|null} at one
// level (orgID 0: global). null removes the override. Only operators may send
// credential_policy.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, orgID int64) error {
	svc, err := s.catalogService(r.PathValue("service"))
	if err != nil {
		return err
	}
	var body struct {
		IsEnabled        json.RawMessage `json:"is_enabled"`
		CredentialPolicy json.RawMessage `json:"credential_policy"`
	}
	if err := decodeBody(w, r, &body, nil); err != nil {
		return err
	}
	if body.IsEnabled == nil && body.CredentialPolicy == nil {
		return invalid("Request body must set 'is_enabled' or 'credential_policy'.")
	}
	var ch tenancy.SettingsChange
	switch v := string(body.IsEnabled); v {
	case "":
	case "null":
		ch.ClearEnabled = true
	case "true", "false":
		b := v == "true"
		ch.Enabled = &b
	default:
		return invalid("Field 'is_enabled' must be true, false or null.")
	}
	if body.CredentialPolicy != nil {
		if !principalFrom(r.Context()).operator() {
			return errForbidden
		}
		if string(body.CredentialPolicy) == "null" {
			ch.ClearPolicy = true
		} else {
			p, err := s.mergePolicy(r.Context(), svc.Slug, orgID, body.CredentialPolicy)
			if err != nil {
				return err
			}
			ch.Policy = &p
		}
	}
	if _, err := s.tenancy.UpdateSettings(r.Context(), actor(r), svc.Slug, orgID, ch); err != nil {
		return err
	}
	v, err := s.settingsAnswer(r.Context(), svc, orgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// mergePolicy lays a partial policy object over the policy in force at this level.
func (s *Server) mergePolicy(ctx context.Context, service string, orgID int64, raw json.RawMessage) (aiproxy.Policy, error) {
	const objMsg = "Field 'credential_policy' must be an object or null."
	var pp policyPatch
	err := decodeStrict(raw, &pp, "credential_policy.", map[string]string{
		"allow_tenant_key":         "Field 'credential_policy.allow_tenant_key' must be a boolean.",
		"allow_platform_key":       "Field 'credential_policy.allow_platform_key' must be a boolean.",
		"default_source":           "Field 'credential_policy.default_source' must be 'tenant' or 'platform'.",
		"fallback_to_platform_key": "Field 'credential_policy.fallback_to_platform_key' must be a boolean.",
	})
	if err == errNotObject {
		return aiproxy.Policy{}, invalid(objMsg)
	} else if err != nil {
		return aiproxy.Policy{}, err
	}
	p, err := s.tenancy.EffectivePolicy(ctx, service, orgID)
	if err != nil {
		return p, err
	}
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

func (s *Server) getOrgSettings(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	return s.getSettings(w, r, org.ID)
}

func (s *Server) putOrgSettings(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	return s.putSettings(w, r, org.ID)
}

func (s *Server) getGlobalSettings(w http.ResponseWriter, r *http.Request) error {
	if err := requireOperator(r); err != nil {
		return err
	}
	return s.getSettings(w, r, 0)
}

func (s *Server) putGlobalSettings(w http.ResponseWriter, r *http.Request) error {
	if err := requireOperator(r); err != nil {
		return err
	}
	return s.putSettings(w, r, 0)
}
