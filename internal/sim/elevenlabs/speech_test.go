package elevenlabs

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

const george = "JBFqnCBsd6RMkjVDRZzb" // another premade voice

func mp3Seconds(t *testing.T, r reply) float64 {
	t.Helper()
	if r.status != 200 || r.header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("%d %s %.200s", r.status, r.header.Get("Content-Type"), r.body)
	}
	d, err := media.MP3Duration(r.body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantValidation(t *testing.T, r reply, field string) {
	t.Helper()
	var v struct {
		Detail []fieldError `json:"detail"`
	}
	r.json(t, &v)
	if r.status != 422 || len(v.Detail) == 0 {
		t.Fatalf("got %d %s, want 422", r.status, r.body)
	}
	if field == "" {
		return
	}
	for _, e := range v.Detail {
		for _, l := range e.Loc {
			if l == field {
				return
			}
		}
	}
	t.Errorf("422 %s does not name %q", r.body, field)
}

func TestSpeechToTextTranscribesAndStoresTheTranscript(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "POST", "/v1/speech-to-text", testKey, multipartForm(t,
		part{field: "model_id", data: []byte("scribe_v2")},
		part{field: "timestamps_granularity", data: []byte("character")},
		part{field: "diarize", data: []byte("true")},
		part{field: "file", fileName: "talk.mp3", contentType: "audio/mpeg", data: media.MP3(4)}))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var tr transcription
	r.json(t, &tr)
	if tr.TranscriptionID == "" || tr.Text == "" || tr.LanguageCode != "eng" || math.Abs(tr.AudioDurationSecs-4) > 0.05 {
		t.Fatalf("transcript %s", r.body)
	}
	last := tr.Words[len(tr.Words)-1]
	if tr.Words[0].Type != "word" || tr.Words[1].Type != "spacing" || *last.End > 4.05 || len(tr.Words[0].Characters) == 0 ||
		tr.Words[0].SpeakerID == nil || *tr.Words[0].SpeakerID != "speaker_0" {
		t.Errorf("words %s", r.body)
	}
	if r.header.Get("character-cost") != "67" { // 4 s at 1000 credits a minute
		t.Errorf("character-cost %q", r.header.Get("character-cost"))
	}

	got := call(t, ts, "GET", "/v1/speech-to-text/transcripts/"+tr.TranscriptionID, testKey, nil)
	if got.status != 200 || string(got.body) != string(r.body) {
		t.Errorf("get transcript: %d %s", got.status, got.body)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/speech-to-text/transcripts/"+tr.TranscriptionID, otherKey, nil), 404, "transcript_not_found")
	wantStatusOK(t, call(t, ts, "DELETE", "/v1/speech-to-text/transcripts/"+tr.TranscriptionID, testKey, nil))
	wantDetail(t, call(t, ts, "GET", "/v1/speech-to-text/transcripts/"+tr.TranscriptionID, testKey, nil), 404, "transcript_not_found")
	wantDetail(t, call(t, ts, "DELETE", "/v1/speech-to-text/transcripts/"+tr.TranscriptionID, testKey, nil), 404, "transcript_not_found")

	// A URL source is not fetched: one minute; no timestamps with granularity none.
	r = call(t, ts, "POST", "/v1/speech-to-text", testKey, multipartForm(t,
		part{field: "model_id", data: []byte("scribe_v1")}, part{field: "timestamps_granularity", data: []byte("none")},
		part{field: "cloud_storage_url", data: []byte("https://storage.example.com/talk.mp3")}))
	r.json(t, &tr)
	if r.status != 200 || tr.AudioDurationSecs != 60 || tr.Words[0].Start != nil {
		t.Errorf("cloud_storage_url: %d %.300s", r.status, r.body)
	}
}

func TestSpeechToTextValidation(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	file := part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)}
	model := part{field: "model_id", data: []byte("scribe_v2")}
	tests := []struct {
		name  string
		parts []part
		field string
	}{
		{"no model", []part{file}, "model_id"},
		{"unknown model", []part{{field: "model_id", data: []byte("whisper")}, file}, "model_id"},
		{"no source", []part{model}, ""},
		{"two sources", []part{model, file, {field: "cloud_storage_url", data: []byte("https://x.example/a.mp3")}}, ""},
		{"bad granularity", []part{model, file, {field: "timestamps_granularity", data: []byte("line")}}, "timestamps_granularity"},
		{"webhook_id without webhook", []part{model, file, {field: "webhook_id", data: []byte("abc")}}, "webhook_id"},
		{"metadata not an object", []part{model, file, {field: "webhook", data: []byte("true")}, {field: "webhook_metadata", data: []byte("[1]")}}, "webhook_metadata"},
		{"too many speakers", []part{model, file, {field: "num_speakers", data: []byte("33")}}, "num_speakers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValidation(t, call(t, ts, "POST", "/v1/speech-to-text", testKey, multipartForm(t, tt.parts...)), tt.field)
		})
	}
	wantDetail(t, call(t, ts, "POST", "/v1/speech-to-text", testKey, multipartForm(t, model, file,
		part{field: "webhook", data: []byte("true")}, part{field: "webhook_id", data: []byte("nope")})), 404, "webhook_not_found")
}

// TestSpeechToTextWebhookDeliversTheTranscript: webhook=true answers 202 at once; the
// transcript then reaches the key's webhook (only the one named, when webhook_id is given)
// as a signed speech_to_text_transcription event, and becomes readable.
func TestSpeechToTextWebhookDeliversTheTranscript(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 20})
	one, two := newReceiver(t), newReceiver(t)
	h1 := mustCreateWebhook(t, ts, testKey, createWebhookBody("one", one.URL))
	mustCreateWebhook(t, ts, testKey, createWebhookBody("two", two.URL))

	r := call(t, ts, "POST", "/v1/speech-to-text", testKey, multipartForm(t,
		part{field: "model_id", data: []byte("scribe_v2")}, part{field: "webhook", data: []byte("true")},
		part{field: "webhook_id", data: []byte(h1.ID)},
		part{field: "webhook_metadata", data: []byte(`{"job": "j-1", "n": 2}`)},
		part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(2)}))
	var accepted struct {
		Message         string `json:"message"`
		RequestID       string `json:"request_id"`
		TranscriptionID string `json:"transcription_id"`
	}
	r.json(t, &accepted)
	if r.status != http.StatusAccepted || accepted.Message == "" || accepted.RequestID != r.header.Get("request-id") || accepted.TranscriptionID == "" {
		t.Fatalf("webhook=true: %d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/speech-to-text/transcripts/"+accepted.TranscriptionID, testKey, nil), 404, "transcript_not_found")

	simtest.WaitFor(t, "the delivery", 10*time.Second, 10*time.Millisecond, func() bool { return len(one.deliveries()) > 0 })
	d := one.deliveries()[0]
	verifySignature(t, h1.Secret, d.header.Get(SignatureHeader), d.body)
	var ev struct {
		Type           string `json:"type"`
		EventTimestamp int64  `json:"event_timestamp"`
		Data           struct {
			RequestID       string          `json:"request_id"`
			Transcription   transcription   `json:"transcription"`
			WebhookMetadata json.RawMessage `json:"webhook_metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal(d.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "speech_to_text_transcription" || ev.EventTimestamp == 0 || ev.Data.RequestID != accepted.RequestID ||
		ev.Data.Transcription.TranscriptionID != accepted.TranscriptionID || ev.Data.Transcription.Text == "" ||
		string(ev.Data.WebhookMetadata) != `{"job":"j-1","n":2}` {
		t.Errorf("delivery %s", d.body)
	}
	got := call(t, ts, "GET", "/v1/speech-to-text/transcripts/"+accepted.TranscriptionID, testKey, nil)
	if got.status != 200 {
		t.Errorf("transcript after delivery: %d %s", got.status, got.body)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(two.deliveries()); n != 0 {
		t.Errorf("the webhook not named got %d deliveries", n)
	}
}

func TestSpeechToSpeechKeepsTheLengthOfTheUpload(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 100})
	for _, path := range []string{"/v1/speech-to-speech/" + rachel, "/v1/speech-to-speech/" + rachel + "/stream"} {
		r := call(t, ts, "POST", path, testKey, multipartForm(t,
			part{field: "voice_settings", data: []byte(`{"stability": 0.4}`)},
			part{field: "audio", fileName: "me.mp3", contentType: "audio/mpeg", data: media.MP3(3)}))
		if d := mp3Seconds(t, r); math.Abs(d-3) > 0.05 {
			t.Errorf("%s: %.2f s, want 3", path, d)
		}
		if r.header.Get("history-item-id") == "" {
			t.Errorf("%s: no history-item-id", path)
		}
	}
	wantValidation(t, call(t, ts, "POST", "/v1/speech-to-speech/"+rachel, testKey, multipartForm(t, part{field: "model_id", data: []byte("x")})), "audio")
	audio := part{field: "audio", fileName: "me.mp3", contentType: "audio/mpeg", data: media.MP3(1)}
	wantValidation(t, call(t, ts, "POST", "/v1/speech-to-speech/"+rachel, testKey, multipartForm(t, audio, part{field: "voice_settings", data: []byte(`{"stability": 3}`)})), "stability")
	wantDetail(t, call(t, ts, "POST", "/v1/speech-to-speech/nope", testKey, multipartForm(t, audio)), 404, "voice_not_found")
	wantDetail(t, call(t, ts, "POST", "/v1/speech-to-speech/"+rachel, testKey, multipartForm(t, audio, part{field: "model_id", data: []byte("eleven_multilingual_v2")})), 400, "model_not_found")
}

func dialogueBody(lines ...string) map[string]any {
	var inputs []map[string]string
	for i, l := range lines {
		inputs = append(inputs, map[string]string{"text": l, "voice_id": []string{rachel, george}[i%2]})
	}
	return map[string]any{"inputs": inputs}
}

func TestTextToDialogue(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 100})
	body := dialogueBody("Knock knock.", "Who is there?", "A simulator.")
	chars := len("Knock knock.") + len("Who is there?") + len("A simulator.")
	d := mp3Seconds(t, call(t, ts, "POST", "/v1/text-to-dialogue", testKey, body))
	if d < secondsPerChar*float64(chars)-0.1 {
		t.Errorf("dialogue lasts %.2f s for %d characters", d, chars)
	}
	if ds := mp3Seconds(t, call(t, ts, "POST", "/v1/text-to-dialogue/stream", testKey, body)); math.Abs(ds-d) > 0.001 {
		t.Errorf("streamed dialogue lasts %.2f s, the whole one %.2f s", ds, d)
	}

	r := call(t, ts, "POST", "/v1/text-to-dialogue/with-timestamps", testKey, body)
	var v struct {
		AudioBase64   string         `json:"audio_base64"`
		Alignment     *Alignment     `json:"alignment"`
		VoiceSegments []voiceSegment `json:"voice_segments"`
	}
	r.json(t, &v)
	audio, err := base64.StdEncoding.DecodeString(v.AudioBase64)
	if r.status != 200 || err != nil {
		t.Fatalf("%d %.200s", r.status, r.body)
	}
	total, _ := media.MP3Duration(audio)
	checkAlignment(t, v.Alignment, chars)
	if len(v.VoiceSegments) != 3 || v.VoiceSegments[1].VoiceID != george || v.VoiceSegments[1].CharacterStartIndex != len("Knock knock.") ||
		v.VoiceSegments[2].DialogueInputIndex != 2 || v.VoiceSegments[2].CharacterEndIndex != chars ||
		v.VoiceSegments[1].StartTimeSeconds != v.VoiceSegments[0].EndTimeSeconds || math.Abs(v.VoiceSegments[2].EndTimeSeconds-total) > 0.01 {
		t.Errorf("voice segments %+v (audio %.3f s)", v.VoiceSegments, total)
	}
	if last := v.Alignment.CharacterEndTimesSeconds[chars-1]; math.Abs(last-total) > 0.01 {
		t.Errorf("the last character ends at %.3f s, the audio at %.3f s", last, total)
	}

	wantValidation(t, call(t, ts, "POST", "/v1/text-to-dialogue", testKey, map[string]any{}), "inputs")
	wantValidation(t, call(t, ts, "POST", "/v1/text-to-dialogue", testKey, map[string]any{"inputs": []map[string]string{{"text": "hi"}}}), "voice_id")
	wantDetail(t, call(t, ts, "POST", "/v1/text-to-dialogue", testKey, map[string]any{"inputs": []map[string]string{{"text": "hi", "voice_id": "nope"}}}), 404, "voice_not_found")
	wantDetail(t, call(t, ts, "POST", "/v1/text-to-dialogue", testKey, map[string]any{"inputs": []map[string]string{{"text": strings.Repeat("a", 3001), "voice_id": rachel}}}), 400, "max_character_limit_exceeded")
}

func TestVoiceDesignRemixAndSave(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "POST", "/v1/text-to-voice/design", testKey, map[string]any{"voice_description": "A calm old lighthouse keeper", "model_id": "eleven_ttv_v3"})
	var design struct {
		Previews []struct {
			AudioBase64      string  `json:"audio_base_64"`
			GeneratedVoiceID string  `json:"generated_voice_id"`
			MediaType        string  `json:"media_type"`
			DurationSecs     float64 `json:"duration_secs"`
		} `json:"previews"`
		Text string `json:"text"`
	}
	r.json(t, &design)
	if r.status != 200 || len(design.Previews) != previewCount || design.Text == "" {
		t.Fatalf("design: %d %.300s", r.status, r.body)
	}
	p := design.Previews[0]
	audio, _ := base64.StdEncoding.DecodeString(p.AudioBase64)
	if d, err := media.MP3Duration(audio); err != nil || math.Abs(d-p.DurationSecs) > 0.01 || p.MediaType != "audio/mpeg" {
		t.Errorf("preview audio %.2f s (%v), duration_secs %.2f, media_type %q", d, err, p.DurationSecs, p.MediaType)
	}

	r = call(t, ts, "POST", "/v1/text-to-voice", testKey, map[string]any{"voice_name": "Keeper", "voice_description": "A calm old lighthouse keeper", "generated_voice_id": p.GeneratedVoiceID})
	var v Voice
	r.json(t, &v)
	if r.status != 200 || v.VoiceID == "" || v.Category != "generated" || v.Name != "Keeper" {
		t.Fatalf("create voice: %d %.300s", r.status, r.body)
	}
	if got := call(t, ts, "GET", "/v1/voices/"+v.VoiceID, testKey, nil); got.status != 200 {
		t.Errorf("the saved voice: %d", got.status)
	}
	mp3Seconds(t, call(t, ts, "POST", "/v1/text-to-speech/"+v.VoiceID, testKey, map[string]string{"text": "Hello."}))
	// A preview is saved once, and only by its key.
	wantDetail(t, call(t, ts, "POST", "/v1/text-to-voice", testKey, map[string]any{"voice_name": "Again", "voice_description": "x", "generated_voice_id": p.GeneratedVoiceID}), 404, "generated_voice_not_found")
	wantDetail(t, call(t, ts, "POST", "/v1/text-to-voice", otherKey, map[string]any{"voice_name": "Theirs", "voice_description": "x", "generated_voice_id": design.Previews[1].GeneratedVoiceID}), 404, "generated_voice_not_found")

	text := strings.Repeat("Remixed voices speak this sentence. ", 4)
	r = call(t, ts, "POST", "/v1/text-to-voice/"+v.VoiceID+"/remix", testKey, map[string]any{"voice_description": "Younger", "text": text, "stream_previews": true})
	r.json(t, &design)
	if r.status != 200 || design.Text != text || design.Previews[0].AudioBase64 != "" || r.header.Get("character-cost") != "144" {
		t.Errorf("remix: %d %.300s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "POST", "/v1/text-to-voice/"+v.VoiceID+"/remix", otherKey, map[string]any{"voice_description": "Younger"}), 404, "voice_not_found")

	wantValidation(t, call(t, ts, "POST", "/v1/text-to-voice/design", testKey, map[string]any{}), "voice_description")
	wantValidation(t, call(t, ts, "POST", "/v1/text-to-voice/design", testKey, map[string]any{"voice_description": "x", "text": "too short"}), "text")
	wantValidation(t, call(t, ts, "POST", "/v1/text-to-voice/design", testKey, map[string]any{"voice_description": "x", "model_id": "nope"}), "model_id")
	wantValidation(t, call(t, ts, "POST", "/v1/text-to-voice", testKey, map[string]any{"voice_name": "x"}), "generated_voice_id")
}

func TestMusic(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 100})
	if d := mp3Seconds(t, call(t, ts, "POST", "/v1/music", testKey, map[string]any{"prompt": "calm piano", "music_length_ms": 5000})); math.Abs(d-5) > 0.05 {
		t.Errorf("music lasts %.2f s, want 5", d)
	}
	r := call(t, ts, "POST", "/v1/music/plan", testKey, map[string]any{"prompt": "upbeat synth pop", "music_length_ms": 12000})
	var plan musicPlanShape
	r.json(t, &plan)
	total := 0
	for _, s := range plan.Sections {
		total += s.DurationMS
	}
	if r.status != 200 || total != 12000 || plan.PositiveGlobalStyles[0] != "upbeat synth pop" || plan.NegativeGlobalStyles == nil {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	planned := call(t, ts, "POST", "/v1/music/stream", testKey, map[string]any{"composition_plan": plan})
	if d := mp3Seconds(t, planned); math.Abs(d-12) > 0.05 {
		t.Errorf("music from the plan lasts %.2f s, want 12", d)
	}
	if d := mp3Seconds(t, call(t, ts, "POST", "/v1/music", testKey, map[string]any{"prompt": "anything"})); math.Abs(d-float64(defaultMusicMillis)/1000) > 0.05 {
		t.Errorf("automatic length %.2f s", d)
	}
	wantValidation(t, call(t, ts, "POST", "/v1/music", testKey, map[string]any{}), "")
	wantValidation(t, call(t, ts, "POST", "/v1/music", testKey, map[string]any{"prompt": "x", "composition_plan": plan}), "")
	wantValidation(t, call(t, ts, "POST", "/v1/music", testKey, map[string]any{"prompt": "x", "music_length_ms": 100}), "music_length_ms")
	wantValidation(t, call(t, ts, "POST", "/v1/music/plan", testKey, map[string]any{"music_length_ms": 5000}), "prompt")
}

func TestForcedAlignment(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	text := "Hello  there world"
	r := call(t, ts, "POST", "/v1/forced-alignment", testKey, multipartForm(t,
		part{field: "text", data: []byte(text)},
		part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(3)}))
	var v struct {
		Characters []sttSpan `json:"characters"`
		Words      []struct {
			Text  string  `json:"text"`
			Start float64 `json:"start"`
			End   float64 `json:"end"`
		} `json:"words"`
		Loss *float64 `json:"loss"`
	}
	r.json(t, &v)
	if r.status != 200 || len(v.Characters) != len(text) || len(v.Words) != 3 || v.Words[2].Text != "world" || v.Loss == nil ||
		math.Abs(v.Characters[len(text)-1].End-3) > 0.05 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	wantValidation(t, call(t, ts, "POST", "/v1/forced-alignment", testKey, multipartForm(t, part{field: "text", data: []byte("x")})), "file")
	wantValidation(t, call(t, ts, "POST", "/v1/forced-alignment", testKey, multipartForm(t,
		part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)})), "text")
}

// TestSpeechProductsNeedAKeyAndCharge: every new route answers 401 without a key, and the
// billable ones refuse an exhausted key with quota_exceeded.
func TestSpeechProductsNeedAKeyAndCharge(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	audio := func() *multipartBody {
		return multipartForm(t, part{field: "text", data: []byte("hi")},
			part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)},
			part{field: "audio", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)})
	}
	for _, c := range []struct {
		method, path string
		body         func() any
		billable     bool
	}{
		{"POST", "/v1/speech-to-text", func() any {
			return multipartForm(t, part{field: "model_id", data: []byte("scribe_v2")},
				part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)})
		}, true},
		{"GET", "/v1/speech-to-text/transcripts/x", func() any { return nil }, false},
		{"DELETE", "/v1/speech-to-text/transcripts/x", func() any { return nil }, false},
		{"POST", "/v1/speech-to-speech/" + rachel, func() any { return audio() }, true},
		{"POST", "/v1/speech-to-speech/" + rachel + "/stream", func() any { return audio() }, true},
		{"POST", "/v1/text-to-dialogue", func() any { return dialogueBody("hi") }, true},
		{"POST", "/v1/text-to-dialogue/stream", func() any { return dialogueBody("hi") }, true},
		{"POST", "/v1/text-to-dialogue/with-timestamps", func() any { return dialogueBody("hi") }, true},
		{"POST", "/v1/text-to-voice/design", func() any { return map[string]any{"voice_description": "x"} }, true},
		{"POST", "/v1/text-to-voice", func() any { return map[string]any{} }, false},
		{"POST", "/v1/text-to-voice/" + rachel + "/remix", func() any { return map[string]any{"voice_description": "x"} }, true},
		{"POST", "/v1/music", func() any { return map[string]any{"prompt": "x"} }, true},
		{"POST", "/v1/music/stream", func() any { return map[string]any{"prompt": "x"} }, true},
		{"POST", "/v1/music/plan", func() any { return map[string]any{"prompt": "x"} }, false},
		{"POST", "/v1/forced-alignment", func() any { return audio() }, true},
	} {
		wantDetail(t, call(t, ts, c.method, c.path, "", c.body()), 401, "needs_authorization")
		if c.billable {
			wantDetail(t, call(t, ts, c.method, c.path, "exhausted_key", c.body()), 401, "quota_exceeded")
		}
	}
}

// TestCloseCancelsAPendingTranscriptDelivery: Close does not wait out a webhook transcript.
func TestCloseCancelsAPendingTranscriptDelivery(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: 0.001}) // the delivery would take hours
	rc := newReceiver(t)
	mustCreateWebhook(t, ts, testKey, createWebhookBody("slow", rc.URL))
	r := call(t, ts, "POST", "/v1/speech-to-text", testKey, multipartForm(t,
		part{field: "model_id", data: []byte("scribe_v2")}, part{field: "webhook", data: []byte("true")},
		part{field: "file", fileName: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)}))
	if r.status != http.StatusAccepted {
		t.Fatalf("%d %s", r.status, r.body)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the pending transcript")
	}
	if n := len(rc.deliveries()); n != 0 {
		t.Errorf("%d deliveries after Close", n)
	}
}
