package apikeys

import (
	"strings"
	"testing"
)

func TestNewKeyHas256BitsAPrefixAndAHash(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		key, prefix, hash, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(key, "aip_") || len(key) != 4+43 {
			t.Fatalf("key %q: want aip_ and 43 base64url characters (256 bits)", key)
		}
		if prefix != key[:12] || hash != Hash(key) || len(hash) != 64 || strings.Contains(hash, key) {
			t.Fatalf("prefix %q, hash %q", prefix, hash)
		}
		if seen[key] {
			t.Fatal("a key repeated")
		}
		seen[key] = true
	}
}

func TestParseAuthorizationAcceptsTheDocumentedSchemes(t *testing.T) {
	for _, tc := range []struct {
		header, key string
		ok          bool
	}{
		{"Api-Key abc", "abc", true},
		{"api-key abc", "abc", true},
		{"Api-Token abc", "abc", true},
		{"Token abc", "abc", true},
		{"Bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"Basic abc", "", false},
		{"abc", "", false},
		{"", "", false},
		{"Api-Key", "", false},
	} {
		key, ok := ParseAuthorization(tc.header)
		if key != tc.key || ok != tc.ok {
			t.Errorf("%q: got %q %v, want %q %v", tc.header, key, ok, tc.key, tc.ok)
		}
	}
}
