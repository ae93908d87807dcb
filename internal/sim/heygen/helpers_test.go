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
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

func newSim(t *testing.T, opts simcore.Options) (*Server, *httptest.Server) {
	t.Helper()
	return simtest.Start(t, opts, New)
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
	var pairs []string
	if key != "" {
		pairs = append(pairs, "x-api-key", key) // lower case on purpose: names are case-insensitive
	}
	if body != nil {
		pairs = append(pairs, "Content-Type", "application/json")
	}
	resp, raw := simtest.Do(t, ts.Client(), method, ts.URL+path, rd, append(pairs, hdr...)...)
	rp := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &rp.body)
	return rp
}

// get walks a decoded JSON value: get(m, "data", "avatars", 0, "avatar_id").
func get(v any, path ...any) any { return simtest.Get(v, path...) }

func str(v any, path ...any) string { s, _ := get(v, path...).(string); return s }

// waitFor polls fn until it returns true or two seconds pass.
func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	simtest.WaitFor(t, what, 2*time.Second, 5*time.Millisecond, fn)
}

const (
	firstAvatar = "Abigail_expressive_2024112501"
	firstVoice  = "f38a635bee7a4d1f9b0a654a31d050d2"
)
