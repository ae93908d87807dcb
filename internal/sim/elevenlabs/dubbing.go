package elevenlabs

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// dubbing is one dubbing project. Its status is derived from the clock when read, so no
// goroutine drives it.
type dubbing struct {
	ID          string
	Name        string
	SourceLang  string
	TargetLangs []string
	ContentType string
	Seconds     float64 // media duration
	Created     time.Time
	Processing  time.Duration // simulated time until dubbed or failed
	Fail        bool
}

// dubbingBase is how long (simulated) every dubbing takes, plus dubbingPerMediaSecond for
// each second of media. The official quickstart polls every 5 s [EL-dub].
const (
	dubbingBase           = 5 * time.Second
	dubbingPerMediaSecond = 50 * time.Millisecond
)

// dubbingView is the OpenAPI DubbingMetadataResponse.
type dubbingView struct {
	DubbingID       string         `json:"dubbing_id"`
	Name            string         `json:"name"`
	Status          string         `json:"status"`
	SourceLanguage  string         `json:"source_language"`
	TargetLanguages []string       `json:"target_languages"`
	Editable        bool           `json:"editable"`
	CreatedAt       string         `json:"created_at"`
	MediaMetadata   map[string]any `json:"media_metadata"`
	Error           *string        `json:"error"`
}

func (s *Server) status(d *dubbing) string {
	switch {
	case s.clock.Elapsed(d.Created) < d.Processing:
		return "dubbing"
	case d.Fail:
		return "failed"
	}
	return "dubbed"
}

func (s *Server) view(d *dubbing) dubbingView {
	v := dubbingView{
		DubbingID: d.ID, Name: d.Name, Status: s.status(d), SourceLanguage: d.SourceLang,
		TargetLanguages: d.TargetLangs, CreatedAt: d.Created.UTC().Format(time.RFC3339Nano),
		MediaMetadata: map[string]any{"content_type": d.ContentType, "duration": round3(d.Seconds)},
	}
	if v.Status == "failed" {
		msg := "Dubbing failed: the source media could not be processed."
		v.Error = &msg
	}
	return v
}

func (a *account) dubbing(id string) (*dubbing, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := slices.IndexFunc(a.dubbings, func(d *dubbing) bool { return d.ID == id })
	if i < 0 {
		return nil, false
	}
	return a.dubbings[i], true
}

func writeDubbingNotFound(w http.ResponseWriter, id string) {
	writeDetail(w, http.StatusNotFound, "dubbing_not_found", "A dubbing with the dubbing_id "+id+" was not found.")
}

// GAP: dubbing pricing is not in the sources; the simulator charges 1000 credits per minute
// of media per target language, rounded up (docs/simulators.md §22).
const dubbingCreditsPerMinute = 1000

// createDubbing serves POST /v1/dubbing [EL-oas, EL-dub]. A file (or source_url) and
// target_lang are required. GAP: the schema makes every field optional; the simulator answers
// 422 when they are missing (docs/simulators.md §22). A file name or source_url containing
// "fail" makes the dubbing end "failed".
func (s *Server) createDubbing(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	f, ok := requestForm(w, r)
	if !ok {
		return
	}
	files := f.files["file"]
	sourceURL := f.value("source_url")
	var errs []fieldError
	if len(files) == 0 && sourceURL == "" {
		errs = append(errs, fieldError{Loc: []any{"body", "file"}, Msg: "Value error, either file or source_url must be provided", Type: "value_error"})
	}
	if f.value("target_lang") == "" {
		errs = append(errs, missing("body", "target_lang"))
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	d := &dubbing{
		ID: a.rand.Alnum(20), Name: f.value("name"), SourceLang: f.value("source_lang"),
		TargetLangs: strings.Split(f.value("target_lang"), ","), Created: s.clock.Now(),
		ContentType: "audio/mpeg", Seconds: 60, // a source_url is not fetched: assume a minute
		Fail: strings.Contains(strings.ToLower(sourceURL), "fail"),
	}
	if d.SourceLang == "" {
		d.SourceLang = "auto"
	}
	if len(files) > 0 {
		u := files[0]
		d.ContentType, d.Seconds = u.MimeType, u.duration()
		d.Fail = d.Fail || strings.Contains(strings.ToLower(u.FileName), "fail")
		if d.Name == "" {
			d.Name = u.FileName
		}
	}
	if s, err := strconv.ParseFloat(f.value("end_time"), 64); err == nil && s > 0 && s < d.Seconds {
		d.Seconds = s
	}
	if s, err := strconv.ParseFloat(f.value("start_time"), 64); err == nil && s > 0 && s < d.Seconds {
		d.Seconds -= s
	}
	d.Processing = dubbingBase + time.Duration(d.Seconds*float64(dubbingPerMediaSecond))
	cost := int(math.Ceil(d.Seconds/60*dubbingCreditsPerMinute)) * len(d.TargetLangs)
	if _, _, ok := s.charge(w, a, cost); !ok {
		return
	}
	a.mu.Lock()
	a.dubbings = append(a.dubbings, d)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"dubbing_id": d.ID, "expected_duration_sec": round3(d.Processing.Seconds())})
}

// requestedDubbing finds the key's dubbing named by {dubbing_id}, answering 404 when there
// is none.
func (s *Server) requestedDubbing(w http.ResponseWriter, r *http.Request) (*dubbing, bool) {
	return requested(w, r, "dubbing_id", s.accountOf(r).dubbing, writeDubbingNotFound)
}

func (s *Server) getDubbing(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.requestedDubbing(w, r); ok {
		writeJSON(w, http.StatusOK, s.view(d))
	}
}

// listDubbings serves GET /v1/dubbing: newest first; cursor is an offset.
func (s *Server) listDubbings(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	q := r.URL.Query()
	size, ferr := intParam(q.Get("page_size"), "page_size", 100, 1, 200)
	if ferr != nil {
		writeValidation(w, *ferr)
		return
	}
	a.mu.Lock()
	all := slices.Clone(a.dubbings)
	a.mu.Unlock()
	slices.Reverse(all)
	views := []dubbingView{}
	for _, d := range all {
		if v := s.view(d); q.Get("dubbing_status") == "" || v.Status == q.Get("dubbing_status") {
			views = append(views, v)
		}
	}
	start, end, next := offsetPage(q.Get("cursor"), size, len(views))
	writeJSON(w, http.StatusOK, map[string]any{"dubs": views[start:end], "next_cursor": next, "has_more": next != nil})
}

// getDubbedAudio serves GET /v1/dubbing/{id}/audio/{language_code}: 425 until dubbed [EL-oas].
// GAP: a failed dubbing also answers 425 (its audio never becomes ready), and a language the
// dubbing does not target answers 404 language_not_found. Video sources are answered with
// audio/mpeg too (docs/simulators.md §22).
func (s *Server) getDubbedAudio(w http.ResponseWriter, r *http.Request) {
	d, ok := s.requestedDubbing(w, r)
	if !ok {
		return
	}
	if lang := r.PathValue("language_code"); !slices.Contains(d.TargetLangs, lang) {
		writeDetail(w, http.StatusNotFound, "language_not_found", "Language "+lang+" is not a target language of dubbing "+d.ID+".")
		return
	}
	switch s.status(d) {
	case "dubbing":
		writeDetail(w, http.StatusTooEarly, "dubbing_not_ready", "Dubbing is not ready yet. Please try again later.")
		return
	case "failed":
		writeDetail(w, http.StatusTooEarly, "dubbing_failed", "Dubbing failed, no dubbed audio is available.")
		return
	}
	writeAudio(w, media.MP3(d.Seconds))
}

func (s *Server) deleteDubbing(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("dubbing_id")
	if !removeFrom(a, &a.dubbings, func(d *dubbing) bool { return d.ID == id }) {
		writeDubbingNotFound(w, id)
		return
	}
	writeStatusOK(w)
}
