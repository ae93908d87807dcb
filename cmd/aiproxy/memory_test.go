package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aiproxy/aiproxy/internal/proctest"
)

// hostileCatalog is a service whose upstream (the test's) misbehaves on purpose.
const hostileCatalog = `
slug: hostile
display_name: Hostile
service_type: test
base_url: https://hostile.invalid
auth: {mode: header, header: X-Hostile-Key}
timeout_seconds: 60
credential_name: hostile
credential_policy: {allow_tenant_key: true, allow_platform_key: false, default_source: tenant, fallback_to_platform_key: false}
endpoints:
  - {slug: upload, method: POST, path: "/upload", request_mode: multipart, response_mode: json}
  - {slug: binary, method: POST, path: "/upload", request_mode: binary, response_mode: json}
  - {slug: post-json, method: POST, path: "/json", request_mode: json, response_mode: json}
  - {slug: bomb, method: GET, path: "/bomb", request_mode: raw, response_mode: json}
  - {slug: bomb-download, method: GET, path: "/bomb", request_mode: raw, response_mode: passthrough}
`

// hostileUpstream drains uploads and answers small JSON, and serves a gzip bomb: 4 GiB of
// zeros, gzipped, with Content-Encoding though the gateway asked for identity.
func hostileUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bomb" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
			zero := make([]byte, 1<<20)
			_, _ = zw.Write([]byte(`{"a": "`))
			for i := 0; i < 4096; i++ {
				if _, err := zw.Write(zero); err != nil {
					return
				}
			}
			_ = zw.Close()
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok": true}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// procMemory reads VmRSS and VmHWM (peak RSS) of pid, in MiB.
func procMemory(t *testing.T, pid int) (rss, peak float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read process memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// hostileRequest is one request shaped to make the gateway hold memory.
type hostileRequest struct {
	name, action string
	body         func() (io.Reader, string) // the body, streamed (never held by the test), and its type
}

// repeatReader yields n bytes of b repeated.
func repeatReader(b []byte, n int64) io.Reader {
	return io.LimitReader(&cycle{b: b}, n)
}

type cycle struct {
	b []byte
	i int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.b[c.i:])
		n += k
		c.i = (c.i + k) % len(c.b)
	}
	return n, nil
}

func hostileRequests() []hostileRequest {
	textParts := func() (io.Reader, string) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			for i := 0; i < 64; i++ { // 64 text parts of 1 MiB: refused at the 8 MiB total
				w, err := mw.CreateFormField(fmt.Sprintf("field%d", i))
				if err == nil {
					_, err = io.Copy(w, repeatReader([]byte("x"), 1<<20))
				}
				if err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			pw.CloseWithError(mw.Close())
		}()
		return pr, mw.FormDataContentType()
	}
	bigBody := func() (io.Reader, string) { // a 512 MiB "body" string in a JSON envelope
		return io.MultiReader(strings.NewReader(`{"body": {"text": "`), repeatReader([]byte("abcdefgh"), 512<<20), strings.NewReader(`"}}`)), "application/json"
	}
	bigFile := func() (io.Reader, string) { // a 256 MiB file as base64 in a JSON envelope, streamed upstream
		data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5, 0x5A, 0xFF}, 1<<10))
		return io.MultiReader(strings.NewReader(`{"files": {"file": {"filename": "a.bin", "content_type": "application/octet-stream", "data": "`),
			repeatReader([]byte(data), 256<<20/int64(len(data))*int64(len(data))), strings.NewReader(`"}}}`)), "application/json"
	}
	empty := func() (io.Reader, string) { return strings.NewReader(`{}`), "application/json" }
	return []hostileRequest{
		{"multipart text parts", "upload", textParts},
		{"JSON envelope with a huge body", "post-json", bigBody},
		{"JSON envelope with a huge base64 file", "binary", bigFile},
		{"gzip bomb answer (json)", "bomb", empty},
		{"gzip bomb answer (passthrough)", "bomb-download", empty},
	}
}

// TestHostileRequestsStayWithinTheirMemoryBounds: against the real binary, each hostile
// request shape raises the process's peak RSS by at most 96 MiB over idle, and 16 of them at
// once by at most 384 MiB in all — whatever the shape: text parts, a huge envelope, a
// decompression bomb from the upstream.
func TestHostileRequestsStayWithinTheirMemoryBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("moves gigabytes")
	}
	bin := proctest.BuildPlain(t) // the process as shipped: -race would triple its memory
	catDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(catDir, "hostile.yaml"), []byte(hostileCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	up := hostileUpstream(t)
	start := func(name string) (*server, string) {
		db := filepath.Join(t.TempDir(), "aiproxy.db")
		env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
		common := []string{"--db", db, "--catalog-dir", catDir}
		proctest.Run(t, bin, env, "", append([]string{"org", "create", "acme"}, common...)...)
		key := strings.TrimSpace(proctest.Run(t, bin, env, "", append([]string{"key", "create", "--org", "acme"}, common...)...))
		proctest.Run(t, bin, env, "", append([]string{"credential", "set", "hostile", "--org", "acme", "--key", "hostile-key-123456"}, common...)...)
		srv := startServer(t, name, bin, env, append(common, "--upstream", "hostile="+up, "--max-inflight-per-key", "0")...)
		return srv, key
	}
	send := func(srv *server, key string, h hostileRequest) (int, error) {
		body, ct := h.body()
		req, err := http.NewRequest(http.MethodPost, srv.url+"/orgs/acme/services/hostile/"+h.action+"/", body)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Api-Key "+key)
		req.Header.Set("Content-Type", ct)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	warm := func(srv *server, key string) float64 {
		if status, _, err := srv.do(http.MethodGet, "/orgs/acme/services/", key, nil); err != nil || status != 200 {
			t.Fatalf("warm-up: %d %v", status, err)
		}
		rss, _ := procMemory(t, srv.proc.Pid())
		return rss
	}
	for _, h := range hostileRequests() {
		srv, key := start(h.name)
		idle := warm(srv, key)
		status, err := send(srv, key, h)
		if err != nil {
			t.Logf("%s: the request ended with %v (the gateway may cut an oversized upload)", h.name, err)
		}
		_, peak := procMemory(t, srv.proc.Pid())
		t.Logf("%-40s status %d, idle %.1f MiB, peak %.1f MiB, +%.1f MiB", h.name, status, idle, peak, peak-idle)
		if status == 500 || status == 200 && strings.HasPrefix(h.name, "gzip bomb answer (json)") {
			t.Errorf("%s: status %d", h.name, status)
		}
		if peak-idle > 96 {
			t.Errorf("%s raised peak RSS by %.1f MiB, want at most 96", h.name, peak-idle)
		}
		srv.stop()
	}

	srv, key := start("sixteen at once")
	idle := warm(srv, key)
	var wg sync.WaitGroup
	reqs := hostileRequests()
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(h hostileRequest) {
			defer wg.Done()
			if status, err := send(srv, key, h); status == 500 {
				t.Errorf("%s: 500 (%v)", h.name, err)
			}
		}(reqs[i%len(reqs)])
	}
	wg.Wait()
	_, peak := procMemory(t, srv.proc.Pid())
	t.Logf("16 hostile requests at once: idle %.1f MiB, peak %.1f MiB, +%.1f MiB", idle, peak, peak-idle)
	if peak-idle > 384 {
		t.Errorf("16 concurrent hostile requests raised peak RSS by %.1f MiB, want at most 384", peak-idle)
	}
}
