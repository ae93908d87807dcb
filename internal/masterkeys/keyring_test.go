package masterkeys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiproxy/aiproxy"
)

func newKey(t *testing.T) []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealedSecretsOpenOnlyForTheirRow(t *testing.T) {
	kr, err := NewKeyring(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	aad := AAD(7, "heygen", aiproxy.SourceTenant)
	s, err := kr.Seal([]byte("provider-key"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Ciphertext, []byte("provider-key")) || bytes.Contains(s.WrappedDEK, []byte("provider-key")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	if got, err := kr.Open(s, aad); err != nil || string(got) != "provider-key" {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, other := range [][]byte{AAD(8, "heygen", aiproxy.SourceTenant), AAD(7, "elevenlabs", aiproxy.SourceTenant), AAD(7, "heygen", aiproxy.SourcePlatform)} {
		if _, err := kr.Open(s, other); err == nil {
			t.Errorf("a sealed value opened for another row (%q)", other)
		}
	}
	tampered := s
	tampered.Ciphertext = append([]byte{}, s.Ciphertext...)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	if _, err := kr.Open(tampered, aad); err == nil {
		t.Error("a tampered ciphertext opened")
	}
	s2, _ := kr.Seal([]byte("provider-key"), aad)
	if bytes.Equal(s.Ciphertext, s2.Ciphertext) || bytes.Equal(s.WrappedDEK, s2.WrappedDEK) {
		t.Error("sealing twice gave the same bytes: data keys or nonces repeat")
	}
}

func TestRewrapMovesASecretToTheNewMasterKey(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	old, _ := NewKeyring(oldKey)
	aad := AAD(1, "elevenlabs", aiproxy.SourceTenant)
	s, _ := old.Seal([]byte("el-key"), aad)
	both, _ := NewKeyring(newK, oldKey)
	r, err := both.Rewrap(s, aad)
	if err != nil {
		t.Fatal(err)
	}
	if r.KEKID != KeyID(newK) || r.KEKID == s.KEKID || !bytes.Equal(r.Ciphertext, s.Ciphertext) {
		t.Errorf("rewrap: kek %s (want %s), ciphertext changed: %v", r.KEKID, KeyID(newK), !bytes.Equal(r.Ciphertext, s.Ciphertext))
	}
	onlyNew, _ := NewKeyring(newK)
	if got, err := onlyNew.Open(r, aad); err != nil || string(got) != "el-key" {
		t.Errorf("the new key alone cannot open the re-wrapped secret: %q %v", got, err)
	}
	if _, err := onlyNew.Open(s, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("opening with a missing master key: %v, want ErrUnknownKey", err)
	}
}

func TestMasterKeysParseFromHexBase64AndFiles(t *testing.T) {
	k := newKey(t)
	for _, text := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), " " + hex.EncodeToString(k) + "\n"} {
		got, err := ParseKey(text)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q): %v", text, err)
		}
	}
	for _, bad := range []string{"", "abcd", hex.EncodeToString(k[:16])} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted a key that is not 32 bytes", bad)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	created, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := CreateKeyFile(path); err == nil {
		t.Error("CreateKeyFile overwrote an existing key file")
	}
	second := newKey(t)
	os.WriteFile(path, []byte("# rotated\n"+hex.EncodeToString(second)+"\n\n"+hex.EncodeToString(created)+"\n"), 0o600)
	keys, err := ReadKeyFile(path)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], second) || !bytes.Equal(keys[1], created) {
		t.Errorf("ReadKeyFile: %d keys, %v", len(keys), err)
	}
	os.WriteFile(path, []byte("# nothing\n"), 0o600)
	if _, err := ReadKeyFile(path); err == nil {
		t.Error("a key file without a key was accepted")
	}
}
