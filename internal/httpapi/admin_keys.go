package httpapi

import (
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Browser tokens live at most maxTokenTTL, by default defaultTokenTTL.
const (
	defaultTokenTTL = 900
	maxTokenTTL     = 3600
	maxKeyName      = 200
)

// keyView is tenancy.KeyView with whether the key is a browser token.
func keyView(k *aiproxy.APIKey) map[string]any {
	v := tenancy.KeyView(k)
	v["is_token"] = k.ParentID != 0
	return v
}

// GET …/orgs/{org}/keys/: the org's keys, newest first, with browser tokens still in force
// (spent tokens are left out: they can do nothing and would crowd the list).
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	keys, err := s.store.ListAPIKeys(r.Context(), org.ID)
	if err != nil {
		return err
	}
	now := s.now()
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		if k.ParentID != 0 && !k.Active(now) {
			continue
		}
		out = append(out, keyView(k))
	}
	writeJSON(w, http.StatusOK, list{Results: out})
	return nil
}

// POST …/orgs/{org}/keys/: {"name", "role", "scopes", "expires_at" | "ttl_seconds"} → 201
// with the key, shown this once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
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
		"scopes":      "Field 'scopes' must be a list of strings like heygen:* or elevenlabs:tts.",
		"expires_at":  "Field 'expires_at' must be an RFC 3339 time or null.",
		"ttl_seconds": "Field 'ttl_seconds' must be a positive integer.",
	}); err != nil {
		return err
	}
	nk := tenancy.NewKey{OrgID: org.ID, Role: aiproxy.RoleMember}
	if body.Name != nil {
		if len(*body.Name) > maxKeyName {
			return invalid("Field 'name' must be at most %d characters.", maxKeyName)
		}
		nk.Name = *body.Name
	}
	if body.Role != nil {
		nk.Role = aiproxy.Role(*body.Role)
		if nk.Role != aiproxy.RoleAdmin && nk.Role != aiproxy.RoleMember {
			return invalid("Field 'role' must be 'admin' or 'member'.")
		}
	}
	if body.Scopes != nil {
		nk.Scopes = *body.Scopes
	}
	if err := validScopes(nk.Scopes); err != nil {
		return err
	}
	if !apikeys.ScopesWithin(nk.Scopes, principalFrom(r.Context()).key.Scopes) {
		return invalid("Field 'scopes' must not allow more than the scopes of the key making the request.")
	}
	switch {
	case body.ExpiresAt != nil && body.TTLSeconds != nil:
		return invalid("Fields 'expires_at' and 'ttl_seconds' exclude each other: send one.")
	case body.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339, *body.ExpiresAt)
		if err != nil {
			return invalid("Field 'expires_at' must be an RFC 3339 time or null.")
		}
		nk.ExpiresAt = &t
	case body.TTLSeconds != nil:
		if *body.TTLSeconds < 1 || *body.TTLSeconds > 100*365*24*3600 {
			return invalid("Field 'ttl_seconds' must be a positive integer.")
		}
		t := s.now().Add(time.Duration(*body.TTLSeconds) * time.Second)
		nk.ExpiresAt = &t
	}
	k, secret, err := s.tenancy.CreateKey(r.Context(), actor(r), nk)
	if err != nil {
		return err
	}
	v := keyView(k)
	v["key"] = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// validScopes checks scope patterns with a sentence naming the field.
func validScopes(scopes []string) error {
	for _, sc := range scopes {
		if !apikeys.ValidScope(sc) {
			return invalid("Field 'scopes' has an invalid pattern %q: use service:action, e.g. heygen:* or elevenlabs:tts*.", sc)
		}
	}
	return nil
}

// DELETE …/orgs/{org}/keys/{prefix}/: revokes the key and the browser tokens it minted.
// A prefix of another org's key is 404, as if it did not exist.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, true)
	if err != nil {
		return err
	}
	prefix := r.PathValue("prefix")
	k, err := s.store.APIKeyByPrefix(r.Context(), prefix)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND || err == nil && k.OrgID != org.ID {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, "API key '%s' not found.", prefix)
	} else if err != nil {
		return err
	}
	if k.RevokedAt == nil {
		if err := s.tenancy.RevokeKey(r.Context(), actor(r), k); err != nil {
			return err
		}
	}
	// Tokens minted by this key die with it.
	keys, err := s.store.ListAPIKeys(r.Context(), org.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, t := range keys {
		if t.ParentID == k.ID && t.Active(now) {
			if err := s.tenancy.RevokeKey(r.Context(), actor(r), t); err != nil {
				return err
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST …/orgs/{org}/tokens/: {"scopes", "ttl_seconds", "name"} → 201 {"token", "prefix",
// "scopes", "expires_at"}. A browser token is a member key of the org (it may discover and
// invoke, nothing else) whose ParentID is the minting key; it lives at most an hour, never
// longer than the minting key, and its scopes are within the minting key's (by default
// they are the same). Any org key of the org may mint, admin or member, and operators; a
// token may not.
func (s *Server) mintToken(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, false)
	if err != nil {
		return err
	}
	parent := principalFrom(r.Context()).key
	if parent.ParentID != 0 {
		return errForbidden
	}
	ttlMsg := "Field 'ttl_seconds' must be an integer from 1 to 3600."
	var body struct {
		Scopes     *[]string `json:"scopes"`
		TTLSeconds *int64    `json:"ttl_seconds"`
		Name       *string   `json:"name"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"scopes":      "Field 'scopes' must be a list of strings like heygen:* or elevenlabs:tts.",
		"ttl_seconds": ttlMsg,
		"name":        "Field 'name' must be a string.",
	}); err != nil {
		return err
	}
	ttl := int64(defaultTokenTTL)
	if body.TTLSeconds != nil {
		ttl = *body.TTLSeconds
	}
	if ttl < 1 || ttl > maxTokenTTL {
		return invalid("%s", ttlMsg)
	}
	scopes := parent.Scopes
	if body.Scopes != nil {
		scopes = *body.Scopes
		if err := validScopes(scopes); err != nil {
			return err
		}
		if !apikeys.ScopesWithin(scopes, parent.Scopes) {
			return invalid("Field 'scopes' must not allow more than the scopes of the key minting the token.")
		}
	}
	name := "browser token from " + parent.Prefix
	if body.Name != nil {
		if len(*body.Name) > maxKeyName {
			return invalid("Field 'name' must be at most %d characters.", maxKeyName)
		}
		name = *body.Name
	}
	exp := s.now().Add(time.Duration(ttl) * time.Second)
	if parent.ExpiresAt != nil && parent.ExpiresAt.Before(exp) {
		exp = *parent.ExpiresAt
	}
	k, secret, err := s.tenancy.CreateKey(r.Context(), actor(r), tenancy.NewKey{
		OrgID: org.ID, Name: name, Role: aiproxy.RoleMember, Scopes: scopes, ExpiresAt: &exp, ParentID: parent.ID,
	})
	if err != nil {
		return err
	}
	outScopes := k.Scopes
	if outScopes == nil {
		outScopes = []string{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": secret, "prefix": k.Prefix, "name": k.Name, "role": string(k.Role), "scopes": outScopes,
		"expires_at": k.ExpiresAt.UTC().Format(time.RFC3339),
	})
	return nil
}
