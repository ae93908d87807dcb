package elevenlabs

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func TestAuthErrorsUseTheDetailShape(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	tts := map[string]string{"text": "hello"}
	tests := []struct {
		name, method, path, key string
		body                    any
		status                  int
		code, message           string
	}{
		{"missing key", "GET", "/v1/voices", "", nil, 401, "needs_authorization",
			"Neither authorization header nor xi-api-key received, please provide one."},
		{"wrong key", "GET", "/v1/user", "invalid_key", nil, 401, "invalid_api_key", "Invalid API key"},
		{"exhausted key on billable call", "POST", "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM", "exhausted_key", tts, 401, "quota_exceeded",
			"This request exceeds your quota of 100000. You have 0 credits remaining, while 5 credits are required for this request."},
		{"exhausted key on sound generation", "POST", "/v1/sound-generation", "exhausted_key", map[string]any{"text": "rain", "duration_seconds": 2}, 401, "quota_exceeded", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, ts, tt.method, tt.path, tt.key, tt.body)
			d := wantDetail(t, r, tt.status, tt.code)
			if tt.message != "" && d.Detail.Message != tt.message {
				t.Errorf("message %q, want %q", d.Detail.Message, tt.message)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if r.header.Get("request-id") == "" || r.header.Get("x-trace-id") == "" {
				t.Errorf("missing request-id/x-trace-id headers: %v", r.header)
			}
		})
	}
}

func TestExhaustedKeyStillReadsNonBillableEndpoints(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	for _, path := range []string{"/v1/voices", "/v1/models", "/v1/user", "/v1/user/subscription", "/v1/history"} {
		if r := call(t, ts, "GET", path, "exhausted_key", nil); r.status != 200 {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	var sub struct {
		CharacterCount int `json:"character_count"`
		CharacterLimit int `json:"character_limit"`
	}
	call(t, ts, "GET", "/v1/user/subscription", "exhausted_key", nil).json(t, &sub)
	if sub.CharacterCount != sub.CharacterLimit {
		t.Errorf("exhausted subscription %+v", sub)
	}
}

func TestValidKeysOptionRejectsOtherKeys(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{ValidKeys: []string{"good"}})
	wantDetail(t, call(t, ts, "GET", "/v1/voices", "other", nil), 401, "invalid_api_key")
	if r := call(t, ts, "GET", "/v1/voices", "good", nil); r.status != 200 {
		t.Fatalf("valid key: %d", r.status)
	}
}

func TestValidationErrorsAreFastAPILists(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	const voice = "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
	tests := []struct {
		name, path string
		body       any
		wantLoc    string
		wantType   string
	}{
		{"tts without text", voice, map[string]any{"model_id": "eleven_multilingual_v2"}, "body.text", "missing"},
		{"tts with numeric text", voice, map[string]any{"text": 5}, "body.text", "string_type"},
		{"tts with bad JSON", voice, []byte(`{"text":`), "body", "missing"},
		{"tts with broken JSON", voice, []byte(`{"text" "x"}`), "body.8", "json_invalid"},
		{"tts with stability above 1", voice, map[string]any{"text": "hi", "voice_settings": map[string]any{"stability": 2}}, "body.voice_settings.stability", "less_than_equal"},
		{"tts with four previous ids", voice, map[string]any{"text": "hi", "previous_request_ids": []string{"a", "b", "c", "d"}}, "body.previous_request_ids", "too_long"},
		{"tts with unknown output format", voice + "?output_format=wav_1", map[string]any{"text": "hi"}, "query.output_format", "enum"},
		{"sound generation too long", "/v1/sound-generation", map[string]any{"text": "boom", "duration_seconds": 31}, "body.duration_seconds", "value_error"},
		{"history page too large", "/v1/history?page_size=1001", nil, "query.page_size", "less_than_equal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if tt.body == nil {
				method = "GET"
			}
			r := call(t, ts, method, tt.path, testKey, tt.body)
			var v struct {
				Detail []struct {
					Loc  []any  `json:"loc"`
					Msg  string `json:"msg"`
					Type string `json:"type"`
				} `json:"detail"`
			}
			r.json(t, &v)
			if r.status != http.StatusUnprocessableEntity || len(v.Detail) == 0 {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			var loc []string
			for _, l := range v.Detail[0].Loc {
				loc = append(loc, strings.Trim(strings.ReplaceAll(jsonString(l), `"`, ""), " "))
			}
			if got := strings.Join(loc, "."); got != tt.wantLoc || v.Detail[0].Type != tt.wantType || v.Detail[0].Msg == "" {
				t.Errorf("got loc %s type %s msg %q, want %s %s", got, v.Detail[0].Type, v.Detail[0].Msg, tt.wantLoc, tt.wantType)
			}
		})
	}
}

func jsonString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmtNum(x)
	}
	return ""
}

func TestFaultHeaderGives429WithRetryAfter(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "GET", "/v1/voices", testKey, nil, simcore.FaultHeader, "kind=rate_limit,retry_after=7")
	wantDetail(t, r, http.StatusTooManyRequests, "system_busy")
	if ra := r.header.Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After %q", ra)
	}
	if r.header.Get("request-id") == "" {
		t.Error("fault response lacks request-id")
	}
}

func TestPlannedFaultsApplyToTheirKeyOnly(t *testing.T) {
	faults := simcore.NewFaults()
	faults.Add(testKey, simcore.Fault{Kind: simcore.FaultStatus, Status: 503})
	_, ts := newTestServer(t, simcore.Options{Faults: faults})
	if r := call(t, ts, "GET", "/v1/models", "sk_other", nil); r.status != 200 {
		t.Fatalf("other key: %d", r.status)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/models", testKey, nil), 503, "internal_error")
	if r := call(t, ts, "GET", "/v1/models", testKey, nil); r.status != 200 {
		t.Fatalf("second call should succeed: %d", r.status)
	}
}

func TestUnknownRoutesAnswerLikeFastAPI(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "GET", "/v1/nothing-here", testKey, nil)
	if r.status != 404 || string(r.body) != `{"detail":"Not Found"}` {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
	r = call(t, ts, "PUT", "/v1/voices", testKey, nil)
	if r.status != 405 || string(r.body) != `{"detail":"Method Not Allowed"}` {
		t.Errorf("wrong method: %d %s", r.status, r.body)
	}
}

func TestHandlesEveryCatalogPath(t *testing.T) {
	s := New(simcore.Options{})
	defer s.Close()
	for _, p := range []string{
		"/v1/voices", "/v1/voices/abc", "/v1/voices/add", "/v1/voices/abc/edit", "/v1/voices/abc/settings",
		"/v1/models", "/v1/text-to-speech/abc", "/v1/text-to-speech/abc/stream", "/v1/text-to-speech/abc/with-timestamps",
		"/v1/text-to-speech/abc/stream/with-timestamps", "/v1/sound-generation", "/v1/audio-isolation",
		"/v1/audio-isolation/stream", "/v1/dubbing", "/v1/dubbing/x", "/v1/dubbing/x/audio/es", "/v1/history",
		"/v1/history/x", "/v1/history/x/audio", "/v1/user", "/v1/user/subscription",
		"/v1/workspace/webhooks", "/v1/workspace/webhooks/x", "/_sim/webhooks/send",
	} {
		if !s.Handles(p) {
			t.Errorf("Handles(%q) = false", p)
		}
	}
	for _, p := range []string{"/v1/video_status.get", "/v2/video/generate", "/v1/users", "/v1/user/me", "/v3/voices", "/v2/voices", "/",
		"/v1/workspace", "/_sim/faults", "/_sim/webhooks"} {
		if s.Handles(p) {
			t.Errorf("Handles(%q) = true", p)
		}
	}
}

func TestConcurrencyLimitGives429(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: 1})
	s.maxConcurrent = 1
	streamed := make(chan int)
	go func() {
		// A stream holds its slot for about half a second at Speed 1.
		req, _ := http.NewRequest("POST", ts.URL+"/v1/text-to-speech/"+rachel+"/stream", strings.NewReader(`{"text":"a long enough sentence"}`))
		req.Header.Set("xi-api-key", testKey)
		resp, err := ts.Client().Do(req)
		if err != nil {
			streamed <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		streamed <- resp.StatusCode
	}()
	a := s.account(testKey)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		a.mu.Lock()
		busy := a.inFlight > 0
		a.mu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream never started")
		}
	}
	r := call(t, ts, "GET", "/v1/models", testKey, nil)
	wantDetail(t, r, 429, "too_many_concurrent_requests")
	if r.header.Get("maximum-concurrent-requests") != "1" || r.header.Get("current-concurrent-requests") != "2" {
		t.Errorf("headers %v", r.header)
	}
	if r := call(t, ts, "GET", "/v1/models", "sk_bob", nil); r.status != 200 {
		t.Errorf("another key is limited too: %d", r.status)
	}
	if status := <-streamed; status != 200 {
		t.Errorf("stream: %d", status)
	}
}

func TestSharedPathsStillNeedAKey(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	wantDetail(t, call(t, ts, "GET", "/v2/voices", "", nil), 401, "needs_authorization")
	if r := call(t, ts, "GET", "/v2/voices", testKey, nil); r.status != 200 {
		t.Errorf("with a key: %d", r.status)
	}
}
