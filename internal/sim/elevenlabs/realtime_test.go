package elevenlabs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// rtSpeed keeps the default 20 s inactivity timeout at 2 s of real time.
const rtSpeed = 10

func wsURL(ts *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

func dialWS(t *testing.T, ts *httptest.Server, path, key string) *websocket.Conn {
	t.Helper()
	c, resp, err := dialWSResp(ts, path, key)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func dialWSResp(ts *httptest.Server, path, key string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if key != "" {
		h.Set("xi-api-key", key)
	}
	c, resp, err := websocket.Dial(ctx, wsURL(ts, path), &websocket.DialOptions{HTTPHeader: h})
	if c != nil {
		c.SetReadLimit(wsReadLimit)
	}
	return c, resp, err
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, _ := json.Marshal(v)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// recv reads one JSON message into a map; err is the read error (a close, say).
func recv(t *testing.T, c *websocket.Conn) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message is not JSON: %s", b)
	}
	return m, nil
}

func mustRecv(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	m, err := recv(t, c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// checkAudio checks one TTS audio message: MP3 audio and alignments as long as want's characters.
func checkAudio(t *testing.T, m map[string]any, want string) {
	t.Helper()
	if m["isFinal"] != false {
		t.Fatalf("isFinal = %v, want false: %v", m["isFinal"], m)
	}
	audio, err := base64.StdEncoding.DecodeString(m["audio"].(string))
	if err != nil || len(audio) == 0 {
		t.Fatalf("audio does not decode: %v", err)
	}
	if _, err := media.MP3Duration(audio); err != nil {
		t.Fatalf("audio is not MP3: %v", err)
	}
	for _, name := range []string{"alignment", "normalizedAlignment"} {
		al := m[name].(map[string]any)
		chars := al["chars"].([]any)
		var got strings.Builder
		for _, ch := range chars {
			got.WriteString(ch.(string))
		}
		if got.String() != want {
			t.Fatalf("%s chars = %q, want %q", name, got.String(), want)
		}
		n := utf8.RuneCountInString(want)
		if len(chars) != n || len(al["charStartTimesMs"].([]any)) != n || len(al["charDurationsMs"].([]any)) != n {
			t.Fatalf("%s lengths differ from %d: %v", name, n, al)
		}
	}
}

func closeStatus(t *testing.T, err error) (websocket.StatusCode, string) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("want a close, got %v", err)
	}
	return ce.Code, ce.Reason
}

func TestStreamInputChunksAlignmentAndFinal(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/text-to-speech/"+firstVoiceID(t, ts)+"/stream-input?model_id=eleven_flash_v2_5", testKey)
	send(t, c, map[string]any{"text": " ", "voice_settings": map[string]any{"stability": 0.5, "similarity_boost": 0.8}})
	send(t, c, map[string]any{"text": "Hello there. "})
	send(t, c, map[string]any{"text": "How are you? ", "flush": true})
	checkAudio(t, mustRecv(t, c), "Hello there. How are you? ")
	send(t, c, map[string]any{"text": "Fine. "})
	send(t, c, map[string]any{"text": ""})
	checkAudio(t, mustRecv(t, c), "Fine. ")
	if m := mustRecv(t, c); m["isFinal"] != true {
		t.Fatalf("want isFinal true, got %v", m)
	}
	_, err := recv(t, c)
	if code, _ := closeStatus(t, err); code != websocket.StatusNormalClosure {
		t.Fatalf("close code %d, want 1000", code)
	}
}

func TestStreamInputScheduleTriggersGeneration(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/text-to-speech/"+firstVoiceID(t, ts)+"/stream-input", testKey)
	send(t, c, map[string]any{"text": " ", "generation_config": map[string]any{"chunk_length_schedule": []int{50}}})
	a, b := strings.Repeat("a ", 30), strings.Repeat("b ", 30)
	send(t, c, map[string]any{"text": a}) // 60 characters ≥ 50: spoken at once
	checkAudio(t, mustRecv(t, c), a)
	send(t, c, map[string]any{"text": b})
	checkAudio(t, mustRecv(t, c), b)
	send(t, c, map[string]any{"text": ""})
	if m := mustRecv(t, c); m["isFinal"] != true {
		t.Fatalf("want isFinal true, got %v", m)
	}
}

func TestStreamInputFirstMessageKey(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	voice := firstVoiceID(t, ts)
	c := dialWS(t, ts, "/v1/text-to-speech/"+voice+"/stream-input", "")
	send(t, c, map[string]any{"text": " ", "xi_api_key": testKey})
	send(t, c, map[string]any{"text": "Hi. ", "flush": true})
	checkAudio(t, mustRecv(t, c), "Hi. ")

	bad := dialWS(t, ts, "/v1/text-to-speech/"+voice+"/stream-input", "")
	send(t, bad, map[string]any{"text": " "})
	_, err := recv(t, bad)
	if code, _ := closeStatus(t, err); code != websocket.StatusPolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
}

func TestStreamInputInactivityTimeout(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/text-to-speech/"+firstVoiceID(t, ts)+"/stream-input?inactivity_timeout=1", testKey)
	send(t, c, map[string]any{"text": " "})
	start := time.Now()
	_, err := recv(t, c)
	code, reason := closeStatus(t, err)
	if code != websocket.StatusPolicyViolation || !strings.HasPrefix(reason, "Have not received a new text input within the timeout of 1 seconds") {
		t.Fatalf("close %d %q", code, reason)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
	if r := call(t, ts, "GET", "/v1/text-to-speech/x/stream-input?inactivity_timeout=181", testKey, nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("inactivity_timeout 181: status %d", r.status)
	}
}

func TestRealtimeBadAuthIsHTTP401(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	for _, tc := range []struct{ path, key string }{
		{"/v1/text-to-speech/" + firstVoiceID(t, ts) + "/stream-input", "invalid_key"},
		{"/v1/text-to-speech/" + firstVoiceID(t, ts) + "/stream-input?single_use_token=sutkn_nope", ""},
		{"/v1/speech-to-text/realtime", ""},
		{"/v1/speech-to-text/realtime?token=sutkn_nope", ""},
		{"/v1/convai/conversation?agent_id=agent_1", "invalid_key"},
	} {
		_, resp, err := dialWSResp(ts, tc.path, tc.key)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: want 401, got %v %v", tc.path, resp, err)
		}
		var body struct {
			Detail struct{ Status string } `json:"detail"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Detail.Status == "" {
			t.Fatalf("%s: body not the 401 JSON: %v", tc.path, err)
		}
	}
}

func TestSingleUseTokenOpensOneSocket(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	voice := firstVoiceID(t, ts)
	var tok struct{ Token string }
	call(t, ts, "POST", "/v1/single-use-token/tts_websocket", testKey, nil).json(t, &tok)
	path := "/v1/text-to-speech/" + voice + "/stream-input?single_use_token=" + tok.Token
	c := dialWS(t, ts, path, "")
	send(t, c, map[string]any{"text": " "})
	send(t, c, map[string]any{"text": "Once. ", "flush": true})
	checkAudio(t, mustRecv(t, c), "Once. ")
	if _, resp, err := dialWSResp(ts, path, ""); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use: want 401, got %v", err)
	}
	// A tts_websocket token does not open speech to text.
	call(t, ts, "POST", "/v1/single-use-token/tts_websocket", testKey, nil).json(t, &tok)
	if _, resp, err := dialWSResp(ts, "/v1/speech-to-text/realtime?token="+tok.Token, ""); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token type: want 401, got %v", err)
	}
}

func TestMultiStreamInputContexts(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/text-to-speech/"+firstVoiceID(t, ts)+"/multi-stream-input", testKey)
	send(t, c, map[string]any{"text": " ", "context_id": "a"})
	send(t, c, map[string]any{"text": " ", "context_id": "b"})
	send(t, c, map[string]any{"text": "From a. ", "context_id": "a", "flush": true})
	m := mustRecv(t, c)
	checkAudio(t, m, "From a. ")
	if m["contextId"] != "a" {
		t.Fatalf("contextId %v, want a", m["contextId"])
	}
	send(t, c, map[string]any{"text": "From b. ", "context_id": "b"})
	send(t, c, map[string]any{"context_id": "b", "close_context": true})
	m = mustRecv(t, c)
	checkAudio(t, m, "From b. ")
	if m["contextId"] != "b" {
		t.Fatalf("contextId %v, want b", m["contextId"])
	}
	if m := mustRecv(t, c); m["isFinal"] != true || m["contextId"] != "b" {
		t.Fatalf("want final of b, got %v", m)
	}
	send(t, c, map[string]any{"text": "", "context_id": "a"}) // keep-alive: no answer
	send(t, c, map[string]any{"text": "More a. ", "context_id": "a"})
	send(t, c, map[string]any{"close_socket": true})
	checkAudio(t, mustRecv(t, c), "More a. ")
	if m := mustRecv(t, c); m["isFinal"] != true || m["contextId"] != "a" {
		t.Fatalf("want final of a, got %v", m)
	}
	_, err := recv(t, c)
	if code, _ := closeStatus(t, err); code != websocket.StatusNormalClosure {
		t.Fatalf("close code %d, want 1000", code)
	}
}

func TestMultiStreamInputContextLimit(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/text-to-speech/"+firstVoiceID(t, ts)+"/multi-stream-input", testKey)
	for i := range maxContexts + 1 {
		send(t, c, map[string]any{"text": " ", "context_id": string(rune('a' + i))})
	}
	_, err := recv(t, c)
	if code, _ := closeStatus(t, err); code != websocket.StatusPolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
}

func TestRealtimeSTT(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	var tok struct{ Token string }
	call(t, ts, "POST", "/v1/single-use-token/realtime_scribe", testKey, nil).json(t, &tok)
	c := dialWS(t, ts, "/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_16000&include_timestamps=true&token="+tok.Token, "")
	m := mustRecv(t, c)
	if m["message_type"] != "session_started" || m["session_id"] == "" {
		t.Fatalf("first message %v", m)
	}
	if cfg := m["config"].(map[string]any); cfg["sample_rate"] != float64(16000) || cfg["commit_strategy"] != "manual" {
		t.Fatalf("config %v", cfg)
	}
	second := base64.StdEncoding.EncodeToString(make([]byte, 32000)) // one second of 16-bit PCM
	send(t, c, map[string]any{"message_type": "input_audio_chunk", "audio_base_64": second, "commit": false, "sample_rate": 16000})
	if m := mustRecv(t, c); m["message_type"] != "partial_transcript" || m["text"] == "" {
		t.Fatalf("want partial_transcript, got %v", m)
	}
	send(t, c, map[string]any{"message_type": "input_audio_chunk", "audio_base_64": second, "commit": false, "sample_rate": 16000})
	partial := mustRecv(t, c)
	send(t, c, map[string]any{"message_type": "input_audio_chunk", "audio_base_64": "", "commit": true, "sample_rate": 16000})
	m = mustRecv(t, c)
	if m["message_type"] != "committed_transcript" || m["text"] != partial["text"] {
		t.Fatalf("want committed_transcript %q, got %v", partial["text"], m)
	}
	if got := len(strings.Fields(m["text"].(string))); got != 5 { // 2 s at 2.5 words a second
		t.Fatalf("%d words, want 5", got)
	}
	if m := mustRecv(t, c); m["message_type"] != "committed_transcript_with_timestamps" || len(m["words"].([]any)) != 9 {
		t.Fatalf("want committed_transcript_with_timestamps with 9 words and spacings, got %v", m)
	}
	if r := call(t, ts, "GET", "/v1/speech-to-text/realtime?commit_strategy=sometimes", testKey, nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad commit_strategy: status %d", r.status)
	}
}

func TestConversation(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/convai/conversation?agent_id=agent_123", "")
	m := mustRecv(t, c)
	ev, _ := m["conversation_initiation_metadata_event"].(map[string]any)
	if m["type"] != "conversation_initiation_metadata" || ev["conversation_id"] == "" || ev["agent_output_audio_format"] != "pcm_16000" {
		t.Fatalf("first message %v", m)
	}
	send(t, c, map[string]any{"type": "conversation_initiation_client_data"})
	send(t, c, map[string]any{"type": "ping", "ping_event": map[string]any{"event_id": 7}})
	if m := mustRecv(t, c); m["type"] != "pong" || m["event_id"] != float64(7) {
		t.Fatalf("want pong 7, got %v", m)
	}
	send(t, c, map[string]any{"type": "user_message", "text": "hello"})
	if m := mustRecv(t, c); m["type"] != "agent_response" || m["agent_response_event"].(map[string]any)["agent_response"] != "You said: hello" {
		t.Fatalf("want agent_response, got %v", m)
	}
	m = mustRecv(t, c)
	audio, err := base64.StdEncoding.DecodeString(m["audio_event"].(map[string]any)["audio_base_64"].(string))
	if m["type"] != "audio" || err != nil || len(audio) == 0 || len(audio)%2 != 0 {
		t.Fatalf("want audio, got %v (%v)", m["type"], err)
	}
	send(t, c, map[string]any{"user_audio_chunk": base64.StdEncoding.EncodeToString(make([]byte, 32000))})
	for _, want := range []string{"user_transcript", "agent_response", "audio"} {
		if m := mustRecv(t, c); m["type"] != want {
			t.Fatalf("want %s, got %v", want, m["type"])
		}
	}
	if _, resp, err := dialWSResp(ts, "/v1/convai/conversation", ""); err == nil || resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("missing agent_id: want 422, got %v", err)
	}
}

func TestRealtimeSocketsStopOnClose(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: rtSpeed})
	c := dialWS(t, ts, "/v1/speech-to-text/realtime", testKey)
	mustRecv(t, c)
	s.Close()
	_, err := recv(t, c)
	if code, _ := closeStatus(t, err); code != websocket.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
}

func firstVoiceID(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	var list struct {
		Voices []struct {
			VoiceID string `json:"voice_id"`
		} `json:"voices"`
	}
	call(t, ts, "GET", "/v1/voices", testKey, nil).json(t, &list)
	if len(list.Voices) == 0 {
		t.Fatal("no voices")
	}
	return list.Voices[0].VoiceID
}
