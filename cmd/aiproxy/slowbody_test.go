package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/proctest"
)

// openFDs counts the open descriptors of process pid (Linux).
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}

// slowBody opens a connection to addr, sends the request line and headers of a POST
// announcing a 1 MiB body, then 10 bytes of it, and stalls. It returns the status line the
// server answers (or "" if none) and when the server closed the connection.
func slowBody(addr, path, authz string, deadline time.Duration) (status string, closedAfter time.Duration, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	start := time.Now()
	req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n"
	if authz != "" {
		req += "Authorization: " + authz + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n{\"body\": {"); err != nil {
		return "", 0, err
	}
	_ = conn.SetReadDeadline(start.Add(deadline))
	br := bufio.NewReader(conn)
	line, _ := br.ReadString('\n')
	_, err = io.Copy(io.Discard, br) // until the server closes
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return strings.TrimSpace(line), 0, fmt.Errorf("the server kept the connection open for %v", deadline)
	}
	return strings.TrimSpace(line), time.Since(start), nil
}

// TestSlowBodiesAreCutOffAndTheirDescriptorsReturned: against the real binary, 300
// connections that send headers without a key and then trickle nothing of their body are
// answered 401 at once without the body being read, and closed — all within 35 s — and the
// server's descriptors return to their baseline; an authenticated request whose body stalls
// is closed once --body-idle-timeout passes (408).
func TestSlowBodiesAreCutOffAndTheirDescriptorsReturned(t *testing.T) {
	bin := proctest.Build(t)
	db := filepath.Join(t.TempDir(), "aiproxy.db")
	env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
	proctest.Run(t, bin, env, "", "org", "create", "acme", "--db", db)
	key := strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", "acme", "--db", db))
	srv := startServer(t, "server", bin, env, "--db", db, "--body-idle-timeout", "2s")
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	// Warm up, then take the baseline.
	if status, _, err := srv.do(http.MethodGet, "/orgs/acme/services/", key, nil); err != nil || status != 200 {
		t.Fatalf("warm-up: %d %v", status, err)
	}
	client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	baseline := openFDs(t, srv.proc.Pid())

	const conns = 300
	path := u.Path + "/orgs/acme/services/elevenlabs/tts/"
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	var mu sync.Mutex
	var slowest time.Duration
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, after, err := slowBody(u.Host, path, "", 35*time.Second)
			switch {
			case err != nil:
				errs <- err
			case !strings.HasPrefix(status, "HTTP/1.1 401 "):
				errs <- fmt.Errorf("answered %q, want 401", status)
			}
			mu.Lock()
			slowest = max(slowest, after)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d slow-body connections without a key: all answered 401 and closed within %v (slowest %v)", conns, time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if time.Since(start) > 35*time.Second {
		t.Errorf("closing %d slow-body connections took %v, want at most 35 s", conns, time.Since(start))
	}
	var now int
	for wait := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if now = openFDs(t, srv.proc.Pid()); now <= baseline+2 || time.Since(wait) > 5*time.Second {
			break
		}
	}
	t.Logf("descriptors: %d before, %d after", baseline, now)
	if now > baseline+2 {
		t.Errorf("the server holds %d descriptors after the connections closed, %d before", now, baseline)
	}

	// With a key, the body is read — and the connection closed when it stalls.
	status, after, err := slowBody(u.Host, path, "Api-Key "+key, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 408 ") || after < 2*time.Second || after > 4*time.Second {
		t.Errorf("a stalled body with a key: %q after %v, want 408 after about 2 s", status, after)
	}
}
