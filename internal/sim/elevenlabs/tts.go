package elevenlabs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// Generated speech lasts secondsPerChar per character (divided by the voice speed), and at
// least minSpeechSeconds.
const (
	secondsPerChar   = 0.06
	minSpeechSeconds = 0.5
	// streamChunks chunks are sent streamInterval (simulated) apart: a stream takes about
	// half a second at Speed 1.
	streamChunks   = 10
	streamInterval = 50 * time.Millisecond
)

type ttsMode int

const (
	ttsAudio ttsMode = iota
	ttsStream
	ttsTimestamps
	ttsStreamTimestamps
)

// ttsRequest is the OpenAPI Body_text_to_speech_* model.
type ttsRequest struct {
	Text                            *string           `json:"text"`
	ModelID                         *string           `json:"model_id"`
	LanguageCode                    *string           `json:"language_code"`
	VoiceSettings                   *VoiceSettings    `json:"voice_settings"`
	PronunciationDictionaryLocators []json.RawMessage `json:"pronunciation_dictionary_locators"`
	Seed                            *int64            `json:"seed"`
	PreviousText                    *string           `json:"previous_text"`
	NextText                        *string           `json:"next_text"`
	PreviousRequestIDs              []string          `json:"previous_request_ids"`
	NextRequestIDs                  []string          `json:"next_request_ids"`
	UsePVCAsIVC                     bool              `json:"use_pvc_as_ivc"`
	ApplyTextNormalization          *string           `json:"apply_text_normalization"`
	ApplyLanguageTextNormalization  bool              `json:"apply_language_text_normalization"`
}

func (b ttsRequest) validate() []fieldError {
	var errs []fieldError
	switch {
	case b.Text == nil:
		errs = append(errs, missing("body", "text"))
	case *b.Text == "":
		// GAP: the response to an empty text is not documented; FastAPI-style 422 chosen
		// (docs/simulators.md §21).
		errs = append(errs, fieldError{Loc: []any{"body", "text"}, Msg: "String should have at least 1 character", Type: "string_too_short"})
	}
	tooLong := func(name string, n int) {
		if n > 3 {
			errs = append(errs, fieldError{Loc: []any{"body", name}, Msg: fmt.Sprintf("List should have at most 3 items after validation, not %d", n), Type: "too_long"})
		}
	}
	tooLong("pronunciation_dictionary_locators", len(b.PronunciationDictionaryLocators))
	tooLong("previous_request_ids", len(b.PreviousRequestIDs))
	tooLong("next_request_ids", len(b.NextRequestIDs))
	if b.Seed != nil && (*b.Seed < 0 || *b.Seed > math.MaxUint32) {
		errs = append(errs, fieldError{Loc: []any{"body", "seed"}, Msg: "Input should be between 0 and 4294967295", Type: "value_error"})
	}
	if n := b.ApplyTextNormalization; n != nil && *n != "auto" && *n != "on" && *n != "off" {
		errs = append(errs, fieldError{Loc: []any{"body", "apply_text_normalization"}, Msg: "Input should be 'auto', 'on' or 'off'", Type: "enum"})
	}
	if b.VoiceSettings != nil {
		errs = append(errs, b.VoiceSettings.validate("body", "voice_settings")...)
	}
	return errs
}

// outputFormats is the output_format enum [EL-oas]. GAP: the content type of non-MP3 formats
// is undocumented; the simulator always answers MP3 (audio/mpeg, 44.1 kHz, 128 kbit/s), the
// only type the OpenAPI declares (docs/simulators.md §21).
var outputFormats = []string{
	"mp3_22050_32", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128", "mp3_44100_192",
	"pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100", "pcm_48000", "ulaw_8000", "alaw_8000",
	"opus_48000_32", "opus_48000_64", "opus_48000_96", "opus_48000_128", "opus_48000_192",
}

// validateAudioQuery checks the query parameters shared by the audio endpoints.
func validateAudioQuery(r *http.Request) []fieldError {
	q := r.URL.Query()
	var errs []fieldError
	if f := q.Get("output_format"); f != "" && !slices.Contains(outputFormats, f) {
		errs = append(errs, fieldError{Loc: []any{"query", "output_format"}, Msg: "Input should be one of the documented output formats", Type: "enum"})
	}
	if v := q.Get("enable_logging"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			errs = append(errs, fieldError{Loc: []any{"query", "enable_logging"}, Msg: "Input should be a valid boolean, unable to interpret input", Type: "bool_parsing"})
		}
	}
	if _, ferr := intParam(q.Get("optimize_streaming_latency"), "optimize_streaming_latency", 0, 0, 4); ferr != nil {
		errs = append(errs, *ferr)
	}
	return errs
}

// decodeAudioRequest reads a JSON body that makes audio, with the audio query parameters,
// and answers 422 listing every problem when any; it reports whether to go on.
func decodeAudioRequest[T interface{ validate() []fieldError }](w http.ResponseWriter, r *http.Request, body *T) bool {
	errs := validateAudioQuery(r)
	if derrs := decodeBody(r, body); derrs != nil {
		errs = append(errs, derrs...)
	} else {
		errs = append(errs, (*body).validate()...)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return false
	}
	return true
}

// tts serves the four text-to-speech variants.
func (s *Server) tts(mode ttsMode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, voiceID := s.accountOf(r), r.PathValue("voice_id")
		var body ttsRequest
		if !decodeAudioRequest(w, r, &body) {
			return
		}
		voice, ok := s.voiceFor(a, voiceID)
		if !ok {
			writeVoiceNotFound(w, voiceID)
			return
		}
		modelID := "eleven_multilingual_v2"
		if body.ModelID != nil && *body.ModelID != "" {
			modelID = *body.ModelID
		}
		m, ok := findModel(modelID)
		// GAP: the error for an unknown model is undocumented; 400 model_not_found chosen
		// (docs/simulators.md §21).
		if !ok || !m.CanDoTextToSpeech {
			writeDetail(w, http.StatusBadRequest, "model_not_found", fmt.Sprintf("A model with model ID %s does not exist or cannot do text-to-speech.", modelID))
			return
		}
		text := *body.Text
		chars := utf8.RuneCountInString(text)
		if chars > m.MaximumTextLengthPerRequest {
			writeDetail(w, http.StatusBadRequest, "max_character_limit_exceeded", fmt.Sprintf(
				"This request's text has %d characters and exceeds the character limit of %d characters for model %s.",
				chars, m.MaximumTextLengthPerRequest, modelID))
			return
		}
		cost := int(math.Ceil(float64(chars) * m.ModelRates.CharacterCostMultiplier))
		from, to, ok := s.charge(w, a, cost)
		if !ok {
			return
		}
		settings := a.voiceSettings(voice.VoiceID)
		if body.VoiceSettings != nil {
			settings.merge(*body.VoiceSettings)
		}
		speed := 1.0
		if settings.Speed != nil && *settings.Speed > 0 {
			speed = *settings.Speed
		}
		seconds := max(minSpeechSeconds, secondsPerChar*float64(chars)/speed)
		frames := media.MP3Frames(seconds)

		w.Header().Set("character-cost", strconv.Itoa(cost))
		if logging, err := strconv.ParseBool(r.URL.Query().Get("enable_logging")); err != nil || logging {
			// enable_logging=false is zero-retention mode: no history item [EL-oas].
			item := a.addHistory(&historyItem{
				RequestID: w.Header().Get("request-id"), VoiceID: voice.VoiceID, ModelID: modelID,
				VoiceName: voice.Name, VoiceCategory: voice.Category, Text: text,
				DateUnix: s.clock.Now().Unix(), CharFrom: from, CharTo: to,
				ContentType: "audio/mpeg", State: "created", Settings: settings, Source: "TTS",
				seconds: seconds,
			})
			w.Header().Set("history-item-id", item.ID)
		}

		switch mode {
		case ttsAudio:
			writeAudio(w, slices.Concat(frames...))
		case ttsStream:
			w.Header().Set("Content-Type", "audio/mpeg")
			s.stream(w, r, groupFrames(frames, streamChunks))
		case ttsTimestamps:
			al := align(text, len(frames), 0, chars)
			writeJSON(w, http.StatusOK, timestampsChunk{
				AudioBase64: base64.StdEncoding.EncodeToString(slices.Concat(frames...)), Alignment: al, NormalizedAlignment: al,
			})
		case ttsStreamTimestamps:
			s.streamTimestamps(w, r, text, frames)
		}
	}
}

// charge spends cost credits of a's quota, or writes 401 quota_exceeded (a 401, not a 429
// [EL-iss-quota]). It returns the character count before and after.
func (s *Server) charge(w http.ResponseWriter, a *account, cost int) (from, to int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.exhausted {
		writeDetail(w, http.StatusUnauthorized, "quota_exceeded", fmt.Sprintf(
			"This request exceeds your quota of %d. You have %d credits remaining, while %d credits are required for this request.",
			characterLimit, a.remaining(), cost))
		return 0, 0, false
	}
	from = a.charCount
	a.charCount += cost
	a.usage = append(a.usage, usageEvent{at: s.clock.Now(), credits: cost}) // for GET /v1/usage/character-stats
	return from, a.charCount, true
}

func writeAudio(w http.ResponseWriter, audio []byte) {
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(audio)
}

// groupFrames splits frames into at most n runs of nearly equal length.
func groupFrames(frames [][]byte, n int) [][]byte {
	n = max(min(n, len(frames)), 1)
	out := make([][]byte, n)
	for j := range n {
		out[j] = slices.Concat(frames[j*len(frames)/n : (j+1)*len(frames)/n]...)
	}
	return out
}

// stream writes chunks with chunked transfer encoding [EL-stream], flushing each and pacing
// them on the simulated clock. It stops when the client leaves or the server closes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, chunks [][]byte) {
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	for i, c := range chunks {
		if i > 0 {
			t := time.NewTimer(s.clock.Scale(streamInterval))
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.done:
				t.Stop()
				return
			}
		}
		if _, err := w.Write(c); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// Alignment maps characters to their times in the audio [EL-oas].
type Alignment struct {
	Characters                 []string  `json:"characters"`
	CharacterStartTimesSeconds []float64 `json:"character_start_times_seconds"`
	CharacterEndTimesSeconds   []float64 `json:"character_end_times_seconds"`
}

type timestampsChunk struct {
	AudioBase64         string     `json:"audio_base64"`
	Alignment           *Alignment `json:"alignment"`
	NormalizedAlignment *Alignment `json:"normalized_alignment"`
}

// align spreads characters [lo,hi) of text evenly over totalFrames frames of audio; times
// are from the start of the whole audio. GAP: normalized_alignment repeats alignment (the
// simulator does not normalise text), and stream chunks carry absolute times
// (docs/simulators.md §21).
func align(text string, totalFrames, lo, hi int) *Alignment {
	runes := []rune(text)
	per := float64(totalFrames) * media.MP3FrameSeconds / float64(len(runes))
	al := &Alignment{Characters: []string{}, CharacterStartTimesSeconds: []float64{}, CharacterEndTimesSeconds: []float64{}}
	for i := lo; i < hi; i++ {
		al.Characters = append(al.Characters, string(runes[i]))
		al.CharacterStartTimesSeconds = append(al.CharacterStartTimesSeconds, round3(float64(i)*per))
		al.CharacterEndTimesSeconds = append(al.CharacterEndTimesSeconds, round3(float64(i+1)*per))
	}
	return al
}

// streamTimestamps writes one JSON object per line [EL-oas, EL-py], each holding a run of
// whole MP3 frames and the characters spoken in it. Every chunk has at least one frame and
// one character. GAP: Content-Type application/json, as the OpenAPI declares for the stream
// (docs/simulators.md §21).
func (s *Server) streamTimestamps(w http.ResponseWriter, r *http.Request, text string, frames [][]byte) {
	chars := utf8.RuneCountInString(text)
	n := max(min(streamChunks, len(frames), chars), 1)
	lines := make([][]byte, n)
	for j := range n {
		audio := slices.Concat(frames[j*len(frames)/n : (j+1)*len(frames)/n]...)
		al := align(text, len(frames), j*chars/n, (j+1)*chars/n)
		b, _ := json.Marshal(timestampsChunk{AudioBase64: base64.StdEncoding.EncodeToString(audio), Alignment: al, NormalizedAlignment: al})
		lines[j] = append(b, '\n')
	}
	w.Header().Set("Content-Type", "application/json")
	s.stream(w, r, lines)
}

// soundRequest is the OpenAPI Body_sound_generation model.
type soundRequest struct {
	Text            *string  `json:"text"`
	DurationSeconds *float64 `json:"duration_seconds"`
	PromptInfluence *float64 `json:"prompt_influence"`
	Loop            bool     `json:"loop"`
	ModelID         *string  `json:"model_id"`
}

// Sound effects: 40 credits per second when the duration is set [EL-sfx]. GAP: the cost of an
// automatic duration is undocumented; the simulator charges 200, five seconds' worth
// (docs/simulators.md §21).
// The OpenAPI range 0.5–30 s is enforced; automatic durations follow the text, 0.5–22 s.
const (
	sfxCreditsPerSecond = 40
	sfxAutoCost         = 200
)

func (s *Server) soundGeneration(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	var body soundRequest
	errs := validateAudioQuery(r)
	if derrs := decodeBody(r, &body); derrs != nil {
		errs = append(errs, derrs...)
	} else {
		if body.Text == nil || *body.Text == "" {
			errs = append(errs, missing("body", "text"))
		}
		rangeErr := func(name string, v *float64, lo, hi float64) {
			if v != nil && (*v < lo || *v > hi) {
				errs = append(errs, fieldError{Loc: []any{"body", name}, Msg: fmt.Sprintf("Input should be between %s and %s", fmtNum(lo), fmtNum(hi)), Type: "value_error"})
			}
		}
		rangeErr("duration_seconds", body.DurationSeconds, 0.5, 30)
		rangeErr("prompt_influence", body.PromptInfluence, 0, 1)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	seconds, cost := 0.0, sfxAutoCost
	if body.DurationSeconds != nil {
		seconds = *body.DurationSeconds
		cost = int(math.Ceil(seconds * sfxCreditsPerSecond))
	} else {
		seconds = min(max(secondsPerChar*float64(utf8.RuneCountInString(*body.Text)), minSpeechSeconds), 22)
	}
	if _, _, ok := s.charge(w, a, cost); !ok {
		return
	}
	w.Header().Set("character-cost", strconv.Itoa(cost))
	writeAudio(w, media.MP3(seconds))
}

// GAP: voice isolation pricing is not in the sources; the simulator charges 1000 credits per
// minute of input, rounded up (docs/simulators.md §21).
const isolationCreditsPerMinute = 1000

// audioIsolation serves POST /v1/audio-isolation and its /stream variant [EL-oas, EL-iso]:
// the "isolated" audio is silence as long as the upload.
func (s *Server) audioIsolation(streamed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.accountOf(r)
		f, ok := requestForm(w, r)
		if !ok {
			return
		}
		files := f.files["audio"]
		if len(files) == 0 {
			writeValidation(w, missing("body", "audio"))
			return
		}
		if ff := f.value("file_format"); ff != "" && ff != "pcm_s16le_16" && ff != "other" {
			writeValidation(w, fieldError{Loc: []any{"body", "file_format"}, Msg: "Input should be 'pcm_s16le_16' or 'other'", Type: "enum"})
			return
		}
		seconds := files[0].duration()
		if f.value("file_format") == "pcm_s16le_16" {
			seconds = float64(files[0].SizeBytes) / 32000 // 16-bit mono at 16 kHz
		}
		cost := int(math.Ceil(seconds / 60 * isolationCreditsPerMinute))
		if _, _, ok := s.charge(w, a, cost); !ok {
			return
		}
		w.Header().Set("character-cost", strconv.Itoa(cost))
		frames := media.MP3Frames(seconds)
		if !streamed {
			writeAudio(w, slices.Concat(frames...))
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		s.stream(w, r, groupFrames(frames, streamChunks))
	}
}
