package httpapi_test

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// pattern is an endless reader of non-zero bytes (so nothing is accidentally sparse).
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return len(p), nil
}

// heapWatcher samples the heap while a transfer runs and reports the peak.
type heapWatcher struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap() *heapWatcher {
	runtime.GC()
	h := &heapWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return h
}

func (h *heapWatcher) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

const bigTransfer = 256 << 20
const heapLimit = 32 << 20

func TestPassthroughDownloadOf256MiBKeepsTheHeapSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	e := newEnv(t)
	e.up.setRaw(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", strconv.Itoa(bigTransfer))
		io.CopyN(w, pattern{}, bigTransfer)
	})
	h := watchHeap()
	resp := e.open(context.Background(), "download", nil)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	peak := h.Stop()
	if err != nil || n != bigTransfer {
		t.Fatalf("read %d bytes, err %v", n, err)
	}
	if resp.ContentLength != bigTransfer {
		t.Errorf("Content-Length %d", resp.ContentLength)
	}
	t.Logf("peak heap in use: %.1f MiB", float64(peak)/(1<<20))
	if peak > heapLimit {
		t.Errorf("peak heap %.1f MiB during a 256 MiB download, want < 32 MiB", float64(peak)/(1<<20))
	}
}

func TestBinaryUploadOf256MiBStreamsWithoutBuffering(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	e := newEnv(t)
	var received atomic.Int64
	e.up.setRaw(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Store(n)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte(strconv.FormatInt(n, 10)))
	})
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreatePart(filePartHeader("file", "big.bin", "application/octet-stream"))
		if err == nil {
			_, err = io.CopyN(part, pattern{}, bigTransfer)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	h := watchHeap()
	resp := e.do("POST", "/api/ai-proxy/orgs/org-a/services/testsvc/upload-binary-stream/", "Api-Key "+e.adminA, pr,
		"Content-Type", mw.FormDataContentType())
	peak := h.Stop()
	if resp.Status != 200 || string(resp.Body) != strconv.Itoa(bigTransfer) || received.Load() != bigTransfer {
		t.Fatalf("status %d, body %q, upstream received %d", resp.Status, resp.Body, received.Load())
	}
	t.Logf("peak heap in use: %.1f MiB", float64(peak)/(1<<20))
	if peak > heapLimit {
		t.Errorf("peak heap %.1f MiB during a 256 MiB upload, want < 32 MiB", float64(peak)/(1<<20))
	}
}

func TestUploadAboveTheLimitIs413DetectedWhileStreaming(t *testing.T) {
	e := newEnv(t, envOptions{maxUpload: 1 << 20})
	e.up.setRaw(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{}`))
	})
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, _ := mw.CreatePart(filePartHeader("file", "big.bin", "application/octet-stream"))
		_, err := io.CopyN(part, pattern{}, 8<<20)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	resp := e.do("POST", "/api/ai-proxy/orgs/org-a/services/testsvc/upload-binary/", "Api-Key "+e.adminA, pr,
		"Content-Type", mw.FormDataContentType())
	assertBody(t, resp, 413, `{"detail": "Request body is larger than the limit of 1048576 bytes."}`)
}

func TestClientLeavingMidStreamCancelsTheUpstreamCall(t *testing.T) {
	e := newEnv(t)
	cancelled := make(chan struct{})
	e.up.setRaw(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; ; i++ {
			if _, err := w.Write([]byte("chunk\n")); err != nil {
				break
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				close(cancelled)
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		close(cancelled)
	})
	ctx, cancel := context.WithCancel(context.Background())
	resp := e.open(ctx, "stream", nil)
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream call went on after the client left")
	}
}
