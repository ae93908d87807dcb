package catalog

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

func TestParsePathTemplateRejects(t *testing.T) {
	tests := []struct {
		name, template, want string
	}{
		{"no leading slash", "v1/voices", "must start with /"},
		{"empty", "", "must start with /"},
		{"placeholder not a whole segment", "/v1/voice_{voice_id}", "must fill a whole segment"},
		{"two placeholders in a segment", "/v1/{a}{b}", "invalid placeholder"},
		{"stray brace", "/v1/voices}", "must fill a whole segment"},
		{"bad name", "/v1/{voice-id}", `invalid placeholder "{voice-id}"`},
		{"empty name", "/v1/{}", `invalid placeholder "{}"`},
		{"repeated name", "/v1/{id}/x/{id}", "placeholder {id} repeats"},
		{"query", "/v1/video_status.get?video_id={video_id}", "must not contain a query"},
		{"fragment", "/v1/voices#x", "must not contain a query or fragment"},
		{"dot segment", "/v1/../admin", "dot segment"},
		{"unescaped space", "/v1/my voices", "needs escaping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePathTemplate(tt.template)
			if err == nil {
				t.Fatalf("parsed %q as %v", tt.template, p.Params())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParsePathTemplateAcceptsProviderPaths(t *testing.T) {
	tests := []struct {
		template string
		params   []string
	}{
		{"/v1/video_status.get", nil},
		{"/v3/video-translations/languages", nil},
		{"/v1/dubbing/{dubbing_id}/audio/{language_code}", []string{"dubbing_id", "language_code"}},
	}
	for _, tt := range tests {
		p, err := ParsePathTemplate(tt.template)
		if err != nil {
			t.Errorf("%s: %v", tt.template, err)
			continue
		}
		if p.String() != tt.template || !slices.Equal(p.Params(), tt.params) {
			t.Errorf("%s: String %q, Params %v", tt.template, p.String(), p.Params())
		}
	}
}

func mustTemplate(t testing.TB, s string) *PathTemplate {
	t.Helper()
	p, err := ParsePathTemplate(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRenderMissingParamNamesTheFirstInTemplateOrder(t *testing.T) {
	p := mustTemplate(t, "/v1/voices/{voice_id}/samples/{sample_id}")
	tests := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"none given", nil, "Missing required path parameter: voice_id"},
		{"second given", map[string]string{"sample_id": "s"}, "Missing required path parameter: voice_id"},
		{"first given", map[string]string{"voice_id": "v"}, "Missing required path parameter: sample_id"},
		{"only an unrelated one", map[string]string{"voiceid": "v"}, "Missing required path parameter: voice_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Render(tt.params)
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorMessage(err) != tt.want {
				t.Errorf("error = %v, want EINVALID %q", err, tt.want)
			}
		})
	}
}

func TestRenderRefusesEmptyAndDotValues(t *testing.T) {
	p := mustTemplate(t, "/v1/voices/{voice_id}")
	for _, v := range []string{"", ".", ".."} {
		_, err := p.Render(map[string]string{"voice_id": v})
		if aiproxy.ErrorCode(err) != aiproxy.EINVALID || !strings.Contains(aiproxy.ErrorMessage(err), "'voice_id'") {
			t.Errorf("value %q: error = %v, want EINVALID naming 'voice_id'", v, err)
		}
	}
}

func TestRenderLiteralTemplateAndPlainValues(t *testing.T) {
	tests := []struct {
		template string
		params   map[string]string
		want     string
	}{
		{"/v1/video_status.get", nil, "/v1/video_status.get"},
		{"/v1/dubbing/{dubbing_id}/audio/{language_code}", map[string]string{"dubbing_id": "21m00Tcm4TlvDq8ikWAM", "language_code": "es"},
			"/v1/dubbing/21m00Tcm4TlvDq8ikWAM/audio/es"},
		{"/v3/videos/{video_id}", map[string]string{"video_id": "a-b_c.d~e", "extra": "ignored"}, "/v3/videos/a-b_c.d~e"},
	}
	for _, tt := range tests {
		got, err := mustTemplate(t, tt.template).Render(tt.params)
		if err != nil || got != tt.want {
			t.Errorf("Render(%s, %v) = %q, %v; want %q", tt.template, tt.params, got, err, tt.want)
		}
	}
}

// checkOneSegmentEach asserts the properties every rendering must have: the segment count
// of the template is kept, each value comes back from its own segment, and no segment is
// "." or "..".
func checkOneSegmentEach(t testing.TB, p *PathTemplate, params map[string]string, rendered string) {
	t.Helper()
	got := strings.Split(rendered, "/")
	want := strings.Split(p.String(), "/")
	if len(got) != len(want) {
		t.Fatalf("rendered %q has %d segments, template %q has %d", rendered, len(got), p, len(want))
	}
	for i, seg := range want {
		if seg == "." || seg == ".." || got[i] == "." || got[i] == ".." {
			t.Fatalf("rendered %q has a dot segment", rendered)
		}
		if !strings.HasPrefix(seg, "{") {
			if got[i] != seg {
				t.Fatalf("rendered %q changed literal segment %q to %q", rendered, seg, got[i])
			}
			continue
		}
		name := seg[1 : len(seg)-1]
		v, err := url.PathUnescape(got[i])
		if err != nil || v != params[name] {
			t.Fatalf("segment %q of %q unescapes to %q, %v; want %q", got[i], rendered, v, err, params[name])
		}
	}
	if u, err := url.Parse("https://api.example.test" + rendered); err != nil || u.Host != "api.example.test" || u.RawQuery != "" || u.Fragment != "" {
		t.Fatalf("rendered %q changes the URL outside the path: %v", rendered, err)
	}
}

func TestRenderEncodesEachValueIntoOneSegment(t *testing.T) {
	p := mustTemplate(t, "/v1/voices/{voice_id}/samples/{sample_id}")
	values := map[string]string{
		"slash":           "a/b",
		"leading slash":   "/etc/passwd",
		"question mark":   "a?b=c",
		"hash":            "a#frag",
		"percent":         "100%",
		"encoded slash":   "a%2Fb",
		"dot dot inside":  "a/../b",
		"dot dot prefix":  "../admin",
		"three dots":      "...",
		"backslash":       `a\..\b`,
		"space":           "a b",
		"newline":         "a\nb",
		"carriage return": "a\r\nHost: evil",
		"nul":             "a\x00b",
		"tab and del":     "\t\x7f",
		"unicode":         "voix-française-日本語",
		"emoji":           "🎙️",
		"invalid utf-8":   "\xff\xfe",
		"at and colon":    "user:pass@evil.test",
		"semicolon":       "a;b=c",
		"plus":            "a+b",
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			params := map[string]string{"voice_id": v, "sample_id": "s" + v}
			got, err := p.Render(params)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkOneSegmentEach(t, p, params, got)
		})
	}
}
