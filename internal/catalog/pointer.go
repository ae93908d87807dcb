package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// Last is the pointer's last reference token, unescaped ("" for the root).
func (p *Pointer) Last() string {
	if len(p.tokens) == 0 {
		return ""
	}
	return p.tokens[len(p.tokens)-1]
}

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

// Wildcard is the reference token that LookupAll reads as "every element": of an array, each
// element in order; of an object, each member's value in key order. Lookup, Delete and Set
// read it as the member named "*", as RFC 6901 does; the catalog allows it only where
// LookupAll is used (job_refs pointers into a request body).
const Wildcard = "*"

// HasWildcard reports whether a reference token of p is Wildcard.
func (p *Pointer) HasWildcard() bool { return slices.Contains(p.tokens, Wildcard) }

// LookupAll returns every value p names in v, in document order: as Lookup, except that the
// token "*" (Wildcard) stands for every element of an array and every member of an object, so
// "/video_inputs/*/voice/audio_asset_id" names that member in each scene that has it. A
// value found is returned even when it is null. A pointer without "*" finds what Lookup
// finds, or nothing.
func (p *Pointer) LookupAll(v any) []any { return lookupAll(p.tokens, v, nil) }

func lookupAll(tokens []string, v any, out []any) []any {
	if len(tokens) == 0 {
		return append(out, v)
	}
	tok, rest := tokens[0], tokens[1:]
	switch node := v.(type) {
	case map[string]any:
		if tok == Wildcard {
			for _, k := range slices.Sorted(maps.Keys(node)) {
				out = lookupAll(rest, node[k], out)
			}
			return out
		}
		if next, ok := node[tok]; ok {
			return lookupAll(rest, next, out)
		}
	case []any:
		if tok == Wildcard {
			for _, x := range node {
				out = lookupAll(rest, x, out)
			}
			return out
		}
		if i, ok := arrayIndex(tok, len(node)); ok {
			return lookupAll(rest, node[i], out)
		}
	}
	return out
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

// LookupRaw returns the JSON text p names in the valid JSON document doc, without
// decoding it: one pass that skips over everything off the path. Like Lookup on the
// decoded document (a member named twice: the last one), but cheap enough to run on every
// request body (the text of a speech request, to count its characters). Text that is not
// valid JSON finds nothing or garbage, never a panic.
func (p *Pointer) LookupRaw(doc []byte) (json.RawMessage, bool) {
	start := skipSpace(doc, 0)
	end := skipValue(doc, start)
	if end < 0 {
		return nil, false
	}
	for _, tok := range p.tokens {
		if start >= len(doc) {
			return nil, false
		}
		var ok bool
		switch doc[start] {
		case '{':
			start, end, ok = memberRaw(doc, start, tok)
		case '[':
			start, end, ok = elementRaw(doc, start, tok)
		}
		if !ok {
			return nil, false
		}
	}
	return doc[start:end], true
}

// memberRaw finds the member tok of the object at doc[i] and returns where its value
// starts and ends (the last such member).
func memberRaw(doc []byte, i int, tok string) (start, end int, ok bool) {
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return 0, 0, false
	}
	for i < len(doc) {
		keyEnd := skipString(doc, i)
		if keyEnd < 0 {
			return 0, 0, false
		}
		match := keyIs(doc[i:keyEnd], tok)
		i = skipSpace(doc, keyEnd)
		if i >= len(doc) || doc[i] != ':' {
			return 0, 0, false
		}
		i = skipSpace(doc, i+1)
		vEnd := skipValue(doc, i)
		if vEnd < 0 {
			return 0, 0, false
		}
		if match {
			start, end, ok = i, vEnd, true
		}
		i = skipSpace(doc, vEnd)
		if i >= len(doc) {
			return 0, 0, false
		}
		if doc[i] == '}' {
			return start, end, ok
		}
		if doc[i] != ',' {
			return 0, 0, false
		}
		i = skipSpace(doc, i+1)
	}
	return 0, 0, false
}

// elementRaw finds element tok (a decimal index) of the array at doc[i].
func elementRaw(doc []byte, i int, tok string) (start, end int, ok bool) {
	want, err := strconv.Atoi(tok)
	if err != nil || want < 0 || (len(tok) > 1 && tok[0] == '0') || tok[0] == '+' {
		return 0, 0, false
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		return 0, 0, false
	}
	for n := 0; i < len(doc); n++ {
		vEnd := skipValue(doc, i)
		if vEnd < 0 {
			return 0, 0, false
		}
		if n == want {
			return i, vEnd, true
		}
		i = skipSpace(doc, vEnd)
		if i >= len(doc) || doc[i] != ',' {
			return 0, 0, false
		}
		i = skipSpace(doc, i+1)
	}
	return 0, 0, false
}

// keyIs reports whether the JSON string literal raw (quotes included) is tok.
func keyIs(raw []byte, tok string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1:len(raw)-1]) == tok
	}
	var k string
	return json.Unmarshal(raw, &k) == nil && k == tok
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string literal at doc[i], or -1.
func skipString(doc []byte, i int) int {
	if i >= len(doc) || doc[i] != '"' {
		return -1
	}
	for i++; i < len(doc); {
		q := bytes.IndexByte(doc[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		// Escaped when an odd number of backslashes comes right before it.
		bs := 0
		for k := q - 1; k >= i && doc[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
	return -1
}

// skipValue returns the index after the JSON value at doc[i], or -1.
func skipValue(doc []byte, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		return skipString(doc, i)
	case '{', '[':
		depth := 0
		for i < len(doc) {
			switch doc[i] {
			case '"':
				if i = skipString(doc, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	j := i
	for j < len(doc) {
		switch doc[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// valuePointer parses s, a pointer to one value of a document (never the whole, never
// every element), for the field of a catalog block; it reports a bad one through fail
// ("<block>: <field>: …") and returns nil then.
func valuePointer(block, field, s string, fail func(format string, args ...any)) *Pointer {
	p, err := ParsePointer(s)
	switch {
	case err != nil:
		fail("%s: %s: %v", block, field, err)
		return nil
	case p.IsRoot():
		fail(`%s: %s: the pointer "" names the whole document`, block, field)
		return nil
	case p.HasWildcard():
		fail(`%s: %s: %q: "*" (every element) is only for job_refs pointers`, block, field, s)
		return nil
	}
	return p
}
