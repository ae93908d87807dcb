package elevenlabs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// Speech to text, speech to speech, text to dialogue, voice design, music and forced
// alignment (docs/simulators.md §26), with the request and response shapes of ElevenLabs'
// TypeScript SDK [EL-js]. Audio answers are the simulator's silent MP3 (media), as long as
// the input says; transcripts and alignments are made-up words spread evenly over the audio.

// speechState is what one key keeps of these products.
type speechState struct {
	transcripts []*sttTranscript          // oldest first
	previews    map[string]*designPreview // generated_voice_id → preview
}

// Prices. GAP: the sources give no per-request credit costs for these products; the
// simulator charges 1000 credits per minute of audio in (speech to text, speech to speech,
// forced alignment) or out (music), rounded up, and dialogue and voice design their text's
// characters times the model's multiplier, as speech (docs/simulators.md §26).
const (
	audioCreditsPerMinute = 1000
	// urlSourceSeconds is how long a cloud_storage_url or source_url recording is taken to
	// last: the simulator does not fetch it (as dubbing, §22).
	urlSourceSeconds = 60
	// Made-up speech has wordsPerSecond words.
	wordsPerSecond = 2.5
)

func audioMinuteCost(seconds float64) int {
	return int(math.Ceil(seconds / 60 * audioCreditsPerMinute))
}

// ---- shared form helpers ----

// formBool reads an optional boolean form field.
func formBool(f form, name string, errs *[]fieldError) bool {
	v := f.value(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		*errs = append(*errs, fieldError{Loc: []any{"body", name}, Msg: "Input should be a valid boolean, unable to interpret input", Type: "bool_parsing"})
	}
	return b
}

// formFloat reads an optional number form field in [lo, hi].
func formFloat(f form, name string, lo, hi float64, errs *[]fieldError) *float64 {
	v := f.value(name)
	if v == "" {
		return nil
	}
	x, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil:
		*errs = append(*errs, fieldError{Loc: []any{"body", name}, Msg: "Input should be a valid number, unable to parse string as a number", Type: "float_parsing"})
		return nil
	case x < lo || x > hi:
		*errs = append(*errs, fieldError{Loc: []any{"body", name}, Msg: fmt.Sprintf("Input should be between %s and %s", fmtNum(lo), fmtNum(hi)), Type: "value_error"})
		return nil
	}
	return &x
}

func formEnum(f form, name string, values []string, errs *[]fieldError) string {
	v := f.value(name)
	if v != "" && !slices.Contains(values, v) {
		*errs = append(*errs, speechEnumError(name, values))
	}
	return v
}

func speechEnumError(name string, values []string) fieldError {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "'" + v + "'"
	}
	msg := "Input should be " + q[0]
	if len(q) > 1 {
		msg = "Input should be " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	}
	return fieldError{Loc: []any{"body", name}, Msg: msg, Type: "enum"}
}

func speechRangeError(name string, v *float64, lo, hi float64) *fieldError {
	if v != nil && (*v < lo || *v > hi) {
		return &fieldError{Loc: []any{"body", name}, Msg: fmt.Sprintf("Input should be between %s and %s", fmtNum(lo), fmtNum(hi)), Type: "value_error"}
	}
	return nil
}

// keepsRecord reports whether the request keeps a record: enable_logging is not false (false is
// zero-retention mode [EL-oas]).
func keepsRecord(r *http.Request) bool {
	b, err := strconv.ParseBool(r.URL.Query().Get("enable_logging"))
	return err != nil || b
}

// sttWords are the words of every simulated transcript, repeated as needed.
var sttWords = strings.Fields("the quick brown fox jumps over the lazy dog and keeps on running through the quiet simulated field")

// ---- speech to text ----

// sttWord is SpeechToTextWordResponseModel [EL-js]: a word, a spacing or an audio event.
type sttWord struct {
	Text       string    `json:"text"`
	Start      *float64  `json:"start"`
	End        *float64  `json:"end"`
	Type       string    `json:"type"`
	SpeakerID  *string   `json:"speaker_id,omitempty"`
	Logprob    float64   `json:"logprob"`
	Characters []sttSpan `json:"characters,omitempty"`
}

// sttSpan is SpeechToTextCharacterResponseModel and ForcedAlignmentCharacterResponseModel.
type sttSpan struct {
	Text  string  `json:"text"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// transcription is SpeechToTextChunkResponseModel [EL-js].
type transcription struct {
	LanguageCode        string    `json:"language_code"`
	LanguageProbability float64   `json:"language_probability"`
	Text                string    `json:"text"`
	Words               []sttWord `json:"words"`
	TranscriptionID     string    `json:"transcription_id"`
	AudioDurationSecs   float64   `json:"audio_duration_secs"`
}

// sttTranscript is a stored transcription; one asked for by webhook is ready once delivered.
type sttTranscript struct {
	result transcription
	ready  bool
}

var (
	sttModels        = []string{"scribe_v1", "scribe_v2"}
	sttGranularities = []string{"none", "word", "character"}
)

// transcribe makes up the transcript of seconds of audio.
func transcribe(id string, seconds float64, lang, granularity string, diarize bool) transcription {
	n := max(1, int(seconds*wordsPerSecond))
	per := seconds / float64(n)
	tr := transcription{LanguageCode: "eng", LanguageProbability: 0.98, TranscriptionID: id, AudioDurationSecs: round3(seconds), Words: []sttWord{}}
	if lang != "" {
		tr.LanguageCode, tr.LanguageProbability = lang, 1
	}
	var speaker *string
	if diarize {
		s := "speaker_0"
		speaker = &s
	}
	timed := granularity != "none"
	span := func(lo, hi float64) (*float64, *float64) {
		if !timed {
			return nil, nil
		}
		a, b := round3(lo), round3(hi)
		return &a, &b
	}
	words := make([]string, n)
	for i := range n {
		words[i] = sttWords[i%len(sttWords)]
		t0, t1 := float64(i)*per, (float64(i)+0.8)*per
		w := sttWord{Text: words[i], Type: "word", SpeakerID: speaker}
		w.Start, w.End = span(t0, t1)
		if granularity == "character" {
			runes := []rune(words[i])
			for j, c := range runes {
				d := (t1 - t0) / float64(len(runes))
				w.Characters = append(w.Characters, sttSpan{Text: string(c), Start: round3(t0 + float64(j)*d), End: round3(t0 + float64(j+1)*d)})
			}
		}
		tr.Words = append(tr.Words, w)
		if i < n-1 {
			sp := sttWord{Text: " ", Type: "spacing", SpeakerID: speaker}
			sp.Start, sp.End = span(t1, float64(i+1)*per)
			tr.Words = append(tr.Words, sp)
		}
	}
	tr.Text = strings.Join(words, " ")
	return tr
}

// speechToText serves POST /v1/speech-to-text [EL-js]: multipart with model_id and exactly
// one of file, cloud_storage_url and source_url. It answers the transcript (200), or, with
// webhook=true, 202 {message, request_id, transcription_id} at once and later delivers a
// speech_to_text_transcription event {request_id, transcription, webhook_metadata} to the
// key's webhooks (or the one named by webhook_id), signed as every delivery (§25).
func (s *Server) speechToText(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	f, ok := requestForm(w, r)
	if !ok {
		return
	}
	var errs []fieldError
	if mid := f.value("model_id"); mid == "" {
		errs = append(errs, missing("body", "model_id"))
	} else if !slices.Contains(sttModels, mid) {
		errs = append(errs, speechEnumError("model_id", sttModels))
	}
	granularity := formEnum(f, "timestamps_granularity", sttGranularities, &errs)
	formEnum(f, "file_format", []string{"pcm_s16le_16", "other"}, &errs)
	diarize := formBool(f, "diarize", &errs)
	webhook := formBool(f, "webhook", &errs)
	formBool(f, "tag_audio_events", &errs)
	formBool(f, "use_multi_channel", &errs)
	formFloat(f, "num_speakers", 1, 32, &errs)
	formFloat(f, "temperature", 0, 2, &errs)
	formFloat(f, "seed", 0, 2147483647, &errs)
	var sources []string
	if len(f.files["file"]) > 0 {
		sources = append(sources, "file")
	}
	for _, name := range []string{"cloud_storage_url", "source_url"} {
		if v := f.value(name); v != "" {
			sources = append(sources, name)
			if ferr := validWebhookURL(v, "body", name); ferr != nil {
				errs = append(errs, *ferr)
			}
		}
	}
	// GAP: the answer to no source, or to two, is undocumented ("exactly one of the file or
	// cloud_storage_url parameters must be provided"); FastAPI's 422 (docs/simulators.md §26).
	switch {
	case len(sources) == 0:
		errs = append(errs, fieldError{Loc: []any{"body"}, Msg: "Value error, Exactly one of file, cloud_storage_url or source_url must be provided", Type: "value_error"})
	case len(sources) > 1:
		errs = append(errs, fieldError{Loc: []any{"body"}, Msg: "Value error, Exactly one of " + strings.Join(sources, ", ") + " must be provided, not several", Type: "value_error"})
	}
	webhookID := f.value("webhook_id")
	if webhookID != "" && !webhook {
		errs = append(errs, fieldError{Loc: []any{"body", "webhook_id"}, Msg: "Value error, webhook_id is only valid when webhook is true", Type: "value_error"})
	}
	var metadata json.RawMessage
	if m := f.value("webhook_metadata"); m != "" {
		var obj map[string]any
		switch {
		case json.Unmarshal([]byte(m), &obj) != nil || obj == nil:
			errs = append(errs, fieldError{Loc: []any{"body", "webhook_metadata"}, Msg: "Value error, webhook_metadata must be a JSON object", Type: "value_error"})
		case len(m) > 16<<10:
			errs = append(errs, fieldError{Loc: []any{"body", "webhook_metadata"}, Msg: "Value error, webhook_metadata must be at most 16KB", Type: "value_error"})
		default:
			metadata = json.RawMessage(m)
		}
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	if webhookID != "" {
		a.mu.Lock()
		h := a.findWebhook(webhookID)
		a.mu.Unlock()
		if h == nil {
			writeWebhookNotFound(w, webhookID)
			return
		}
	}
	seconds := float64(urlSourceSeconds)
	if files := f.files["file"]; len(files) > 0 {
		seconds = files[0].duration()
		if f.value("file_format") == "pcm_s16le_16" {
			seconds = min(float64(files[0].SizeBytes)/32000, maxUploadSeconds)
		}
	}
	cost := audioMinuteCost(seconds)
	if _, _, ok := s.charge(w, a, cost); !ok {
		return
	}
	w.Header().Set("character-cost", strconv.Itoa(cost))
	tr := &sttTranscript{result: transcribe(a.rand.Alnum(20), seconds, f.value("language_code"), granularity, diarize), ready: !webhook}
	if keepsRecord(r) {
		a.mu.Lock()
		a.speech.transcripts = append(a.speech.transcripts, tr)
		a.mu.Unlock()
	}
	if !webhook {
		writeJSON(w, http.StatusOK, tr.result)
		return
	}
	requestID := w.Header().Get("request-id")
	s.deliverTranscript(a, webhookID, requestID, tr, metadata, seconds)
	// GAP: the wording of message is not documented (docs/simulators.md §26).
	writeJSON(w, http.StatusAccepted, map[string]any{
		"message":          "Request processed successfully. The transcription will be sent to your webhook.",
		"request_id":       requestID,
		"transcription_id": tr.result.TranscriptionID,
	})
}

// sttDelay is how long an asynchronous transcription takes (simulated): one second plus
// 50 ms per second of audio. GAP: not documented (docs/simulators.md §26).
func sttDelay(seconds float64) time.Duration {
	return time.Second + time.Duration(seconds*50)*time.Millisecond
}

// deliverTranscript marks tr ready after sttDelay and sends the speech_to_text_transcription
// event with the webhook signed-delivery of webhooks.go. Close cancels a wait in progress.
func (s *Server) deliverTranscript(a *account, webhookID, requestID string, tr *sttTranscript, metadata json.RawMessage, seconds float64) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.clock.Scale(sttDelay(seconds)))
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		a.mu.Lock()
		tr.ready = true
		result := tr.result
		a.mu.Unlock()
		if metadata == nil {
			metadata = json.RawMessage("null")
		}
		data, err := json.Marshal(map[string]any{"request_id": requestID, "transcription": result, "webhook_metadata": metadata})
		if err != nil {
			return
		}
		<-s.emitTo(a, webhookID, "speech_to_text_transcription", data)
	}()
}

// findTranscript returns the key's ready transcript with that id. Caller holds a.mu.
func (a *account) findTranscript(id string) int {
	return slices.IndexFunc(a.speech.transcripts, func(t *sttTranscript) bool { return t.ready && t.result.TranscriptionID == id })
}

// GAP: the answer for an unknown transcript (or one still being made for a webhook) is not
// documented; 404 transcript_not_found, worded like voice_not_found (docs/simulators.md §26).
func writeTranscriptNotFound(w http.ResponseWriter, id string) {
	writeDetail(w, http.StatusNotFound, "transcript_not_found", "A transcript with the transcription_id "+id+" was not found.")
}

// getTranscript serves GET /v1/speech-to-text/transcripts/{transcription_id} [EL-js].
func (s *Server) getTranscript(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("transcription_id")
	a.mu.Lock()
	i := a.findTranscript(id)
	var tr transcription
	if i >= 0 {
		tr = a.speech.transcripts[i].result
	}
	a.mu.Unlock()
	if i < 0 {
		writeTranscriptNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, tr)
}

// deleteTranscript serves DELETE /v1/speech-to-text/transcripts/{transcription_id}. GAP:
// the SDK types the answer as unknown; {"status": "ok"}, as the other deletes
// (docs/simulators.md §26).
func (s *Server) deleteTranscript(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("transcription_id")
	a.mu.Lock()
	i := a.findTranscript(id)
	if i >= 0 {
		a.speech.transcripts = slices.Delete(a.speech.transcripts, i, i+1)
	}
	a.mu.Unlock()
	if i < 0 {
		writeTranscriptNotFound(w, id)
		return
	}
	writeStatusOK(w)
}

// ---- speech to speech ----

// speechToSpeech serves POST /v1/speech-to-speech/{voice_id} and its /stream variant
// [EL-js]: the "converted" speech is silence as long as the upload (file part audio).
func (s *Server) speechToSpeech(streamed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, voiceID := s.accountOf(r), r.PathValue("voice_id")
		errs := validateAudioQuery(r)
		f, ok := requestForm(w, r)
		if !ok {
			return
		}
		files := f.files["audio"]
		if len(files) == 0 {
			errs = append(errs, missing("body", "audio"))
		}
		formEnum(f, "file_format", []string{"pcm_s16le_16", "other"}, &errs)
		formBool(f, "remove_background_noise", &errs)
		formFloat(f, "seed", 0, math.MaxUint32, &errs)
		var settings VoiceSettings
		if vs := f.value("voice_settings"); vs != "" {
			if err := json.Unmarshal([]byte(vs), &settings); err != nil {
				errs = append(errs, fieldError{Loc: []any{"body", "voice_settings"}, Msg: "Value error, voice_settings must be a JSON-encoded object", Type: "value_error"})
			} else {
				errs = append(errs, settings.validate("body", "voice_settings")...)
			}
		}
		if errs != nil {
			writeValidation(w, errs...)
			return
		}
		voice, ok := s.voiceFor(a, voiceID)
		if !ok {
			writeVoiceNotFound(w, voiceID)
			return
		}
		modelID := f.value("model_id")
		if modelID == "" {
			modelID = "eleven_english_sts_v2"
		}
		if m, ok := findModel(modelID); !ok || !m.CanDoVoiceConversion {
			// GAP: as text to speech's unknown model (docs/simulators.md §21).
			writeDetail(w, http.StatusBadRequest, "model_not_found", fmt.Sprintf("A model with model ID %s does not exist or cannot do speech-to-speech.", modelID))
			return
		}
		seconds := files[0].duration()
		if f.value("file_format") == "pcm_s16le_16" {
			seconds = min(float64(files[0].SizeBytes)/32000, maxUploadSeconds)
		}
		seconds = max(seconds, minSpeechSeconds)
		cost := audioMinuteCost(seconds)
		from, to, ok := s.charge(w, a, cost)
		if !ok {
			return
		}
		w.Header().Set("character-cost", strconv.Itoa(cost))
		if keepsRecord(r) {
			item := a.addHistory(&historyItem{
				RequestID: w.Header().Get("request-id"), VoiceID: voice.VoiceID, ModelID: modelID,
				VoiceName: voice.Name, VoiceCategory: voice.Category, Text: "",
				DateUnix: s.clock.Now().Unix(), CharFrom: from, CharTo: to,
				ContentType: "audio/mpeg", State: "created", Settings: a.voiceSettings(voice.VoiceID), Source: "STS",
				seconds: seconds,
			})
			w.Header().Set("history-item-id", item.ID)
		}
		frames := media.MP3Frames(seconds)
		if !streamed {
			writeAudio(w, slices.Concat(frames...))
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		s.stream(w, r, groupFrames(frames, streamChunks))
	}
}

// ---- text to dialogue ----

type dialogueMode int

const (
	dialogueAudio dialogueMode = iota
	dialogueStream
	dialogueTimestamps
)

// dialogueRequest is BodyTextToDialogueMultiVoiceV1TextToDialoguePost [EL-js].
type dialogueRequest struct {
	Inputs []struct {
		Text    *string `json:"text"`
		VoiceID *string `json:"voice_id"`
	} `json:"inputs"`
	ModelID  *string `json:"model_id"`
	Settings *struct {
		Stability *float64 `json:"stability"`
	} `json:"settings"`
	LanguageCode                    *string           `json:"language_code"`
	PronunciationDictionaryLocators []json.RawMessage `json:"pronunciation_dictionary_locators"`
	Seed                            *int64            `json:"seed"`
	ApplyTextNormalization          *string           `json:"apply_text_normalization"`
}

// maxDialogueVoices is the documented limit of unique voices in one dialogue [EL-js].
const maxDialogueVoices = 10

func (b dialogueRequest) validate() []fieldError {
	var errs []fieldError
	if b.Inputs == nil {
		return []fieldError{missing("body", "inputs")}
	}
	if len(b.Inputs) == 0 {
		errs = append(errs, fieldError{Loc: []any{"body", "inputs"}, Msg: "List should have at least 1 item after validation, not 0", Type: "too_short"})
	}
	voices := map[string]bool{}
	for i, in := range b.Inputs {
		if in.Text == nil {
			errs = append(errs, fieldError{Loc: []any{"body", "inputs", i, "text"}, Msg: "Field required", Type: "missing"})
		}
		if in.VoiceID == nil {
			errs = append(errs, fieldError{Loc: []any{"body", "inputs", i, "voice_id"}, Msg: "Field required", Type: "missing"})
		} else {
			voices[*in.VoiceID] = true
		}
	}
	if len(voices) > maxDialogueVoices {
		errs = append(errs, fieldError{Loc: []any{"body", "inputs"}, Msg: fmt.Sprintf("Value error, A dialogue may use at most %d unique voices, not %d", maxDialogueVoices, len(voices)), Type: "value_error"})
	}
	if n := len(b.PronunciationDictionaryLocators); n > 3 {
		errs = append(errs, fieldError{Loc: []any{"body", "pronunciation_dictionary_locators"}, Msg: fmt.Sprintf("List should have at most 3 items after validation, not %d", n), Type: "too_long"})
	}
	if b.Seed != nil && (*b.Seed < 0 || *b.Seed > math.MaxUint32) {
		errs = append(errs, fieldError{Loc: []any{"body", "seed"}, Msg: "Input should be between 0 and 4294967295", Type: "value_error"})
	}
	if n := b.ApplyTextNormalization; n != nil && *n != "auto" && *n != "on" && *n != "off" {
		errs = append(errs, fieldError{Loc: []any{"body", "apply_text_normalization"}, Msg: "Input should be 'auto', 'on' or 'off'", Type: "enum"})
	}
	if b.Settings != nil {
		if ferr := speechRangeError("stability", b.Settings.Stability, 0, 1); ferr != nil {
			ferr.Loc = []any{"body", "settings", "stability"}
			errs = append(errs, *ferr)
		}
	}
	return errs
}

// voiceSegment is VoiceSegment [EL-js].
type voiceSegment struct {
	VoiceID             string  `json:"voice_id"`
	StartTimeSeconds    float64 `json:"start_time_seconds"`
	EndTimeSeconds      float64 `json:"end_time_seconds"`
	CharacterStartIndex int     `json:"character_start_index"`
	CharacterEndIndex   int     `json:"character_end_index"`
	DialogueInputIndex  int     `json:"dialogue_input_index"`
}

// textToDialogue serves POST /v1/text-to-dialogue and its /stream and /with-timestamps
// variants [EL-js]: each input is spoken in turn, as text to speech speaks it (§21), with
// the default model eleven_v3, the one that does dialogue. /with-timestamps answers
// AudioWithTimestampsAndVoiceSegmentsResponseModel: the alignment of the inputs' texts
// joined, and one voice segment per input.
func (s *Server) textToDialogue(mode dialogueMode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.accountOf(r)
		var body dialogueRequest
		if !decodeAudioRequest(w, r, &body) {
			return
		}
		voices := make([]*Voice, len(body.Inputs))
		chars := 0
		for i, in := range body.Inputs {
			v, ok := s.voiceFor(a, *in.VoiceID)
			if !ok {
				writeVoiceNotFound(w, *in.VoiceID)
				return
			}
			voices[i] = v
			chars += utf8.RuneCountInString(*in.Text)
		}
		modelID := "eleven_v3"
		if body.ModelID != nil && *body.ModelID != "" {
			modelID = *body.ModelID
		}
		m, ok := findModel(modelID)
		if !ok || !m.CanDoTextToSpeech {
			writeDetail(w, http.StatusBadRequest, "model_not_found", fmt.Sprintf("A model with model ID %s does not exist or cannot do text-to-speech.", modelID))
			return
		}
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
		w.Header().Set("character-cost", strconv.Itoa(cost))

		var frames [][]byte
		var segments []voiceSegment
		var texts []string
		al := &Alignment{Characters: []string{}, CharacterStartTimesSeconds: []float64{}, CharacterEndTimesSeconds: []float64{}}
		charAt := 0
		for i, in := range body.Inputs {
			text := *in.Text
			n := utf8.RuneCountInString(text)
			seg := media.MP3Frames(max(minSpeechSeconds, secondsPerChar*float64(n)))
			start := float64(len(frames)) * media.MP3FrameSeconds
			if n > 0 {
				part := align(text, len(seg), 0, n)
				for j := range part.Characters {
					al.Characters = append(al.Characters, part.Characters[j])
					al.CharacterStartTimesSeconds = append(al.CharacterStartTimesSeconds, round3(start+part.CharacterStartTimesSeconds[j]))
					al.CharacterEndTimesSeconds = append(al.CharacterEndTimesSeconds, round3(start+part.CharacterEndTimesSeconds[j]))
				}
			}
			frames = append(frames, seg...)
			segments = append(segments, voiceSegment{
				VoiceID: voices[i].VoiceID, StartTimeSeconds: round3(start),
				EndTimeSeconds:      round3(float64(len(frames)) * media.MP3FrameSeconds),
				CharacterStartIndex: charAt, CharacterEndIndex: charAt + n, DialogueInputIndex: i,
			})
			charAt += n
			texts = append(texts, text)
		}
		if keepsRecord(r) {
			// GAP: a dialogue's history item is the first voice's, with the texts joined
			// (docs/simulators.md §26).
			item := a.addHistory(&historyItem{
				RequestID: w.Header().Get("request-id"), VoiceID: voices[0].VoiceID, ModelID: modelID,
				VoiceName: voices[0].Name, VoiceCategory: voices[0].Category, Text: strings.Join(texts, " "),
				DateUnix: s.clock.Now().Unix(), CharFrom: from, CharTo: to,
				ContentType: "audio/mpeg", State: "created", Settings: a.voiceSettings(voices[0].VoiceID), Source: "TTS",
				seconds: float64(len(frames)) * media.MP3FrameSeconds,
			})
			w.Header().Set("history-item-id", item.ID)
		}
		switch mode {
		case dialogueAudio:
			writeAudio(w, slices.Concat(frames...))
		case dialogueStream:
			w.Header().Set("Content-Type", "audio/mpeg")
			s.stream(w, r, groupFrames(frames, streamChunks))
		case dialogueTimestamps:
			writeJSON(w, http.StatusOK, map[string]any{
				"audio_base64": base64.StdEncoding.EncodeToString(slices.Concat(frames...)),
				"alignment":    al, "normalized_alignment": al, "voice_segments": segments,
			})
		}
	}
}

// ---- voice design ----

// designPreview is a generated voice that POST /v1/text-to-voice may save.
type designPreview struct {
	description string
}

// voiceDesignRequest is VoiceDesignRequestModel, and VoiceRemixRequestModel without
// model_id and reference audio [EL-js].
type voiceDesignRequest struct {
	VoiceDescription *string  `json:"voice_description"`
	ModelID          *string  `json:"model_id"`
	Text             *string  `json:"text"`
	AutoGenerateText bool     `json:"auto_generate_text"`
	Loudness         *float64 `json:"loudness"`
	Quality          *float64 `json:"quality"`
	Seed             *int64   `json:"seed"`
	GuidanceScale    *float64 `json:"guidance_scale"`
	StreamPreviews   bool     `json:"stream_previews"`
	ShouldEnhance    bool     `json:"should_enhance"`
	PromptStrength   *float64 `json:"prompt_strength"`
}

var designModels = []string{"eleven_multilingual_ttv_v2", "eleven_ttv_v3"}

func (b voiceDesignRequest) validate() []fieldError {
	var errs []fieldError
	switch {
	case b.VoiceDescription == nil:
		errs = append(errs, missing("body", "voice_description"))
	case *b.VoiceDescription == "":
		errs = append(errs, fieldError{Loc: []any{"body", "voice_description"}, Msg: "String should have at least 1 character", Type: "string_too_short"})
	}
	if b.ModelID != nil && !slices.Contains(designModels, *b.ModelID) {
		errs = append(errs, speechEnumError("model_id", designModels))
	}
	// "Text to generate, text length has to be between 100 and 1000" [EL-js].
	if b.Text != nil {
		switch n := utf8.RuneCountInString(*b.Text); {
		case n < 100:
			errs = append(errs, fieldError{Loc: []any{"body", "text"}, Msg: "String should have at least 100 characters", Type: "string_too_short"})
		case n > 1000:
			errs = append(errs, fieldError{Loc: []any{"body", "text"}, Msg: "String should have at most 1000 characters", Type: "string_too_long"})
		}
	}
	for _, rg := range []struct {
		name   string
		v      *float64
		lo, hi float64
	}{{"loudness", b.Loudness, -1, 1}, {"quality", b.Quality, -1, 1}, {"guidance_scale", b.GuidanceScale, 0, 100}, {"prompt_strength", b.PromptStrength, 0, 1}} {
		if ferr := speechRangeError(rg.name, rg.v, rg.lo, rg.hi); ferr != nil {
			errs = append(errs, *ferr)
		}
	}
	return errs
}

// previewCount is how many previews a design or remix answers. GAP: ElevenLabs answers
// several; the simulator three (docs/simulators.md §26).
const previewCount = 3

// designText is spoken by the previews when the request states no text. GAP: without text
// the simulator writes this one, as if auto_generate_text were true (docs/simulators.md §26).
const designText = "Hello there. This is a preview of the voice you described, speaking a few calm sentences " +
	"so that you can hear its tone, its pace and its character before you decide to keep it."

// designVoice serves POST /v1/text-to-voice/design [EL-js].
func (s *Server) designVoice(w http.ResponseWriter, r *http.Request) {
	s.previewVoices(w, r, nil)
}

// remixVoice serves POST /v1/text-to-voice/{voice_id}/remix [EL-js]: previews of a voice
// the key can see, changed as the description says. GAP: the simulator lets any visible
// voice be remixed, premade ones too (docs/simulators.md §26).
func (s *Server) remixVoice(w http.ResponseWriter, r *http.Request) {
	voiceID := r.PathValue("voice_id")
	s.previewVoices(w, r, &voiceID)
}

func (s *Server) previewVoices(w http.ResponseWriter, r *http.Request, remix *string) {
	a := s.accountOf(r)
	var body voiceDesignRequest
	errs := validateAudioQuery(r)
	if derrs := decodeBody(r, &body); derrs != nil {
		errs = append(errs, derrs...)
	} else {
		errs = append(errs, body.validate()...)
		if remix != nil && body.ModelID != nil {
			// The remix body has no model_id [EL-js]; FastAPI ignores unknown members.
			errs = slices.DeleteFunc(errs, func(e fieldError) bool { return len(e.Loc) == 2 && e.Loc[1] == "model_id" })
		}
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	if remix != nil {
		if _, ok := s.voiceFor(a, *remix); !ok {
			writeVoiceNotFound(w, *remix)
			return
		}
	}
	text := designText
	if body.Text != nil {
		text = *body.Text
	}
	chars := utf8.RuneCountInString(text)
	if _, _, ok := s.charge(w, a, chars); !ok {
		return
	}
	w.Header().Set("character-cost", strconv.Itoa(chars))
	seconds := max(minSpeechSeconds, secondsPerChar*float64(chars))
	frames := media.MP3Frames(seconds)
	audio, duration := slices.Concat(frames...), round3(float64(len(frames))*media.MP3FrameSeconds)
	previews := make([]map[string]any, previewCount)
	a.mu.Lock()
	if a.speech.previews == nil {
		a.speech.previews = map[string]*designPreview{}
	}
	for i := range previews {
		id := a.rand.Alnum(20)
		a.speech.previews[id] = &designPreview{description: *body.VoiceDescription}
		b64 := base64.StdEncoding.EncodeToString(audio)
		if body.StreamPreviews {
			b64 = "" // "only the generated IDs will be returned" [EL-js]
		}
		previews[i] = map[string]any{
			"audio_base_64": b64, "generated_voice_id": id, "media_type": "audio/mpeg",
			"duration_secs": duration, "language": "en",
		}
	}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"previews": previews, "text": text})
}

// createVoiceRequest is BodyCreateANewVoiceFromVoicePreviewV1TextToVoicePost [EL-js].
type createVoiceRequest struct {
	VoiceName                *string           `json:"voice_name"`
	VoiceDescription         *string           `json:"voice_description"`
	GeneratedVoiceID         *string           `json:"generated_voice_id"`
	Labels                   map[string]string `json:"labels"`
	PlayedNotSelectedVoiceID []string          `json:"played_not_selected_voice_ids"`
}

// createVoiceFromPreview serves POST /v1/text-to-voice [EL-js]: it saves a preview of the
// key's as a voice of category "generated" (VoiceResponseModel), which speech can then use;
// a preview is saved once.
func (s *Server) createVoiceFromPreview(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	var body createVoiceRequest
	if errs := decodeBody(r, &body); errs != nil {
		writeValidation(w, errs...)
		return
	}
	var errs []fieldError
	for _, f := range []struct {
		name string
		v    *string
	}{{"voice_name", body.VoiceName}, {"voice_description", body.VoiceDescription}, {"generated_voice_id", body.GeneratedVoiceID}} {
		if f.v == nil {
			errs = append(errs, missing("body", f.name))
		}
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	id := *body.GeneratedVoiceID
	a.mu.Lock()
	_, ok := a.speech.previews[id]
	delete(a.speech.previews, id)
	a.mu.Unlock()
	if !ok {
		// GAP: the answer for an unknown generated_voice_id is not documented; 404
		// generated_voice_not_found, worded like voice_not_found (docs/simulators.md §26).
		writeDetail(w, http.StatusNotFound, "generated_voice_not_found", "A generated voice with the generated_voice_id "+id+" was not found.")
		return
	}
	labels := body.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	now := s.clock.Now().Unix()
	owner, desc := "admin", *body.VoiceDescription
	v := &Voice{
		VoiceID: a.rand.Alnum(20), Name: *body.VoiceName, Samples: []Sample{}, Category: "generated",
		FineTuning: &FineTuning{
			State: map[string]string{}, VerificationFailures: []string{},
			Progress: map[string]any{}, Message: map[string]any{},
		},
		Labels: labels, Description: &desc, AvailableForTiers: []string{},
		HighQualityBaseModelIDs: []string{}, VerifiedLanguages: []VerifiedLang{},
		VoiceVerification:    VoiceVerification{VerificationFailures: []string{}},
		PermissionOnResource: &owner, IsOwner: true, CreatedAtUnix: &now,
	}
	a.mu.Lock()
	a.voices = append(a.voices, v)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, a.view(v))
}

// ---- music ----

var (
	musicModels                = []string{"music_v1", "music_v2"}
	minMusicMillis, maxMusicMS = 3000.0, 600000.0 // music_length_ms's range [EL-js]
	defaultMusicMillis         = 10000
)

// musicSection is SongSection [EL-js].
type musicSection struct {
	SectionName         string   `json:"section_name"`
	PositiveLocalStyles []string `json:"positive_local_styles"`
	NegativeLocalStyles []string `json:"negative_local_styles"`
	DurationMS          int      `json:"duration_ms"`
	Lines               []string `json:"lines"`
}

// musicPlanShape is MusicPrompt [EL-js].
type musicPlanShape struct {
	PositiveGlobalStyles []string       `json:"positive_global_styles"`
	NegativeGlobalStyles []string       `json:"negative_global_styles"`
	Sections             []musicSection `json:"sections"`
}

// musicRequest is BodyComposeMusicV1MusicPost and BodyGenerateCompositionPlanV1MusicPlanPost
// [EL-js].
type musicRequest struct {
	Prompt                *string         `json:"prompt"`
	CompositionPlan       *musicPlanShape `json:"composition_plan"`
	SourceCompositionPlan *musicPlanShape `json:"source_composition_plan"`
	MusicLengthMS         *float64        `json:"music_length_ms"`
	ModelID               *string         `json:"model_id"`
	Seed                  *int64          `json:"seed"`
	ForceInstrumental     bool            `json:"force_instrumental"`
}

func (b musicRequest) validate(plan bool) []fieldError {
	var errs []fieldError
	if ferr := speechRangeError("music_length_ms", b.MusicLengthMS, minMusicMillis, maxMusicMS); ferr != nil {
		errs = append(errs, *ferr)
	}
	if b.ModelID != nil && !slices.Contains(musicModels, *b.ModelID) {
		errs = append(errs, speechEnumError("model_id", musicModels))
	}
	switch {
	case plan && b.Prompt == nil:
		errs = append(errs, missing("body", "prompt"))
	case plan:
	// GAP: the answer to neither or both of prompt and composition_plan is not documented
	// ("cannot be used in conjunction"); FastAPI's 422 (docs/simulators.md §26).
	case b.Prompt == nil && b.CompositionPlan == nil:
		errs = append(errs, fieldError{Loc: []any{"body"}, Msg: "Value error, Exactly one of prompt or composition_plan must be provided", Type: "value_error"})
	case b.Prompt != nil && b.CompositionPlan != nil:
		errs = append(errs, fieldError{Loc: []any{"body"}, Msg: "Value error, prompt cannot be used in conjunction with composition_plan", Type: "value_error"})
	case b.CompositionPlan != nil && b.MusicLengthMS != nil:
		errs = append(errs, fieldError{Loc: []any{"body", "music_length_ms"}, Msg: "Value error, music_length_ms can only be used with prompt", Type: "value_error"})
	}
	if c := b.CompositionPlan; c != nil {
		if len(c.Sections) == 0 {
			errs = append(errs, fieldError{Loc: []any{"body", "composition_plan", "sections"}, Msg: "List should have at least 1 item after validation, not 0", Type: "too_short"})
		}
	}
	return errs
}

// lengthMS is the length of the music a request asks for: music_length_ms, the sum of the
// composition plan's sections, or, when automatic, defaultMusicMillis. GAP: ElevenLabs picks
// an automatic length from the prompt; the simulator 10 s (docs/simulators.md §26).
func (b musicRequest) lengthMS() int {
	switch {
	case b.MusicLengthMS != nil:
		return int(*b.MusicLengthMS)
	case b.CompositionPlan != nil:
		ms := 0
		for _, sec := range b.CompositionPlan.Sections {
			ms += sec.DurationMS
		}
		return ms
	}
	return defaultMusicMillis
}

func decodeMusic(w http.ResponseWriter, r *http.Request, plan bool) (musicRequest, bool) {
	var body musicRequest
	var errs []fieldError
	if !plan {
		errs = validateAudioQuery(r)
	}
	if derrs := decodeBody(r, &body); derrs != nil {
		errs = append(errs, derrs...)
	} else {
		errs = append(errs, body.validate(plan)...)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return body, false
	}
	return body, true
}

// composeMusic serves POST /v1/music and /v1/music/stream [EL-js]: silence of the length
// asked for, 1000 credits a minute (GAP, above).
func (s *Server) composeMusic(streamed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.accountOf(r)
		body, ok := decodeMusic(w, r, false)
		if !ok {
			return
		}
		seconds := float64(body.lengthMS()) / 1000
		cost := audioMinuteCost(seconds)
		if _, _, ok := s.charge(w, a, cost); !ok {
			return
		}
		w.Header().Set("character-cost", strconv.Itoa(cost))
		// GAP: the song's id header is not documented; song-id, 20 letters and digits
		// (docs/simulators.md §26).
		w.Header().Set("song-id", a.rand.Alnum(20))
		frames := media.MP3Frames(seconds)
		if !streamed {
			writeAudio(w, slices.Concat(frames...))
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		s.stream(w, r, groupFrames(frames, streamChunks))
	}
}

// musicPlan serves POST /v1/music/plan [EL-js]: a MusicPrompt whose sections (intro, verse,
// chorus) share the length asked for. The prompt becomes the one positive global style, or
// the source plan's styles are kept. GAP: the simulator does not charge for a plan
// (docs/simulators.md §26).
func (s *Server) musicPlan(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeMusic(w, r, true)
	if !ok {
		return
	}
	total := body.lengthMS()
	plan := musicPlanShape{PositiveGlobalStyles: []string{*body.Prompt}, NegativeGlobalStyles: []string{}}
	if src := body.SourceCompositionPlan; src != nil && len(src.PositiveGlobalStyles) > 0 {
		plan.PositiveGlobalStyles = slices.Clone(src.PositiveGlobalStyles)
		plan.NegativeGlobalStyles = append([]string{}, src.NegativeGlobalStyles...)
	}
	names := []string{"Intro", "Verse", "Chorus"}
	for i, name := range names {
		ms := total / len(names)
		if i == len(names)-1 {
			ms += total % len(names)
		}
		plan.Sections = append(plan.Sections, musicSection{
			SectionName: name, PositiveLocalStyles: []string{strings.ToLower(name)}, NegativeLocalStyles: []string{},
			DurationMS: ms, Lines: []string{},
		})
	}
	writeJSON(w, http.StatusOK, plan)
}

// ---- forced alignment ----

// forcedAlignment serves POST /v1/forced-alignment [EL-js]: multipart file and text; the
// text's characters and words spread evenly over the recording, with loss 0.
func (s *Server) forcedAlignment(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	f, ok := requestForm(w, r)
	if !ok {
		return
	}
	var errs []fieldError
	files := f.files["file"]
	if len(files) == 0 {
		errs = append(errs, missing("body", "file"))
	}
	text, hasText := f.values["text"]
	switch {
	case !hasText:
		errs = append(errs, missing("body", "text"))
	case strings.TrimSpace(text[0]) == "":
		errs = append(errs, fieldError{Loc: []any{"body", "text"}, Msg: "String should have at least 1 character", Type: "string_too_short"})
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	seconds := max(files[0].duration(), minSpeechSeconds)
	cost := audioMinuteCost(seconds)
	if _, _, ok := s.charge(w, a, cost); !ok {
		return
	}
	w.Header().Set("character-cost", strconv.Itoa(cost))
	runes := []rune(text[0])
	per := seconds / float64(len(runes))
	chars := make([]sttSpan, len(runes))
	for i, c := range runes {
		chars[i] = sttSpan{Text: string(c), Start: round3(float64(i) * per), End: round3(float64(i+1) * per)}
	}
	type word struct {
		Text  string  `json:"text"`
		Start float64 `json:"start"`
		End   float64 `json:"end"`
		Loss  float64 `json:"loss"`
	}
	words := []word{}
	for i := 0; i < len(runes); {
		if alignSpace(runes[i]) {
			i++
			continue
		}
		j := i
		for j < len(runes) && !alignSpace(runes[j]) {
			j++
		}
		words = append(words, word{Text: string(runes[i:j]), Start: chars[i].Start, End: chars[j-1].End})
		i = j
	}
	writeJSON(w, http.StatusOK, map[string]any{"characters": chars, "words": words, "loss": 0})
}

func alignSpace(r rune) bool { return strings.ContainsRune(" \t\n\r", r) }
