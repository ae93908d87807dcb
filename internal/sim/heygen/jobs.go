package heygen

import (
	"math"
	"regexp"
	"strings"
	"time"
)

// Job timings, in simulated time (divide by Options.Speed for real time). Upstream gives no
// figure beyond "typically 5–15 minutes" [HG-skill]; the simulator is faster on purpose so
// demos finish (docs/simulators.md §8, §10, §13):
//
//	test video:     pending 0–0.4 s, waiting 0.4–0.8 s, processing 0.8–2 s, then completed|failed
//	other videos:   pending 0–2 s,   waiting 2–4 s,     processing 4–10 s,  then completed|failed
//	translations:   pending 0–1 s, running 1–8 s, then success|failed (v3: completed|failed)
//	photo avatars / v3 looks: pending|processing 0–3 s, then completed|failed
const (
	testVideoTotal    = 2 * time.Second
	videoTotal        = 10 * time.Second
	translationTotal  = 8 * time.Second
	translationQueued = 1 * time.Second
	avatarTotal       = 3 * time.Second
)

// failTrigger makes a job fail: the word FAIL (upper case, as a whole word) in a video's
// script or template text variables, in a translation's title or source URL, or in a photo
// avatar's name.
var failTrigger = regexp.MustCompile(`\bFAIL\b`)

type video struct {
	ID, Key                                   string
	API                                       int // 2 (v2/template) or 3
	Title, CallbackID, CallbackURL, FolderID  string
	TemplateID                                string
	Test, Caption, Fail                       bool
	Width, Height                             int
	Duration                                  float64
	OutputFormat                              string
	CreatedAt                                 time.Time
	Base                                      string
	Notified                                  bool
	failCode, failDetail, failMsg, failV3Code string
}

func (v *video) total() time.Duration {
	if v.Test {
		return testVideoTotal
	}
	return videoTotal
}

// videoStatus is pending, waiting, processing, completed or failed [HG-createvideo, HG-status].
func (s *Server) videoStatus(v *video) string {
	el, total := s.clock.Elapsed(v.CreatedAt), v.total()
	switch {
	case el < total/5:
		return "pending"
	case el < total*2/5:
		return "waiting"
	case el < total:
		return "processing"
	case v.Fail:
		return "failed"
	}
	return "completed"
}

func (s *Server) doneAt(created time.Time, total time.Duration) int64 {
	return created.Add(s.clock.Scale(total)).Unix()
}

// advanceVideo sends the video's terminal webhook once. Caller holds s.mu.
func (s *Server) advanceVideo(v *video) {
	if !v.Notified {
		event, data := s.videoEvent(v)
		s.announce(&v.Notified, v.Key, event, data, v.CallbackURL)
	}
}

// videoEvent is the webhook for a finished video, or "" while it runs. The legacy failure
// payload uses `msg`, not `message` [HG-wh].
func (s *Server) videoEvent(v *video) (string, map[string]any) {
	data := map[string]any{"video_id": v.ID, "callback_id": nullable(v.CallbackID)}
	switch s.videoStatus(v) {
	case "completed":
		data["url"] = s.videoURL(v.Base, v.ID)
		return "avatar_video.success", data
	case "failed":
		data["msg"] = v.failMsg
		return "avatar_video.fail", data
	}
	return "", nil
}

// announce emits a job's terminal event, if it has one yet, and marks the job notified.
// Caller holds s.mu.
func (s *Server) announce(notified *bool, key, event string, data map[string]any, callbackURL string) {
	if event != "" {
		*notified = true
		s.emit(key, event, data, callbackURL)
	}
}

type translation struct {
	ID, Key                               string
	API                                   int
	Title, SourceURL, Language, InputLang string
	CallbackID, CallbackURL               string
	AudioOnly, Fail                       bool
	Duration                              float64
	CreatedAt                             time.Time
	Base                                  string
	Notified                              bool
}

// translationStatus uses the v2 vocabulary pending|running|success|failed [HG-vt].
func (s *Server) translationStatus(t *translation) string {
	el := s.clock.Elapsed(t.CreatedAt)
	switch {
	case el < translationQueued:
		return "pending"
	case el < translationTotal:
		return "running"
	case t.Fail:
		return "failed"
	}
	return "success"
}

const translationFailMsg = "Video translation failed: the source video could not be processed (simulated FAIL trigger)."

// advanceTranslation sends the translation's terminal webhook once. Caller holds s.mu.
func (s *Server) advanceTranslation(t *translation) {
	if !t.Notified {
		event, data := s.translationEvent(t)
		s.announce(&t.Notified, t.Key, event, data, t.CallbackURL)
	}
}

// translationEvent is the webhook for a finished translation, or "" while it runs [HG-wh].
func (s *Server) translationEvent(t *translation) (string, map[string]any) {
	data := map[string]any{"video_translate_id": t.ID, "callback_id": nullable(t.CallbackID), "output_language": t.Language}
	switch s.translationStatus(t) {
	case "success":
		data["url"] = s.videoURL(t.Base, t.ID)
		return "video_translate.success", data
	case "failed":
		data["message"] = translationFailMsg
		return "video_translate.fail", data
	}
	return "", nil
}

type privateGroup struct {
	ID, Name  string
	Consent   string // consent_status: "" (null), pending or approved (manage.go)
	CreatedAt time.Time
	Looks     []string
	Training  *photoTraining // POST /v2/photo_avatar/train (photo_train.go); nil: never trained
}

// privateAvatar is a photo avatar (v2: POST /v2/photo_avatar/avatar_group/create) or a v3
// look made with POST /v3/avatars. Its id doubles as talking_photo_id / avatar_id.
type privateAvatar struct {
	ID, GroupID, Name, Kind, ImageKey, ImageURL string
	Fail                                        bool
	CreatedAt                                   time.Time
}

// avatarDone reports whether a private avatar's training is over, and whether it failed.
func (s *Server) avatarDone(p *privateAvatar) (done, failed bool) {
	if s.clock.Elapsed(p.CreatedAt) < avatarTotal {
		return false, false
	}
	return true, p.Fail
}

// scriptDuration estimates spoken length: about 150 words per minute, at least one second.
func scriptDuration(text string) float64 {
	words := len(strings.Fields(text))
	return math.Max(1, math.Round(float64(words)/2.5*1000)/1000)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
