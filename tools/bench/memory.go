package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const gib = 1 << 30

// bigClient has no overall timeout: a 1 GiB transfer or a held stream takes as long as
// it takes; the context bounds it.
func bigClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        20000,
		MaxIdleConnsPerHost: 20000,
		DisableCompression:  true,
	}}
}

// download1GiB fetches a 1 GiB passthrough answer (tts with ?size) through aiproxy.
func download1GiB(ctx context.Context, base, apiKey string, pid int) memoryRun {
	m := memoryRun{Name: "1 GiB passthrough download (tts)", Bytes: gib}
	m.IdleRSSMiB, _ = rssMiB(pid)
	env, _ := json.Marshal(map[string]any{
		"body":        json.RawMessage(ttsBody),
		"path_params": map[string]string{"voice_id": benchVoiceID},
		"query":       map[string]string{"size": strconv.Itoa(gib)},
	})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, invokeURL(base, "elevenlabs", "tts"), bytes.NewReader(env))
	req.Header.Set("Authorization", "Api-Key "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := bigClient().Do(req)
	if err != nil {
		return m.fail(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	m.finish(start, pid)
	switch {
	case err != nil:
		return m.fail(err)
	case resp.StatusCode != http.StatusOK || n != gib:
		return m.fail(fmt.Errorf("status %d, %d bytes", resp.StatusCode, n))
	}
	m.OK = true
	return m
}

// upload1GiB sends a 1 GiB file part, generated as it is sent, to HeyGen's upload-asset
// (a binary action: the part's bytes become the upstream body) through aiproxy.
func upload1GiB(ctx context.Context, base, apiKey string, pid int) memoryRun {
	m := memoryRun{Name: "1 GiB multipart upload (heygen upload-asset)", Bytes: gib}
	m.IdleRSSMiB, _ = rssMiB(pid)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="bench.mp4"`)
		h.Set("Content-Type", "video/mp4")
		part, err := mw.CreatePart(h)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		buf := pattern(64 << 10)
		for left := int64(gib); left > 0; left -= int64(len(buf)) {
			if _, err := part.Write(buf[:min(left, int64(len(buf)))]); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, invokeURL(base, "heygen", "upload-asset"), pr)
	req.Header.Set("Authorization", "Api-Key "+apiKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	start := time.Now()
	resp, err := bigClient().Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return m.fail(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Data struct {
			Size        int64  `json:"size"`
			ContentType string `json:"content_type"`
		} `json:"data"`
	}
	body, err := io.ReadAll(resp.Body)
	m.finish(start, pid)
	if err != nil {
		return m.fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		return m.fail(fmt.Errorf("status %d: %.200s", resp.StatusCode, body))
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Data.Size != gib {
		return m.fail(fmt.Errorf("upstream received %d bytes (%.200s)", answer.Data.Size, body))
	}
	m.OK = true
	return m
}

func (m *memoryRun) finish(start time.Time, pid int) {
	m.Seconds = time.Since(start).Seconds()
	if m.Seconds > 0 {
		m.MiBPerSec = float64(m.Bytes) / (1 << 20) / m.Seconds
	}
	_, m.PeakRSSMiB = rssMiB(pid)
}

func (m memoryRun) fail(err error) memoryRun {
	m.Error = err.Error()
	return m
}

// holdStreams opens n tts-stream invokes through aiproxy, ramped at rampRate per second,
// each held open by the upstream for hold with a chunk every few seconds, and reports
// aiproxy's memory while they are all open.
func holdStreams(ctx context.Context, base, apiKey string, pid int, pprofURL string, n int, hold time.Duration, logf func(string, ...any)) *streamsRun {
	const rampRate = 2000
	every := 3 * time.Second
	s := &streamsRun{Streams: n, Hold: hold.String(), Errors: map[string]int{}}
	s.IdleRSSMiB, _ = rssMiB(pid)
	env, _ := json.Marshal(map[string]any{
		"body":        json.RawMessage(ttsBody),
		"path_params": map[string]string{"voice_id": benchVoiceID},
		"query":       map[string]string{"hold": hold.String(), "every": every.String()},
	})
	client := bigClient()
	ctx, cancel := context.WithTimeout(ctx, hold+2*time.Minute)
	defer cancel()

	var opened, completed atomic.Int64
	var mu sync.Mutex
	fail := func(err error) {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		mu.Lock()
		s.Errors[msg]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rampRate)
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, invokeURL(base, "elevenlabs", "tts-stream"), bytes.NewReader(env))
			req.Header.Set("Authorization", "Api-Key "+apiKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("status %d", resp.StatusCode))
				return
			}
			opened.Add(1)
			if n, err := io.Copy(io.Discard, resp.Body); err != nil {
				fail(err)
			} else if n == 0 {
				fail(errors.New("empty stream"))
			} else {
				completed.Add(1)
			}
		}()
	}
	tick.Stop()
	rampEnd := time.Now()
	logf("streams: %d requests sent, %d open", n, opened.Load())

	// Sample while the streams are held: peak RSS, and a snapshot once all are open.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	snap := false
	s.PeakRSSMiB = watchRSS(pid, 500*time.Millisecond, done, func() {
		if !snap && (opened.Load() == int64(n) || time.Since(rampEnd) > hold/2) {
			// Let the last handshakes settle before the snapshot.
			time.Sleep(time.Second)
			snap = true
			s.RSSAllOpenMiB, _ = rssMiB(pid)
			if st, err := procStatus(pid); err == nil {
				s.Threads = int(st["Threads"])
			}
			if pprofURL != "" {
				s.Goroutines = goroutineCount(pprofURL)
			}
			logf("streams: %d open, aiproxy RSS %.0f MiB", opened.Load(), s.RSSAllOpenMiB)
		}
	})
	s.Opened, s.Completed = int(opened.Load()), int(completed.Load())
	if s.Opened > 0 {
		s.KiBPerStream = (s.RSSAllOpenMiB - s.IdleRSSMiB) * 1024 / float64(s.Opened)
	}
	if pprofURL == "" {
		s.GoroutinesNote = "goroutines not counted: aiproxy serve has no --pprof-addr"
	}
	if len(s.Errors) == 0 {
		s.Errors = nil
	}
	return s
}

// goroutineCount reads "goroutine profile: total N" from a pprof listener.
func goroutineCount(base string) int {
	resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	_, v, ok := strings.Cut(strings.TrimSpace(line), "total ")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}
