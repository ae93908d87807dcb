package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/elevenlabs"
	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// E2E tests of ElevenLabs' speech to text, speech to speech, dialogue, voice design, music
// and forced alignment through the gateway (docs/simulators.md §26).

const george = "JBFqnCBsd6RMkjVDRZzb" // another premade ElevenLabs voice

// TestE2EElevenLabsSpeechToText: a transcript is made, read and deleted through the proxy;
// with webhook=true the proxy passes the provider's 202 on, and the transcript arrives at
// the account's workspace webhook as a signed speech_to_text_transcription event.
func TestE2EElevenLabsSpeechToText(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	status, _, body := e.invokeMultipart("elevenlabs", "speech-to-text",
		map[string]any{"body": map[string]any{"model_id": "scribe_v2", "timestamps_granularity": "word"}},
		formFile{field: "file", filename: "talk.mp3", contentType: "audio/mpeg", data: media.MP3(3)})
	if status != http.StatusOK {
		t.Fatalf("speech-to-text: %d %s", status, body)
	}
	tr := e2eDecode(t, body)
	id := jstr(t, tr, "transcription_id")
	words := jlist(t, tr, "words")
	if jstr(t, tr, "text") == "" || len(words) == 0 || jget(words, 0, "type") != "word" || math.Abs(jget(tr, "audio_duration_secs").(float64)-3) > 0.05 {
		t.Errorf("transcript %s", body)
	}
	got := e.call("elevenlabs", "get-transcript", e2ePathParams("transcription_id", id))
	if jget(got, "text") != jget(tr, "text") {
		t.Errorf("get-transcript: %v", got)
	}
	if res := e.call("elevenlabs", "delete-transcript", e2ePathParams("transcription_id", id)); jget(res, "status") != "ok" {
		t.Errorf("delete-transcript: %v", res)
	}
	status, _, body = e.invoke("elevenlabs", "get-transcript", e2ePathParams("transcription_id", id))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_body", "detail", "status") != "transcript_not_found" {
		t.Errorf("get-transcript after delete: %d %s", status, body)
	}

	// Asynchronous: 202 now, the signed event later.
	type got2 struct {
		sig  string
		body []byte
	}
	deliveries := make(chan got2, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		deliveries <- got2{r.Header.Get(elevenlabs.SignatureHeader), b}
	}))
	t.Cleanup(hook.Close)
	res := e.call("elevenlabs", "create-workspace-webhook", map[string]any{"body": map[string]any{
		"settings": map[string]any{"auth_type": "hmac", "name": "STT hook", "webhook_url": hook.URL}}})
	secret := jstr(t, res, "webhook_secret")
	status, _, body = e.invokeMultipart("elevenlabs", "speech-to-text",
		map[string]any{"body": map[string]any{"model_id": "scribe_v2", "webhook": true, "webhook_metadata": `{"ticket":"T-1"}`}},
		formFile{field: "file", filename: "talk.mp3", contentType: "audio/mpeg", data: media.MP3(1)})
	if status != http.StatusAccepted {
		t.Fatalf("speech-to-text webhook=true: %d %s, want 202", status, body)
	}
	acc := e2eDecode(t, body)
	reqID, trID := jstr(t, acc, "request_id"), jstr(t, acc, "transcription_id")
	jstr(t, acc, "message")
	// Both ids are the org's jobs: the delivery names the request_id (data.request_id), by
	// which the gateway's webhook receiver finds the org.
	for _, upstream := range []string{reqID, trID} {
		if j, err := e.app.store.JobByUpstreamID(context.Background(), "elevenlabs", upstream); err != nil || j.OrgID == 0 {
			t.Errorf("no job recorded for %s: %v", upstream, err)
		}
	}
	var d got2
	select {
	case d = <-deliveries:
	case <-time.After(20 * time.Second):
		t.Fatal("no speech_to_text_transcription delivery")
	}
	ts, _, _ := strings.Cut(strings.TrimPrefix(d.sig, "t="), ",")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || d.sig != elevenlabs.SignWebhook(secret, time.Unix(sec, 0), d.body) {
		t.Errorf("delivery signed %q, which the webhook's secret does not verify", d.sig)
	}
	ev := e2eDecode(t, d.body)
	if jget(ev, "type") != "speech_to_text_transcription" || jget(ev, "data", "request_id") != reqID ||
		jget(ev, "data", "transcription", "transcription_id") != trID || jget(ev, "data", "webhook_metadata", "ticket") != "T-1" {
		t.Errorf("delivery %s", d.body)
	}
	if got := e.call("elevenlabs", "get-transcript", e2ePathParams("transcription_id", trID)); jget(got, "transcription_id") != trID {
		t.Errorf("the webhook transcript: %v", got)
	}
}

// TestE2EElevenLabsSpeechToSpeech: converted speech lasts as long as the upload, whole or
// streamed.
func TestE2EElevenLabsSpeechToSpeech(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	for _, action := range []string{"speech-to-speech", "speech-to-speech-stream"} {
		status, hdr, body := e.invokeMultipart("elevenlabs", action,
			map[string]any{"path_params": map[string]any{"voice_id": rachel}, "body": map[string]any{"model_id": "eleven_multilingual_sts_v2"}},
			formFile{field: "audio", filename: "me.mp3", contentType: "audio/mpeg", data: media.MP3(2)})
		if d := mp3Of(t, action, status, hdr, body); math.Abs(d-2) > 0.05 {
			t.Errorf("%s: %.2f s, want the upload's 2 s", action, d)
		}
	}
	status, _, body := e.invokeMultipart("elevenlabs", "speech-to-speech",
		map[string]any{"path_params": map[string]any{"voice_id": "nope"}},
		formFile{field: "audio", filename: "me.mp3", contentType: "audio/mpeg", data: media.MP3(1)})
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_body", "detail", "status") != "voice_not_found" {
		t.Errorf("unknown voice: %d %s", status, body)
	}
}

func dialogueEnvelope(lines ...string) map[string]any {
	var inputs []any
	for i, l := range lines {
		inputs = append(inputs, map[string]any{"text": l, "voice_id": []string{rachel, george}[i%2]})
	}
	return map[string]any{"body": map[string]any{"inputs": inputs}}
}

// TestE2EElevenLabsTextToDialogue: the three dialogue actions answer the same audio: whole,
// streamed, and as base64 with an alignment and one voice segment per input.
func TestE2EElevenLabsTextToDialogue(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	env := dialogueEnvelope("Knock knock.", "Who is there?")
	status, hdr, body := e.invoke("elevenlabs", "text-to-dialogue", env)
	whole := mp3Of(t, "text-to-dialogue", status, hdr, body)
	status, hdr, body = e.invoke("elevenlabs", "text-to-dialogue-stream", env)
	if d := mp3Of(t, "text-to-dialogue-stream", status, hdr, body); math.Abs(d-whole) > 0.001 {
		t.Errorf("streamed dialogue %.2f s, whole %.2f s", d, whole)
	}
	res := e.call("elevenlabs", "text-to-dialogue-timestamps", env)
	audio, err := base64.StdEncoding.DecodeString(jstr(t, res, "audio_base64"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := media.MP3Duration(audio); err != nil || math.Abs(d-whole) > 0.001 {
		t.Errorf("dialogue with timestamps: %.2f s (%v), want %.2f", d, err, whole)
	}
	segs := jlist(t, res, "voice_segments")
	chars := jlist(t, res, "alignment", "characters")
	if len(segs) != 2 || jget(segs, 1, "voice_id") != george || len(chars) != len("Knock knock.Who is there?") ||
		jget(segs, 1, "character_start_index") != float64(len("Knock knock.")) {
		t.Errorf("voice_segments %v, %d characters aligned", segs, len(chars))
	}
}

// TestE2EElevenLabsVoiceDesign: design previews, save one as a voice, speak with it, remix it.
func TestE2EElevenLabsVoiceDesign(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	design := e.call("elevenlabs", "design-voice", map[string]any{"body": map[string]any{
		"voice_description": "A calm old lighthouse keeper", "text": strings.Repeat("The lamp is lit and the sea is calm. ", 3)}})
	previews := jlist(t, design, "previews")
	if len(previews) == 0 {
		t.Fatalf("design-voice: %v", design)
	}
	audio, err := base64.StdEncoding.DecodeString(jstr(t, previews[0], "audio_base_64"))
	if _, merr := media.MP3Duration(audio); err != nil || merr != nil || jget(previews[0], "media_type") != "audio/mpeg" {
		t.Errorf("preview audio: %v %v", err, merr)
	}
	saved := e.call("elevenlabs", "create-voice-from-preview", map[string]any{"body": map[string]any{
		"voice_name": "Keeper", "voice_description": "A calm old lighthouse keeper",
		"generated_voice_id": jstr(t, previews[0], "generated_voice_id")}})
	voiceID := jstr(t, saved, "voice_id")
	if jget(saved, "category") != "generated" || jget(saved, "name") != "Keeper" {
		t.Errorf("create-voice-from-preview: %v", saved)
	}
	status, hdr, body := e.invoke("elevenlabs", "tts", map[string]any{"path_params": map[string]any{"voice_id": voiceID}, "body": map[string]any{"text": "Hello, sailor."}})
	mp3Of(t, "tts with the designed voice", status, hdr, body)
	remix := e.call("elevenlabs", "remix-voice", map[string]any{"path_params": map[string]any{"voice_id": voiceID},
		"body": map[string]any{"voice_description": "Younger and brighter"}})
	if len(jlist(t, remix, "previews")) == 0 || jstr(t, remix, "text") == "" {
		t.Errorf("remix-voice: %v", remix)
	}
}

// TestE2EElevenLabsMusic: a plan is made from a prompt, and music composed from that plan
// lasts what the plan says; a prompt with a length gives that length, whole or streamed.
func TestE2EElevenLabsMusic(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	plan := e.call("elevenlabs", "create-composition-plan", map[string]any{"body": map[string]any{"prompt": "gentle acoustic guitar", "music_length_ms": 6000}})
	total := 0.0
	for _, s := range jlist(t, plan, "sections") {
		total += jget(s, "duration_ms").(float64)
	}
	if total != 6000 || len(jlist(t, plan, "positive_global_styles")) == 0 {
		t.Fatalf("create-composition-plan: %v", plan)
	}
	status, hdr, body := e.invoke("elevenlabs", "compose-music", map[string]any{"body": map[string]any{"composition_plan": plan}})
	if d := mp3Of(t, "compose-music from a plan", status, hdr, body); math.Abs(d-6) > 0.05 {
		t.Errorf("music from the plan: %.2f s, want 6", d)
	}
	status, hdr, body = e.invoke("elevenlabs", "compose-music-stream", map[string]any{"body": map[string]any{"prompt": "drums", "music_length_ms": 4000}})
	if d := mp3Of(t, "compose-music-stream", status, hdr, body); math.Abs(d-4) > 0.05 {
		t.Errorf("streamed music: %.2f s, want 4", d)
	}
	status, _, body = e.invoke("elevenlabs", "compose-music", map[string]any{"body": map[string]any{}})
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(422) {
		t.Errorf("compose-music without prompt or plan: %d %s", status, body)
	}
}

// TestE2EElevenLabsForcedAlignment: every character and word of the text is placed in the
// recording.
func TestE2EElevenLabsForcedAlignment(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	text := "Hello from the gateway"
	status, _, body := e.invokeMultipart("elevenlabs", "forced-alignment",
		map[string]any{"body": map[string]any{"text": text}},
		formFile{field: "file", filename: "talk.mp3", contentType: "audio/mpeg", data: media.MP3(2)})
	if status != http.StatusOK {
		t.Fatalf("forced-alignment: %d %s", status, body)
	}
	var v struct {
		Characters []struct {
			Text string  `json:"text"`
			End  float64 `json:"end"`
		} `json:"characters"`
		Words []struct {
			Text string `json:"text"`
		} `json:"words"`
		Loss *float64 `json:"loss"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Characters) != len(text) || len(v.Words) != 4 || v.Words[3].Text != "gateway" || v.Loss == nil ||
		math.Abs(v.Characters[len(text)-1].End-2) > 0.05 {
		t.Errorf("forced-alignment: %s", body)
	}
}
