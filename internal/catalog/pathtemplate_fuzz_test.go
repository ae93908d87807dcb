package catalog

import (
	"testing"

	"github.com/aiproxy/aiproxy"
)

// FuzzPathTemplateRender checks that no value can escape its segment: the rendered path has
// the template's segment count, each segment unescapes to its value, and no segment is a
// dot segment. Empty, "." and ".." are refused.
func FuzzPathTemplateRender(f *testing.F) {
	for _, seed := range [][2]string{
		{"voice", "sample"},
		{"a/b", "../c"},
		{"..", "x"},
		{".", ""},
		{"%2e%2e", "%2F"},
		{"a?b#c", `\\evil`},
		{"\r\n", "\x00"},
		{"日本語", "\xff"},
	} {
		f.Add(seed[0], seed[1])
	}
	p, err := ParsePathTemplate("/v1/voices/{voice_id}/samples/{sample_id}/audio")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, voice, sample string) {
		params := map[string]string{"voice_id": voice, "sample_id": sample}
		got, err := p.Render(params)
		refused := func(v string) bool { return v == "" || v == "." || v == ".." }
		if refused(voice) || refused(sample) {
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
				t.Fatalf("Render(%q, %q) = %q, %v; want EINVALID", voice, sample, got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Render(%q, %q): %v", voice, sample, err)
		}
		checkOneSegmentEach(t, p, params, got)
	})
}
