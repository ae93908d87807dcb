package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// credentialView is a stored credential, masked (tenancy.CredentialView), with its name.
func credentialView(svc *catalog.Service, c *aiproxy.Credential) map[string]any {
	v := tenancy.CredentialView(c)
	v["credential_name"] = svc.CredentialName
	return v
}

// credentialHandler adapts a credential handler to one of the two levels: the org's own
// credential (…/orgs/{org}/credentials/{name}/, its admins) or the platform's
// (…/platform-credentials/{name}/, operators). org is nil for the platform.
func (s *Server) credentialHandler(platform bool, fn func(http.ResponseWriter, *http.Request, *catalog.Service, *aiproxy.Org) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var org *aiproxy.Org
		if platform {
			if err := tenancy.RequireOperator(actorFrom(r)); err != nil {
				return err
			}
		} else {
			var err error
			if org, err = s.org(r, tenancy.Admin); err != nil {
				return err
			}
		}
		svc, err := s.tenancy.ServiceByCredentialName(r.PathValue("credential_name"))
		if err != nil {
			return err
		}
		return fn(w, r, svc, org)
	}
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request, svc *catalog.Service, org *aiproxy.Org) error {
	c, err := s.tenancy.Credential(r.Context(), actorFrom(r), svc, org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialView(svc, c))
	return nil
}

// putCredential stores {"key": "…"} (docs/contract.md §7 schema) and answers the masked view.
func (s *Server) putCredential(w http.ResponseWriter, r *http.Request, svc *catalog.Service, org *aiproxy.Org) error {
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
	c, err := s.tenancy.SetCredential(r.Context(), actorFrom(r), svc, org, *body.Key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialView(svc, c))
	return nil
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, svc *catalog.Service, org *aiproxy.Org) error {
	if err := s.tenancy.DeleteCredential(r.Context(), actorFrom(r), svc, org); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// settingsAnswer is the JSON of GET/PUT …/settings/.
func settingsAnswer(rep *tenancy.SettingsReport) map[string]any {
	return map[string]any{
		"service":                 rep.Service,
		"is_enabled":              rep.IsEnabled,
		"credential_policy":       rep.Policy,
		"account_actions":         rep.AccountActions,
		"require_idempotency_key": rep.RequireIdempotencyKey,
		"overrides":               tenancy.SettingsView(rep.Overrides),
	}
}

// settingsHandler adapts a settings handler to one level: the org's
// (…/orgs/{org}/services/{service}/settings/, its admins) or the platform-wide one
// (…/services/{service}/settings/, operators). org is nil for the platform.
func (s *Server) settingsHandler(platform bool, fn func(http.ResponseWriter, *http.Request, *aiproxy.Org) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if platform {
			return fn(w, r, nil)
		}
		org, err := s.org(r, tenancy.Admin)
		if err != nil {
			return err
		}
		return fn(w, r, org)
	}
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, org *aiproxy.Org) error {
	rep, err := s.tenancy.Settings(r.Context(), actorFrom(r), r.PathValue("service"), org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsAnswer(rep))
	return nil
}

// putSettings applies {"is_enabled": bool|null, "credential_policy": {...}|null} at one
// level; null removes the level's override.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, org *aiproxy.Org) error {
	// Who may reach this level, and whether the service exists, before reading the body.
	if _, err := s.tenancy.Settings(r.Context(), actorFrom(r), r.PathValue("service"), org); err != nil {
		return err
	}
	var body struct {
		IsEnabled             json.RawMessage `json:"is_enabled"`
		CredentialPolicy      json.RawMessage `json:"credential_policy"`
		AccountActions        json.RawMessage `json:"account_actions"`
		RequireIdempotencyKey json.RawMessage `json:"require_idempotency_key"`
	}
	if err := decodeBody(w, r, &body, nil); err != nil {
		return err
	}
	var ch tenancy.SettingsChange
	var err error
	if ch.Enabled, ch.ClearEnabled, err = boolSetting(body.IsEnabled, "is_enabled"); err != nil {
		return err
	}
	if ch.RequireIdempotencyKey, ch.ClearRequireIdempotencyKey, err = boolSetting(body.RequireIdempotencyKey, "require_idempotency_key"); err != nil {
		return err
	}
	switch v := string(body.AccountActions); v {
	case "":
	case "null":
		ch.ClearAccountActions = true
	default:
		var s string
		if json.Unmarshal(body.AccountActions, &s) != nil {
			return invalid("Field 'account_actions' must be 'allow', 'refuse' or null.")
		}
		ch.AccountActions = &s
	}
	switch string(body.CredentialPolicy) {
	case "":
	case "null":
		ch.ClearPolicy = true
	default:
		var pp tenancy.PolicyPatch
		err := decodeStrict(body.CredentialPolicy, &pp, "credential_policy.", map[string]string{
			"allow_tenant_key":         "Field 'credential_policy.allow_tenant_key' must be a boolean.",
			"allow_platform_key":       "Field 'credential_policy.allow_platform_key' must be a boolean.",
			"default_source":           "Field 'credential_policy.default_source' must be 'tenant' or 'platform'.",
			"fallback_to_platform_key": "Field 'credential_policy.fallback_to_platform_key' must be a boolean.",
		})
		if err == errNotObject {
			return invalid("Field 'credential_policy' must be an object or null.")
		} else if err != nil {
			return err
		}
		ch.Policy = &pp
	}
	rep, err := s.tenancy.UpdateSettings(r.Context(), actorFrom(r), r.PathValue("service"), org, ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsAnswer(rep))
	return nil
}

// boolSetting reads a settings field that is true, false or null (remove the level's value);
// absent leaves it alone.
func boolSetting(raw json.RawMessage, field string) (set *bool, clear bool, err error) {
	switch v := string(raw); v {
	case "":
	case "null":
		clear = true
	case "true", "false":
		b := v == "true"
		set = &b
	default:
		err = invalid("Field '%s' must be true, false or null.", field)
	}
	return set, clear, err
}
