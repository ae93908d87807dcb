// Package auth makes and checks the API keys clients present: generation with 256 bits of
// randomness, storage as a hash beside a short visible prefix, the Authorization header's
// schemes, and scope patterns.
package apikeys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// keyPrefix marks our keys so that secret scanners and people recognise them.
const keyPrefix = "aip_"

// prefixLen is how many characters of a key are stored in clear to identify it.
const prefixLen = len(keyPrefix) + 8

// PrefixLen is the length of a key's visible prefix.
const PrefixLen = prefixLen

// MaybeKey reports whether s is longer than a prefix and could be a whole key: something
// never to echo back.
func MaybeKey(s string) bool { return len(s) > prefixLen }

// NewKey returns a new key (256 random bits, URL-safe), its visible prefix and its hash.
func NewKey() (key, prefix, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", err
	}
	key = keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, key[:prefixLen], Hash(key), nil
}

// Hash is how keys are stored: hex SHA-256. Keys carry 256 bits of entropy, so a fast hash
// is safe here (no dictionary to attack) and keeps authentication cheap.
func Hash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// schemes are the Authorization schemes clients use (contract §2), lower-cased.
var schemes = []string{"api-key", "api-token", "token", "bearer"}

// ParseAuthorization returns the key in an Authorization header value "<scheme> <key>",
// the scheme matched case-insensitively. ok is false when the header is empty or its scheme
// is not one of ours.
func ParseAuthorization(h string) (key string, ok bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found {
		return "", false
	}
	for _, s := range schemes {
		if strings.EqualFold(scheme, s) {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}
