package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// dialRealtime opens the gateway's realtime route of an ElevenLabs action with the e2e
// org's key, and records the action as covered once the upgrade succeeded.
func (e *e2eEnv) dialRealtime(ctx context.Context, action string, query url.Values) *websocket.Conn {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.proxy.URL, "http") + httpapi.DefaultPrefix + "/orgs/" + e2eOrg +
		"/services/elevenlabs/realtime/" + action + "/?" + query.Encode()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Api-Key " + e.key}}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("%s: dial: %v (status %d)", action, err, status)
	}
	c.SetReadLimit(16 << 20)
	recordInvoked("elevenlabs", action)
	return c
}

func readJSON(t *testing.T, ctx context.Context, c *websocket.Conn) map[string]any {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %q: %v", b, err)
	}
	return m
}

func writeJSON(t *testing.T, ctx context.Context, c *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// TestE2ERealtimeSessionsRelayedToTheSimulator: each realtime action, through the gateway's
// relay to the simulated provider: TTS streams base64 MP3 with alignment and ends with
// isFinal and a normal close; multi-context answers per context; speech to text starts a
// session and transcribes; the agent answers a ping and a message. The key a client puts in
// its first message is removed, so the org's key (in the header) is what the provider sees.
func TestE2ERealtimeSessionsRelayedToTheSimulator(t *testing.T) {
	e := newE2E(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("tts-websocket", func(t *testing.T) {
		c := e.with(t).dialRealtime(ctx, "tts-websocket", url.Values{"voice_id": {rachel}, "model_id": {"eleven_multilingual_v2"}})
		defer c.CloseNow()
		writeJSON(t, ctx, c, map[string]any{"text": " ", "xi_api_key": "a-key-the-client-should-not-have"})
		writeJSON(t, ctx, c, map[string]any{"text": "Hello from the relay. ", "flush": true})
		writeJSON(t, ctx, c, map[string]any{"text": ""})
		audio, final := 0, false
		for !final {
			m := readJSON(t, ctx, c)
			if s, ok := m["audio"].(string); ok && s != "" {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil || len(b) == 0 {
					t.Fatalf("audio chunk does not decode: %v", err)
				}
				audio += len(b)
			}
			final, _ = m["isFinal"].(bool)
		}
		if audio == 0 {
			t.Fatal("no audio before isFinal")
		}
		if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("after isFinal: %v, want a normal close passed through", err)
		}
	})
	t.Run("tts-multi-context", func(t *testing.T) {
		c := e.with(t).dialRealtime(ctx, "tts-multi-context", url.Values{"voice_id": {rachel}})
		defer c.CloseNow()
		writeJSON(t, ctx, c, map[string]any{"text": " ", "context_id": "a"})
		writeJSON(t, ctx, c, map[string]any{"text": "First context. ", "context_id": "a"})
		writeJSON(t, ctx, c, map[string]any{"context_id": "a", "close_context": true})
		for {
			m := readJSON(t, ctx, c)
			if m["contextId"] != "a" {
				t.Fatalf("answer %v without contextId a", m)
			}
			if f, _ := m["isFinal"].(bool); f {
				break
			}
		}
		writeJSON(t, ctx, c, map[string]any{"close_socket": true})
	})
	t.Run("stt-realtime", func(t *testing.T) {
		c := e.with(t).dialRealtime(ctx, "stt-realtime", url.Values{"model_id": {"scribe_v2_realtime"}})
		defer c.CloseNow()
		if m := readJSON(t, ctx, c); m["message_type"] != "session_started" {
			t.Fatalf("first message %v, want session_started", m)
		}
		pcm := make([]byte, 32000) // one second of 16 kHz 16-bit silence
		writeJSON(t, ctx, c, map[string]any{"message_type": "input_audio_chunk", "audio_base_64": base64.StdEncoding.EncodeToString(pcm), "commit": true, "sample_rate": 16000})
		for {
			m := readJSON(t, ctx, c)
			if m["message_type"] == "committed_transcript" {
				break
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	t.Run("agent-conversation", func(t *testing.T) {
		c := e.with(t).dialRealtime(ctx, "agent-conversation", url.Values{"agent_id": {"agent_e2e"}})
		defer c.CloseNow()
		if m := readJSON(t, ctx, c); m["type"] != "conversation_initiation_metadata" {
			t.Fatalf("first message %v", m)
		}
		writeJSON(t, ctx, c, map[string]any{"type": "ping", "ping_event": map[string]any{"event_id": 7}})
		if m := readJSON(t, ctx, c); m["type"] != "pong" {
			t.Fatalf("answer to ping %v", m)
		}
		writeJSON(t, ctx, c, map[string]any{"type": "user_message", "text": "Hi"})
		if m := readJSON(t, ctx, c); m["type"] != "agent_response" {
			t.Fatalf("answer to a message %v", m)
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
}
