package tenancy_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func TestRotateMasterKeyRewrapsCredentialsUnderTheNewKey(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.org("acme"), e.org("globex")
	want := map[string]string{} // service/source/org → plaintext
	set := func(service string, org *aiproxy.Org, key string) {
		t.Helper()
		c, err := e.m.SetCredential(e.ctx, tenancy.CLI, e.service(service), org, key)
		mustNot(t, err)
		if c.Sealed.KEKID != e.kr.PrimaryID() {
			t.Fatalf("sealed under %s, want key 1 %s", c.Sealed.KEKID, e.kr.PrimaryID())
		}
		want[credID(c)] = key
	}
	set("heygen", acme, "hg-acme-0001")
	set("elevenlabs", acme, "el-acme-0002")
	set("heygen", globex, "hg-globex-0003")
	set("heygen", nil, "hg-platform-0004")

	key2, err := masterkeys.CreateKeyFile(filepath.Join(e.dir, "master-2.key"))
	mustNot(t, err)
	kr2, err := masterkeys.NewKeyring(key2, e.key1) // key 2 seals, key 1 still opens
	mustNot(t, err)
	id1, id2 := masterkeys.KeyID(e.key1), masterkeys.KeyID(key2)
	if id1 == id2 || kr2.PrimaryID() != id2 {
		t.Fatalf("key ids %s %s", id1, id2)
	}

	op := e.operator()
	r, err := e.m.RotateMasterKey(e.ctx, op, kr2)
	mustNot(t, err)
	if *r != (tenancy.Rotation{MasterKeyID: id2, Rewrapped: 4, Total: 4}) {
		t.Fatalf("rotation %+v", *r)
	}

	// Every credential is now wrapped by key 2 and opens with key 2 alone.
	only2, err := masterkeys.NewKeyring(key2)
	mustNot(t, err)
	only1, err := masterkeys.NewKeyring(e.key1)
	mustNot(t, err)
	vault2 := &providerkeys.Vault{Store: e.store, Keyring: only2}
	vault1 := &providerkeys.Vault{Store: e.store, Keyring: only1}
	creds, err := e.store.ListCredentials(e.ctx)
	mustNot(t, err)
	if len(creds) != len(want) {
		t.Fatalf("%d credentials stored, want %d", len(creds), len(want))
	}
	for _, c := range creds {
		if c.Sealed.KEKID != id2 {
			t.Errorf("%s: wrapped by %s, want %s", credID(c), c.Sealed.KEKID, id2)
		}
		key, err := vault2.Open(c)
		if err != nil {
			t.Errorf("%s: key 2 alone does not open it: %v", credID(c), err)
		} else if key != want[credID(c)] {
			t.Errorf("%s: opens to %q, want %q", credID(c), key, want[credID(c)])
		}
		if _, err := vault1.Open(c); !errors.Is(err, masterkeys.ErrUnknownKey) {
			t.Errorf("%s: key 1 alone: %v, want ErrUnknownKey", credID(c), err)
		}
	}

	// Recorded in the platform's trail, by the operator, without a secret.
	a := e.audit(0)[0]
	if a.Action != "secrets.rotate" || a.Actor != op.Key.Prefix || a.Target != id2 || a.OrgID != 0 ||
		a.Before != "" || a.After != `{"master_key_id":"`+id2+`","rewrapped":4}` {
		t.Fatalf("audit %+v", a)
	}

	// A second run has nothing left to do, and says so.
	r, err = e.m.RotateMasterKey(e.ctx, tenancy.CLI, kr2)
	mustNot(t, err)
	if *r != (tenancy.Rotation{MasterKeyID: id2, Rewrapped: 0, Total: 4}) {
		t.Fatalf("second rotation %+v", *r)
	}
	if a := e.audit(0)[0]; a.Action != "secrets.rotate" || a.Actor != "cli" || a.After != `{"master_key_id":"`+id2+`","rewrapped":0}` {
		t.Fatalf("audit %+v", a)
	}
}

func TestRotateMasterKeyIsRefusedToNonOperators(t *testing.T) {
	e, acme, admin := newAcme(t)
	member, _ := e.key(acme, aiproxy.RoleMember)
	token, _ := e.mint(admin, acme, tenancy.TokenRequest{})
	_, err := e.m.SetCredential(e.ctx, admin, e.service("heygen"), acme, "hg-acme")
	mustNot(t, err)

	key2, err := masterkeys.CreateKeyFile(filepath.Join(e.dir, "master-2.key"))
	mustNot(t, err)
	kr2, err := masterkeys.NewKeyring(key2, e.key1)
	mustNot(t, err)
	for name, a := range map[string]tenancy.Actor{"admin": admin, "member": member, "token": token} {
		t.Run(name, func(t *testing.T) {
			r, err := e.m.RotateMasterKey(e.ctx, a, kr2)
			if r != nil {
				t.Fatalf("got %+v", r)
			}
			wantForbidden(t, err)
		})
	}
	creds, err := e.store.ListCredentials(e.ctx)
	mustNot(t, err)
	if len(creds) != 1 || creds[0].Sealed.KEKID != e.kr.PrimaryID() {
		t.Fatalf("the credential moved: %+v", creds)
	}
	if n := e.auditActions(0)["secrets.rotate"]; n != 0 {
		t.Fatalf("%d secrets.rotate entries", n)
	}
}

func TestRotateMasterKeyWithoutTheOldKeyFailsAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	_, err := e.m.SetCredential(e.ctx, tenancy.CLI, e.service("heygen"), acme, "hg-acme")
	mustNot(t, err)
	key2, err := masterkeys.CreateKeyFile(filepath.Join(e.dir, "master-2.key"))
	mustNot(t, err)
	only2, err := masterkeys.NewKeyring(key2) // lacks key 1: cannot unwrap anything
	mustNot(t, err)

	r, err := e.m.RotateMasterKey(e.ctx, tenancy.CLI, only2)
	if r != nil || err == nil {
		t.Fatalf("got %+v, %v; want an error", r, err)
	}
	if !errors.Is(err, masterkeys.ErrUnknownKey) {
		t.Fatalf("error %v, want it to wrap ErrUnknownKey", err)
	}
	creds, err := e.store.ListCredentials(e.ctx)
	mustNot(t, err)
	if creds[0].Sealed.KEKID != e.kr.PrimaryID() {
		t.Fatalf("the credential moved")
	}
	if n := e.auditActions(0)["secrets.rotate"]; n != 0 {
		t.Fatalf("a failed rotation was audited")
	}
}

func credID(c *aiproxy.Credential) string {
	return fmt.Sprintf("%s/%s/org %d", c.Service, c.Source, c.OrgID)
}
