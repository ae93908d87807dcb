package apikeys

import "strings"

// Scopes limit what a key may invoke. The grammar (docs/contract.md, "Scopes"):
//
//	scope   = service ":" action
//	service = "*" | slug
//	action  = "*" | slug | slug "*"      (the last: every action whose slug starts so)
//	slug    = 1 to 64 of a-z 0-9 -
//
// Nothing else is a scope: no other wildcard, no character class, no negation. A scope
// outside the grammar is refused when a key is made, and matches nothing if one is ever
// found in the store (failing closed).

// MaxScopes bounds how many scopes one key may carry.
const MaxScopes = 64

// scope is a parsed scope.
type scope struct {
	service string // "" for any service
	action  string // the slug, or the prefix when prefix is set; "" with prefix: any action
	prefix  bool
}

const maxSlug = 64

func validSlug(s string) bool {
	if s == "" || len(s) > maxSlug {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseScope parses p; ok is false when p is outside the grammar.
func parseScope(p string) (scope, bool) {
	svc, act, found := strings.Cut(p, ":")
	if !found {
		return scope{}, false
	}
	var s scope
	switch {
	case svc == "*":
	case validSlug(svc):
		s.service = svc
	default:
		return scope{}, false
	}
	switch {
	case act == "*":
		s.prefix = true
	case strings.HasSuffix(act, "*") && validSlug(act[:len(act)-1]):
		s.action, s.prefix = act[:len(act)-1], true
	case validSlug(act):
		s.action = act
	default:
		return scope{}, false
	}
	return s, true
}

// allows reports whether the scope permits service:action.
func (s scope) allows(service, action string) bool {
	if s.service != "" && s.service != service {
		return false
	}
	if s.prefix {
		return strings.HasPrefix(action, s.action)
	}
	return s.action == action
}

// contains reports whether every service:action that q permits, s permits too. Over the
// grammar this is exact: the service part is either any or one slug; a prefix pattern
// permits a superset of another pattern's actions exactly when its prefix is a prefix of
// the other's (prefix or slug); a slug permits only itself.
func (s scope) contains(q scope) bool {
	if s.service != "" && s.service != q.service {
		return false // q.service is any (wider) or another slug
	}
	if s.prefix {
		return strings.HasPrefix(q.action, s.action)
	}
	return !q.prefix && q.action == s.action
}

// ValidScope reports whether p is a scope of the grammar.
func ValidScope(p string) bool {
	_, ok := parseScope(p)
	return ok
}

// ScopeAllows reports whether scopes permit service:action. No scopes means everything; a
// scope outside the grammar permits nothing.
func ScopeAllows(scopes []string, service, action string) bool {
	if len(scopes) == 0 {
		return true
	}
	for _, p := range scopes {
		if s, ok := parseScope(p); ok && s.allows(service, action) {
			return true
		}
	}
	return false
}

// ScopesWithin reports whether sub permits nothing that parent does not: every
// service:action any scope of sub allows, some scope of parent allows. No scopes means
// everything, so an empty parent contains anything and an empty sub is within only an
// empty parent. A scope outside the grammar on either side makes the answer false.
//
// Deciding it scope by scope is sound: a sub scope that one parent scope contains (by the
// exact rule of contains) permits nothing the parent does not. It is also complete except
// for contrived parents that cover a prefix by listing every one of its continuations
// ("a0*", "a1*", …, "a-*" instead of "a*"): those are refused, which errs on the safe side.
// The fuzz test FuzzScopesWithinIsSound checks the implication against concrete actions.
func ScopesWithin(sub, parent []string) bool {
	if len(parent) == 0 {
		for _, p := range sub {
			if !ValidScope(p) {
				return false
			}
		}
		return true
	}
	if len(sub) == 0 {
		return false
	}
	ps := make([]scope, 0, len(parent))
	for _, p := range parent {
		s, ok := parseScope(p)
		if !ok {
			return false
		}
		ps = append(ps, s)
	}
	for _, p := range sub {
		q, ok := parseScope(p)
		if !ok {
			return false
		}
		covered := false
		for _, s := range ps {
			if s.contains(q) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}
