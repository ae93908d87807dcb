package gateway

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func rawDeflated(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// An upstream that answers in a content coding although the gateway asked for identity:
// gzip and deflate are decoded and the decoded bytes scrubbed and sent without
// Content-Encoding or the upstream's Content-Length; any other coding is a 502 before
// anything is sent. Never are coded bytes forwarded stripped of their coding.
func TestCodedAnswersAreDecodedOrRefused(t *testing.T) {
	body := []byte(`{"xi_api_key": "` + hexKey + `", "upper": "` + strings.ToUpper(hexKey) + `", "text": "` + strings.Repeat("la ", 2000) + `"}`)
	for _, tc := range []struct {
		coding string
		data   []byte
	}{
		{"gzip", gzipped(body)},
		{"x-gzip", gzipped(body)},
		{"GZIP", gzipped(body)},
		{"deflate", zlibbed(body)},
		{"deflate", rawDeflated(body)},
		{"gzip, gzip", gzipped(gzipped(body))},
		{"identity, deflate", zlibbed(body)},
	} {
		var sawAE atomic.Value
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sawAE.Store(r.Header.Get("Accept-Encoding"))
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", tc.coding)
			w.Header().Set("Content-Length", strconv.Itoa(len(tc.data)))
			w.Write(tc.data)
		}))
		g := modesGateway(t, up.URL, Config{})
		svc := modesCatalog(t)
		for _, mode := range []string{"json", "passthrough", "stream"} {
			iv := invokeMode(t, g, svc, mode, hexKey)
			if iv.err != nil {
				t.Fatalf("%s %q: %v", mode, tc.coding, iv.err)
			}
			got := iv.rec.Body.Bytes()
			if !json.Valid(got) {
				t.Fatalf("%s %q: the client got no JSON (coded bytes?): %.60q", mode, tc.coding, got)
			}
			if r := recoverable(string(got), hexKey); r != "" {
				t.Errorf("%s %q: %s reached the client", mode, tc.coding, r)
			}
			if len(got) != len(body) {
				t.Errorf("%s %q: %d bytes, want %d", mode, tc.coding, len(got), len(body))
			}
			h := iv.rec.Result().Header
			if ce := h.Get("Content-Encoding"); ce != "" {
				t.Errorf("%s %q: Content-Encoding %q forwarded", mode, tc.coding, ce)
			}
			if cl := h.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(got)) {
				t.Errorf("%s %q: Content-Length %s for %d bytes", mode, tc.coding, cl, len(got))
			}
			if mode != "json" && sawAE.Load() != "identity" {
				t.Errorf("%s: asked for %q, not identity", mode, sawAE.Load())
			}
		}
		up.Close()
	}

	for _, tc := range []struct{ coding, why string }{
		{"br", "unsupported"}, {"zstd", "unsupported"}, {"compress", "unsupported"}, {"gzip, br", "unsupported"},
		{"gzip", "not gzip at all"}, {"gzip, gzip, gzip", "too many codings"},
	} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", tc.coding)
			w.Write([]byte(`{"xi_api_key": "` + hexKey + `"} and more plain text than a gzip header`))
		}))
		g := modesGateway(t, up.URL, Config{})
		svc := modesCatalog(t)
		for _, mode := range []string{"json", "passthrough", "stream"} {
			iv := invokeMode(t, g, svc, mode, hexKey)
			if modesErrCode(iv.err) != aiproxy.EUPSTREAM {
				t.Errorf("%s %q (%s): error %v, want EUPSTREAM", mode, tc.coding, tc.why, iv.err)
			}
			if iv.rec.Body.Len() != 0 || iv.res.Status != 0 {
				t.Errorf("%s %q: %d bytes sent with status %d", mode, tc.coding, iv.rec.Body.Len(), iv.res.Status)
			}
		}
		up.Close()
	}
}

// An answer without a body keeps its status whatever its Content-Encoding claims: there
// are no bytes to hide anything.
func TestCodedEmptyAnswerPasses(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer up.Close()
	g := modesGateway(t, up.URL, Config{})
	for _, mode := range []string{"json", "passthrough", "stream"} {
		iv := invokeMode(t, g, modesCatalog(t), mode, hexKey)
		if iv.err != nil || iv.rec.Code != http.StatusNoContent {
			t.Errorf("%s: %d %v, want 204", mode, iv.rec.Code, iv.err)
		}
	}
}

// A coded error answer: upstream_body is the decoded text, scrubbed; in a coding the
// gateway cannot undo, it is left out.
func TestCodedErrorBody(t *testing.T) {
	msg := []byte(`{"detail": {"status": "invalid_api_key", "message": "key ` + hexKey + ` is invalid"}}`)
	for _, tc := range []struct {
		coding string
		data   []byte
		want   string
	}{
		{"gzip", gzipped(msg), "is invalid"},
		{"deflate", zlibbed(msg), "is invalid"},
		{"br", msg, ""},
	} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", tc.coding)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(tc.data)
		}))
		g := modesGateway(t, up.URL, Config{})
		for _, mode := range []string{"json", "passthrough"} {
			iv := invokeMode(t, g, modesCatalog(t), mode, hexKey)
			status, body := upstreamFields(t, iv.err)
			text, _ := json.Marshal(body)
			if status != http.StatusUnauthorized || !strings.Contains(string(text), tc.want) || tc.want == "" && string(text) != `""` {
				t.Errorf("%s %s: upstream %v %s", mode, tc.coding, status, text)
			}
			if r := recoverable(string(text), hexKey); r != "" {
				t.Errorf("%s %s: %s in upstream_body", mode, tc.coding, r)
			}
		}
		up.Close()
	}
}

// gzipBomb is a gzip stream of blocks zeros MiB of zeros (no trailer: it never ends
// properly), made lazily: about 1 KiB of input per MiB of output.
type gzipBomb struct {
	head, block []byte
	left        int
	pending     []byte
	read        atomic.Int64 // coded bytes handed out
}

func newGzipBomb(blocks int) *gzipBomb {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	w.Write(zeros)
	w.Flush()
	first := bytes.Clone(buf.Bytes())
	buf.Reset()
	w.Write(zeros)
	w.Flush()
	// Every later block refers back only to zeros, so the same bytes repeat.
	head := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, first...)
	return &gzipBomb{head: head, block: bytes.Clone(buf.Bytes()), left: blocks - 1}
}

func (b *gzipBomb) Read(p []byte) (int, error) {
	if len(b.pending) == 0 {
		switch {
		case b.head != nil:
			b.pending, b.head = b.head, nil
		case b.left > 0:
			b.pending, b.left = b.block, b.left-1
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	b.read.Add(int64(n))
	return n, nil
}

func (b *gzipBomb) Close() error { return nil }

// fixedTransport answers every request with the response resp makes.
type fixedTransport func(*http.Request) *http.Response

func (f fixedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := f(r)
	resp.Request = r
	return resp, nil
}

// A gzip bomb (10 MiB expanding to 10 GiB) in json mode fails with 502 having read at
// most the limit of decoded bytes, whether net/http's transport or the gateway decodes it;
// passthrough and stream decode it as it flows, as they would any long answer.
func TestGzipBombIsBoundedAfterDecoding(t *testing.T) {
	const limit = 8 << 20
	bomb := newGzipBomb(10 << 10)
	if n := len(bomb.head) + len(bomb.block)*(10<<10-1); n > 11<<20 {
		t.Fatalf("the bomb is %d bytes coded", n)
	}
	// Check the bomb is what it says: its first blocks decode to zeros.
	zr, err := gzip.NewReader(io.LimitReader(newGzipBomb(4), 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if n != 4<<20 || err != io.ErrUnexpectedEOF {
		t.Fatalf("4 blocks decode to %d bytes (%v)", n, err)
	}

	for _, coding := range []string{"gzip", "x-gzip"} {
		bomb := newGzipBomb(10 << 10)
		tr := fixedTransport(func(r *http.Request) *http.Response {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Encoding": {coding}, "Content-Type": {"application/json"}},
				Body: bomb, ContentLength: 10 << 20}
		})
		g := modesGateway(t, "http://upstream.invalid", Config{Transport: tr, MaxJSONResponse: limit})
		iv := invokeMode(t, g, modesCatalog(t), "json", hexKey)
		if modesErrCode(iv.err) != aiproxy.EUPSTREAM {
			t.Fatalf("%s bomb: %v, want EUPSTREAM", coding, iv.err)
		}
		// limit+1 decoded bytes take limit/1 MiB blocks of about 1 KiB each.
		if read := bomb.read.Load(); read > limit/256 {
			t.Errorf("%s bomb: %d coded bytes read for a limit of %d decoded", coding, read, limit)
		}
	}

	// Through net/http's own transport, which asked for gzip in json mode.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		io.Copy(w, newGzipBomb(10<<10))
	}))
	defer up.Close()
	g := modesGateway(t, up.URL, Config{MaxJSONResponse: limit})
	start := time.Now()
	iv := invokeMode(t, g, modesCatalog(t), "json", hexKey)
	if modesErrCode(iv.err) != aiproxy.EUPSTREAM || time.Since(start) > 5*time.Second {
		t.Fatalf("bomb through net/http: %v after %v", iv.err, time.Since(start))
	}
}

// No buffer is sized from a Content-Length the upstream merely claims: a tiny JSON answer
// that claims 60 MiB allocates next to nothing.
func TestClaimedContentLengthIsNotTrusted(t *testing.T) {
	tr := fixedTransport(func(r *http.Request) *http.Response {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"ok": true}`)), ContentLength: 60 << 20}
	})
	g := modesGateway(t, "http://upstream.invalid", Config{Transport: tr})
	svc := modesCatalog(t)
	invokeMode(t, g, svc, "json", hexKey) // warm the pools
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	iv := invokeMode(t, g, svc, "json", hexKey)
	runtime.ReadMemStats(&after)
	if iv.err != nil || iv.rec.Body.String() != `{"ok": true}` {
		t.Fatalf("%v %q", iv.err, iv.rec.Body.String())
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("one small answer claiming 60 MiB allocated %d bytes", grew)
	}
}
