package elevenlabs

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// transcriptSegmentSeconds is how long each utterance of a simulated transcript lasts.
const transcriptSegmentSeconds = 4.0

// transcriptUtterance is the OpenAPI DubbingTranscriptUtterance [EL-oas, EL-js].
type transcriptUtterance struct {
	Text      string           `json:"text"`
	SpeakerID string           `json:"speaker_id"`
	StartS    float64          `json:"start_s"`
	EndS      float64          `json:"end_s"`
	Words     []transcriptWord `json:"words"`
}

// transcriptWord is the OpenAPI DubbingTranscriptWord.
type transcriptWord struct {
	Text       string                `json:"text"`
	WordType   string                `json:"word_type"`
	StartS     float64               `json:"start_s"`
	EndS       float64               `json:"end_s"`
	Characters []transcriptCharacter `json:"characters"`
}

// transcriptCharacter is the OpenAPI DubbingTranscriptCharacter.
type transcriptCharacter struct {
	Text   string  `json:"text"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// getDubbingTranscript serves GET /v1/dubbing/{dubbing_id}/transcript/{language_code}
// [EL-oas, EL-js]: the transcript of the source media (language_code "source") or of one
// target language, as SRT (format_type srt, the default), WebVTT (webvtt) or JSON
// {language, utterances} (json). 404 for another key's or an unknown dubbing, 425 until it
// is dubbed.
// GAP: the simulator does not transcribe: the media is cut into 4-second utterances whose
// text names the segment and the language. SRT is sent as text/plain and WebVTT as
// text/vtt (the OpenAPI declares only application/json, with a string as one of the
// answer's forms). A failed dubbing answers 425 dubbing_failed, as its audio does, and a
// language the dubbing does not have 404 language_not_found (docs/simulators.md §22).
func (s *Server) getDubbingTranscript(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format_type")
	if format == "" {
		format = "srt"
	}
	if e := enumParam(r.URL.Query(), "format_type", "srt", "webvtt", "json"); e != nil {
		writeValidation(w, *e)
		return
	}
	d, ok := s.requestedDubbing(w, r)
	if !ok {
		return
	}
	lang := r.PathValue("language_code")
	if lang != "source" && !slices.Contains(d.TargetLangs, lang) {
		writeDetail(w, http.StatusNotFound, "language_not_found", "Language "+lang+" is not a language of dubbing "+d.ID+".")
		return
	}
	switch s.status(d) {
	case "dubbing":
		writeDetail(w, http.StatusTooEarly, "dubbing_not_ready", "Dubbing is not ready yet. Please try again later.")
		return
	case "failed":
		writeDetail(w, http.StatusTooEarly, "dubbing_failed", "Dubbing failed, no transcript is available.")
		return
	}
	language := lang
	if lang == "source" {
		language = d.SourceLang
		if language == "auto" {
			language = "en" // GAP: the simulator "detects" English
		}
	}
	utts := transcript(d.Seconds, language)
	switch format {
	case "json":
		writeJSON(w, http.StatusOK, map[string]any{"language": language, "utterances": utts})
	case "webvtt":
		writeText(w, "text/vtt; charset=utf-8", subtitles(utts, true))
	default:
		writeText(w, "text/plain; charset=utf-8", subtitles(utts, false))
	}
}

// transcript cuts seconds of media into utterances of transcriptSegmentSeconds.
func transcript(seconds float64, language string) []transcriptUtterance {
	utts := []transcriptUtterance{}
	for i, start := 0, 0.0; start < seconds || i == 0; i, start = i+1, start+transcriptSegmentSeconds {
		end := round3(min(start+transcriptSegmentSeconds, max(seconds, 0.001)))
		text := fmt.Sprintf("Segment %d in %s.", i+1, language)
		words := strings.Fields(text)
		u := transcriptUtterance{Text: text, SpeakerID: "speaker_0", StartS: round3(start), EndS: end, Words: []transcriptWord{}}
		step := (end - start) / float64(len(words))
		for j, word := range words {
			ws := round3(start + float64(j)*step)
			we := round3(start + float64(j+1)*step)
			chars := []transcriptCharacter{}
			for k, c := range word {
				cs := ws + float64(k)*(we-ws)/float64(len(word))
				chars = append(chars, transcriptCharacter{Text: string(c), StartS: round3(cs), EndS: round3(cs + (we-ws)/float64(len(word)))})
			}
			u.Words = append(u.Words, transcriptWord{Text: word, WordType: "word", StartS: ws, EndS: we, Characters: chars})
		}
		utts = append(utts, u)
	}
	return utts
}

// subtitles writes utterances as SRT, or as WebVTT when vtt.
func subtitles(utts []transcriptUtterance, vtt bool) string {
	var b strings.Builder
	sep := ","
	if vtt {
		b.WriteString("WEBVTT\n\n")
		sep = "."
	}
	for i, u := range utts {
		fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", i+1, subtitleTime(u.StartS, sep), subtitleTime(u.EndS, sep), u.Text)
	}
	return b.String()
}

// subtitleTime writes seconds as HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (WebVTT).
func subtitleTime(seconds float64, sep string) string {
	ms := int64(seconds*1000 + 0.5)
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}

// writeText writes a whole text answer.
func writeText(w http.ResponseWriter, contentType, text string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(text)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(text))
}
