package tenancy_test

import (
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func TestSetCredentialTrimsTheKey(t *testing.T) {
	e, acme, admin := newAcme(t)
	heygen := e.service("heygen")

	c, err := e.m.SetCredential(e.ctx, admin, heygen, acme, " \t sk-live-0123456789\r\n")
	mustNot(t, err)
	if c.Source != aiproxy.SourceTenant || c.OrgID != acme.ID || c.Service != "heygen" || c.Last4 != "6789" {
		t.Fatalf("got %+v", c)
	}
	stored, err := e.m.Credential(e.ctx, admin, heygen, acme)
	mustNot(t, err)
	key, err := e.vault.Open(stored)
	mustNot(t, err)
	if key != "sk-live-0123456789" {
		t.Fatalf("stored key %q, want it trimmed", key)
	}
	if v := tenancy.CredentialView(stored); v["key"] != "****6789" {
		t.Fatalf("view %v", v)
	}
}

func TestSetCredentialRefusesEmptyKeysAndInnerSpaceOrControlCharacters(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	heygen := e.service("heygen")
	const (
		msgEmpty = "Field 'key' must be a non-empty string."
		msgChars = "Field 'key' must not contain spaces or control characters."
	)
	for _, tc := range []struct {
		name, key, msg string
	}{
		{"empty", "", msgEmpty},
		{"spaces", "   ", msgEmpty},
		{"white space", " \t\r\n ", msgEmpty},
		{"inner space", "sk live", msgChars},
		{"inner tab", "sk\tlive", msgChars},
		{"inner newline", "sk\nlive", msgChars},
		{"header injection", "sk\r\nX-Evil: 1", msgChars},
		{"NUL", "sk\x00live", msgChars},
		{"escape", "sk\x1blive", msgChars},
		{"DEL", "sk\x7flive", msgChars},
		{"control character at the end", "sklive\x01", msgChars},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.m.SetCredential(e.ctx, tenancy.CLI, heygen, acme, tc.key)
			if c != nil {
				t.Fatalf("got a credential with the error")
			}
			wantErr(t, err, aiproxy.EINVALID, tc.msg)
			creds, err := e.store.ListCredentials(e.ctx)
			mustNot(t, err)
			if len(creds) != 0 {
				t.Fatalf("a refused key was stored")
			}
		})
	}
	if n := len(e.audit(acme.ID)); n != 1 { // org.create only
		t.Fatalf("%d audit entries", n)
	}
}

func TestPlatformCredentialOnlyByOperators(t *testing.T) {
	e, _, admin := newAcme(t)
	heygen := e.service("heygen")

	_, err := e.m.SetCredential(e.ctx, admin, heygen, nil, "hg-platform")
	wantForbidden(t, err)
	_, err = e.m.Credential(e.ctx, admin, heygen, nil)
	wantForbidden(t, err)
	wantForbidden(t, e.m.DeleteCredential(e.ctx, admin, heygen, nil))
	if creds, _ := e.store.ListCredentials(e.ctx); len(creds) != 0 {
		t.Fatalf("an admin stored a platform credential")
	}

	op := e.operator()
	c, err := e.m.SetCredential(e.ctx, op, heygen, nil, "hg-platform")
	mustNot(t, err)
	if c.Source != aiproxy.SourcePlatform || c.OrgID != 0 {
		t.Fatalf("got %+v", c)
	}
	// An admin may not remove it either, and cannot see it.
	wantForbidden(t, e.m.DeleteCredential(e.ctx, admin, heygen, nil))
	got, err := e.m.Credential(e.ctx, tenancy.CLI, heygen, nil)
	mustNot(t, err)
	if got.Source != aiproxy.SourcePlatform {
		t.Fatalf("got %+v", got)
	}
	if a := e.audit(0)[0]; a.Action != "credential.set" || a.Target != "heygen/platform" || a.Actor != op.Key.Prefix || a.OrgID != 0 {
		t.Fatalf("audit %+v", a)
	}
	mustNot(t, e.m.DeleteCredential(e.ctx, op, heygen, nil))
	if a := e.audit(0)[0]; a.Action != "credential.delete" || a.Target != "heygen/platform" {
		t.Fatalf("audit %+v", a)
	}
}

func TestOrgCredentialOnlyByItsAdmins(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	globexAdmin, _ := e.key(globex, aiproxy.RoleAdmin)
	heygen := e.service("heygen")
	_, err := e.m.SetCredential(e.ctx, tenancy.CLI, heygen, acme, "hg-acme")
	mustNot(t, err)

	_, err = e.m.SetCredential(e.ctx, globexAdmin, heygen, acme, "hg-evil")
	wantForbidden(t, err)
	_, err = e.m.Credential(e.ctx, globexAdmin, heygen, acme)
	wantForbidden(t, err)
	wantForbidden(t, e.m.DeleteCredential(e.ctx, globexAdmin, heygen, acme))

	c, err := e.m.Credential(e.ctx, tenancy.CLI, heygen, acme)
	mustNot(t, err)
	if key, _ := e.vault.Open(c); key != "hg-acme" {
		t.Fatalf("acme's key is now %q", key)
	}
}

func TestDeleteMissingCredentialIsNotFound(t *testing.T) {
	e, acme, admin := newAcme(t)
	heygen, elevenlabs := e.service("heygen"), e.service("elevenlabs")

	wantErr(t, e.m.DeleteCredential(e.ctx, admin, heygen, acme), aiproxy.ENOTFOUND, "No tenant credential 'heygen' is stored.")
	_, err := e.m.Credential(e.ctx, admin, elevenlabs, acme)
	wantErr(t, err, aiproxy.ENOTFOUND, "No tenant credential 'elevenlabs' is stored.")
	wantErr(t, e.m.DeleteCredential(e.ctx, tenancy.CLI, heygen, nil), aiproxy.ENOTFOUND, "No platform credential 'heygen' is stored.")

	// Set, delete, delete again.
	_, err = e.m.SetCredential(e.ctx, admin, heygen, acme, "hg-acme")
	mustNot(t, err)
	mustNot(t, e.m.DeleteCredential(e.ctx, admin, heygen, acme))
	wantErr(t, e.m.DeleteCredential(e.ctx, admin, heygen, acme), aiproxy.ENOTFOUND, "No tenant credential 'heygen' is stored.")
	n := e.auditActions(acme.ID)
	if n["credential.set"] != 1 || n["credential.delete"] != 1 {
		t.Fatalf("audit actions %v", n)
	}
}

func TestReplacingACredentialAuditsTheOldAndNewMasks(t *testing.T) {
	e, acme, admin := newAcme(t)
	heygen := e.service("heygen")
	_, err := e.m.SetCredential(e.ctx, admin, heygen, acme, "hg-first-AAAA")
	mustNot(t, err)
	first := e.audit(acme.ID)[0]
	if first.Before != "" || !strings.Contains(first.After, `"key":"****AAAA"`) {
		t.Fatalf("first set: before %q after %q", first.Before, first.After)
	}
	_, err = e.m.SetCredential(e.ctx, admin, heygen, acme, "hg-second-BBBB")
	mustNot(t, err)
	second := e.audit(acme.ID)[0]
	if !strings.Contains(second.Before, `"key":"****AAAA"`) || !strings.Contains(second.After, `"key":"****BBBB"`) {
		t.Fatalf("replace: before %q after %q", second.Before, second.After)
	}
	c, err := e.m.Credential(e.ctx, admin, heygen, acme)
	mustNot(t, err)
	if key, _ := e.vault.Open(c); key != "hg-second-BBBB" {
		t.Fatalf("stored %q", key)
	}
}

func TestServiceByCredentialName(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"heygen", "elevenlabs"} {
		svc, err := e.m.ServiceByCredentialName(name)
		mustNot(t, err)
		if svc.CredentialName != name || svc.Slug != name {
			t.Fatalf("%s: got %s", name, svc.Slug)
		}
	}
	for _, name := range []string{"openai", "", "HEYGEN"} {
		svc, err := e.m.ServiceByCredentialName(name)
		if svc != nil {
			t.Fatalf("%q: got %s", name, svc.Slug)
		}
		wantErr(t, err, aiproxy.ENOTFOUND, "Credential '"+name+"' is not used by any external proxy service.")
	}
}
