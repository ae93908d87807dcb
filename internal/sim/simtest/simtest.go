// Package simtest is what the simulators' tests, and the tests that drive the simulators
// through the gateway, share: starting a simulator behind httptest, sending a request,
// walking a decoded JSON answer, waiting for a simulated job, and HeyGen's example request.
// Only _test.go files import it.
package simtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// Server is a simulator: what sim.New, heygen.New and elevenlabs.New return.
type Server interface {
	http.Handler
	Close()
}

// DefaultSpeed is the speed Start and StartPublic give a simulator whose options leave it
// zero: fast enough that simulated jobs finish at once.
const DefaultSpeed = 1000

// Start serves the simulator newSim makes from opts on an httptest server; both are closed
// when the test ends (the server first).
func Start[S Server](t testing.TB, opts simcore.Options, newSim func(simcore.Options) S) (S, *httptest.Server) {
	t.Helper()
	return start(t, opts, newSim, false)
}

// StartPublic is Start with opts.PublicURL set to the test server's own URL, so that the
// media links the simulator hands out point back at it.
func StartPublic[S Server](t testing.TB, opts simcore.Options, newSim func(simcore.Options) S) (S, *httptest.Server) {
	t.Helper()
	return start(t, opts, newSim, true)
}

func start[S Server](t testing.TB, opts simcore.Options, newSim func(simcore.Options) S, public bool) (S, *httptest.Server) {
	t.Helper()
	if opts.Speed == 0 {
		opts.Speed = DefaultSpeed
	}
	srv := httptest.NewUnstartedServer(nil)
	if public {
		opts.PublicURL = "http://" + srv.Listener.Addr().String()
	}
	s := newSim(opts)
	srv.Config.Handler = s
	srv.Start()
	t.Cleanup(s.Close) // runs last: cleanups are LIFO
	t.Cleanup(srv.Close)
	return s, srv
}

// Do sends a request with the header pairs (name, value, name, value, ...) and returns the
// answer with its whole body, failing the test when the request cannot be made or read.
func Do(t testing.TB, c *http.Client, method, url string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Get walks a decoded JSON value: Get(v, "data", "avatars", 0, "avatar_id"). A path that
// leads nowhere gives nil.
func Get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k < 0 || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// WaitFor calls done every poll until it reports true, failing the test when timeout passes
// first. The simulators run fast: the timeout only guards against a hang.
func WaitFor(t testing.TB, what string, timeout, poll time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(poll)
	}
}

// HeyGenVideoRequest is the body of HeyGen's generate-video example (the documentation's
// seed): one avatar saying script in voice, in test mode, at 1280×720.
func HeyGenVideoRequest(avatarID, voiceID, script string) map[string]any {
	return map[string]any{
		"test": true,
		"video_inputs": []any{map[string]any{
			"character": map[string]any{"type": "avatar", "avatar_id": avatarID, "avatar_style": "normal"},
			"voice":     map[string]any{"type": "text", "input_text": script, "voice_id": voiceID},
		}},
		"dimension": map[string]any{"width": 1280, "height": 720},
	}
}
