package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// faultUpstream is a dedicated upstream server for one fault.
func faultUpstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

const (
	bodyUpstreamFailed  = `{"detail": "The upstream external service request failed."}`
	bodyUpstreamTimeout = `{"detail": "The upstream external service did not respond in time."}`
)

func TestFaultUpstreamTimeoutIs504(t *testing.T) {
	ended := make(chan time.Time, 1)
	up := faultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: net/http notices a closed connection only once it has.
		_, _ = io.Copy(io.Discard, r.Body)
		select { // testsvc's timeout is 1 s
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
		ended <- time.Now()
	})
	e := newEnv(t, envOptions{upstreamURL: up.URL})
	for _, c := range [][2]string{{"get-json", `{}`}, {"post-json", `{"path_params": {"item_id": "1"}}`}, {"stream", `{}`}} {
		start := time.Now()
		assertBody(t, e.invoke("testsvc", c[0], c[1]), 504, bodyUpstreamTimeout)
		answered := time.Since(start)
		if answered < 900*time.Millisecond || answered > 2*time.Second {
			t.Errorf("%s: the 1 s timeout answered after %v", c[0], answered)
		}
		// The gateway gave up on the call: the upstream sees its connection go.
		select {
		case at := <-ended:
			if d := at.Sub(start); d > 2*time.Second {
				t.Errorf("%s: the upstream call went on for %v", c[0], d)
			}
			t.Logf("%s: 504 after %v; the upstream saw its call end after %v", c[0], answered.Round(time.Millisecond), at.Sub(start).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the upstream handler did not end", c[0])
		}
	}
}

func TestFaultConnectionRefusedIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	e := newEnv(t, envOptions{upstreamURL: "http://" + addr})
	for _, action := range []string{"get-json", "download", "stream"} {
		start := time.Now()
		assertBody(t, e.invoke("testsvc", action, `{}`), 502, bodyUpstreamFailed)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refused connection answered after %v", action, d)
		}
	}
}

// hijackAndClose drops the connection under w at once: the client sees a reset or EOF.
func hijackAndClose(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a RST, not a FIN
	}
	conn.Close()
}

func TestFaultResetMidStreamFailsTheClientsReadPromptly(t *testing.T) {
	up := faultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/blob" {
			w.Header().Set("Content-Length", "1000000")
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write([]byte("first-chunk|"))
		http.NewResponseController(w).Flush()
		time.Sleep(50 * time.Millisecond)
		hijackAndClose(t, w)
	})
	e := newEnv(t, envOptions{upstreamURL: up.URL})
	for _, action := range []string{"stream", "download"} {
		t.Run(action, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/api/ai-proxy/orgs/org-a/services/testsvc/"+action+"/", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Api-Key "+e.adminA)
			start := time.Now()
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				// passthrough buffers its first bytes: the failure came before the headers
				// were flushed, and the connection was aborted, which the client sees as such.
				if d := time.Since(start); d > 3*time.Second {
					t.Fatalf("the failure took %v", d)
				}
				t.Logf("client request failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			done := make(chan error, 1)
			var got []byte
			go func() {
				var err error
				got, err = io.ReadAll(resp.Body)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("the client read a truncated body %q as complete", got)
				}
				if !strings.HasPrefix(string(got), "first-chunk|") {
					t.Errorf("the client got %q before the failure", got)
				}
				t.Logf("client read failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			case <-time.After(3 * time.Second):
				t.Fatal("the client's read hangs after the upstream reset")
			}
		})
	}
}

func TestFaultUpstreamStatusesMapToTheContract(t *testing.T) {
	up := faultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("fault") {
		case "500":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"error": "internal"}`))
		case "503":
			w.WriteHeader(503)
			_, _ = w.Write([]byte("service unavailable"))
		case "429":
			w.Header().Set("Retry-After", "17")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"detail": {"status": "too_many_concurrent_requests"}}`))
		case "badjson":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data": [1, 2`))
		case "html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`<html>maintenance</html>`))
		}
	})
	e := newEnv(t, envOptions{upstreamURL: up.URL})
	call := func(fault string) response {
		return e.invoke("testsvc", "get-json", `{"query": {"fault": "`+fault+`"}}`)
	}
	assertBody(t, call("500"), 502, `{"detail": "The upstream external service request failed.", "upstream_status": 500, "upstream_body": {"error": "internal"}}`)
	assertBody(t, call("503"), 502, `{"detail": "The upstream external service request failed.", "upstream_status": 503, "upstream_body": "service unavailable"}`)
	r := call("429")
	assertBody(t, r, 429, `{"detail": "The upstream external service rate limit was exceeded.", "upstream_status": 429, "upstream_body": {"detail": {"status": "too_many_concurrent_requests"}}}`)
	if got := r.Header.Get("Retry-After"); got != "17" {
		t.Errorf("Retry-After = %q, want 17", got)
	}
	assertBody(t, call("badjson"), 502, bodyUpstreamFailed)
	assertBody(t, call("html"), 502, bodyUpstreamFailed)
}

// serveHTTP runs the API on the server `aiproxy serve` runs (httpapi.NewHTTPServer), with
// timeouts, on a local port until the test ends, and returns its address.
func (e *env) serveHTTP(t *testing.T, timeouts httpapi.Timeouts) string {
	t.Helper()
	srv := httpapi.NewHTTPServer(e.api, nil, timeouts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-served })
	return ln.Addr().String()
}

// TestFaultSlowHeadersAreCutOffByReadHeaderTimeout: a client that sends its request line
// and headers a byte at a time (slowloris) is disconnected when ReadHeaderTimeout passes.
// The server is the one `aiproxy serve` runs (httpapi.NewHTTPServer), with a 500 ms header
// timeout instead of 10 s: removing the timeout from the product fails this test.
func TestFaultSlowHeadersAreCutOffByReadHeaderTimeout(t *testing.T) {
	e := newEnv(t)
	const headerTimeout = 500 * time.Millisecond
	addr := e.serveHTTP(t, httpapi.Timeouts{ReadHeader: headerTimeout})

	// A well-behaved client on the same server is answered.
	resp, err := http.Get("http://" + addr + "/api/ai-proxy/orgs/org-a/services/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("normal request: %d", resp.StatusCode)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	request := "GET /api/ai-proxy/orgs/org-a/services/ HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key " + e.adminA + "\r\n\r\n"
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(request); i++ {
			if _, err := conn.Write([]byte{request[i]}); err != nil {
				return
			}
			sent.Add(1)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := io.ReadAll(conn) // until the server closes the connection
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the slow connection open for 5 s (%d of %d header bytes sent)", sent.Load(), len(request))
	}
	// net/http answers 400 or 408 when the header timeout passes (or closes silently): either way
	// the request is never served and the connection is closed.
	if len(answer) > 0 && !strings.HasPrefix(string(answer), "HTTP/1.1 408 ") && !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") {
		t.Fatalf("the server answered a request whose headers never completed: %q", answer)
	}
	if sent.Load() >= int64(len(request)) {
		t.Fatal("the whole request was sent before the cut-off: the test proves nothing")
	}
	if elapsed < headerTimeout-50*time.Millisecond || elapsed > 4*headerTimeout {
		t.Errorf("connection closed after %v, want about the %v header timeout", elapsed, headerTimeout)
	}
	status, _, _ := strings.Cut(string(answer), "\r\n")
	t.Logf("slow client cut off after %v having sent %d of %d header bytes (answer %q, read error %v)", elapsed.Round(time.Millisecond), sent.Load(), len(request), status, err)
}

// TestFaultClientLeavingAPassthroughDownloadCancelsTheUpstream complements
// TestClientLeavingMidStreamCancelsTheUpstreamCall (stream mode) for passthrough: the
// upstream's request context ends at once, and goleak (TestMain) finds nothing left.
func TestFaultClientLeavingAPassthroughDownloadCancelsTheUpstream(t *testing.T) {
	cancelled := make(chan time.Duration, 1)
	var left atomic.Int64
	up := faultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", "100000000")
		buf := make([]byte, 4096)
		for {
			if _, err := w.Write(buf); err != nil {
				break
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- time.Duration(time.Now().UnixNano() - left.Load())
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		cancelled <- time.Duration(time.Now().UnixNano() - left.Load())
	})
	e := newEnv(t, envOptions{upstreamURL: up.URL})
	ctx, cancel := context.WithCancel(context.Background())
	resp := e.open(ctx, "download", nil)
	if _, err := io.ReadFull(resp.Body, make([]byte, 8192)); err != nil {
		t.Fatal(err)
	}
	left.Store(time.Now().UnixNano())
	cancel()
	resp.Body.Close()
	select {
	case d := <-cancelled:
		t.Logf("upstream call ended %v after the client left", d.Round(time.Microsecond))
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream call went on after the client left")
	}
}

// TestFaultJSONEnvelopeAboveTheLimitIs413 extends TestUploadAboveTheLimitIs413DetectedWhileStreaming
// (multipart) to JSON envelopes: read up to the limit, never whole, and answered 413 JSON
// before any upstream call.
func TestFaultJSONEnvelopeAboveTheLimitIs413(t *testing.T) {
	var calls atomic.Int64
	up := faultUpstream(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	e := newEnv(t, envOptions{upstreamURL: up.URL, maxEnvelopeBytes: 4096})
	big := `{"body": {"text": "` + strings.Repeat("a", 8192) + `"}}`
	r := e.invoke("testsvc", "post-json", big)
	assertBody(t, r, 413, `{"detail": "Request body is larger than the limit of 4096 bytes."}`)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d upstream calls for a refused envelope", n)
	}
	// Just under the limit passes.
	ok := `{"path_params": {"item_id": "1"}, "body": {"text": "` + strings.Repeat("a", 4000) + `"}}`
	if r := e.invoke("testsvc", "post-json", ok); r.Status != 200 {
		t.Errorf("envelope under the limit: %d %s", r.Status, r.Body)
	}
}

// TestFaultRetries: a POST (billable) is never sent twice, even when its connection drops
// before any answer; an idempotent GET is retried once on a connection error.
func TestFaultRetries(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts = map[string]int{}
		drop     atomic.Int64 // how many of the next requests to drop
	)
	up := faultUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		if drop.Add(-1) >= 0 {
			hijackAndClose(t, w)
			return
		}
		drop.Store(0)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	})
	e := newEnv(t, envOptions{upstreamURL: up.URL})
	count := func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		n := attempts[key]
		delete(attempts, key)
		return n
	}
	for _, warm := range []bool{false, true} {
		name := "fresh connection"
		if warm {
			name = "reused connection"
		}
		t.Run(name, func(t *testing.T) {
			if warm { // leave an idle keep-alive connection in the gateway's pool
				if r := e.invoke("testsvc", "get-json", `{}`); r.Status != 200 {
					t.Fatalf("warm-up: %d", r.Status)
				}
				count("GET /v1/items")
			}
			drop.Store(1)
			assertBody(t, e.invoke("testsvc", "post-json", `{"path_params": {"item_id": "1"}, "body": {"charge": 1}}`), 502, bodyUpstreamFailed)
			if n := count("POST /v1/items/1/do"); n != 1 {
				t.Errorf("the POST was sent %d times, want exactly once", n)
			}
			drop.Store(1)
			r := e.invoke("testsvc", "get-json", `{}`)
			assertBody(t, r, 200, `{"ok": true}`)
			if n := count("GET /v1/items"); n != 2 {
				t.Errorf("the GET was sent %d times, want 2 (one retry)", n)
			}
			drop.Store(10)
			assertBody(t, e.invoke("testsvc", "get-json", `{}`), 502, bodyUpstreamFailed)
			if n := count("GET /v1/items"); n != 2 {
				t.Errorf("a GET whose connection always drops was sent %d times, want 2", n)
			}
			drop.Store(0)
		})
	}
}

// TestFaultIdleKeepAliveConnectionIsClosed: a client that keeps a connection open after its
// answer without sending another request is disconnected when the idle timeout passes. The
// server is the one `aiproxy serve` runs (httpapi.NewHTTPServer), with a 300 ms idle timeout
// instead of 120 s.
func TestFaultIdleKeepAliveConnectionIsClosed(t *testing.T) {
	e := newEnv(t)
	const idle = 300 * time.Millisecond
	addr := e.serveHTTP(t, httpapi.Timeouts{Idle: idle})

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /api/ai-proxy/orgs/org-a/services/ HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key "+e.adminA+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(make([]byte, 1))
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the idle connection was kept open for 5 s")
	}
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes (%v) from an idle connection, want the close", n, err)
	}
	if elapsed < idle-50*time.Millisecond || elapsed > 4*idle {
		t.Errorf("idle connection closed after %v, want about %v", elapsed, idle)
	}
}
