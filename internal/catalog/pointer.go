package catalog

import (
	"fmt"
	"strconv"
	"strings"
)

// Pointer is a JSON Pointer (RFC 6901), parsed once when the catalog is loaded and then
// evaluated against decoded JSON (the map[string]any, []any, string, float64, bool and nil
// that encoding/json produces). "/data/video_id" names the member video_id of the member
// data; "/data/0" the first element when data is an array; "" the whole document.
type Pointer struct {
	raw    string
	tokens []string // the reference tokens, unescaped
}

// ParsePointer parses s: empty, or "/" followed by reference tokens separated by "/", in
// which "~1" stands for "/" and "~0" for "~" (RFC 6901 §3); any other "~" is an error.
func ParsePointer(s string) (*Pointer, error) {
	if s == "" {
		return &Pointer{}, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q must be empty or start with /", s)
	}
	parts := strings.Split(s[1:], "/")
	p := &Pointer{raw: s, tokens: make([]string, len(parts))}
	for i, part := range parts {
		tok, ok := unescapeToken(part)
		if !ok {
			return nil, fmt.Errorf("JSON pointer %q: ~ must be followed by 0 or 1", s)
		}
		p.tokens[i] = tok
	}
	return p, nil
}

// unescapeToken turns "~1" into "/" and "~0" into "~" in one left-to-right pass, so "~01"
// is "~1" and not "/" (RFC 6901 §4).
func unescapeToken(s string) (string, bool) {
	if !strings.Contains(s, "~") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '~' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) || s[i+1] != '0' && s[i+1] != '1' {
			return "", false
		}
		if s[i+1] == '0' {
			b.WriteByte('~')
		} else {
			b.WriteByte('/')
		}
		i++
	}
	return b.String(), true
}

// String returns the pointer as written.
func (p *Pointer) String() string { return p.raw }

// IsRoot reports whether p is "", the whole document.
func (p *Pointer) IsRoot() bool { return len(p.tokens) == 0 }

// Lookup returns the value p names in v and whether there is one. A member that is present
// with the value null is found (nil, true). An array index is decimal without leading zeros
// and must be in range; "-" (past the end) names nothing.
func (p *Pointer) Lookup(v any) (any, bool) {
	for _, tok := range p.tokens {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[tok]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, ok := arrayIndex(tok, len(node))
			if !ok {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Delete removes the object member p names from v and reports whether there was one. The
// whole document and array elements are never removed (false).
func (p *Pointer) Delete(v any) bool {
	if p.IsRoot() {
		return false
	}
	last := len(p.tokens) - 1
	parent, ok := (&Pointer{tokens: p.tokens[:last]}).Lookup(v)
	obj, isObject := parent.(map[string]any)
	if !ok || !isObject {
		return false
	}
	if _, ok := obj[p.tokens[last]]; !ok {
		return false
	}
	delete(obj, p.tokens[last])
	return true
}

// Set replaces the value p names in v with x and reports whether p named one (an existing
// object member or array element). The whole document cannot be replaced in place (false).
func (p *Pointer) Set(v any, x any) bool {
	if p.IsRoot() {
		return false
	}
	last := len(p.tokens) - 1
	parent, ok := (&Pointer{tokens: p.tokens[:last]}).Lookup(v)
	if !ok {
		return false
	}
	switch node := parent.(type) {
	case map[string]any:
		if _, ok := node[p.tokens[last]]; !ok {
			return false
		}
		node[p.tokens[last]] = x
		return true
	case []any:
		i, ok := arrayIndex(p.tokens[last], len(node))
		if !ok {
			return false
		}
		node[i] = x
		return true
	}
	return false
}

// arrayIndex parses an array reference token (RFC 6901 §4: "0" or digits without a leading
// zero) and checks it against the array's length.
func arrayIndex(tok string, n int) (int, bool) {
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i >= n {
		return 0, false
	}
	return i, true
}
