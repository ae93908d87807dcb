package httpapi

import (
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// keyView is tenancy.KeyView with whether the key is a browser token.
func keyView(k *aiproxy.APIKey) map[string]any {
	v := tenancy.KeyView(k)
	v["is_token"] = k.ParentID != 0
	return v
}

// GET …/orgs/{org}/keys/: the org's keys, newest first, with browser tokens still in force.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	keys, err := s.tenancy.ListKeys(r.Context(), actorFrom(r), org)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyView(k))
	}
	writeJSON(w, http.StatusOK, list{Results: out})
	return nil
}

const scopesTypeMessage = "Field 'scopes' must be a list of strings like heygen:* or elevenlabs:tts."

// POST …/orgs/{org}/keys/: {"name", "role", "scopes", "expires_at" | "ttl_seconds"} → 201
// with the key, shown this once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	var body struct {
		Name       *string   `json:"name"`
		Role       *string   `json:"role"`
		Scopes     *[]string `json:"scopes"`
		ExpiresAt  *string   `json:"expires_at"`
		TTLSeconds *int64    `json:"ttl_seconds"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"name":        "Field 'name' must be a string.",
		"role":        "Field 'role' must be 'admin' or 'member'.",
		"scopes":      scopesTypeMessage,
		"expires_at":  "Field 'expires_at' must be an RFC 3339 time or null.",
		"ttl_seconds": "Field 'ttl_seconds' must be a positive integer.",
	}); err != nil {
		return err
	}
	nk := tenancy.NewKey{Org: org, Role: aiproxy.RoleMember, TTLSeconds: body.TTLSeconds}
	if body.Name != nil {
		nk.Name = *body.Name
	}
	if body.Role != nil {
		nk.Role = aiproxy.Role(*body.Role)
	}
	if body.Scopes != nil {
		nk.Scopes = *body.Scopes
	}
	if body.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *body.ExpiresAt)
		if err != nil {
			return invalid("Field 'expires_at' must be an RFC 3339 time or null.")
		}
		nk.ExpiresAt = &t
	}
	k, secret, err := s.tenancy.CreateKey(r.Context(), actorFrom(r), nk)
	if err != nil {
		return err
	}
	v := keyView(k)
	v["key"] = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// DELETE …/orgs/{org}/keys/{prefix}/: revokes the key and the browser tokens it minted.
// A prefix of another org's key is 404, as if it did not exist.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	if err := s.tenancy.RevokeKey(r.Context(), actorFrom(r), org, r.PathValue("prefix")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST …/orgs/{org}/tokens/: {"scopes", "ttl_seconds", "name"} → 201 {"token", "prefix",
// "name", "role", "scopes", "expires_at"} (tenancy.Manager.MintToken has the rules).
func (s *Server) mintToken(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	if err := tenancy.MayMint(actorFrom(r), org); err != nil {
		return err // before reading the body: a token learns nothing from validation
	}
	var tr tenancy.TokenRequest
	var body struct {
		Scopes     *[]string `json:"scopes"`
		TTLSeconds *int64    `json:"ttl_seconds"`
		Name       *string   `json:"name"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"scopes":      scopesTypeMessage,
		"ttl_seconds": "Field 'ttl_seconds' must be an integer from 1 to 3600.",
		"name":        "Field 'name' must be a string.",
	}); err != nil {
		return err
	}
	tr.Scopes, tr.TTLSeconds, tr.Name = body.Scopes, body.TTLSeconds, body.Name
	k, secret, err := s.tenancy.MintToken(r.Context(), actorFrom(r), org, tr)
	if err != nil {
		return err
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": secret, "prefix": k.Prefix, "name": k.Name, "role": string(k.Role), "scopes": scopes,
		"expires_at": k.ExpiresAt.UTC().Format(time.RFC3339),
	})
	return nil
}
