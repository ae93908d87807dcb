package providerkeys

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
)

// memStore is the two methods of a store the vault uses.
type memStore map[string]*aiproxy.Credential

func ck(service string, src aiproxy.Source, org int64) string {
	return service + "/" + string(src) + "/" + string(rune('0'+org))
}

func (m memStore) PutCredential(_ context.Context, c *aiproxy.Credential) error {
	m[ck(c.Service, c.Source, c.OrgID)] = c
	return nil
}

func (m memStore) GetCredential(_ context.Context, service string, src aiproxy.Source, org int64) (*aiproxy.Credential, error) {
	if c, ok := m[ck(service, src, org)]; ok {
		return c, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "none")
}

func key(t *testing.T) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func TestVaultReloadsKeysWhenACredentialUsesANewMasterKey(t *testing.T) {
	k1, k2 := key(t), key(t)
	store := memStore{}
	writer, _ := masterkeys.NewKeyring(k2) // another replica, already on the new key
	(&Vault{Store: store, Keyring: writer}).Set(context.Background(), "heygen", aiproxy.SourceTenant, 3, "hg-key-123456")

	old, _ := masterkeys.NewKeyring(k1)
	reloads := 0
	v := &Vault{Store: store, Keyring: old, Reload: func() (*masterkeys.Keyring, error) {
		reloads++
		return masterkeys.NewKeyring(k2, k1) // the key file now holds both
	}}
	got, src, err := v.Resolve(context.Background(), "heygen", 3, aiproxy.TenantOnly)
	if err != nil || got != "hg-key-123456" || src != aiproxy.SourceTenant {
		t.Fatalf("resolve: %q %s %v", got, src, err)
	}
	if reloads != 1 {
		t.Errorf("%d reloads, want 1", reloads)
	}
	if _, _, err := v.Resolve(context.Background(), "heygen", 3, aiproxy.TenantOnly); err != nil || reloads != 1 {
		t.Errorf("second resolve: %v, %d reloads", err, reloads)
	}
}

func TestVaultReloadsAtMostOnceASecondForAnUnknownKey(t *testing.T) {
	store := memStore{}
	writer, _ := masterkeys.NewKeyring(key(t))
	(&Vault{Store: store, Keyring: writer}).Set(context.Background(), "heygen", aiproxy.SourceTenant, 1, "hg-key-123456")
	mine, _ := masterkeys.NewKeyring(key(t))
	reloads := 0
	v := &Vault{Store: store, Keyring: mine, Reload: func() (*masterkeys.Keyring, error) {
		reloads++
		return mine, nil // the key file does not have it either
	}}
	for i := 0; i < 5; i++ {
		if _, _, err := v.Resolve(context.Background(), "heygen", 1, aiproxy.TenantOnly); err == nil {
			t.Fatal("a credential sealed under an unknown master key opened")
		}
	}
	if reloads != 1 {
		t.Errorf("%d reloads in a burst of failures, want 1", reloads)
	}
}

func TestSetRefusesEmptyKeysAndKeepsPlatformCredentialsOrgless(t *testing.T) {
	store := memStore{}
	kr, _ := masterkeys.NewKeyring(key(t))
	v := &Vault{Store: store, Keyring: kr}
	if _, err := v.Set(context.Background(), "heygen", aiproxy.SourceTenant, 1, ""); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("empty key: %v", err)
	}
	c, err := v.Set(context.Background(), "heygen", aiproxy.SourcePlatform, 9, "platform-key-abcd")
	if err != nil || c.OrgID != 0 || c.Last4 != "abcd" || c.Fingerprint == "" {
		t.Errorf("platform credential: %+v %v", c, err)
	}
}
