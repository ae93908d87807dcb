package catalog

import (
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/aiproxy/aiproxy"
)

// PathTemplate is an upstream path with {name} placeholders, each standing for exactly one
// whole path segment (contract §5).
type PathTemplate struct {
	raw   string
	parts []templatePart // alternating literal text and placeholders, in order
	names []string       // placeholder names, in template order

	segsOnce sync.Once
	segs     []segment // decoded segments, for Match (match.go)
}

type templatePart struct {
	literal string // escaped literal text, when name is ""
	name    string
}

// ParsePathTemplate parses s. A template starts with "/", its placeholders are {name} with
// name made of [A-Za-z0-9_], each placeholder fills a whole segment, and no name repeats.
func ParsePathTemplate(s string) (*PathTemplate, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("path template %q must start with /", s)
	}
	if strings.ContainsAny(s, "?#") {
		return nil, fmt.Errorf("path template %q must not contain a query or fragment", s)
	}
	t := &PathTemplate{raw: s}
	seen := map[string]bool{}
	for _, seg := range strings.Split(s[1:], "/") {
		t.parts = append(t.parts, templatePart{literal: "/"})
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name := seg[1 : len(seg)-1]
			if !validParamName(name) {
				return nil, fmt.Errorf("path template %q: invalid placeholder %q", s, seg)
			}
			if seen[name] {
				return nil, fmt.Errorf("path template %q: placeholder {%s} repeats", s, name)
			}
			seen[name] = true
			t.parts = append(t.parts, templatePart{name: name})
			t.names = append(t.names, name)
			continue
		}
		if strings.ContainsAny(seg, "{}") {
			return nil, fmt.Errorf("path template %q: a placeholder must fill a whole segment: %q", s, seg)
		}
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("path template %q: dot segment", s)
		}
		if seg != url.PathEscape(seg) && seg != escapeLiteral(seg) {
			return nil, fmt.Errorf("path template %q: segment %q needs escaping", s, seg)
		}
		t.parts = append(t.parts, templatePart{literal: seg})
	}
	return t, nil
}

// escapeLiteral allows the sub-delimiters that provider paths use literally (HeyGen's
// "video_status.get", ElevenLabs' plain words) while refusing anything that would change
// the path's structure.
func escapeLiteral(seg string) string {
	return (&url.URL{Path: seg}).EscapedPath()
}

func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// String returns the template as written.
func (t *PathTemplate) String() string { return t.raw }

// Params returns the placeholder names in template order.
func (t *PathTemplate) Params() []string { return t.names }

// Render fills the placeholders and returns the escaped path. Each value becomes exactly
// one segment: it is percent-encoded (RFC 3986 §3.3) so that "/", "?", "#", "%" and "\"
// cannot leave it. A missing placeholder is EINVALID "Missing required path parameter: x"
// (the first in template order); an empty, "." or ".." value is EINVALID naming it.
func (t *PathTemplate) Render(params map[string]string) (string, error) {
	for _, name := range t.names {
		v, ok := params[name]
		if !ok {
			return "", aiproxy.Errorf(aiproxy.EINVALID, "Missing required path parameter: %s", name)
		}
		if v == "" || v == "." || v == ".." {
			return "", aiproxy.Errorf(aiproxy.EINVALID, "Invalid path parameter '%s': a value must not be empty, '.' or '..'.", name)
		}
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.literal)
			continue
		}
		b.WriteString(escapeSegment(params[p.name]))
	}
	return b.String(), nil
}

// escapeSegment percent-encodes everything but RFC 3986 unreserved characters, so the
// value is one opaque segment whatever it holds.
func escapeSegment(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '-' || c == '.' || c == '_' || c == '~' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
