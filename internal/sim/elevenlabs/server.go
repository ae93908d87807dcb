// Package elevenlabs is an offline simulator of the ElevenLabs HTTP API (v1): voices, models,
// text-to-speech (plain, streamed, with timestamps), sound effects, audio isolation, dubbing,
// history, the user/subscription objects and workspace webhooks with signed deliveries, and
// speech to text, speech to speech, dialogue, voice design, music and forced alignment.
// docs/simulators.md §18–§22, §25 and §26 describe what it serves; comments cite that document by
// section and upstream sources by the tags of its §2, such as [EL-oas]. Choices the sources
// leave open are marked "GAP" and listed there.
//
// Everything a caller creates (voices, dubbings, history items, webhooks) belongs to the
// provider key that created it: one key never sees another key's objects.
package elevenlabs

import (
	"context"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// Server simulates api.elevenlabs.io.
type Server struct {
	opts    simcore.Options
	clock   *simcore.Clock
	rand    *simcore.Rand // request and trace ids
	handler http.Handler
	done    chan struct{} // closed by Close: in-flight streams stop
	once    sync.Once

	// maxConcurrent, when positive, makes a key's requests beyond that many in flight fail
	// with 429 too_many_concurrent_requests. Off by default so tests are not flaky; the
	// advertised maximum-concurrent-requests header is then the Creator plan's 5.
	maxConcurrent int

	premade     []*Voice // shared and read-only
	premadeByID map[string]*Voice

	mu       sync.Mutex
	closed   bool // set by Close: no new webhook deliveries start
	accounts map[string]*account
	tokens   map[string]*singleUseToken // issued single-use tokens, by token (usage.go)

	// Webhook deliveries (webhooks.go): in flight under wg, cancelled by ctx on Close.
	ctx           context.Context
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	webhookClient *http.Client
}

// advertisedConcurrency is the Creator plan's Multilingual v2 limit [EL-models].
const advertisedConcurrency = 5

// New returns a simulator configured by opts. A nil opts.Faults gets a fresh registry.
func New(opts simcore.Options) *Server {
	opts = opts.WithFaults()
	s := &Server{
		opts:     opts,
		clock:    simcore.NewClock(opts.Speed),
		rand:     simcore.NewRand(opts.Seed),
		done:     make(chan struct{}),
		accounts: map[string]*account{},
		// No keep-alives: no idle connection goroutines outlive Close.
		webhookClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.premade, s.premadeByID = premadeVoices(opts.Seed)
	mux := http.NewServeMux()
	s.routes(mux)
	api := opts.Faults.Wrap(keyOf, writeFaultError, s.withAuth(mux))
	control := s.withAuth(mux) // planned faults are for provider calls, not for the test's controls
	s.handler = s.withResponseHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(controlPaths, r.URL.Path) {
			control.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	return s
}

// ServeHTTP serves one ElevenLabs API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops in-flight streams, cancels webhook deliveries in flight and waits for them to
// end. Dubbing progress needs no background work: it is computed from the clock when read.
// It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		s.cancel()
	})
	s.wg.Wait()
}

// roots are the path prefixes only ElevenLabs uses.
var roots = []string{
	"/v1/voices", "/v1/models", "/v1/text-to-speech", "/v1/sound-generation",
	"/v1/audio-isolation", "/v1/dubbing", "/v1/history", "/v1/workspace/webhooks",
	// speech.go
	"/v1/speech-to-text", "/v1/speech-to-speech", "/v1/text-to-dialogue", "/v1/text-to-voice",
	"/v1/music", "/v1/forced-alignment",
	// voices2.go, usage.go
	"/v1/shared-voices", "/v1/usage/character-stats", "/v1/single-use-token",
	// realtime.go
	"/v1/convai",
}

// controlPaths are the simulator's own routes for tests, authenticated with the account's
// xi-api-key like the API (docs/simulators.md §25); planned faults do not apply to them.
var controlPaths = []string{"/_sim/webhooks/send"}

// userPaths are matched exactly: HeyGen's legacy API has GET /v1/user/me.
var userPaths = []string{"/v1/user", "/v1/user/subscription"}

// sharedRoots are served too, but HeyGen has the same path (GET /v2/voices), so Handles does
// not claim them: a request reaches them here only when routed by its xi-api-key header.
var sharedRoots = []string{"/v2/voices"}

// Handles reports whether path is an ElevenLabs API path (and no HeyGen one), or one of its
// control routes.
func (s *Server) Handles(path string) bool {
	return underAny(path, roots) || slices.Contains(userPaths, path) || slices.Contains(controlPaths, path)
}

func underAny(path string, prefixes []string) bool {
	for _, root := range prefixes {
		if path == root || strings.HasPrefix(path, root+"/") {
			return true
		}
	}
	return false
}

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/voices", s.listVoices)
	mux.HandleFunc("GET /v2/voices", s.searchVoices)
	mux.HandleFunc("GET /v1/voices/settings/default", s.getDefaultVoiceSettings)
	mux.HandleFunc("GET /v1/voices/{voice_id}", s.getVoice)
	mux.HandleFunc("GET /v1/voices/{voice_id}/settings", s.getVoiceSettings)
	mux.HandleFunc("POST /v1/voices/{voice_id}/settings/edit", s.editVoiceSettings)
	mux.HandleFunc("POST /v1/voices/{first}/{public_user_id}/{voice_id}", s.voicesFiveSegments) // add a library voice (voices2.go)
	mux.HandleFunc("GET /v1/shared-voices", s.listSharedVoices)
	mux.HandleFunc("POST /v1/voices/add", s.addVoice)
	mux.HandleFunc("POST /v1/voices/{voice_id}/edit", s.editVoice)
	mux.HandleFunc("DELETE /v1/voices/{voice_id}", s.deleteVoice)

	mux.HandleFunc("GET /v1/models", s.listModels)

	mux.HandleFunc("POST /v1/text-to-speech/{voice_id}", s.tts(ttsAudio))
	mux.HandleFunc("POST /v1/text-to-speech/{voice_id}/stream", s.tts(ttsStream))
	mux.HandleFunc("POST /v1/text-to-speech/{voice_id}/with-timestamps", s.tts(ttsTimestamps))
	mux.HandleFunc("POST /v1/text-to-speech/{voice_id}/stream/with-timestamps", s.tts(ttsStreamTimestamps))
	mux.HandleFunc("POST /v1/sound-generation", s.soundGeneration)
	mux.HandleFunc("POST /v1/audio-isolation", s.audioIsolation(false))
	mux.HandleFunc("POST /v1/audio-isolation/stream", s.audioIsolation(true))

	// speech.go
	mux.HandleFunc("POST /v1/speech-to-text", s.speechToText)
	mux.HandleFunc("GET /v1/speech-to-text/transcripts/{transcription_id}", s.getTranscript)
	mux.HandleFunc("DELETE /v1/speech-to-text/transcripts/{transcription_id}", s.deleteTranscript)
	mux.HandleFunc("POST /v1/speech-to-speech/{voice_id}", s.speechToSpeech(false))
	mux.HandleFunc("POST /v1/speech-to-speech/{voice_id}/stream", s.speechToSpeech(true))
	mux.HandleFunc("POST /v1/text-to-dialogue", s.textToDialogue(dialogueAudio))
	mux.HandleFunc("POST /v1/text-to-dialogue/stream", s.textToDialogue(dialogueStream))
	mux.HandleFunc("POST /v1/text-to-dialogue/with-timestamps", s.textToDialogue(dialogueTimestamps))
	mux.HandleFunc("POST /v1/text-to-voice/design", s.designVoice)
	mux.HandleFunc("POST /v1/text-to-voice", s.createVoiceFromPreview)
	mux.HandleFunc("POST /v1/text-to-voice/{voice_id}/remix", s.remixVoice)
	mux.HandleFunc("POST /v1/music", s.composeMusic(false))
	mux.HandleFunc("POST /v1/music/stream", s.composeMusic(true))
	mux.HandleFunc("POST /v1/music/plan", s.musicPlan)
	mux.HandleFunc("POST /v1/forced-alignment", s.forcedAlignment)

	mux.HandleFunc("POST /v1/dubbing", s.createDubbing)
	mux.HandleFunc("GET /v1/dubbing", s.listDubbings)
	mux.HandleFunc("GET /v1/dubbing/{dubbing_id}", s.getDubbing)
	mux.HandleFunc("GET /v1/dubbing/{dubbing_id}/audio/{language_code}", s.getDubbedAudio)
	mux.HandleFunc("GET /v1/dubbing/{dubbing_id}/transcript/{language_code}", s.getDubbingTranscript)
	mux.HandleFunc("DELETE /v1/dubbing/{dubbing_id}", s.deleteDubbing)

	mux.HandleFunc("GET /v1/history", s.listHistory)
	mux.HandleFunc("GET /v1/history/{history_item_id}", s.getHistoryItem)
	mux.HandleFunc("GET /v1/history/{history_item_id}/audio", s.getHistoryAudio)
	mux.HandleFunc("DELETE /v1/history/{history_item_id}", s.deleteHistoryItem)
	mux.HandleFunc("POST /v1/history/download", s.downloadHistory)

	mux.HandleFunc("GET /v1/user", s.getUser)
	mux.HandleFunc("GET /v1/user/subscription", s.getSubscription)

	// realtime.go: WebSocket routes
	mux.HandleFunc("GET /v1/text-to-speech/{voice_id}/stream-input", s.streamInput(false))
	mux.HandleFunc("GET /v1/text-to-speech/{voice_id}/multi-stream-input", s.streamInput(true))
	mux.HandleFunc("GET /v1/speech-to-text/realtime", s.realtimeSTT)
	mux.HandleFunc("GET /v1/convai/conversation", s.conversation)

	mux.HandleFunc("GET /v1/usage/character-stats", s.getCharacterStats)
	mux.HandleFunc("POST /v1/single-use-token/{token_type}", s.createSingleUseToken)

	mux.HandleFunc("GET /v1/workspace/webhooks", s.listWebhooks)
	mux.HandleFunc("POST /v1/workspace/webhooks", s.createWebhook)
	mux.HandleFunc("PATCH /v1/workspace/webhooks/{webhook_id}", s.updateWebhook)
	mux.HandleFunc("DELETE /v1/workspace/webhooks/{webhook_id}", s.deleteWebhook)

	mux.HandleFunc("POST /_sim/webhooks/send", s.sendWebhook)

	// FastAPI answers unknown routes with {"detail":"Not Found"} and a known path with the
	// wrong method with {"detail":"Method Not Allowed"}.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": "Method Not Allowed"})
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	})
}

func keyOf(r *http.Request) string { return r.Header.Get("xi-api-key") }

// withResponseHeaders adds the headers every real response carries [EL-iss-quota,
// EL-iss-voice404, EL-stitch], faults included.
func (s *Server) withResponseHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("request-id", s.rand.Alnum(20))
		h.Set("x-trace-id", s.rand.Hex(32))
		h.Set("x-region", "us-central1")
		h.Set("server", "uvicorn")
		h.Set("access-control-allow-origin", "*")
		h.Set("access-control-expose-headers", "request-id, history-item-id, character-cost, x-trace-id, current-concurrent-requests, maximum-concurrent-requests")
		next.ServeHTTP(w, r)
	})
}

// withAuth rejects requests without a usable key and counts each key's requests in flight.
// Exhausted keys pass: only billable calls refuse them (see charge).
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (!s.Handles(r.URL.Path) && !underAny(r.URL.Path, sharedRoots)) || isRealtimePath(r.URL.Path) {
			next.ServeHTTP(w, r) // the WebSocket routes authenticate themselves (realtime.go)
			return
		}
		key := keyOf(r)
		switch s.opts.CheckKey(key) {
		case simcore.KeyMissing:
			writeDetail(w, http.StatusUnauthorized, "needs_authorization",
				"Neither authorization header nor xi-api-key received, please provide one.")
			return
		case simcore.KeyWrong:
			writeDetail(w, http.StatusUnauthorized, "invalid_api_key", "Invalid API key")
			return
		}
		acct := s.account(key)
		current, ok := acct.enter(s.maxConcurrent)
		defer acct.leave()
		limit := advertisedConcurrency
		if s.maxConcurrent > 0 {
			limit = s.maxConcurrent
		}
		w.Header().Set("current-concurrent-requests", strconv.Itoa(current))
		w.Header().Set("maximum-concurrent-requests", strconv.Itoa(limit))
		if !ok {
			writeDetail(w, http.StatusTooManyRequests, "too_many_concurrent_requests", "Too many concurrent requests. Your current subscription is associated with a maximum of "+
				strconv.Itoa(limit)+" concurrent requests (running in parallel). Please upgrade your subscription or reduce the number of concurrent requests.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// account returns the per-key state, creating it on first use.
func (s *Server) account(key string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		a = newAccount(key, s.opts.Seed^keyHash(key), s.opts.CheckKey(key) == simcore.KeyExhausted)
		s.accounts[key] = a
	}
	return a
}

func (s *Server) accountOf(r *http.Request) *account { return s.account(keyOf(r)) }

// requested looks up the object named by the path value param with find, answering with
// notFound when there is none.
func requested[T any](w http.ResponseWriter, r *http.Request, param string, find func(id string) (T, bool), notFound func(w http.ResponseWriter, id string)) (T, bool) {
	id := r.PathValue(param)
	v, ok := find(id)
	if !ok {
		notFound(w, id)
	}
	return v, ok
}

func keyHash(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}
