package tenancy

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// FuzzJSONStringRunesCountsWhatUnmarshalDecodes: the characters metered for a text are
// the code points json.Unmarshal decodes it to, escapes, surrogate pairs (whole or
// broken) and invalid UTF-8 included.
func FuzzJSONStringRunesCountsWhatUnmarshalDecodes(f *testing.F) {
	for _, s := range []string{`"héllo👍"`, `"\ud83d\udc4d x"`, `"\ud83d"`, `"\ud83d\u0041"`, `"a\nb\"c\\"`, "\"\xff\xfe\"", `""`, `"\udc4d\ud83d"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		var s string
		if json.Unmarshal([]byte(lit), &s) != nil {
			return
		}
		n, ok := jsonStringRunes([]byte(strings.TrimSpace(lit)))
		if !ok || n != utf8.RuneCountInString(s) {
			t.Fatalf("%q: counted %d (%v), Unmarshal decodes %d code points", lit, n, ok, utf8.RuneCountInString(s))
		}
	})
}

// BenchmarkUnitsOfASpeechRequest: metering a 4 KB text-to-speech request, as every such
// invoke does.
func BenchmarkUnitsOfASpeechRequest(b *testing.B) {
	cat, _ := catalog.Builtin()
	ep := cat.Service("elevenlabs").Endpoint("tts")
	body, _ := json.Marshal(map[string]any{"text": strings.Repeat("Hello wörld, ", 315), "model_id": "eleven_multilingual_v2"})
	if u := units(ep, body); u["characters"] != 13*315 {
		b.Fatalf("units %v", u)
	}
	b.ReportAllocs()
	for range b.N {
		units(ep, body)
	}
}
