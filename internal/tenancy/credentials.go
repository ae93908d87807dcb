package tenancy

import (
	"context"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// A provider key is addressed by its service and by whose it is: org nil is the
// platform-wide key (operators only), else the org's own key (its admins, operators).

// ServiceByCredentialName returns the catalog service storing its key under name
// (docs/contract.md §7), or ENOTFOUND naming it.
func (m *Manager) ServiceByCredentialName(name string) (*catalog.Service, error) {
	for _, svc := range m.Catalog.Services() {
		if svc.CredentialName == name {
			return svc, nil
		}
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "Credential '%s' is not used by any external proxy service.", name)
}

// credentialLevel checks the actor may manage the credential and returns its source and org id.
func credentialLevel(a Actor, org *aiproxy.Org) (aiproxy.Source, int64, error) {
	if org == nil {
		return aiproxy.SourcePlatform, 0, RequireOperator(a)
	}
	return aiproxy.SourceTenant, org.ID, authorize(a, org.ID, Admin)
}

func errCredentialNotFound(svc *catalog.Service, source aiproxy.Source) error {
	return aiproxy.Errorf(aiproxy.ENOTFOUND, "No %s credential '%s' is stored.", source, svc.CredentialName)
}

// Credential returns the stored credential, sealed (show it with CredentialView).
func (m *Manager) Credential(ctx context.Context, a Actor, svc *catalog.Service, org *aiproxy.Org) (*aiproxy.Credential, error) {
	source, orgID, err := credentialLevel(a, org)
	if err != nil {
		return nil, err
	}
	c, err := m.Store.GetCredential(ctx, svc.Slug, source, orgID)
	if err != nil {
		return nil, notFoundAs(err, errCredentialNotFound(svc, source))
	}
	return c, nil
}

// SetCredential seals key and stores it as the service's credential. The key goes into an
// upstream header, so surrounding white space is trimmed and inner white space or control
// characters are refused.
func (m *Manager) SetCredential(ctx context.Context, a Actor, svc *catalog.Service, org *aiproxy.Org, key string) (*aiproxy.Credential, error) {
	source, orgID, err := credentialLevel(a, org)
	if err != nil {
		return nil, err
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, invalid("Field 'key' must be a non-empty string.")
	}
	for _, r := range key {
		// Printable ASCII only: the key goes into a header, and no provider issues keys
		// with anything else (a non-breaking space pasted from a web page would only make
		// a key that can never work).
		if r < 0x21 || r == 0x7f {
			return nil, invalid("Field 'key' must not contain spaces or control characters.")
		}
		if r > 0x7e {
			return nil, invalid("Field 'key' must be printable ASCII.")
		}
	}
	before, err := m.Store.GetCredential(ctx, svc.Slug, source, orgID)
	if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		return nil, err
	}
	c, err := m.Vault.Set(ctx, svc.Slug, source, orgID, key)
	if err != nil {
		return nil, err
	}
	var bv any
	if before != nil {
		bv = CredentialView(before)
	}
	return c, m.audit(ctx, a, orgID, "credential.set", svc.Slug+"/"+string(source), bv, CredentialView(c))
}

// DeleteCredential removes the service's credential.
func (m *Manager) DeleteCredential(ctx context.Context, a Actor, svc *catalog.Service, org *aiproxy.Org) error {
	before, err := m.Credential(ctx, a, svc, org)
	if err != nil {
		return err
	}
	if err := m.Store.DeleteCredential(ctx, svc.Slug, before.Source, before.OrgID); err != nil {
		return notFoundAs(err, errCredentialNotFound(svc, before.Source))
	}
	return m.audit(ctx, a, before.OrgID, "credential.delete", svc.Slug+"/"+string(before.Source), CredentialView(before), nil)
}
