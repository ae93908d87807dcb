package elevenlabs

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func TestGetUserEchoesTheCallersKey(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var u struct {
		UserID       string `json:"user_id"`
		XIAPIKey     string `json:"xi_api_key"`
		Preview      string `json:"xi_api_key_preview"`
		Subscription struct {
			Tier           string `json:"tier"`
			CharacterCount int    `json:"character_count"`
		} `json:"subscription"`
	}
	call(t, ts, "GET", "/v1/user", testKey, nil).json(t, &u)
	if u.XIAPIKey != testKey || u.UserID == "" || u.Subscription.Tier == "" {
		t.Fatalf("user %+v", u)
	}
	if !strings.HasSuffix(u.Preview, testKey[len(testKey)-4:]) || u.Preview == testKey {
		t.Errorf("preview %q", u.Preview)
	}
	call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": "twelve chars"})
	call(t, ts, "GET", "/v1/user", testKey, nil).json(t, &u)
	if u.Subscription.CharacterCount != 12 {
		t.Errorf("character_count %d after 12 characters", u.Subscription.CharacterCount)
	}
	var sub map[string]any
	call(t, ts, "GET", "/v1/user/subscription", testKey, nil).json(t, &sub)
	if sub["status"] != "active" || sub["next_invoice"] == nil || sub["character_count"] != 12.0 {
		t.Errorf("subscription %v", sub)
	}
}

func TestSameSeedGivesTheSameData(t *testing.T) {
	run := func(seed uint64) []string {
		_, ts := newTestServer(t, simcore.Options{Seed: seed})
		var out []string
		var voices voiceList
		r := call(t, ts, "GET", "/v1/voices", testKey, nil)
		r.json(t, &voices)
		out = append(out, *voices.Voices[0].PreviewURL)
		out = append(out, call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": "one"}).header.Get("history-item-id"))
		var added struct {
			VoiceID string `json:"voice_id"`
		}
		call(t, ts, "POST", "/v1/voices/add", testKey, multipartForm(t,
			part{field: "name", data: []byte("x")},
			part{field: "files", fileName: "a.mp3", contentType: "audio/mpeg", data: []byte("abc")},
		)).json(t, &added)
		out = append(out, added.VoiceID, userIDOf(t, ts))
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("same seed differs:\n%v\n%v", a, b)
	}
	if a[0] == c[0] || a[1] == c[1] || a[2] == c[2] {
		t.Errorf("different seeds give the same ids: %v %v", a, c)
	}
}

func userIDOf(t *testing.T, ts *httptest.Server) string {
	var u struct {
		UserID string `json:"user_id"`
	}
	call(t, ts, "GET", "/v1/user", testKey, nil).json(t, &u)
	return u.UserID
}
