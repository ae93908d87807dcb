package httpapi_test

// Seconds of audio (docs/realtime.md, "Usage and budgets"): stt-realtime is metered by the
// audio its client sends, in the encoding audio_format names; each whole second the audio
// begins is taken from the budget before the message that begins it is forwarded.

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

const sttWS = "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/stt-realtime/"

// audioChunk is an input_audio_chunk message of n bytes of silence.
func audioChunk(n, sampleRate int) string {
	return fmt.Sprintf(`{"message_type":"input_audio_chunk","audio_base_64":%q,"commit":false,"sample_rate":%d}`,
		base64.StdEncoding.EncodeToString(make([]byte, n)), sampleRate)
}

// sendEchoed writes each message and reads the fake provider's echo of it.
func sendEchoed(t *testing.T, c *websocket.Conn, msgs ...string) {
	t.Helper()
	c.SetReadLimit(1 << 20) // the echoes of large chunks
	for _, m := range msgs {
		writeMsg(t, c, websocket.MessageText, m)
		if _, got := readMsg(t, c); got != m {
			t.Fatalf("echo %.60q, want %.60q", got, m)
		}
	}
}

func TestRealtimeAudioSecondsAreMetered(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	c := mustDial(t, e, sttWS+"?model_id=scribe_v2_realtime&audio_format=pcm_16000", "Api-Key "+e.memberA)
	// 2.5 s of 16 kHz 16-bit PCM in chunks of 0.3 s, 0.7 s, 0.5 s, 1 s (exact sums, no
	// rounding per chunk), then a commit without audio.
	sendEchoed(t, c, audioChunk(9600, 16000), audioChunk(22400, 16000), audioChunk(16000, 16000), audioChunk(32000, 16000),
		`{"message_type":"input_audio_chunk","audio_base_64":"","commit":true,"sample_rate":16000}`)
	c.Close(websocket.StatusNormalClosure, "done")
	p.wg.Wait()
	if n := len(p.messages()); n != 5 {
		t.Errorf("the provider got %d messages, want 5", n)
	}
	// Whole seconds begun: 2.5 s counts 3; no session seconds besides.
	e.expectUnits(t, "stt-realtime", 1, map[string]int64{"seconds": 3, "requests": 1})
}

func TestRealtimeAudioULawAndAStatedRate(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	// ulaw_8000 is one byte a sample: 12000 bytes are 1.5 s (as 16-bit PCM they would be 0.75 s).
	c := mustDial(t, e, sttWS+"?audio_format=ulaw_8000", "Api-Key "+e.memberA)
	sendEchoed(t, c, audioChunk(12000, 8000))
	c.Close(websocket.StatusNormalClosure, "done")
	e.expectUnits(t, "stt-realtime", 1, map[string]int64{"seconds": 2})

	// A chunk that states a rate below its format's is counted at that rate: 16000 bytes at
	// 8 kHz are 1 s, not 0.5 s. One above it changes nothing. Without audio_format the
	// default, pcm_16000, is metered and sent on to the provider.
	c = mustDial(t, e, sttWS, "Api-Key "+e.memberA)
	sendEchoed(t, c, audioChunk(16000, 8000), audioChunk(16000, 48000), audioChunk(16000, 16000))
	c.Close(websocket.StatusNormalClosure, "done")
	if rec := e.up.last(t); rec.RawQuery != "audio_format=pcm_16000" {
		t.Errorf("upstream query %q, want the default format named", rec.RawQuery)
	}
	e.expectUnits(t, "stt-realtime", 2, map[string]int64{"seconds": 2 + 2})
}

func TestRealtimeAudioBudgetStopsTheChunkThatCrossesIt(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	e.setBudget(t, "seconds", 2)
	c := mustDial(t, e, sttWS+"?audio_format=pcm_16000", "Api-Key "+e.memberA)
	// 0.75 s each: the first begins second 1, the second second 2 (1.5 s), the third
	// would begin second 3 (2.25 s): it is not forwarded.
	chunk := audioChunk(24000, 16000)
	sendEchoed(t, c, chunk, chunk)
	writeMsg(t, c, websocket.MessageText, chunk)
	if code, reason := readClose(t, c); code != httpapi.CloseBudgetSpent || reason != "seconds budget exhausted" {
		t.Errorf("close %d %q, want 4003 seconds budget exhausted", code, reason)
	}
	p.wg.Wait()
	if got := p.messages(); len(got) != 2 {
		t.Errorf("the provider got %d messages, want the 2 within the budget", len(got))
	}
	e.expectUnits(t, "stt-realtime", 1, map[string]int64{"seconds": 2, "requests": 1})

	// Nothing left: a session opens (its request fits), and its first audio closes it.
	c = mustDial(t, e, sttWS+"?audio_format=pcm_16000", "Api-Key "+e.memberA)
	sendEchoed(t, c, `{"message_type":"input_audio_chunk","audio_base_64":"","commit":true}`)
	writeMsg(t, c, websocket.MessageText, audioChunk(2, 16000))
	if code, _ := readClose(t, c); code != httpapi.CloseBudgetSpent {
		t.Errorf("second session: close %d, want 4003", code)
	}
	e.expectUnits(t, "stt-realtime", 2, map[string]int64{"seconds": 2, "requests": 2})
}

func TestRealtimeAudioMessagesItCannotMeasureAreRefused(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	for _, tc := range []struct {
		name   string
		typ    websocket.MessageType
		msg    string
		code   websocket.StatusCode
		reason string
	}{
		{"not JSON", websocket.MessageText, "hello", websocket.StatusInvalidFramePayloadData, "invalid message: not a JSON object"},
		{"a JSON array", websocket.MessageText, `[{"audio_base_64":"AAAA"}]`, websocket.StatusInvalidFramePayloadData, "invalid message: not a JSON object"},
		{"bad base64", websocket.MessageText, `{"message_type":"input_audio_chunk","audio_base_64":"AA*A"}`, websocket.StatusInvalidFramePayloadData, "invalid message: audio_base_64 is not base64"},
		{"not a string", websocket.MessageText, `{"message_type":"input_audio_chunk","audio_base_64":[1,2]}`, websocket.StatusInvalidFramePayloadData, "invalid message: audio_base_64 is not a string"},
		{"binary", websocket.MessageBinary, "\x00\x01\x02\x03", websocket.StatusUnsupportedData, "binary messages are not accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, e, sttWS+"?audio_format=pcm_16000", "Api-Key "+e.memberA)
			writeMsg(t, c, tc.typ, tc.msg)
			if code, reason := readClose(t, c); code != tc.code || reason != tc.reason {
				t.Errorf("close %d %q, want %d %q", code, reason, tc.code, tc.reason)
			}
		})
	}
	p.wg.Wait()
	if got := p.messages(); len(got) != 0 {
		t.Errorf("the provider got %q, want nothing it could not be metered for", got)
	}
}

func TestRealtimeAudioFormatIsCheckedBeforeTheUpgrade(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	r := e.do("GET", sttWS+"?audio_format=mp3_44100_128", "Api-Key "+e.memberA, nil, "Upgrade", "websocket", "Connection", "Upgrade")
	assertBody(t, r, 400, `{"error": "Unknown value 'mp3_44100_128' of query parameter 'audio_format'; accepted values: `+
		`pcm_8000, pcm_16000, pcm_22050, pcm_24000, pcm_44100, pcm_48000, ulaw_8000."}`)
	r = e.do("GET", sttWS+"?audio_format=pcm_16000&audio_format=ulaw_8000", "Api-Key "+e.memberA, nil, "Upgrade", "websocket", "Connection", "Upgrade")
	if r.Status != 400 || !strings.Contains(string(r.Body), "'audio_format' must be given once") {
		t.Errorf("audio_format twice: %d %s", r.Status, r.Body)
	}
	_, resp, err := e.dialWS(t, sttWS+"?audio_format=pcm_16", "Api-Key "+e.memberA)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("dial: %v %+v, want 400", err, resp)
	}
	if n := e.up.count(); n != 0 {
		t.Errorf("%d upstream requests for refused sessions", n)
	}
}
