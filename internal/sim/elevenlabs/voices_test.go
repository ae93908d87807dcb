package elevenlabs

import (
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

type voiceList struct {
	Voices []Voice `json:"voices"`
}

func TestListVoicesHasDozensOfPremadeVoices(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var v voiceList
	call(t, ts, "GET", "/v1/voices", testKey, nil).json(t, &v)
	if len(v.Voices) < 24 {
		t.Fatalf("%d voices", len(v.Voices))
	}
	for _, voice := range v.Voices {
		if voice.VoiceID == "" || voice.Name == "" || voice.Category != "premade" || voice.Labels["gender"] == "" || voice.PreviewURL == nil || voice.Settings == nil {
			t.Fatalf("incomplete voice %+v", voice)
		}
	}
}

func TestAddVoiceWithTwoFilesIsVisibleToItsKeyOnly(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	one, two := media.MP3(1), []byte("second sample, not really audio")
	r := call(t, ts, "POST", "/v1/voices/add", testKey, multipartForm(t,
		part{field: "name", data: []byte("My Clone")},
		part{field: "description", data: []byte("cloned in a test")},
		part{field: "labels", data: []byte(`{"accent":"british"}`)},
		part{field: "files", fileName: "one.mp3", contentType: "audio/mpeg", data: one},
		part{field: "files", fileName: "two.wav", contentType: "audio/wav", data: two},
	))
	var added struct {
		VoiceID              string `json:"voice_id"`
		RequiresVerification *bool  `json:"requires_verification"`
	}
	r.json(t, &added)
	if r.status != 200 || added.VoiceID == "" || added.RequiresVerification == nil || *added.RequiresVerification {
		t.Fatalf("%d %s", r.status, r.body)
	}

	var got Voice
	call(t, ts, "GET", "/v1/voices/"+added.VoiceID, testKey, nil).json(t, &got)
	if got.Name != "My Clone" || got.Category != "cloned" || got.Labels["accent"] != "british" || !got.IsOwner {
		t.Errorf("voice %+v", got)
	}
	if len(got.Samples) != 2 {
		t.Fatalf("samples %+v", got.Samples)
	}
	for i, want := range []struct {
		name, mime string
		data       []byte
	}{{"one.mp3", "audio/mpeg", one}, {"two.wav", "audio/wav", two}} {
		sum := md5.Sum(want.data)
		s := got.Samples[i]
		if s.FileName != want.name || s.MimeType != want.mime || s.SizeBytes != int64(len(want.data)) || s.Hash != hex.EncodeToString(sum[:]) || s.SampleID == "" {
			t.Errorf("sample %d: %+v", i, s)
		}
	}

	var list voiceList
	call(t, ts, "GET", "/v1/voices", testKey, nil).json(t, &list)
	if list.Voices[0].VoiceID != added.VoiceID {
		t.Errorf("own voice not listed first")
	}
	// Another key sees neither the voice nor can use it.
	call(t, ts, "GET", "/v1/voices", "sk_bob", nil).json(t, &list)
	for _, v := range list.Voices {
		if v.VoiceID == added.VoiceID {
			t.Error("another key lists the voice")
		}
	}
	wantDetail(t, call(t, ts, "GET", "/v1/voices/"+added.VoiceID, "sk_bob", nil), 404, "voice_not_found")
	wantDetail(t, call(t, ts, "POST", "/v1/text-to-speech/"+added.VoiceID, "sk_bob", map[string]string{"text": "hi"}), 404, "voice_not_found")
	wantDetail(t, call(t, ts, "DELETE", "/v1/voices/"+added.VoiceID, "sk_bob", nil), 404, "voice_not_found")
	if r := call(t, ts, "POST", "/v1/text-to-speech/"+added.VoiceID, testKey, map[string]string{"text": "hi"}); r.status != 200 {
		t.Errorf("owner TTS with the clone: %d", r.status)
	}
}

func TestAddVoiceValidation(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "POST", "/v1/voices/add", testKey, multipartForm(t, part{field: "description", data: []byte("x")}))
	var v struct {
		Detail []fieldError `json:"detail"`
	}
	r.json(t, &v)
	if r.status != 422 || len(v.Detail) != 2 || v.Detail[0].Loc[1] != "name" || v.Detail[1].Loc[1] != "files" {
		t.Errorf("%d %s", r.status, r.body)
	}
}

func TestEditAndDeleteVoice(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var added struct {
		VoiceID string `json:"voice_id"`
	}
	call(t, ts, "POST", "/v1/voices/add", testKey, multipartForm(t,
		part{field: "name", data: []byte("Before")},
		part{field: "files", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)},
	)).json(t, &added)

	r := call(t, ts, "POST", "/v1/voices/"+added.VoiceID+"/edit", testKey, multipartForm(t,
		part{field: "name", data: []byte("After")},
		part{field: "files", fileName: "b.mp3", contentType: "audio/mpeg", data: media.MP3(2)},
	))
	if r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	var got Voice
	call(t, ts, "GET", "/v1/voices/"+added.VoiceID, testKey, nil).json(t, &got)
	if got.Name != "After" || len(got.Samples) != 2 {
		t.Errorf("after edit: %s, %d samples", got.Name, len(got.Samples))
	}

	wantDetail(t, call(t, ts, "DELETE", "/v1/voices/"+rachel, testKey, nil), 400, "voice_not_editable")
	if r := call(t, ts, "DELETE", "/v1/voices/"+added.VoiceID, testKey, nil); r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/voices/"+added.VoiceID, testKey, nil), 404, "voice_not_found")
}

func TestVoiceSettingsDefaultAndEdited(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "GET", "/v1/voices/"+rachel+"/settings", testKey, nil)
	if r.status != 200 || string(r.body) != `{"stability":0.5,"use_speaker_boost":true,"similarity_boost":0.75,"style":0,"speed":1}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := call(t, ts, "POST", "/v1/voices/"+rachel+"/settings/edit", testKey, map[string]float64{"stability": 0.9}); r.status != 200 {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	var st VoiceSettings
	call(t, ts, "GET", "/v1/voices/"+rachel+"/settings", testKey, nil).json(t, &st)
	if *st.Stability != 0.9 || *st.SimilarityBoost != 0.75 {
		t.Errorf("edited settings %+v", st)
	}
	// Settings are per key too.
	call(t, ts, "GET", "/v1/voices/"+rachel+"/settings", "sk_bob", nil).json(t, &st)
	if *st.Stability != 0.5 {
		t.Errorf("another key sees edited settings")
	}
	wantDetail(t, call(t, ts, "GET", "/v1/voices/nope/settings", testKey, nil), 404, "voice_not_found")
}

func TestModelsIsABareArray(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var ms []Model
	call(t, ts, "GET", "/v1/models", testKey, nil).json(t, &ms)
	limits := map[string]int{}
	for _, m := range ms {
		limits[m.ModelID] = m.MaximumTextLengthPerRequest
	}
	if limits["eleven_multilingual_v2"] != 10000 || limits["eleven_v3"] != 3000 || limits["eleven_flash_v2_5"] != 40000 {
		t.Errorf("limits %v", limits)
	}
}

func TestSearchVoicesPaginates(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var page struct {
		Voices        []Voice `json:"voices"`
		HasMore       bool    `json:"has_more"`
		TotalCount    int     `json:"total_count"`
		NextPageToken *string `json:"next_page_token"`
	}
	seen := map[string]bool{}
	path := "/v2/voices?page_size=20"
	for range 10 {
		call(t, ts, "GET", path, testKey, nil).json(t, &page)
		for _, v := range page.Voices {
			seen[v.VoiceID] = true
		}
		if !page.HasMore {
			break
		}
		path = "/v2/voices?page_size=20&next_page_token=" + *page.NextPageToken
	}
	if len(seen) != page.TotalCount || page.TotalCount != len(premade) {
		t.Errorf("saw %d of %d voices", len(seen), page.TotalCount)
	}
}
