package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

const rachel = "21m00Tcm4TlvDq8ikWAM" // a premade ElevenLabs voice

// mp3Of checks an answer is audio/mpeg that media.MP3Duration accepts, and returns its
// duration.
func mp3Of(t *testing.T, what string, status int, hdr http.Header, body []byte) float64 {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("%s: status %d: %.300s", what, status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "audio/mpeg" {
		t.Errorf("%s: Content-Type %q, want audio/mpeg", what, ct)
	}
	d, err := media.MP3Duration(body)
	if err != nil {
		t.Fatalf("%s: not a valid MP3 (%d bytes): %v", what, len(body), err)
	}
	return d
}

func ttsEnvelope(text string) map[string]any {
	return map[string]any{
		"path_params": map[string]any{"voice_id": rachel},
		"body":        map[string]any{"text": text, "model_id": "eleven_multilingual_v2"},
	}
}

func TestE2EElevenLabsTTSIsMP3WhoseDurationGrowsWithText(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	status, hdr, short := e.invoke("elevenlabs", "tts", ttsEnvelope("Hello from aiproxy."))
	dShort := mp3Of(t, "short tts", status, hdr, short)
	if hdr.Get("Content-Length") != "" && hdr.Get("Content-Length") != strconv.Itoa(len(short)) {
		t.Errorf("Content-Length %s, body %d bytes", hdr.Get("Content-Length"), len(short))
	}
	if hdr.Get("character-cost") == "" || hdr.Get("history-item-id") == "" {
		t.Errorf("provider headers missing: character-cost %q, history-item-id %q", hdr.Get("character-cost"), hdr.Get("history-item-id"))
	}
	status, hdr, long := e.invoke("elevenlabs", "tts", ttsEnvelope(strings.Repeat("A much longer sentence to speak. ", 8)))
	dLong := mp3Of(t, "long tts", status, hdr, long)
	if dLong <= dShort {
		t.Errorf("longer text gave %.2f s, not more than the short text's %.2f s", dLong, dShort)
	}
}

// TestE2EElevenLabsTTSStreamArrivesProgressively reads tts-stream through the proxy and
// checks the audio arrives in several reads spread over time, the first before the end.
func TestE2EElevenLabsTTSStreamArrivesProgressively(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 1) // real time: chunks 50 ms apart
	resp := e.send(e2eOrg, e.key, "elevenlabs", "tts-stream", "application/json",
		encodeEnvelope(t, ttsEnvelope("Streaming speech should arrive chunk by chunk, not all at once.")))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("tts-stream: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var audio []byte
	var times []time.Time
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			audio = append(audio, buf[:n]...)
			times = append(times, time.Now())
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	end := time.Now()
	gaps := 0
	for i := 1; i < len(times); i++ {
		if times[i].Sub(times[i-1]) >= 15*time.Millisecond {
			gaps++
		}
	}
	if len(times) < 2 || gaps < 2 {
		t.Errorf("stream came in %d reads with %d pauses; want several reads spread over time", len(times), gaps)
	}
	if end.Sub(times[0]) < 100*time.Millisecond {
		t.Errorf("first chunk arrived only %v before the end: the proxy buffered the stream", end.Sub(times[0]))
	}
	if _, err := media.MP3Duration(audio); err != nil {
		t.Errorf("streamed audio is not a valid MP3: %v", err)
	}
}

type e2eAlignment struct {
	Characters []string  `json:"characters"`
	Starts     []float64 `json:"character_start_times_seconds"`
	Ends       []float64 `json:"character_end_times_seconds"`
}

type e2eTimestamped struct {
	AudioBase64 string        `json:"audio_base64"`
	Alignment   *e2eAlignment `json:"alignment"`
	Normalized  *e2eAlignment `json:"normalized_alignment"`
}

func e2eCheckAlignment(t *testing.T, what string, a *e2eAlignment) int {
	t.Helper()
	if a == nil {
		t.Fatalf("%s: no alignment", what)
	}
	if len(a.Characters) == 0 || len(a.Characters) != len(a.Starts) || len(a.Starts) != len(a.Ends) {
		t.Errorf("%s: e2eAlignment lengths %d/%d/%d differ", what, len(a.Characters), len(a.Starts), len(a.Ends))
	}
	return len(a.Characters)
}

func TestE2EElevenLabsTTSWithTimestamps(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	const text = "Timestamps for every character."
	var ts e2eTimestamped
	status, _, body := e.invoke("elevenlabs", "tts-timestamps", ttsEnvelope(text))
	if status != http.StatusOK {
		t.Fatalf("tts-timestamps: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &ts); err != nil {
		t.Fatal(err)
	}
	audio, err := base64.StdEncoding.DecodeString(ts.AudioBase64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := media.MP3Duration(audio); err != nil {
		t.Errorf("audio_base64 is not a valid MP3: %v", err)
	}
	if n := e2eCheckAlignment(t, "alignment", ts.Alignment); n != len(text) || strings.Join(ts.Alignment.Characters, "") != text {
		t.Errorf("alignment covers %q, want %q", strings.Join(ts.Alignment.Characters, ""), text)
	}
	e2eCheckAlignment(t, "normalized_alignment", ts.Normalized)
}

func TestE2EElevenLabsTTSStreamWithTimestampsIsJSONLines(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	const text = "Each line is one JSON object with its own e2eAlignment."
	resp := e.send(e2eOrg, e.key, "elevenlabs", "tts-stream-timestamps", "application/json", encodeEnvelope(t, ttsEnvelope(text)))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("tts-stream-timestamps: %d %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 4<<20)
	lines, chars := 0, ""
	var audio []byte
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		lines++
		var chunk e2eTimestamped
		if err := json.Unmarshal(sc.Bytes(), &chunk); err != nil {
			t.Fatalf("line %d is not JSON: %v: %.200s", lines, err, sc.Bytes())
		}
		e2eCheckAlignment(t, "line alignment", chunk.Alignment)
		chars += strings.Join(chunk.Alignment.Characters, "")
		a, err := base64.StdEncoding.DecodeString(chunk.AudioBase64)
		if err != nil {
			t.Fatalf("line %d: audio_base64: %v", lines, err)
		}
		audio = append(audio, a...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 2 {
		t.Errorf("%d lines, want several", lines)
	}
	if chars != text {
		t.Errorf("the lines' characters spell %q, want %q", chars, text)
	}
	if _, err := media.MP3Duration(audio); err != nil {
		t.Errorf("joined audio is not a valid MP3: %v", err)
	}
}

func TestE2EElevenLabsSoundGenerationAndAudioIsolation(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	status, hdr, body := e.invoke("elevenlabs", "sound-generation", map[string]any{"body": map[string]any{"text": "Rain on a tin roof", "duration_seconds": 2}})
	if d := mp3Of(t, "sound-generation", status, hdr, body); math.Abs(d-2) > 0.1 {
		t.Errorf("sound lasts %.2f s, want 2", d)
	}

	recording := media.MP3(1.5)
	for _, action := range []string{"audio-isolation", "audio-isolation-stream"} {
		status, hdr, body := e.invokeMultipart("elevenlabs", action, nil,
			formFile{field: "audio", filename: "noisy.mp3", contentType: "audio/mpeg", data: recording})
		if d := mp3Of(t, action, status, hdr, body); math.Abs(d-1.5) > 0.1 {
			t.Errorf("%s: isolated audio lasts %.2f s, want the upload's 1.5 s", action, d)
		}
	}
}

func TestE2EElevenLabsDubbingLifecycle(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 5) // dubbing takes 5 s simulated: about a second here
	status, _, body := e.invokeMultipart("elevenlabs", "create-dubbing",
		map[string]any{"body": map[string]any{"target_lang": "es", "source_lang": "en", "name": "E2E dub"}},
		formFile{field: "file", filename: "talk.mp3", contentType: "audio/mpeg", data: media.MP3(2)})
	if status != http.StatusOK {
		t.Fatalf("create-dubbing: %d %s", status, body)
	}
	id := jstr(t, e2eDecode(t, body), "dubbing_id")
	audioEnv := map[string]any{"path_params": map[string]any{"dubbing_id": id, "language_code": "es"}}

	// Before it is ready, the provider's 425 comes back as 502 with upstream_status.
	status, _, body = e.invoke("elevenlabs", "get-dubbed-audio", audioEnv)
	res := e2eDecode(t, body)
	if status != http.StatusBadGateway || jget(res, "upstream_status") != float64(425) ||
		jget(res, "upstream_body", "detail", "status") != "dubbing_not_ready" {
		t.Errorf("get-dubbed-audio before ready: %d %s, want 502 with upstream_status 425", status, body)
	}
	if jget(res, "detail") != "The upstream external service request failed." {
		t.Errorf("detail = %v", jget(res, "detail"))
	}

	var d any
	e2ePoll(t, "dubbing", func() bool {
		d = e.call("elevenlabs", "get-dubbing", e2ePathParams("dubbing_id", id))
		return jget(d, "status") != "dubbing"
	})
	if jget(d, "status") != "dubbed" || jget(d, "name") != "E2E dub" {
		t.Fatalf("dubbing ended %v", d)
	}
	status, hdr, audio := e.invoke("elevenlabs", "get-dubbed-audio", audioEnv)
	if dur := mp3Of(t, "dubbed audio", status, hdr, audio); math.Abs(dur-2) > 0.1 {
		t.Errorf("dubbed audio lasts %.2f s, want 2", dur)
	}

	e.call("elevenlabs", "delete-dubbing", e2ePathParams("dubbing_id", id))
	status, _, body = e.invoke("elevenlabs", "get-dubbing", e2ePathParams("dubbing_id", id))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(404) {
		t.Errorf("get-dubbing after delete: %d %s", status, body)
	}

	// A file named "fail…" makes the dubbing fail.
	status, _, body = e.invokeMultipart("elevenlabs", "create-dubbing",
		map[string]any{"body": map[string]any{"target_lang": "de"}},
		formFile{field: "file", filename: "fail.mp3", contentType: "audio/mpeg", data: media.MP3(1)})
	if status != http.StatusOK {
		t.Fatalf("create-dubbing: %d %s", status, body)
	}
	id = jstr(t, e2eDecode(t, body), "dubbing_id")
	e2ePoll(t, "failing dubbing", func() bool {
		d = e.call("elevenlabs", "get-dubbing", e2ePathParams("dubbing_id", id))
		return jget(d, "status") != "dubbing"
	})
	if jget(d, "status") != "failed" || jget(d, "error") == nil {
		t.Errorf("dubbing of fail.mp3 ended %v, want failed with an error", d)
	}
}

func TestE2EElevenLabsVoiceCloningLifecycle(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	voices := jlist(t, e.call("elevenlabs", "list-voices", nil), "voices")
	if !e2eContainsID(voices, "voice_id", rachel) {
		t.Fatalf("list-voices lacks %s", rachel)
	}

	status, _, body := e.invokeMultipart("elevenlabs", "add-voice",
		map[string]any{"body": map[string]any{"name": "E2E Clone", "description": "two samples", "labels": map[string]string{"accent": "british"}}},
		formFile{field: "files", filename: "one.mp3", contentType: "audio/mpeg", data: media.MP3(1)},
		formFile{field: "files", filename: "two.mp3", contentType: "audio/mpeg", data: media.MP3(2)})
	if status != http.StatusOK {
		t.Fatalf("add-voice: %d %s", status, body)
	}
	id := jstr(t, e2eDecode(t, body), "voice_id")
	pp := e2ePathParams("voice_id", id)

	v := e.call("elevenlabs", "get-voice", pp)
	samples := jlist(t, v, "samples")
	if len(samples) != 2 || jget(samples, 0, "file_name") != "one.mp3" || jget(samples, 1, "file_name") != "two.mp3" {
		t.Errorf("samples = %v, want one.mp3 and two.mp3", samples)
	}
	if jget(v, "labels", "accent") != "british" || jget(v, "description") != "two samples" {
		t.Errorf("labels %v, description %v", jget(v, "labels"), jget(v, "description"))
	}

	// edit-voice is multipart upstream; a JSON envelope's body becomes its form fields.
	e.call("elevenlabs", "edit-voice", map[string]any{"path_params": map[string]any{"voice_id": id}, "body": map[string]any{"name": "E2E Renamed"}})
	if name := jget(e.call("elevenlabs", "get-voice", pp), "name"); name != "E2E Renamed" {
		t.Errorf("name after edit-voice = %v", name)
	}
	settings := e.call("elevenlabs", "get-voice-settings", pp)
	if _, ok := jget(settings, "stability").(float64); !ok {
		t.Errorf("get-voice-settings: %v", settings)
	}
	e.call("elevenlabs", "delete-voice", pp)
	status, _, body = e.invoke("elevenlabs", "get-voice", pp)
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") == nil {
		t.Errorf("get-voice after delete: %d %s", status, body)
	}
}

func TestE2EElevenLabsHistory(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	const text = "Kept in the history."
	status, hdr, _ := e.invoke("elevenlabs", "tts", ttsEnvelope(text))
	if status != http.StatusOK {
		t.Fatalf("tts: %d", status)
	}
	id := hdr.Get("history-item-id")
	hist := jlist(t, e.call("elevenlabs", "get-history", nil), "history")
	if !e2eContainsID(hist, "history_item_id", id) {
		t.Fatalf("get-history lacks %s: %v", id, hist)
	}
	pp := e2ePathParams("history_item_id", id)
	if got := jget(e.call("elevenlabs", "get-history-item", pp), "text"); got != text {
		t.Errorf("history item text = %v", got)
	}
	status, hdr, audio := e.invoke("elevenlabs", "get-history-audio", pp)
	mp3Of(t, "history audio", status, hdr, audio)
	e.call("elevenlabs", "delete-history-item", pp)
	if hist := jlist(t, e.call("elevenlabs", "get-history", nil), "history"); e2eContainsID(hist, "history_item_id", id) {
		t.Errorf("history item %s still listed after delete", id)
	}
}

func TestE2EElevenLabsAccountModelsAndScrubbedUser(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	status, _, body := e.invoke("elevenlabs", "list-models", nil)
	if status != http.StatusOK {
		t.Fatalf("list-models: %d %s", status, body)
	}
	var models []map[string]any
	if err := json.Unmarshal(body, &models); err != nil || len(models) == 0 {
		t.Fatalf("list-models is not a non-empty bare JSON array: %v: %.200s", err, body)
	}
	if models[0]["model_id"] == nil {
		t.Errorf("first model has no model_id: %v", models[0])
	}

	sub := e.call("elevenlabs", "get-subscription", nil)
	if jget(sub, "tier") == nil || jget(sub, "character_limit") == nil {
		t.Errorf("get-subscription: %v", sub)
	}

	// GET /v1/user echoes the provider key in xi_api_key: the proxy must scrub it.
	status, hdr, body := e.invoke("elevenlabs", "get-user", nil)
	if status != http.StatusOK {
		t.Fatalf("get-user: %d %s", status, body)
	}
	if bytes.Contains(body, []byte(e2eElevenKey)) {
		t.Errorf("get-user body leaks the tenant credential: %s", body)
	}
	for name, values := range hdr {
		for _, v := range values {
			if strings.Contains(v, e2eElevenKey) {
				t.Errorf("header %s leaks the tenant credential", name)
			}
		}
	}
	user := e2eDecode(t, body)
	if k, _ := jget(user, "xi_api_key").(string); k == "" {
		t.Errorf("xi_api_key = %v: expected the field, with the key replaced", jget(user, "xi_api_key"))
	}
	jstr(t, user, "user_id")
}

// TestE2EElevenLabsWorkspaceWebhooks runs the workspace webhook actions through the proxy:
// create (its secret comes back unchanged, the one the provider signs with), list, update,
// delete; then an event the simulator sends (its control route, POST /_sim/webhooks/send)
// reaches the webhook signed with that secret.
func TestE2EElevenLabsWorkspaceWebhooks(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	type got struct {
		sig  string
		body []byte
	}
	deliveries := make(chan got, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		deliveries <- got{r.Header.Get(elevenlabs.SignatureHeader), b}
	}))
	t.Cleanup(hook.Close)

	res := e.call("elevenlabs", "create-workspace-webhook", map[string]any{"body": map[string]any{
		"settings": map[string]any{"auth_type": "hmac", "name": "E2E hook", "webhook_url": hook.URL + "/elevenlabs"}}})
	id, secret := jstr(t, res, "webhook_id"), jstr(t, res, "webhook_secret")
	hooks := jlist(t, e.call("elevenlabs", "list-workspace-webhooks", map[string]any{"query": map[string]any{"include_usages": "true"}}), "webhooks")
	if !e2eContainsID(hooks, "webhook_id", id) || jget(hooks, 0, "webhook_url") != hook.URL+"/elevenlabs" || jget(hooks, 0, "auth_type") != "hmac" {
		t.Fatalf("list-workspace-webhooks: %v", hooks)
	}

	e.call("elevenlabs", "update-workspace-webhook", map[string]any{"path_params": map[string]any{"webhook_id": id},
		"body": map[string]any{"is_disabled": true, "name": "E2E hook, paused"}})
	hooks = jlist(t, e.call("elevenlabs", "list-workspace-webhooks", nil), "webhooks")
	if jget(hooks, 0, "is_disabled") != true || jget(hooks, 0, "name") != "E2E hook, paused" {
		t.Errorf("after update-workspace-webhook: %v", hooks)
	}
	e.call("elevenlabs", "update-workspace-webhook", map[string]any{"path_params": map[string]any{"webhook_id": id},
		"body": map[string]any{"is_disabled": false, "name": "E2E hook"}})

	// The provider signs its deliveries with the secret the proxy passed on.
	resp, body := simtest.Do(t, http.DefaultClient, http.MethodPost, e.simURL+"/_sim/webhooks/send",
		strings.NewReader(`{"type": "speech_to_text_transcription", "data": {"request_id": "req-e2e", "transcription_id": "tr-e2e"}}`),
		"xi-api-key", e2eElevenKey, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK || string(body) != `{"delivered_to":1}` {
		t.Fatalf("sending an event: %d %s", resp.StatusCode, body)
	}
	d := <-deliveries
	ts, _, _ := strings.Cut(strings.TrimPrefix(d.sig, "t="), ",")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || d.sig != elevenlabs.SignWebhook(secret, time.Unix(sec, 0), d.body) {
		t.Errorf("delivery signed %q, which the secret from create-workspace-webhook does not verify", d.sig)
	}
	if jget(e2eDecode(t, d.body), "data", "transcription_id") != "tr-e2e" {
		t.Errorf("delivery %s", d.body)
	}

	e.call("elevenlabs", "delete-workspace-webhook", e2ePathParams("webhook_id", id))
	if hooks := jlist(t, e.call("elevenlabs", "list-workspace-webhooks", nil), "webhooks"); e2eContainsID(hooks, "webhook_id", id) {
		t.Errorf("webhook %s still listed after delete", id)
	}
	status, _, body := e.invoke("elevenlabs", "delete-workspace-webhook", e2ePathParams("webhook_id", id))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(404) ||
		jget(e2eDecode(t, body), "upstream_body", "detail", "status") != "webhook_not_found" {
		t.Errorf("delete-workspace-webhook again: %d %s, want 502 with upstream_status 404", status, body)
	}
}
