package catalog

import (
	"net/url"
	"slices"
	"strings"
)

// Match finds the action a provider-native request names (docs/native.md): the enabled
// or disabled endpoint whose path template matches escapedPath (the provider's own path,
// from its first "/", as sent: percent-encoded) and whose method is method, with the
// values of its placeholders, decoded. Each placeholder matches exactly one non-empty
// segment, literals match segment by segment after decoding, and one trailing "/" is
// ignored. When several templates match, the one with a literal in the leftmost position
// where they differ wins (/v1/voices/settings/default before /v1/voices/{voice_id}/…);
// then a current action before a deprecated one, then file order.
//
// When no endpoint of method matches but some of other methods do, allow lists those
// methods (for a 405); ep is nil and allow empty when the path names no action at all.
func (s *Service) Match(method, escapedPath string) (ep *Endpoint, params map[string]string, allow []string) {
	segs, ok := splitEscapedPath(escapedPath)
	if !ok {
		return nil, nil, nil
	}
	var best *Endpoint
	var bestShape []bool
	for _, e := range s.Endpoints {
		shape, ok := e.Path.matchSegments(segs)
		if !ok {
			continue
		}
		if e.HTTPMethod != method {
			if !slices.Contains(allow, e.HTTPMethod) {
				allow = append(allow, e.HTTPMethod)
			}
			continue
		}
		if best == nil || moreSpecific(shape, bestShape) || (slices.Equal(shape, bestShape) && best.Deprecated && !e.Deprecated) {
			best, bestShape = e, shape
		}
	}
	if best == nil {
		slices.Sort(allow)
		return nil, nil, allow
	}
	params = map[string]string{}
	for i, p := range best.Path.segments() {
		if p.name != "" {
			params[p.name] = segs[i]
		}
	}
	return best, params, nil
}

// moreSpecific reports whether a (true: a literal segment) has a literal where b has a
// placeholder, at the leftmost position where they differ.
func moreSpecific(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return false
}

// splitEscapedPath decodes a request path into its segments: it must start with "/", and
// no segment may be empty (but one trailing "/"), "." or "..", or badly escaped.
func splitEscapedPath(p string) ([]string, bool) {
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	p = p[1:]
	if p != "" {
		p = strings.TrimSuffix(p, "/")
	}
	raw := strings.Split(p, "/")
	segs := make([]string, len(raw))
	for i, r := range raw {
		v, err := url.PathUnescape(r)
		if err != nil || v == "" || v == "." || v == ".." {
			return nil, false
		}
		segs[i] = v
	}
	return segs, true
}

// segment is one path segment of a template: a decoded literal, or a placeholder's name.
type segment struct{ literal, name string }

// segments returns the template's segments, computed once.
func (t *PathTemplate) segments() []segment {
	t.segsOnce.Do(func() { t.segs = t.splitSegments() })
	return t.segs
}

func (t *PathTemplate) splitSegments() []segment {
	var out []segment
	for i, p := range t.parts {
		if p.name == "" && p.literal == "" && i == len(t.parts)-1 {
			continue // a trailing "/": ignored, as in requests
		}
		if p.name == "" && p.literal == "/" {
			continue
		}
		if p.name != "" {
			out = append(out, segment{name: p.name})
			continue
		}
		lit, err := url.PathUnescape(p.literal)
		if err != nil {
			lit = p.literal
		}
		out = append(out, segment{literal: lit})
	}
	return out
}

// matchSegments reports whether the decoded segments fill the template, and its shape
// (true where the template has a literal).
func (t *PathTemplate) matchSegments(segs []string) ([]bool, bool) {
	ts := t.segments()
	if len(ts) != len(segs) {
		return nil, false
	}
	shape := make([]bool, len(ts))
	for i, p := range ts {
		if p.name == "" {
			if p.literal != segs[i] {
				return nil, false
			}
			shape[i] = true
		}
	}
	return shape, true
}
