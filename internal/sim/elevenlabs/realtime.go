package elevenlabs

// Realtime WebSocket APIs (docs/simulators.md §27): text to speech from streamed text
// (stream-input, multi-stream-input), realtime speech to text (Scribe realtime) and the
// agents conversation socket. Frames are JSON text messages; the framing is
// github.com/coder/websocket's.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

const (
	// defaultInactivity and maxInactivity bound stream-input's inactivity_timeout query
	// parameter (simulated seconds) [EW-tts].
	defaultInactivity = 20
	maxInactivity     = 180
	// maxContexts is multi-stream-input's limit of open contexts per socket [EW-mcg].
	maxContexts = 5
	// wsReadLimit bounds one client frame (base64 audio chunks are large).
	wsReadLimit = 16 << 20
)

// defaultChunkSchedule is generation_config.chunk_length_schedule's default [EW-tts]: the
// buffered characters that trigger the first, second, … generation.
var defaultChunkSchedule = []int{120, 160, 250, 290}

// isRealtimePath reports whether path is one of the WebSocket routes, which authenticate
// themselves (withAuth lets them through): a key may come in a query token or, for
// stream-input, in the first message.
func isRealtimePath(path string) bool {
	if rest, ok := strings.CutPrefix(path, "/v1/text-to-speech/"); ok {
		voice, tail, _ := strings.Cut(rest, "/")
		return voice != "" && (tail == "stream-input" || tail == "multi-stream-input")
	}
	return path == "/v1/speech-to-text/realtime" || path == "/v1/convai/conversation"
}

// wsAuth is how a realtime request is authenticated before the upgrade.
type wsAuth struct {
	key      string // the account's key; empty when deferred
	deferred bool   // the key is to come in the first message (stream-input only)
}

// realtimeAuth resolves the key of a realtime request: the xi-api-key header, else the
// single-use token in query parameter tokenParam (consumed here), else (when firstMessage)
// the first message. A wrong key or a refused token is answered with 401 before the upgrade,
// as every route answers (docs/simulators.md §19).
// GAP: the body for a refused single-use token is not documented; 401 invalid_api_key
// with a message naming the token (docs/simulators.md §27).
func (s *Server) realtimeAuth(w http.ResponseWriter, r *http.Request, tokenParam, tokenType string, firstMessage bool) (wsAuth, bool) {
	if key := keyOf(r); key != "" {
		if s.opts.CheckKey(key) == simcore.KeyWrong {
			writeDetail(w, http.StatusUnauthorized, "invalid_api_key", "Invalid API key")
			return wsAuth{}, false
		}
		return wsAuth{key: key}, true
	}
	if tok := r.URL.Query().Get(tokenParam); tok != "" {
		key, refusal := s.redeemSingleUseToken(tok, tokenType)
		if refusal != "" {
			writeDetail(w, http.StatusUnauthorized, "invalid_api_key", "Invalid single use token ("+string(refusal)+").")
			return wsAuth{}, false
		}
		return wsAuth{key: key}, true
	}
	if firstMessage {
		return wsAuth{deferred: true}, true
	}
	writeDetail(w, http.StatusUnauthorized, "needs_authorization",
		"Neither authorization header nor xi-api-key received, please provide one.")
	return wsAuth{}, false
}

// enterAccount counts the socket as a request in flight of a's key for its whole life. It
// reports false (and counts nothing) when the key is over its concurrency limit.
func (s *Server) enterAccount(a *account) bool {
	if _, ok := a.enter(s.maxConcurrent); !ok {
		a.leave()
		return false
	}
	return true
}

func (s *Server) tooManyConcurrent(w http.ResponseWriter) {
	writeDetail(w, http.StatusTooManyRequests, "too_many_concurrent_requests",
		"Too many concurrent requests. Please upgrade your subscription or reduce the number of concurrent requests.")
}

// spend charges cost credits to a without an HTTP answer; it reports false when a is out
// of quota.
func (s *Server) spend(a *account, cost int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.exhausted {
		return false
	}
	a.charCount += cost
	a.usage = append(a.usage, usageEvent{at: s.clock.Now(), credits: cost})
	return true
}

// accept upgrades the request; origins are not checked (browsers connect directly upstream).
func accept(w http.ResponseWriter, r *http.Request, subprotocols ...string) (*websocket.Conn, bool) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: subprotocols})
	if err != nil {
		return nil, false // Accept has answered
	}
	c.SetReadLimit(wsReadLimit)
	return c, true
}

// wsMessage is one client frame, or the error that ended reading.
type wsMessage struct {
	data []byte
	err  error
}

// readLoop delivers the client's frames to the returned channel until reading fails. It
// ends when the connection closes.
func readLoop(ctx context.Context, c *websocket.Conn) <-chan wsMessage {
	ch := make(chan wsMessage)
	go func() {
		defer close(ch)
		for {
			_, b, err := c.Read(ctx)
			select {
			case ch <- wsMessage{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// closeReason cuts reason to the 123 bytes a close frame can carry, on a rune boundary.
func closeReason(reason string) string {
	for len(reason) > 123 {
		_, n := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-n]
	}
	return reason
}

func writeWS(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// ---- text to speech: stream-input and multi-stream-input ----

// wsAlignment is the WebSocket alignment object [EW-tts; EJS NormalizedAlignment]: times in
// whole milliseconds from the start of the message's own audio.
type wsAlignment struct {
	Chars            []string `json:"chars"`
	CharStartTimesMs []int    `json:"charStartTimesMs"`
	CharDurationsMs  []int    `json:"charDurationsMs"`
}

// wsAudio is one server message of audio [EW-tts, EW-mc].
type wsAudio struct {
	Audio               string       `json:"audio"`
	IsFinal             bool         `json:"isFinal"`
	NormalizedAlignment *wsAlignment `json:"normalizedAlignment"`
	Alignment           *wsAlignment `json:"alignment"`
	ContextID           string       `json:"contextId,omitempty"`
}

// wsFinal is the last message of a stream or a context.
type wsFinal struct {
	IsFinal   bool   `json:"isFinal"`
	ContextID string `json:"contextId,omitempty"`
}

// ttsInput is one client message of stream-input and multi-stream-input [EW-tts, EW-mc, EDR].
type ttsInput struct {
	Text                 *string        `json:"text"`
	Flush                bool           `json:"flush"`
	TryTriggerGeneration bool           `json:"try_trigger_generation"`
	VoiceSettings        *VoiceSettings `json:"voice_settings"`
	GenerationConfig     *struct {
		ChunkLengthSchedule []int `json:"chunk_length_schedule"`
	} `json:"generation_config"`
	XIAPIKey      string `json:"xi_api_key"`
	XIAPIKeyHyph  string `json:"xi-api-key"`
	Authorization string `json:"authorization"`
	ContextID     string `json:"context_id"`
	CloseContext  bool   `json:"close_context"`
	CloseSocket   bool   `json:"close_socket"`
}

func (m ttsInput) key() string {
	for _, k := range []string{m.XIAPIKeyHyph, m.XIAPIKey, strings.TrimPrefix(m.Authorization, "Bearer ")} {
		if k != "" {
			return k
		}
	}
	return ""
}

// ttsContext is one stream of text: the whole socket for stream-input, one context_id
// for multi-stream-input.
type ttsContext struct {
	id       string // "" on stream-input
	buf      []rune // text not yet spoken
	schedule []int
	pieces   int // generations so far
	speed    float64
}

// ttsSession is the state of one text-to-speech socket.
type ttsSession struct {
	s        *Server
	c        *websocket.Conn
	ctx      context.Context
	a        *account
	voice    *Voice
	model    Model
	multi    bool
	idle     time.Duration // simulated
	contexts map[string]*ttsContext
	order    []string // context ids in the order they were opened
}

// streamInput serves GET /v1/text-to-speech/{voice_id}/stream-input and, with multi,
// …/multi-stream-input [EW-tts, EW-mc].
func (s *Server) streamInput(multi bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		errs := validateAudioQuery(r)
		idle, ferr := intParam(q.Get("inactivity_timeout"), "inactivity_timeout", defaultInactivity, 1, maxInactivity)
		if ferr != nil {
			errs = append(errs, *ferr)
		}
		if e := enumParam(q, "apply_text_normalization", "auto", "on", "off"); e != nil {
			errs = append(errs, *e)
		}
		if errs != nil {
			writeValidation(w, errs...)
			return
		}
		modelID := q.Get("model_id")
		if modelID == "" {
			modelID = "eleven_multilingual_v2"
		}
		m, ok := findModel(modelID)
		// GAP: multi-stream-input refuses eleven_v3 [EW-mcg] with the same 400 as an unknown model.
		if !ok || !m.CanDoTextToSpeech || (multi && modelID == "eleven_v3") {
			writeDetail(w, http.StatusBadRequest, "model_not_found", fmt.Sprintf("A model with model ID %s does not exist or cannot do text-to-speech.", modelID))
			return
		}
		auth, ok := s.realtimeAuth(w, r, "single_use_token", "tts_websocket", true)
		if !ok {
			return
		}
		ts := &ttsSession{s: s, model: m, multi: multi, idle: time.Duration(idle) * time.Second, contexts: map[string]*ttsContext{}}
		voiceID := r.PathValue("voice_id")
		if !auth.deferred {
			if ts.a, ok = s.preflight(w, auth.key); !ok {
				return
			}
			defer ts.a.leave()
			if ts.voice, ok = s.voiceFor(ts.a, voiceID); !ok {
				writeVoiceNotFound(w, voiceID)
				return
			}
		}
		c, ok := accept(w, r)
		if !ok {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		ts.c, ts.ctx = c, ctx
		code, reason := ts.run(readLoop(ctx, c), voiceID)
		_ = c.Close(code, closeReason(reason))
	}
}

// preflight resolves a known key's account before the upgrade: out of quota is 401
// quota_exceeded, over the concurrency limit 429 (as charge and withAuth answer). On success
// the caller must call a.leave.
func (s *Server) preflight(w http.ResponseWriter, key string) (*account, bool) {
	a := s.account(key)
	if a.exhausted {
		writeDetail(w, http.StatusUnauthorized, "quota_exceeded", fmt.Sprintf(
			"This request exceeds your quota of %d. You have %d credits remaining.", characterLimit, a.remaining()))
		return nil, false
	}
	if !s.enterAccount(a) {
		s.tooManyConcurrent(w)
		return nil, false
	}
	return a, true
}

// run serves the socket until it ends, returning the close code and reason.
func (ts *ttsSession) run(in <-chan wsMessage, voiceID string) (websocket.StatusCode, string) {
	s := ts.s
	timer := time.NewTimer(s.clock.Scale(ts.idle))
	defer timer.Stop()
	first := true
	for {
		select {
		case <-s.done:
			return websocket.StatusGoingAway, "server shutting down"
		case <-timer.C:
			// [E-i426]: 1008 and this reason. GAP: the source cuts the reason after
			// "seconds."; the simulator stops there (a close reason is at most 123 bytes).
			return websocket.StatusPolicyViolation, fmt.Sprintf("Have not received a new text input within the timeout of %d seconds.", int(ts.idle/time.Second))
		case msg, ok := <-in:
			if !ok || msg.err != nil {
				return websocket.StatusNormalClosure, ""
			}
			timer.Reset(s.clock.Scale(ts.idle))
			var m ttsInput
			if err := json.Unmarshal(msg.data, &m); err != nil {
				// GAP: the answer to a frame that is not JSON is not documented; close 1003.
				return websocket.StatusUnsupportedData, "Invalid JSON message"
			}
			if first && ts.a == nil {
				if code, reason, ok := ts.authFirst(m, voiceID); !ok {
					return code, reason
				}
				defer ts.a.leave()
			}
			done, code, reason := ts.handle(m, first)
			first = false
			if done {
				return code, reason
			}
		}
	}
}

// authFirst authenticates with the key of the first message. GAP: the answer to a missing or
// wrong key there, to an unknown voice and to an exhausted or busy key, once upgraded, is
// not documented: close 1008 with the HTTP error's message (docs/simulators.md §27).
func (ts *ttsSession) authFirst(m ttsInput, voiceID string) (websocket.StatusCode, string, bool) {
	s := ts.s
	key := m.key()
	switch s.opts.CheckKey(key) {
	case simcore.KeyMissing:
		return websocket.StatusPolicyViolation, "Neither authorization header nor xi-api-key received, please provide one.", false
	case simcore.KeyWrong:
		return websocket.StatusPolicyViolation, "Invalid API key", false
	}
	a := s.account(key)
	if a.exhausted {
		return websocket.StatusPolicyViolation, "quota_exceeded", false
	}
	voice, ok := s.voiceFor(a, voiceID)
	if !ok {
		return websocket.StatusPolicyViolation, "A voice with the voice_id " + voiceID + " was not found.", false
	}
	if !s.enterAccount(a) {
		return websocket.StatusPolicyViolation, "too_many_concurrent_requests", false
	}
	ts.a, ts.voice = a, voice
	return 0, "", true
}

// handle applies one client message; done says the socket is to close with code and reason.
func (ts *ttsSession) handle(m ttsInput, first bool) (done bool, code websocket.StatusCode, reason string) {
	id := ""
	if ts.multi {
		// GAP: a message without context_id addresses the context "default" (docs/simulators.md §27).
		id = m.ContextID
		if id == "" {
			id = "default"
		}
		if m.CloseSocket {
			for _, cid := range slices.Clone(ts.order) {
				if err := ts.finish(ts.contexts[cid]); err != nil {
					return true, websocket.StatusNormalClosure, ""
				}
			}
			return true, websocket.StatusNormalClosure, ""
		}
	}
	tc, open := ts.contexts[id]
	if !open {
		if ts.multi && m.CloseContext {
			return false, 0, "" // GAP: closing an unknown context is ignored
		}
		if len(ts.contexts) >= maxContexts {
			// GAP: the answer to a sixth context is not documented; close 1008.
			return true, websocket.StatusPolicyViolation, fmt.Sprintf("Maximum of %d concurrent contexts per connection exceeded.", maxContexts)
		}
		tc = &ttsContext{id: id, schedule: defaultChunkSchedule, speed: 1}
		settings := ts.a.voiceSettings(ts.voice.VoiceID)
		if m.VoiceSettings != nil {
			settings.merge(*m.VoiceSettings)
		}
		if settings.Speed != nil && *settings.Speed > 0 {
			tc.speed = *settings.Speed
		}
		if g := m.GenerationConfig; g != nil && len(g.ChunkLengthSchedule) > 0 {
			tc.schedule = g.ChunkLengthSchedule
		}
		ts.contexts[id] = tc
		ts.order = append(ts.order, id)
		// The opening message's text is the single space that starts the stream [EW-tts].
		if m.Text != nil && strings.TrimSpace(*m.Text) == "" {
			m.Text = nil
		}
	}
	if m.CloseContext {
		return ts.closeOnError(ts.finish(tc))
	}
	if m.Text != nil && *m.Text == "" && !first {
		if ts.multi {
			return false, 0, "" // keeps the context alive [EDR]
		}
		if err := ts.finish(tc); err != nil { // end of input: flush, final, close [EDR]
			return true, websocket.StatusNormalClosure, ""
		}
		return true, websocket.StatusNormalClosure, ""
	}
	if m.Text != nil {
		tc.buf = append(tc.buf, []rune(*m.Text)...)
	}
	threshold := tc.schedule[min(tc.pieces, len(tc.schedule)-1)]
	if m.Flush || m.TryTriggerGeneration || len(tc.buf) >= threshold {
		return ts.closeOnError(ts.generate(tc))
	}
	return false, 0, ""
}

func (ts *ttsSession) closeOnError(err error) (bool, websocket.StatusCode, string) {
	switch {
	case errors.Is(err, errOutOfQuota):
		return true, websocket.StatusPolicyViolation, "quota_exceeded"
	case err != nil:
		return true, websocket.StatusNormalClosure, ""
	}
	return false, 0, ""
}

var errOutOfQuota = errors.New("quota exceeded")

// finish speaks what tc holds, sends its final message and forgets it.
func (ts *ttsSession) finish(tc *ttsContext) error {
	if err := ts.generate(tc); err != nil {
		return err
	}
	delete(ts.contexts, tc.id)
	ts.order = slices.DeleteFunc(ts.order, func(id string) bool { return id == tc.id })
	return writeWS(ts.ctx, ts.c, wsFinal{IsFinal: true, ContextID: tc.id})
}

// generate speaks tc's buffered text as one audio message (none when nothing is buffered),
// charging its characters times the model's multiplier. GAP: the simulator speaks the whole
// buffer at once rather than cutting it at word boundaries, sends no history item, and its
// alignment times are from the start of the message's own audio (docs/simulators.md §27).
func (ts *ttsSession) generate(tc *ttsContext) error {
	if len(tc.buf) == 0 {
		return nil
	}
	text := string(tc.buf)
	tc.buf = tc.buf[:0]
	tc.pieces++
	chars := utf8.RuneCountInString(text)
	cost := int(math.Ceil(float64(chars) * ts.model.ModelRates.CharacterCostMultiplier))
	if !ts.s.spend(ts.a, cost) {
		return errOutOfQuota
	}
	frames := media.MP3Frames(max(secondsPerChar*float64(chars)/tc.speed, media.MP3FrameSeconds))
	ms := float64(len(frames)) * media.MP3FrameSeconds * 1000 / float64(chars)
	al := &wsAlignment{Chars: []string{}, CharStartTimesMs: []int{}, CharDurationsMs: []int{}}
	for i, r := range []rune(text) {
		start, end := int(math.Round(float64(i)*ms)), int(math.Round(float64(i+1)*ms))
		al.Chars = append(al.Chars, string(r))
		al.CharStartTimesMs = append(al.CharStartTimesMs, start)
		al.CharDurationsMs = append(al.CharDurationsMs, end-start)
	}
	return writeWS(ts.ctx, ts.c, wsAudio{
		Audio: base64.StdEncoding.EncodeToString(slices.Concat(frames...)), Alignment: al, NormalizedAlignment: al, ContextID: tc.id,
	})
}

// ---- realtime speech to text ----

// sttChunk is the client's input_audio_chunk [EPK scribe.asyncapi.yaml].
type sttChunk struct {
	MessageType  string `json:"message_type"`
	AudioBase64  string `json:"audio_base_64"`
	Commit       bool   `json:"commit"`
	SampleRate   int    `json:"sample_rate"`
	PreviousText string `json:"previous_text"`
}

var sttAudioFormats = []string{"pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100", "pcm_48000", "ulaw_8000"}

// realtimeSTT serves GET /v1/speech-to-text/realtime [EW-stt, EPK]. Audio is 16-bit PCM (one
// byte a sample for ulaw_8000) at the audio_format's rate; its length makes the transcript,
// made-up words as in batch speech to text (§26).
func (s *Server) realtimeSTT(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []fieldError
	if e := enumParam(q, "audio_format", sttAudioFormats...); e != nil {
		errs = append(errs, *e)
	}
	if e := enumParam(q, "commit_strategy", "manual", "vad"); e != nil {
		errs = append(errs, *e)
	}
	timestamps, ferr := boolParam(q.Get("include_timestamps"), "include_timestamps", false)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	auth, ok := s.realtimeAuth(w, r, "token", "realtime_scribe", false)
	if !ok {
		return
	}
	a, ok := s.preflight(w, auth.key)
	if !ok {
		return
	}
	defer a.leave()
	format := cmpOr(q.Get("audio_format"), "pcm_16000")
	rate, _ := strconv.Atoi(format[strings.IndexByte(format, '_')+1:])
	bytesPerSample := 2
	if format == "ulaw_8000" {
		bytesPerSample = 1
	}
	strategy := cmpOr(q.Get("commit_strategy"), "manual")
	lang := q.Get("language_code")

	c, ok := accept(w, r)
	if !ok {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sessionID := a.rand.Hex(32)
	config := map[string]any{
		"sample_rate": rate, "audio_format": format, "language_code": nilIfEmpty(lang),
		"model_id": cmpOr(q.Get("model_id"), "scribe_v2_realtime"), "commit_strategy": strategy,
		"include_timestamps": timestamps,
	}
	for _, name := range []string{"vad_silence_threshold_secs", "vad_threshold", "min_speech_duration_ms", "min_silence_duration_ms"} {
		if v := q.Get(name); v != "" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				config[name] = f
			}
		}
	}
	if writeWS(ctx, c, map[string]any{"message_type": "session_started", "session_id": sessionID, "config": config}) != nil {
		return
	}
	in := readLoop(ctx, c)
	var pending, committed float64 // seconds of audio not yet committed, and committed
	for {
		var msg wsMessage
		select {
		case <-s.done:
			_ = c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case msg, ok = <-in:
		}
		if !ok || msg.err != nil {
			return
		}
		var m sttChunk
		if err := json.Unmarshal(msg.data, &m); err != nil || m.MessageType != "input_audio_chunk" {
			// GAP: an invalid frame gets an input_error frame and the socket stays open.
			if writeWS(ctx, c, map[string]string{"message_type": "input_error", "error": "Expected an input_audio_chunk message."}) != nil {
				return
			}
			continue
		}
		audio, err := base64.StdEncoding.DecodeString(m.AudioBase64)
		if err != nil {
			if writeWS(ctx, c, map[string]string{"message_type": "input_error", "error": "audio_base_64 is not valid base64."}) != nil {
				return
			}
			continue
		}
		sr := rate
		if m.SampleRate > 0 {
			sr = m.SampleRate
		}
		pending += float64(len(audio)) / float64(sr*bytesPerSample)
		// GAP: with commit_strategy vad every chunk that carries audio ends a segment.
		commit := m.Commit || (strategy == "vad" && len(audio) > 0)
		if len(audio) > 0 {
			tr := transcribe("", pending, lang, "word", false)
			if writeWS(ctx, c, map[string]string{"message_type": "partial_transcript", "text": tr.Text}) != nil {
				return
			}
		}
		if !commit || pending == 0 {
			continue
		}
		// GAP: realtime speech to text costs as batch: 1000 credits per minute (§26).
		if !s.spend(a, audioMinuteCost(pending)) {
			_ = writeWS(ctx, c, map[string]string{"message_type": "quota_exceeded", "error": "You have exceeded your quota."})
			_ = c.Close(websocket.StatusPolicyViolation, "quota_exceeded")
			return
		}
		tr := transcribe("", pending, lang, "word", false)
		for i := range tr.Words { // times from the start of the session
			for _, p := range []*float64{tr.Words[i].Start, tr.Words[i].End} {
				if p != nil {
					*p = round3(*p + committed)
				}
			}
		}
		committed += pending
		pending = 0
		if writeWS(ctx, c, map[string]string{"message_type": "committed_transcript", "text": tr.Text}) != nil {
			return
		}
		if timestamps {
			if writeWS(ctx, c, map[string]any{"message_type": "committed_transcript_with_timestamps", "text": tr.Text,
				"language_code": tr.LanguageCode, "words": tr.Words}) != nil {
				return
			}
		}
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// ---- agents ----

// agentSampleRate is the PCM rate the simulated agent speaks and hears (pcm_16000).
const agentSampleRate = 16000

// agentInput is one client frame of the agents socket [EPK agent.asyncapi.yaml].
type agentInput struct {
	Type           string `json:"type"`
	Text           string `json:"text"`
	UserAudioChunk string `json:"user_audio_chunk"`
	EventID        *int64 `json:"event_id"`
	PingEvent      *struct {
		EventID int64 `json:"event_id"`
	} `json:"ping_event"`
}

// conversation serves GET /v1/convai/conversation?agent_id=… [EPK, EDR convai asyncapi].
// GAP: every agent is public: no credential is needed; an xi-api-key header, when sent, must
// be valid, and a conversation_signature is not checked (docs/simulators.md §27).
func (s *Server) conversation(w http.ResponseWriter, r *http.Request) {
	agentID := r.URL.Query().Get("agent_id")
	if agentID == "" {
		writeValidation(w, missing("query", "agent_id"))
		return
	}
	var a *account
	if key := keyOf(r); key != "" {
		auth, ok := s.realtimeAuth(w, r, "", "", false)
		if !ok {
			return
		}
		if a, ok = s.preflight(w, auth.key); !ok {
			return
		}
		defer a.leave()
	}
	c, ok := accept(w, r, "convai")
	if !ok {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	conversationID := "conv_" + s.rand.Alnum(26)
	if writeWS(ctx, c, map[string]any{"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": map[string]any{
		"conversation_id": conversationID, "agent_output_audio_format": "pcm_16000", "user_input_audio_format": "pcm_16000",
	}}) != nil {
		return
	}
	in := readLoop(ctx, c)
	eventID := int64(0)
	for {
		var msg wsMessage
		select {
		case <-s.done:
			_ = c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case msg, ok = <-in:
		}
		if !ok || msg.err != nil {
			return
		}
		var m agentInput
		if err := json.Unmarshal(msg.data, &m); err != nil {
			// GAP: a frame that is not JSON gets an error event; the socket stays open.
			if writeWS(ctx, c, map[string]any{"type": "error", "error_event": map[string]any{"message": "Invalid JSON message"}}) != nil {
				return
			}
			continue
		}
		var out []any
		switch {
		case m.Type == "ping":
			// The SDKs answer the server's pings; a client's ping is answered alike.
			id := int64(0)
			if m.PingEvent != nil {
				id = m.PingEvent.EventID
			} else if m.EventID != nil {
				id = *m.EventID
			}
			out = append(out, map[string]any{"type": "pong", "event_id": id})
		case m.Type == "user_message":
			out = s.agentTurn(&eventID, "You said: "+m.Text)
		case m.UserAudioChunk != "":
			audio, err := base64.StdEncoding.DecodeString(m.UserAudioChunk)
			if err != nil {
				out = append(out, map[string]any{"type": "error", "error_event": map[string]any{"message": "user_audio_chunk is not valid base64"}})
				break
			}
			tr := transcribe("", float64(len(audio))/(2*agentSampleRate), "", "none", false)
			out = append(out, map[string]any{"type": "user_transcript", "user_transcription_event": map[string]any{"user_transcript": tr.Text, "event_id": eventID + 1}})
			out = append(out, s.agentTurn(&eventID, "You said: "+tr.Text)...)
		default:
			// conversation_initiation_client_data, pong, user_activity, feedback,
			// contextual_update, … are accepted and not answered.
		}
		for _, o := range out {
			if writeWS(ctx, c, o) != nil {
				return
			}
		}
	}
}

// agentTurn is the agent's answer: its text, then its speech as PCM silence (16 kHz, 16-bit)
// as long as the text takes to say. GAP: the simulated agent echoes what it heard.
func (s *Server) agentTurn(eventID *int64, text string) []any {
	*eventID++
	seconds := max(secondsPerChar*float64(utf8.RuneCountInString(text)), minSpeechSeconds)
	pcm := make([]byte, 2*int(seconds*agentSampleRate))
	return []any{
		map[string]any{"type": "agent_response", "agent_response_event": map[string]any{"agent_response": text, "event_id": *eventID}},
		map[string]any{"type": "audio", "audio_event": map[string]any{"audio_base_64": base64.StdEncoding.EncodeToString(pcm), "event_id": *eventID}},
	}
}
