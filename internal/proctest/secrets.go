package proctest

import (
	"encoding/base64"
	"encoding/hex"
	"sort"
	"strings"
)

// SecretForms returns s as it could leak: plain, base64 (standard, URL, raw standard, raw
// URL) and hex (lower and upper case), by name.
func SecretForms(s []byte) map[string]string {
	return map[string]string{
		"plain":      string(s),
		"base64":     base64.StdEncoding.EncodeToString(s),
		"base64url":  base64.URLEncoding.EncodeToString(s),
		"base64raw":  base64.RawStdEncoding.EncodeToString(s),
		"base64rawu": base64.RawURLEncoding.EncodeToString(s),
		"hex":        hex.EncodeToString(s),
		"HEX":        strings.ToUpper(hex.EncodeToString(s)),
	}
}

// FindSecrets returns "name (form)" for every secret (name → value) found in text in any
// of its SecretForms, sorted.
func FindSecrets(text string, secrets map[string][]byte) []string {
	var found []string
	for name, s := range secrets {
		for form, v := range SecretForms(s) {
			if v != "" && strings.Contains(text, v) {
				found = append(found, name+" ("+form+")")
			}
		}
	}
	sort.Strings(found)
	return found
}
