package heygen

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func newSim(t *testing.T, opts simcore.Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.Speed == 0 {
		opts.Speed = 1000
	}
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func call3(t *testing.T, ts *httptest.Server, method, path, key string, body any, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key) // lower case on purpose: names are case-insensitive
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	rp := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &rp.body)
	return rp
}

// get walks a decoded JSON value: get(m, "data", "avatars", 0, "avatar_id").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any, path ...any) string { s, _ := get(v, path...).(string); return s }

// waitFor polls fn until it returns true or two seconds pass.
func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seedVideoRequest(avatarID, voiceID, script string) map[string]any {
	return map[string]any{
		"test": true,
		"video_inputs": []any{map[string]any{
			"character": map[string]any{"type": "avatar", "avatar_id": avatarID, "avatar_style": "normal"},
			"voice":     map[string]any{"type": "text", "input_text": script, "voice_id": voiceID},
		}},
		"dimension": map[string]any{"width": 1280, "height": 720},
	}
}

const (
	firstAvatar = "Abigail_expressive_2024112501"
	firstVoice  = "f38a635bee7a4d1f9b0a654a31d050d2"
)
