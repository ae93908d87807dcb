package heygen

import (
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

func TestV3SearchSounds(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	rp := call3(t, ts, "GET", "/v3/audio/sounds?query=upbeat", "k1", nil)
	items, _ := get(rp.body, "data").([]any)
	if rp.status != 200 || len(items) != 2 || rp.body["has_more"] != false || str(rp.body, "data", 0, "type") != "music" ||
		get(rp.body, "data", 0, "score") != 1.0 || get(rp.body, "data", 0, "placement") != nil {
		t.Fatalf("music: %d %s", rp.status, rp.raw)
	}
	fx := call3(t, ts, "GET", "/v3/audio/sounds?query=whoosh+scene+change&type=sound_effects&min_score=0.5&limit=1", "k1", nil)
	if str(fx.body, "data", 0, "id") != "snd_sfx_whoosh" || str(fx.body, "data", 0, "placement") != "hit" {
		t.Fatalf("sound effects: %s", fx.raw)
	}
	// The audio_url downloads.
	resp, raw := simtest.Do(t, ts.Client(), "GET", str(fx.body, "data", 0, "audio_url"), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/mpeg" || len(raw) == 0 {
		t.Fatalf("download: %d %s", resp.StatusCode, resp.Header)
	}
	if none := call3(t, ts, "GET", "/v3/audio/sounds?query=zebra", "k1", nil); len(get(none.body, "data").([]any)) != 0 {
		t.Fatalf("no match: %s", none.raw)
	}
	for _, q := range []string{"", "?query=", "?query=x&type=jingles", "?query=x&min_score=2", "?query=x&limit=51"} {
		bad := call3(t, ts, "GET", "/v3/audio/sounds"+q, "k1", nil)
		if bad.status != 400 || str(bad.body, "error", "code") != "invalid_parameter" || !strings.HasPrefix(str(bad.body, "error", "doc_url"), "https://developers.heygen.com/") {
			t.Fatalf("%q: %d %s", q, bad.status, bad.raw)
		}
	}
}
