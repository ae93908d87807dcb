package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/prom"
)

// TestMetricsOnTheAPIListenerNeedAnOperatorKey: /metrics names orgs and actions, so on the
// public listener it answers only operator keys.
func TestMetricsOnTheAPIListenerNeedAnOperatorKey(t *testing.T) {
	metrics := prom.New()
	e := newEnv(t, envOptions{metrics: metrics, metricsHandler: metrics.Handler()})
	e.invoke("testsvc", "get-json", `{}`)
	assertBody(t, e.do("GET", "/metrics", "", nil), 401, `{"detail": "Authentication credentials were not provided."}`)
	assertBody(t, e.do("GET", "/metrics", "Api-Key "+e.adminA, nil), 403, `{"detail": "You do not have permission to perform this action."}`)
	r := e.do("GET", "/metrics", "Api-Key "+e.operator, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "aiproxy_requests_total") {
		t.Fatalf("operator: %d %.200s", r.Status, r.Body)
	}
}

// TestPaginationLinksComeFromThePublicURLNeverFromHost: next is built from the configured
// public URL; a client's Host header (which it chooses) never appears in it.
func TestPaginationLinksComeFromThePublicURLNeverFromHost(t *testing.T) {
	for _, public := range []string{"", "https://gateway.example.com"} {
		e := newEnv(t, envOptions{publicURL: public})
		for i := 0; i < 3; i++ {
			e.key(e.orgA, "member", nil) // audit entries to page through
		}
		req, _ := http.NewRequest("GET", e.srv.URL+admAPI+"/orgs/org-a/audit/?limit=1", nil)
		req.Host = "evil.example"
		req.Header.Set("Authorization", "Api-Key "+e.adminA)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "evil.example")
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Next *string }
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || page.Next == nil {
			t.Fatalf("no next link: %v", err)
		}
		want := public + admAPI + "/orgs/org-a/audit/?before="
		if !strings.HasPrefix(*page.Next, want) || strings.Contains(*page.Next, "evil") {
			t.Errorf("public URL %q: next = %q, want it to start with %q", public, *page.Next, want)
		}
	}
}

// TestAKeyMayHoldOnlyItsShareOfRequestsInProgress: with a limit of 2, a key's third
// concurrent request is refused 429 with Retry-After, while another key goes on; the
// count goes down as requests finish.
func TestAKeyMayHoldOnlyItsShareOfRequestsInProgress(t *testing.T) {
	e := newEnv(t, envOptions{maxInflight: 2})
	release := make(chan struct{})
	var held sync.WaitGroup
	held.Add(2)
	var once sync.Once
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		held.Done()
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok": true}`)
	})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); e.invoke("testsvc", "get-json", `{}`) }()
	}
	held.Wait()
	r := e.invoke("testsvc", "get-json", `{}`)
	if r.Status != 429 || r.Header.Get("Retry-After") != "1" || !strings.Contains(string(r.Body), "Too many requests in progress with this key (the limit is 2)") {
		t.Errorf("third request of the key: %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if r := e.do("GET", admAPI+"/orgs/org-a/services/", "Api-Key "+e.memberA, nil); r.Status != 200 {
		t.Errorf("another key while the first is at its limit: %d", r.Status)
	}
	once.Do(func() { close(release) })
	wg.Wait()
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok": true}`)
	})
	if r := e.invoke("testsvc", "get-json", `{}`); r.Status != 200 {
		t.Errorf("after the held requests finished: %d %s", r.Status, r.Body)
	}
}

// TestUnauthenticatedRequestWithABodyIsAnsweredWithoutReadingIt: the 401 comes at once,
// with Connection: close, though the client announced a megabyte and sent ten bytes.
func TestUnauthenticatedRequestWithABodyIsAnsweredWithoutReadingIt(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST "+admAPI+"/orgs/org-a/services/testsvc/post-json/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n{\"body\": 1")
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is pending: %v", err)
	}
	if resp.StatusCode != 401 || !resp.Close {
		t.Errorf("answer %d, close %v; want 401 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// TestAStalledBodyIsCutAfterTheIdleTimeout: with a key, the body is read; when it stops
// arriving for the idle timeout the request fails 408 and the connection is closed.
func TestAStalledBodyIsCutAfterTheIdleTimeout(t *testing.T) {
	e := newEnv(t, envOptions{bodyIdle: 300 * time.Millisecond})
	srv := e.serveHTTP(t, httpapi.Timeouts{})
	conn, err := net.Dial("tcp", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, _ = io.WriteString(conn, "POST "+admAPI+"/orgs/org-a/services/testsvc/post-json/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Api-Key "+e.adminA+"\r\nContent-Length: 1000\r\n\r\n{\"body\": 1")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if resp.StatusCode != 408 || !strings.Contains(string(body), "The request body stalled") {
		t.Errorf("answer %d %s, want 408", resp.StatusCode, body)
	}
	if elapsed < 250*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("answered after %v, want about the 300 ms idle timeout", elapsed)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection stayed open after the stalled body")
	}
	if e.up.count() != 0 {
		t.Error("the upstream was called for a request whose body never arrived")
	}
}

// TestReadinessAndLiveness: /healthz answers while the process runs; /readyz while the
// store answers.
func TestReadinessAndLiveness(t *testing.T) {
	e := newEnv(t)
	assertBody(t, e.do("GET", "/healthz", "", nil), 200, `{"status": "ok"}`)
	assertBody(t, e.do("GET", "/readyz", "", nil), 200, `{"status": "ready"}`)
	e.store.Close()
	r := e.do("GET", "/readyz", "", nil)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), "The gateway's database is unavailable") {
		t.Errorf("/readyz with the store closed: %d %s", r.Status, r.Body)
	}
}

// TestCORSDecidesOnTheOrgTheRouterParsed: the org whose cors_origins apply is the org the
// route names as the router decoded it; an org's origin opens no other org's routes.
func TestCORSDecidesOnTheOrgTheRouterParsed(t *testing.T) {
	e := corsEnv(t)
	preflight := func(path string) response {
		return e.do("OPTIONS", path, "", nil, "Origin", corsOrgOrigin, "Access-Control-Request-Method", "POST")
	}
	for _, path := range []string{
		admAPI + "/orgs/org-a/services/testsvc/get-json/",
		admAPI + "/orgs/%6frg-a/services/testsvc/get-json/", // the same org, percent-encoded
	} {
		if r := preflight(path); r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != corsOrgOrigin {
			t.Errorf("%s: %d, allow-origin %q", path, r.Status, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	for _, path := range []string{
		admAPI + "/orgs/org-b/services/testsvc/get-json/",
		admAPI + "/orgs/org-b%2F..%2Forg-a/services/",
		admAPI + "/nowhere/orgs/org-a/services/",
	} {
		if r := preflight(path); r.Status == 204 || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: org A's origin was allowed: %d", path, r.Status)
		}
	}
}
