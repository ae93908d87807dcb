// Package secrets seals provider credentials with envelope encryption: each secret gets its
// own AES-256-GCM data key (DEK); the DEK is wrapped by a key-encryption key (KEK), the
// master key, whose id is stored beside it. Rotating the master key re-wraps DEKs only.
package masterkeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// ErrUnknownKey is returned when a secret is wrapped by a master key the keyring lacks.
var ErrUnknownKey = errors.New("secret is wrapped by a master key this server does not have")

// KeySize is the size of every key, KEK and DEK: AES-256.
const KeySize = 32

// Keyring holds the KEK that seals new secrets (the primary) and any older KEKs that
// secrets may still be wrapped with while a rotation runs.
type Keyring struct {
	primary string
	keys    map[string]cipher.AEAD
}

// NewKeyring returns a keyring whose primary is the first key; the others only open.
func NewKeyring(primary []byte, others ...[]byte) (*Keyring, error) {
	kr := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{primary}, others...) {
		aead, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("master key %d: %w", i+1, err)
		}
		id := KeyID(k)
		if i == 0 {
			kr.primary = id
		}
		kr.keys[id] = aead
	}
	return kr, nil
}

// KeyID names a KEK without revealing it: the first 16 hex digits of SHA-256 over a domain
// label and the key.
func KeyID(k []byte) string {
	h := sha256.Sum256(append([]byte("aiproxy-kek-id:"), k...))
	return hex.EncodeToString(h[:8])
}

// PrimaryID returns the id of the KEK that seals new secrets.
func (kr *Keyring) PrimaryID() string { return kr.primary }

// Has reports whether the keyring can open secrets wrapped by the KEK with that id.
func (kr *Keyring) Has(id string) bool { _, ok := kr.keys[id]; return ok }

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("a master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext under a fresh DEK bound to aad (the credential's org, service and
// source), and wraps the DEK with the primary KEK.
func (kr *Keyring) Seal(plaintext, aad []byte) (aiproxy.Sealed, error) {
	dek := make([]byte, KeySize)
	if _, err := rand.Read(dek); err != nil {
		return aiproxy.Sealed{}, err
	}
	dekAEAD, err := newAEAD(dek)
	if err != nil {
		return aiproxy.Sealed{}, err
	}
	ct, err := sealWith(dekAEAD, plaintext, aad)
	if err != nil {
		return aiproxy.Sealed{}, err
	}
	wrapped, err := sealWith(kr.keys[kr.primary], dek, wrapAAD(aad))
	if err != nil {
		return aiproxy.Sealed{}, err
	}
	return aiproxy.Sealed{KEKID: kr.primary, WrappedDEK: wrapped, Ciphertext: ct}, nil
}

// Open decrypts s, checking that it was sealed for aad.
func (kr *Keyring) Open(s aiproxy.Sealed, aad []byte) ([]byte, error) {
	kek, ok := kr.keys[s.KEKID]
	if !ok {
		return nil, fmt.Errorf("master key %s: %w", s.KEKID, ErrUnknownKey)
	}
	dek, err := openWith(kek, s.WrappedDEK, wrapAAD(aad))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	dekAEAD, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	pt, err := openWith(dekAEAD, s.Ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("decrypt secret: %w", err)
	}
	return pt, nil
}

// Rewrap returns s with its DEK wrapped by the primary KEK instead of its current one. The
// ciphertext does not change.
func (kr *Keyring) Rewrap(s aiproxy.Sealed, aad []byte) (aiproxy.Sealed, error) {
	kek, ok := kr.keys[s.KEKID]
	if !ok {
		return s, fmt.Errorf("master key %s: %w", s.KEKID, ErrUnknownKey)
	}
	dek, err := openWith(kek, s.WrappedDEK, wrapAAD(aad))
	if err != nil {
		return s, fmt.Errorf("unwrap data key: %w", err)
	}
	wrapped, err := sealWith(kr.keys[kr.primary], dek, wrapAAD(aad))
	if err != nil {
		return s, err
	}
	return aiproxy.Sealed{KEKID: kr.primary, WrappedDEK: wrapped, Ciphertext: s.Ciphertext}, nil
}

func wrapAAD(aad []byte) []byte { return append([]byte("dek:"), aad...) }

// sealWith returns nonce || ciphertext.
func sealWith(a cipher.AEAD, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, plaintext, aad), nil
}

func openWith(a cipher.AEAD, data, aad []byte) ([]byte, error) {
	if len(data) < a.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	return a.Open(nil, data[:a.NonceSize()], data[a.NonceSize():], aad)
}

// AAD binds a credential's ciphertext to its row: moving a sealed value to another org,
// service or source makes it fail to open.
func AAD(orgID int64, service string, source aiproxy.Source) []byte {
	return fmt.Appendf(nil, "aiproxy-credential\x00org=%d\x00service=%s\x00source=%s", orgID, service, source)
}

// ParseKey reads a master key written as 64 hex digits or as standard/URL base64 of 32
// bytes (surrounding white space ignored).
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, errors.New("a master key must be 32 bytes written as 64 hex digits or base64")
}

// ReadKeyFile reads the master keys in path: one per line, blank lines and lines starting
// with # ignored. The first is the primary.
func ReadKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no master key in the file", path)
	}
	return keys, nil
}

// CreateKeyFile writes a new random master key to path with mode 0600, refusing to
// overwrite an existing file.
func CreateKeyFile(path string) ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return k, f.Close()
}

// Fingerprint is a short, non-reversible identifier of a secret, safe to display: the
// first 12 hex digits of SHA-256 over a domain label and the secret.
func Fingerprint(secret string) string {
	h := sha256.Sum256([]byte("aiproxy-fingerprint:" + secret))
	return hex.EncodeToString(h[:6])
}
