package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The canned upstream answers the three ElevenLabs actions the load runs use, and HeyGen's
// upload-asset for the upload run, as fast as it can: the bodies are built once at start.
// It checks the provider key, so a proxy that forgot to inject it fails loudly (401).

const (
	voicesPath    = "/v1/voices"           // elevenlabs list-voices, response_mode json
	ttsPathPrefix = "/v1/text-to-speech/"  // elevenlabs tts, response_mode passthrough
	benchVoiceID  = "21m00Tcm4TlvDq8Ikwmg" // any voice id: the upstream ignores it
	assetPath     = "/v1/asset"            // heygen upload-asset, request_mode binary
	ttsBody       = `{"text":"Hello from the bench.","model_id":"eleven_multilingual_v2"}`
	audioBytes    = 1 << 20 // the passthrough body
	streamChunks  = 100     // chunks in one tts-stream answer
)

type upstreamConfig struct {
	addr        string
	elevenKey   string
	heygenKey   string
	chunkBytes  int
	chunkDelay  time.Duration
	voicesBytes int
}

func cmdUpstream(ctx context.Context, args []string) error {
	var c upstreamConfig
	fs := flag.NewFlagSet("bench upstream", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&c.elevenKey, "eleven-key", "", "expected xi-api-key")
	fs.StringVar(&c.heygenKey, "heygen-key", "", "expected X-Api-Key")
	fs.IntVar(&c.chunkBytes, "chunk-bytes", 1024, "bytes per stream chunk")
	fs.DurationVar(&c.chunkDelay, "chunk-delay", 0, "pause between stream chunks")
	fs.IntVar(&c.voicesBytes, "voices-bytes", 20<<10, "approximate size of the voice list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveUntilDone(ctx, c.addr, newUpstream(c))
}

// serveUntilDone serves h on addr until ctx is done.
func serveUntilDone(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// newUpstream returns the canned upstream's handler.
func newUpstream(c upstreamConfig) http.Handler {
	voices := voiceList(c.voicesBytes)
	audio := pattern(audioBytes)
	chunk := pattern(c.chunkBytes)
	mux := http.NewServeMux()
	eleven := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("xi-api-key") != c.elevenKey {
				http.Error(w, `{"detail":{"status":"invalid_api_key"}}`, http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET "+voicesPath, eleven(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(voices)))
		_, _ = w.Write(voices)
	}))
	// tts: 1 MiB of audio with its length; ?size=N sends N bytes instead (the 1 GiB download).
	mux.HandleFunc("POST "+ttsPathPrefix+"{voice_id}", eleven(func(w http.ResponseWriter, r *http.Request) {
		if !drainBody(w, r) {
			return
		}
		size := int64(len(audio))
		if s := r.URL.Query().Get("size"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				http.Error(w, "bad size", http.StatusBadRequest)
				return
			}
			size = n
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		for size > 0 {
			n := min(size, int64(len(audio)))
			if _, err := w.Write(audio[:n]); err != nil {
				return
			}
			size -= n
		}
	}))
	// tts-stream: 100 chunks, each flushed; ?hold=D&every=E instead sends a chunk every E
	// until D has passed (the concurrent-streams run).
	mux.HandleFunc("POST "+ttsPathPrefix+"{voice_id}/stream", eleven(func(w http.ResponseWriter, r *http.Request) {
		if !drainBody(w, r) {
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		rc := http.NewResponseController(w)
		if hold, err := time.ParseDuration(r.URL.Query().Get("hold")); err == nil {
			every, err := time.ParseDuration(r.URL.Query().Get("every"))
			if err != nil || every <= 0 {
				every = 3 * time.Second
			}
			holdStream(r.Context(), w, rc, chunk, hold, every)
			return
		}
		for i := range streamChunks {
			if i > 0 && c.chunkDelay > 0 {
				time.Sleep(c.chunkDelay)
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}))
	// upload-asset: the body is the file; it is counted and thrown away.
	mux.HandleFunc("POST "+assetPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != c.heygenKey {
			http.Error(w, `{"code":401,"message":"invalid api key"}`, http.StatusUnauthorized)
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"code": 100,
			"data": map[string]any{"id": "bench-asset", "size": n, "content_type": r.Header.Get("Content-Type")},
		})
	})
	return mux
}

// drainBody reads the request body (a proxy must have forwarded one) and answers 400 if
// it is missing.
func drainBody(w http.ResponseWriter, r *http.Request) bool {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		return false
	}
	if n == 0 {
		http.Error(w, `{"detail":"missing body"}`, http.StatusBadRequest)
		return false
	}
	return true
}

func holdStream(ctx context.Context, w io.Writer, rc *http.ResponseController, chunk []byte, hold, every time.Duration) {
	deadline := time.Now().Add(hold)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !time.Now().Add(every).Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// voiceList is a JSON voice list shaped like ElevenLabs' GET /v1/voices, of about size bytes.
func voiceList(size int) []byte {
	type voice struct {
		VoiceID     string            `json:"voice_id"`
		Name        string            `json:"name"`
		Category    string            `json:"category"`
		Labels      map[string]string `json:"labels"`
		Description string            `json:"description"`
		PreviewURL  string            `json:"preview_url"`
	}
	var voices []voice
	for i := 0; ; i++ {
		voices = append(voices, voice{
			VoiceID:     fmt.Sprintf("voice%015d", i),
			Name:        fmt.Sprintf("Bench Voice %d", i),
			Category:    "premade",
			Labels:      map[string]string{"accent": "american", "age": "young", "gender": "female", "use_case": "narration"},
			Description: "A calm, clear voice used by the benchmark.",
			PreviewURL:  fmt.Sprintf("https://storage.example.com/voices/voice%015d/preview.mp3", i),
		})
		data, _ := json.Marshal(map[string]any{"voices": voices})
		if len(data) >= size {
			return data
		}
	}
}

// pattern is n bytes of a repeating, non-zero pattern.
// pattern returns n bytes that look like compressed media: every byte value about equally
// often, from a fixed seed. (The alphabet over and over, as this once was, made every proxy
// that inspects bodies stop at a letter of the key every 26 bytes, which real audio never
// does.)
func pattern(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
