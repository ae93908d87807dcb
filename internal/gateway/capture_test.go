package gateway

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/membudget"
)

// captureUpstream answers every action with body, the provider key echoed inside; a
// stream comes in pieces.
func captureUpstream(t testing.TB, body string) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		case "/passthrough":
			w.Header().Set("Content-Type", "audio/mpeg")
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < len(body); i += 1000 {
				w.Write([]byte(body[i:min(i+1000, len(body))]))
				w.(http.Flusher).Flush()
				time.Sleep(time.Millisecond)
			}
			return
		case "/items/broken":
			w.WriteHeader(500)
			w.Write([]byte(`{"error": "down"}`))
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(up.Close)
	return up
}

// captureAnswer is a JSON answer of about 12 KB with the provider key in the middle.
var captureAnswer = `{"items": ["` + strings.Repeat("a", 6000) + `", "` + hooksKey + `", "` + strings.Repeat("b", 6000) + `"]}`

func captureInvoke(t *testing.T, g *Gateway, action string, c *Capture) (*httptest.ResponseRecorder, error) {
	t.Helper()
	call := hooksCall(t, hooksCatalog(t), action)
	call.Capture = c
	rec, _, err := invokeCall(t, g, call, strings.NewReader(`{}`), "application/json")
	return rec, err
}

// Capture keeps the bytes the client got (scrubbed), up to its limit, for each response
// mode; the client gets everything either way.
func TestCaptureKeepsWhatTheClientGot(t *testing.T) {
	up := captureUpstream(t, captureAnswer)
	g := hooksGateway(t, up.URL, Config{})
	for _, tc := range []struct{ action, contentType string }{
		{"json", "application/json; charset=utf-8"},
		{"passthrough", "audio/mpeg"},
		{"stream", "text/event-stream"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			// Room for all of it.
			c := &Capture{Limit: 1 << 20}
			rec, err := captureInvoke(t, g, tc.action, c)
			if err != nil {
				t.Fatal(err)
			}
			sent := rec.Body.String()
			if len(sent) != len(captureAnswer) || strings.Contains(sent, hooksKey) {
				t.Fatalf("the client got %d bytes (key scrubbed: %v)", len(sent), !strings.Contains(sent, hooksKey))
			}
			if string(c.Body) != sent || c.Truncated || c.Status != 200 || c.ContentType != tc.contentType {
				t.Fatalf("captured %d %q, %d bytes equal to what was sent: %v, truncated %v",
					c.Status, c.ContentType, len(c.Body), string(c.Body) == sent, c.Truncated)
			}

			// A limit below the answer: its first bytes, and Truncated.
			for _, limit := range []int64{0, 1, 100, 6010, int64(len(captureAnswer)) - 1} {
				c := &Capture{Limit: limit}
				rec, err := captureInvoke(t, g, tc.action, c)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Body.String() != sent {
					t.Fatalf("limit %d: the client got %d bytes, not the whole answer", limit, rec.Body.Len())
				}
				if int64(len(c.Body)) != limit || !c.Truncated || string(c.Body) != sent[:limit] || c.Status != 200 {
					t.Fatalf("limit %d: captured %d bytes, truncated %v, a prefix of what was sent: %v",
						limit, len(c.Body), c.Truncated, string(c.Body) == sent[:min(int(limit), len(c.Body))])
				}
			}

			// Exactly the answer's length: whole, not truncated.
			c = &Capture{Limit: int64(len(captureAnswer))}
			if _, err := captureInvoke(t, g, tc.action, c); err != nil || string(c.Body) != sent || c.Truncated {
				t.Fatalf("limit = length: %v, %d bytes, truncated %v", err, len(c.Body), c.Truncated)
			}
		})
	}
}

// In json mode the capture is the final answer: after TransformJSON.
func TestCaptureOfATransformedAnswer(t *testing.T) {
	up := captureUpstream(t, `{"items": [1, 2, 3]}`)
	g := hooksGateway(t, up.URL, Config{})
	call := hooksCall(t, hooksCatalog(t), "json")
	call.Capture = &Capture{Limit: 100}
	call.TransformJSON = func(int, []byte) ([]byte, error) { return []byte(`{"items": [2]}`), nil }
	rec, _, err := invokeCall(t, g, call, strings.NewReader(`{}`), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Body.String() != `{"items": [2]}` || string(call.Capture.Body) != rec.Body.String() {
		t.Fatalf("sent %q, captured %q", rec.Body.String(), call.Capture.Body)
	}
}

// The capture draws on the memory budget: when the budget refuses, capturing stops and
// says so, the client still gets the whole answer, and nothing stays reserved.
func TestCaptureStopsWhenTheBudgetRefuses(t *testing.T) {
	big := strings.Repeat("media bytes ", 20000) // 240 KB
	up := captureUpstream(t, big)
	budget := membudget.New(1 << 20)
	g := hooksGateway(t, up.URL, Config{Budget: budget})
	for _, action := range []string{"passthrough", "stream"} {
		t.Run(action, func(t *testing.T) {
			// With the budget free, the whole answer is captured.
			c := &Capture{Limit: 1 << 20}
			if rec, err := captureInvoke(t, g, action, c); err != nil || rec.Body.String() != big || string(c.Body) != big || c.Truncated {
				t.Fatalf("budget free: %v, captured %d bytes, truncated %v", err, len(c.Body), c.Truncated)
			}
			// Others hold most of it: capturing stops early, the answer does not.
			const others = 1<<20 - 100<<10
			if err := budget.Reserve(others); err != nil {
				t.Fatal(err)
			}
			defer budget.Release(others)
			c = &Capture{Limit: 1 << 20}
			rec, err := captureInvoke(t, g, action, c)
			if err != nil || rec.Body.String() != big {
				t.Fatalf("budget spent: %v, the client got %d of %d bytes", err, rec.Body.Len(), len(big))
			}
			if !c.Truncated || len(c.Body) >= len(big) || !bytes.HasPrefix([]byte(big), c.Body) || c.Status != 200 {
				t.Fatalf("budget spent: captured %d bytes, truncated %v", len(c.Body), c.Truncated)
			}
			if used := budget.Used(); used != others {
				t.Fatalf("%d bytes reserved after the invoke, want only the others' %d", used, others)
			}
		})
	}
}

// Error answers are not the gateway's to capture: the HTTP layer renders them.
func TestCaptureLeavesErrorsAlone(t *testing.T) {
	up := captureUpstream(t, "")
	g := hooksGateway(t, up.URL, Config{})
	call := hooksCall(t, hooksCatalog(t), "get")
	call.Capture = &Capture{Limit: 1 << 10}
	_, _, err := invokeCall(t, g, call, strings.NewReader(`{"path_params": {"item_id": "broken"}}`), "application/json")
	if ae := aiproxy.AsError(err); ae == nil || ae.Code != aiproxy.EUPSTREAM {
		t.Fatalf("error %v, want EUPSTREAM", err)
	}
	if c := call.Capture; c.Status != 0 || c.Body != nil || c.Truncated {
		t.Fatalf("captured %+v", c)
	}
}

// An empty json answer (a 204) is captured as a status with no body.
func TestCaptureOfAnEmptyAnswer(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer up.Close()
	g := hooksGateway(t, up.URL, Config{})
	c := &Capture{Limit: 10}
	if _, err := captureInvoke(t, g, "json", c); err != nil || c.Status != 204 || len(c.Body) != 0 || c.Truncated {
		t.Fatalf("%v, captured %+v", err, c)
	}
}
