package elevenlabs

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

const rachel = "21m00Tcm4TlvDq8ikWAM"

func TestTTSReturnsMP3ThatGrowsWithTheText(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	prev := 0.0
	for _, text := range []string{"Hi.", strings.Repeat("Hello there. ", 5), strings.Repeat("Hello there. ", 20)} {
		r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": text})
		if r.status != 200 || r.header.Get("Content-Type") != "audio/mpeg" {
			t.Fatalf("%d %s %.100s", r.status, r.header.Get("Content-Type"), r.body)
		}
		d, err := media.MP3Duration(r.body)
		if err != nil {
			t.Fatal(err)
		}
		if d <= prev {
			t.Errorf("%d characters last %v s, not more than %v", len(text), d, prev)
		}
		prev = d
		if got := r.header.Get("character-cost"); got != strconv.Itoa(len(text)) {
			t.Errorf("character-cost %q for %d characters", got, len(text))
		}
		for _, h := range []string{"request-id", "history-item-id", "current-concurrent-requests", "maximum-concurrent-requests"} {
			if r.header.Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
	}
}

func TestTTSRejections(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	tests := []struct {
		name, voice string
		body        any
		status      int
		code        string
	}{
		{"unknown voice", "nope", map[string]string{"text": "hi"}, 404, "voice_not_found"},
		{"unknown model", rachel, map[string]string{"text": "hi", "model_id": "eleven_nope"}, 400, "model_not_found"},
		{"over the model limit", rachel, map[string]string{"text": strings.Repeat("a", 3001), "model_id": "eleven_v3"}, 400, "max_character_limit_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := wantDetail(t, call(t, ts, "POST", "/v1/text-to-speech/"+tt.voice, testKey, tt.body), tt.status, tt.code)
			if tt.code == "voice_not_found" && d.Detail.Message != "A voice with the voice_id nope was not found." {
				t.Errorf("message %q", d.Detail.Message)
			}
		})
	}
}

func TestTTSStreamArrivesInChunksOverTime(t *testing.T) {
	// Speed 2: ten chunks 25 ms apart.
	_, ts := newTestServer(t, simcore.Options{Speed: 2})
	body := strings.NewReader(`{"text":"` + strings.Repeat("Streaming works. ", 6) + `"}`)
	req, _ := http.NewRequest("POST", ts.URL+"/v1/text-to-speech/"+rachel+"/stream", body)
	req.Header.Set("xi-api-key", testKey)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" || resp.Header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("transfer encoding %v, content type %q", resp.TransferEncoding, resp.Header.Get("Content-Type"))
	}
	var audio []byte
	buf := make([]byte, 64<<10)
	reads := 0
	var first time.Time
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if reads == 0 {
				first = time.Now()
			}
			reads++
			audio = append(audio, buf[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The first chunk was in hand well before the last one was sent (9 × 25 ms later).
	if spread := time.Since(first); spread < 150*time.Millisecond || reads < 5 {
		t.Errorf("%d reads spread over %v: not progressive", reads, spread)
	}
	if _, err := media.MP3Duration(audio); err != nil {
		t.Errorf("streamed audio: %v", err)
	}
}

func TestTTSStreamStopsWhenTheClientLeaves(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: 0.1}) // 500 ms between chunks
	req, _ := http.NewRequest("POST", ts.URL+"/v1/text-to-speech/"+rachel+"/stream", strings.NewReader(`{"text":"a long text to stream"}`))
	req.Header.Set("xi-api-key", testKey)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The handler must notice and release its concurrency slot long before the 4.5 s stream ends.
	a := s.account(testKey)
	deadline := time.Now().Add(2 * time.Second)
	for {
		a.mu.Lock()
		n := a.inFlight
		a.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("stream handler still running after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseEndsInFlightStreams(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: 0.1})
	req, _ := http.NewRequest("POST", ts.URL+"/v1/text-to-speech/"+rachel+"/stream", strings.NewReader(`{"text":"a long text to stream"}`))
	req.Header.Set("xi-api-key", testKey)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	s.Close()
	_, _ = io.ReadAll(resp.Body)
	if time.Since(start) > 2*time.Second {
		t.Error("Close did not end the stream")
	}
}

type timestampsReply struct {
	AudioBase64         string     `json:"audio_base64"`
	Alignment           *Alignment `json:"alignment"`
	NormalizedAlignment *Alignment `json:"normalized_alignment"`
}

func checkAlignment(t *testing.T, al *Alignment, wantChars int) {
	t.Helper()
	if al == nil {
		t.Fatal("alignment is null")
	}
	if len(al.Characters) != wantChars || len(al.CharacterStartTimesSeconds) != wantChars || len(al.CharacterEndTimesSeconds) != wantChars {
		t.Fatalf("alignment lengths %d/%d/%d, want %d", len(al.Characters), len(al.CharacterStartTimesSeconds), len(al.CharacterEndTimesSeconds), wantChars)
	}
	for i := range al.Characters {
		if al.CharacterEndTimesSeconds[i] < al.CharacterStartTimesSeconds[i] {
			t.Fatalf("character %d ends before it starts", i)
		}
	}
}

func TestTTSWithTimestampsAlignsEveryCharacter(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	text := "Grüße, world! 👋"
	r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel+"/with-timestamps", testKey, map[string]string{"text": text})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var v timestampsReply
	r.json(t, &v)
	runes := []rune(text)
	checkAlignment(t, v.Alignment, len(runes))
	checkAlignment(t, v.NormalizedAlignment, len(runes))
	if strings.Join(v.Alignment.Characters, "") != text {
		t.Errorf("characters %q", v.Alignment.Characters)
	}
	audio, err := base64.StdEncoding.DecodeString(v.AudioBase64)
	if err != nil {
		t.Fatal(err)
	}
	d, err := media.MP3Duration(audio)
	if err != nil {
		t.Fatal(err)
	}
	if last := v.Alignment.CharacterEndTimesSeconds[len(runes)-1]; last > d+0.001 {
		t.Errorf("alignment ends at %v, after the %v s audio", last, d)
	}
}

func TestTTSStreamWithTimestampsSendsNDJSON(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 100})
	text := strings.Repeat("Line by line. ", 5)
	r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel+"/stream/with-timestamps", testKey, map[string]string{"text": text})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	var chars []string
	var audio []byte
	lines := 0
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		lines++
		var v timestampsReply
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		checkAlignment(t, v.Alignment, len(v.Alignment.Characters))
		if len(v.Alignment.Characters) == 0 {
			t.Errorf("line %d aligns no character", lines)
		}
		chars = append(chars, v.Alignment.Characters...)
		chunk, err := base64.StdEncoding.DecodeString(v.AudioBase64)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := media.MP3Duration(chunk); err != nil {
			t.Errorf("line %d audio: %v", lines, err)
		}
		audio = append(audio, chunk...)
	}
	if lines < 2 {
		t.Errorf("%d lines, want several", lines)
	}
	if strings.Join(chars, "") != text {
		t.Errorf("characters over all lines %q", strings.Join(chars, ""))
	}
	if _, err := media.MP3Duration(audio); err != nil {
		t.Error(err)
	}
}

func TestSoundGenerationChargesPerSecond(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "POST", "/v1/sound-generation", testKey, map[string]any{"text": "thunder", "duration_seconds": 2.5})
	if r.status != 200 || r.header.Get("character-cost") != "100" {
		t.Fatalf("%d cost %q", r.status, r.header.Get("character-cost"))
	}
	if d, err := media.MP3Duration(r.body); err != nil || d < 2.4 || d > 2.6 {
		t.Errorf("duration %v, %v", d, err)
	}
}

func TestAudioIsolationNeedsTheAudioPart(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 100})
	input := media.MP3(3)
	for _, path := range []string{"/v1/audio-isolation", "/v1/audio-isolation/stream"} {
		t.Run(path, func(t *testing.T) {
			r := call(t, ts, "POST", path, testKey, multipartForm(t, part{field: "file_format", data: []byte("other")}))
			if r.status != 422 || !strings.Contains(string(r.body), `"loc":["body","audio"]`) {
				t.Fatalf("without audio: %d %s", r.status, r.body)
			}
			r = call(t, ts, "POST", path, testKey, multipartForm(t, part{field: "audio", fileName: "noisy.mp3", contentType: "audio/mpeg", data: input}))
			if r.status != 200 || r.header.Get("Content-Type") != "audio/mpeg" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if d, err := media.MP3Duration(r.body); err != nil || d < 2.9 || d > 3.1 {
				t.Errorf("isolated audio lasts %v (%v), want the input's 3 s", d, err)
			}
		})
	}
}
