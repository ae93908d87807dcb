package apikeys

import (
	"strings"
	"testing"
)

func TestScopeGrammarRefusesWhatItDoesNotDefine(t *testing.T) {
	for _, p := range []string{"heygen:*", "elevenlabs:tts*", "*:*", "heygen:list-voices", "*:list-*", "a-1:b-2*"} {
		if !ValidScope(p) {
			t.Errorf("%q should be valid", p)
		}
	}
	for _, p := range []string{
		"heygen", ":x", "x:", "a:b:c", "heygen:[", "", "*", "heygen:*list", "heygen:**", "heygen:l*st",
		"!heygen:*", "heygen:!tts", "heygen:[a-z]*", "heygen:?", "HeyGen:*", "hey gen:*", "heygen:tts\\*",
		"he*:tts", "*gen:tts", "heygen:{a,b}", "heygen:" + strings.Repeat("a", 65),
	} {
		if ValidScope(p) {
			t.Errorf("%q should be invalid", p)
		}
	}
}

func TestScopeAllows(t *testing.T) {
	for _, tc := range []struct {
		scopes          []string
		service, action string
		want            bool
	}{
		{nil, "heygen", "generate-video", true},
		{[]string{"heygen:*"}, "heygen", "generate-video", true},
		{[]string{"heygen:*"}, "elevenlabs", "tts", false},
		{[]string{"elevenlabs:tts*"}, "elevenlabs", "tts-stream", true},
		{[]string{"elevenlabs:tts*"}, "elevenlabs", "tts", true},
		{[]string{"elevenlabs:tts*"}, "elevenlabs", "list-voices", false},
		{[]string{"heygen:list-*", "elevenlabs:get-user"}, "elevenlabs", "get-user", true},
		{[]string{"*:*"}, "anything", "at-all", true},
		{[]string{"*:list-*"}, "heygen", "list-voices", true},
		{[]string{"*:list-*"}, "heygen", "get-voice", false},
		// Outside the grammar: permits nothing, whatever a glob would have said.
		{[]string{"heygen:[a-z]*"}, "heygen", "list-voices", false},
		{[]string{"!heygen:*"}, "elevenlabs", "tts", false},
		{[]string{"heygen:?ts"}, "heygen", "tts", false},
	} {
		if got := ScopeAllows(tc.scopes, tc.service, tc.action); got != tc.want {
			t.Errorf("%v allows %s:%s = %v, want %v", tc.scopes, tc.service, tc.action, got, tc.want)
		}
	}
}

func TestScopesWithinIsDecidedOverTheGrammarNotTheText(t *testing.T) {
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
		{[]string{"heygen:list-voices"}, []string{"*:list-*"}, true},
		{[]string{"*:list-*"}, []string{"heygen:list-*"}, false},
		{[]string{"heygen:tts*"}, []string{"heygen:tts"}, false},
		{[]string{"heygen:tts-*"}, []string{"heygen:tts*"}, true},
		// Text comparison used to let a metacharacter parent "contain" a wider child.
		{[]string{"heygen:*"}, []string{"heygen:[a-z]*"}, false},
		{[]string{"heygen:*"}, []string{"heygen:*[*"}, false},
		{[]string{"elevenlabs:tts"}, []string{"!heygen:*"}, false},
		{[]string{"bad"}, nil, false},
	} {
		if got := ScopesWithin(tc.sub, tc.parent); got != tc.want {
			t.Errorf("%v within %v = %v, want %v", tc.sub, tc.parent, got, tc.want)
		}
	}
}

// scopeParts are the pieces random scopes are made of: wildcards, slugs that are prefixes
// of one another, and characters outside the grammar.
var scopeParts = []string{"*", "a", "ab", "abc", "b", "a-", "-", ":", "[", "!", "?", "A", ""}

// scopesFrom turns fuzz bytes into a list of scope strings.
func scopesFrom(b []byte) []string {
	var out []string
	for len(b) >= 4 && len(out) < 6 {
		p := scopeParts[int(b[0])%len(scopeParts)] + scopeParts[int(b[1])%len(scopeParts)] + ":" +
			scopeParts[int(b[2])%len(scopeParts)] + scopeParts[int(b[3])%len(scopeParts)]
		out = append(out, p)
		b = b[4:]
	}
	return out
}

// FuzzScopesWithinIsSound: for random parent and child scope sets, accepting the child
// implies every service:action the child allows, the parent allows — checked over actions
// built from every literal in either set followed by continuations that branch off.
func FuzzScopesWithinIsSound(f *testing.F) {
	f.Add([]byte{1, 12, 0, 12}, []byte{1, 12, 1, 0})
	f.Add([]byte{0, 12, 0, 12}, []byte{1, 12, 2, 12})
	f.Add([]byte{1, 12, 8, 0}, []byte{1, 12, 0, 12})
	f.Fuzz(func(t *testing.T, parentSpec, childSpec []byte) {
		parent, child := scopesFrom(parentSpec), scopesFrom(childSpec)
		if !ScopesWithin(child, parent) {
			return
		}
		for _, p := range child {
			if !ValidScope(p) {
				t.Fatalf("accepted a child with an invalid scope %q (parent %q)", p, parent)
			}
		}
		names := map[string]bool{}
		for _, p := range append(append([]string{}, parent...), child...) {
			svc, act, _ := strings.Cut(p, ":")
			for _, s := range []string{svc, strings.TrimSuffix(svc, "*"), act, strings.TrimSuffix(act, "*")} {
				for _, tail := range []string{"", "a", "b", "z", "-", "a0", "zz"} {
					names[s+tail] = true
				}
			}
		}
		for svc := range names {
			for act := range names {
				if ScopeAllows(child, svc, act) && !ScopeAllows(parent, svc, act) {
					t.Fatalf("child %q within parent %q, but the child allows %s:%s and the parent does not", child, parent, svc, act)
				}
			}
		}
	})
}
