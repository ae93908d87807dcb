package heygen

import (
	"math"
	"net/http"
	"slices"
	"time"
)

// Video translation: POST /v2/video_translate, GET /v2/video_translate/{id},
// GET /v2/video_translate/target_languages and the v3 /v3/video-translations family
// (docs/simulators.md §13). Both versions create jobs through newTranslation; a v3 request
// for several languages makes one job per language.

// translationSourceSeconds — GAP: the simulator does not download source URLs; a URL
// source is taken as a 20 s video (docs/simulators.md §13).
const translationSourceSeconds = 20.0

// translationJob is what a create request asks for, in either version.
type translationJob struct {
	SourceURL, SourceVideoID, Title, CallbackID, CallbackURL string
	AudioOnly                                                bool
}

// newTranslation checks the language and the source and stores a job translating into lang.
func (s *Server) newTranslation(c *call, api int, job translationJob, lang string) (*translation, error) {
	if !slices.Contains(s.cat.languages, lang) {
		return nil, invalidParam("output_language", "unsupported output language %q; see the languages endpoint", lang)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dur := translationSourceSeconds
	if job.SourceVideoID != "" {
		v := c.acct.videos[job.SourceVideoID]
		if v == nil {
			return nil, videoNotFound(c.style)
		}
		dur = v.Duration
	}
	t := &translation{
		ID: s.ids.Hex(32), Key: c.key, API: api, Title: job.Title, SourceURL: job.SourceURL, Language: lang,
		InputLang: "English", CallbackID: job.CallbackID, CallbackURL: job.CallbackURL, AudioOnly: job.AudioOnly,
		Fail:     failTrigger.MatchString(job.Title) || failTrigger.MatchString(job.SourceURL),
		Duration: dur, CreatedAt: time.Now(), Base: c.base,
	}
	if t.Title == "" {
		t.Title = "Translated video (" + lang + ")"
	}
	c.acct.creditsUsed += 3 * math.Ceil(dur/60) // 3 credits per minute, fast mode [HG-limits]
	c.acct.translations[t.ID] = t
	c.acct.transOrder = append(c.acct.transOrder, t.ID)
	s.translations[t.ID] = t
	return t, nil
}

// findTranslation returns the key's translation, advanced, or the 404 of the route's version.
func (s *Server) findTranslation(c *call, id string) (*translation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := c.acct.translations[id]
	if t == nil {
		if c.style == styleV3 {
			return nil, notFound("resource_not_found", "Video translation not found")
		}
		return nil, notFound("video_translate_not_found", "Video translation not found")
	}
	s.advanceTranslation(t)
	return t, nil
}

// translationLanguages serves the target-language list of either version, in its envelope:
// the same names both ways [HG-vt, HG-v3-vt].
func (s *Server) translationLanguages(ok func(http.ResponseWriter, any)) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		ok(w, map[string]any{"languages": s.cat.languages})
		return nil
	}
}

// ---- v2 ----

type translateRequest struct {
	VideoURL           string `json:"video_url"`
	VideoID            string `json:"video_id"`
	OutputLanguage     string `json:"output_language"`
	Title              string `json:"title"`
	TranslateAudioOnly bool   `json:"translate_audio_only"`
	CallbackID         string `json:"callback_id"`
	CallbackURL        string `json:"callback_url"`
}

func (req *translateRequest) validate() error {
	if req.VideoURL == "" && req.VideoID == "" {
		return invalidParam("video_url", "video_url is required")
	}
	if req.OutputLanguage == "" {
		return invalidParam("output_language", "output_language is required")
	}
	return nil
}

// v2Translate translates a video (by URL or by id) into one language.
func (s *Server) v2Translate(w http.ResponseWriter, r *http.Request, c *call) error {
	var req translateRequest
	if err := decodeValid(w, r, &req); err != nil {
		return err
	}
	t, err := s.newTranslation(c, 2, translationJob{
		SourceURL: req.VideoURL, SourceVideoID: req.VideoID, Title: req.Title,
		CallbackID: req.CallbackID, CallbackURL: req.CallbackURL, AudioOnly: req.TranslateAudioOnly,
	}, req.OutputLanguage)
	if err != nil {
		return err
	}
	okV2(w, map[string]any{"video_translate_id": t.ID})
	return nil
}

// v2TranslationStatus uses the v2 vocabulary pending|running|success|failed [HG-vt].
func (s *Server) v2TranslationStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.findTranslation(c, r.PathValue("video_translate_id"))
	if err != nil {
		return err
	}
	st := s.translationStatus(t)
	var u, msg any
	switch st {
	case "success":
		u = s.videoURL(c.base, t.ID)
		if t.AudioOnly {
			u = mediaURL(c.base, "audio", t.ID+".mp3")
		}
	case "failed":
		msg = translationFailMsg
	}
	okV2(w, map[string]any{
		"video_translate_id": t.ID, "title": t.Title, "status": st, "url": u, "message": msg,
		"output_language": t.Language, "callback_id": nullable(t.CallbackID),
	})
	return nil
}

// ---- v3 ----

type v3TranslateRequest struct {
	Video              *assetInput `json:"video"`
	OutputLanguages    []string    `json:"output_languages"`
	Title              string      `json:"title"`
	TranslateAudioOnly bool        `json:"translate_audio_only"`
	CallbackURL        string      `json:"callback_url"`
	CallbackID         string      `json:"callback_id"`
}

// validate checks the source's form; translations take only url or asset_id sources.
func (req *v3TranslateRequest) validate() error {
	if req.Video == nil || (req.Video.Type != "url" && req.Video.Type != "asset_id") {
		return invalidParam("video", "video must be {type: url|asset_id, ...}")
	}
	return nil
}

// v3CreateTranslation makes one job per output language, all or none.
func (s *Server) v3CreateTranslation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req v3TranslateRequest
	if err := decodeValid(w, r, &req); err != nil {
		return err
	}
	s.mu.Lock()
	src, err := s.resolveAsset(c, req.Video, "video")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if len(req.OutputLanguages) == 0 {
		return invalidParam("output_languages", "output_languages is required")
	}
	for _, l := range req.OutputLanguages {
		if !slices.Contains(s.cat.languages, l) {
			return invalidParam("output_languages", "unsupported output language %q", l)
		}
	}
	job := translationJob{SourceURL: src, Title: req.Title, CallbackID: req.CallbackID,
		CallbackURL: req.CallbackURL, AudioOnly: req.TranslateAudioOnly}
	ids := []string{}
	for _, l := range req.OutputLanguages {
		t, err := s.newTranslation(c, 3, job, l)
		if err != nil {
			return err
		}
		ids = append(ids, t.ID)
	}
	okV3(w, map[string]any{"video_translation_ids": ids})
	return nil
}

// v3GetTranslation reports success as "completed", the v3 vocabulary being
// pending|running|completed|failed [HG-v3-vt].
func (s *Server) v3GetTranslation(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.findTranslation(c, r.PathValue("video_translation_id"))
	if err != nil {
		return err
	}
	okV3(w, s.v3TranslationJSON(c.base, t))
	return nil
}

// v3TranslationJSON is the v3 translation detail, also the item of GET /v3/video-translations.
func (s *Server) v3TranslationJSON(base string, t *translation) map[string]any {
	st := s.translationStatus(t)
	m := map[string]any{
		"id": t.ID, "status": st, "title": t.Title, "input_language": t.InputLang, "output_language": t.Language,
		"duration": nil, "created_at": t.CreatedAt.Unix(), "callback_id": nullable(t.CallbackID),
		"translate_audio_only": t.AudioOnly, "video_url": nil, "audio_url": nil,
		"srt_caption_url": nil, "vtt_caption_url": nil, "failure_message": nil,
	}
	switch st {
	case "success":
		m["status"] = "completed"
		m["duration"] = t.Duration
		if !t.AudioOnly {
			m["video_url"] = s.videoURL(base, t.ID)
		}
		m["audio_url"] = mediaURL(base, "audio", t.ID+".mp3")
		m["srt_caption_url"] = mediaURL(base, "captions", t.ID+".srt")
		m["vtt_caption_url"] = mediaURL(base, "captions", t.ID+".vtt")
	case "failed":
		m["failure_message"] = translationFailMsg
	}
	return m
}
