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

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		scopes          []string
		service, action string
		want            bool
	}{
		{nil, "heygen", "generate-video", true},
		{[]string{"heygen:*"}, "heygen", "generate-video", true},
		{[]string{"heygen:*"}, "elevenlabs", "tts", false},
		{[]string{"elevenlabs:tts*"}, "elevenlabs", "tts-stream", true},
		{[]string{"elevenlabs:tts*"}, "elevenlabs", "list-voices", false},
		{[]string{"heygen:list-*", "elevenlabs:get-user"}, "elevenlabs", "get-user", true},
		{[]string{"*:*"}, "anything", "at-all", true},
	} {
		if got := ScopeAllows(tc.scopes, tc.service, tc.action); got != tc.want {
			t.Errorf("%v allows %s:%s = %v, want %v", tc.scopes, tc.service, tc.action, got, tc.want)
		}
	}
	for _, p := range []string{"heygen:*", "elevenlabs:tts*", "*:*"} {
		if !ValidScope(p) {
			t.Errorf("%q should be valid", p)
		}
	}
	for _, p := range []string{"heygen", ":x", "x:", "a:b:c", "heygen:[", ""} {
		if ValidScope(p) {
			t.Errorf("%q should be invalid", p)
		}
	}
	for _, tc := range []struct {
		sub, parent []string
		want        bool
	}{
		{[]string{"heygen:list-*"}, []string{"heygen:*"}, true},
		{[]string{"heygen:*"}, []string{"heygen:list-*"}, false},
		{[]string{"heygen:*"}, nil, true},
		{nil, []string{"heygen:*"}, false}, // "everything" is not within a scoped parent
		{[]string{"*:*"}, []string{"heygen:*"}, false},
		{[]string{"elevenlabs:tts"}, []string{"elevenlabs:tts*", "heygen:*"}, true},
	} {
		if got := ScopesWithin(tc.sub, tc.parent); got != tc.want {
			t.Errorf("%v within %v = %v, want %v", tc.sub, tc.parent, got, tc.want)
		}
	}
}
