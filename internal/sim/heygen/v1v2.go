package heygen

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- catalog reads ----

func (s *Server) v2ListTemplates(w http.ResponseWriter, r *http.Request, c *call) {
	out := []map[string]any{}
	for _, t := range s.cat.templates {
		out = append(out, map[string]any{
			"template_id": t.ID, "name": t.Name, "aspect_ratio": t.AspectRatio,
			"thumbnail_image_url": mediaURL(c.base, "images", "template_"+t.ID+".png"),
		})
	}
	okV2(w, map[string]any{"templates": out})
}

func (s *Server) v2GetTemplate(w http.ResponseWriter, r *http.Request, c *call) {
	t := s.cat.templateByID[r.PathValue("template_id")]
	if t == nil {
		s.writeError(w, c.style, notFound("template_not_found", "Template not found"))
		return
	}
	okV2(w, map[string]any{"variables": t.Variables})
}

func (s *Server) avatarJSON(base string, a *avatar) map[string]any {
	return map[string]any{
		"avatar_id": a.ID, "avatar_name": a.Name, "gender": a.Gender,
		"preview_image_url": mediaURL(base, "images", a.ID+".png"),
		"preview_video_url": mediaURL(base, "previews", a.ID+".mp4"),
		"premium":           a.Premium, "type": nil, "tags": a.Tags, "default_voice_id": a.DefaultVoiceID,
	}
}

// GAP: the full item field list of GET /v2/avatars (upstream-v1v2 §3 item 5); the first five
// are documented, premium/type/tags/default_voice_id come from the details endpoint.
func (s *Server) v2ListAvatars(w http.ResponseWriter, r *http.Request, c *call) {
	avatars := make([]map[string]any, 0, len(s.cat.avatars))
	for _, a := range s.cat.avatars {
		avatars = append(avatars, s.avatarJSON(c.base, a))
	}
	photos := []map[string]any{}
	for _, tp := range s.talkingPhotos(c) {
		photos = append(photos, map[string]any{
			"talking_photo_id": tp.id, "talking_photo_name": tp.name, "preview_image_url": tp.image,
		})
	}
	okV2(w, map[string]any{"avatars": avatars, "talking_photos": photos})
}

func (s *Server) v2AvatarDetails(w http.ResponseWriter, r *http.Request, c *call) {
	a := s.cat.avatarByID[r.PathValue("avatar_id")]
	if a == nil {
		s.writeError(w, c.style, notFound("avatar_not_found", "Avatar not found"))
		return
	}
	okV2(w, map[string]any{
		"type": "avatar", "id": a.ID, "name": a.Name, "gender": a.Gender,
		"preview_image_url": mediaURL(c.base, "images", a.ID+".png"),
		"preview_video_url": mediaURL(c.base, "previews", a.ID+".mp4"),
		"premium":           a.Premium, "is_public": true, "default_voice_id": a.DefaultVoiceID, "tags": a.Tags,
	})
}

// GAP: GET /v2/voices item fields beyond the HeyGen skill's list (upstream-v1v2 §3 item 5).
func (s *Server) v2ListVoices(w http.ResponseWriter, r *http.Request, c *call) {
	out := make([]map[string]any, 0, len(s.cat.voices))
	for _, v := range s.cat.voices {
		out = append(out, map[string]any{
			"voice_id": v.ID, "language": v.Language, "gender": v.Gender, "name": v.Name,
			"preview_audio": mediaURL(c.base, "audio", v.ID+".mp3"), "support_pause": v.SupportPause,
			"emotion_support": v.Emotion, "support_interactive_avatar": false, "support_locale": false,
		})
	}
	okV2(w, map[string]any{"voices": out})
}

type talkingPhotoItem struct{ id, name, image string }

// talkingPhotos lists the public talking photos and the key's finished photo avatars.
func (s *Server) talkingPhotos(c *call) []talkingPhotoItem {
	var out []talkingPhotoItem
	for _, tp := range s.cat.talkingPhotos {
		out = append(out, talkingPhotoItem{tp.ID, tp.Name, mediaURL(c.base, "images", tp.ID+".png")})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range c.acct.avatarOrder {
		p := c.acct.avatars[id]
		if done, failed := s.avatarDone(p); done && !failed {
			out = append(out, talkingPhotoItem{p.ID, p.Name, p.ImageURL})
		}
	}
	return out
}

func (s *Server) v1ListTalkingPhotos(w http.ResponseWriter, r *http.Request, c *call) {
	out := []map[string]any{}
	for _, tp := range s.talkingPhotos(c) {
		out = append(out, map[string]any{"id": tp.id, "image_url": tp.image, "circle_image": tp.image})
	}
	okV1(w, out)
}

func (s *Server) v2RemainingQuota(w http.ResponseWriter, r *http.Request, c *call) {
	s.mu.Lock()
	quota := int(c.acct.remainingCredits(c.exhausted) * 60) // quota ÷ 60 = credits [HG-quota]
	s.mu.Unlock()
	okV2(w, map[string]any{"remaining_quota": quota, "details": map[string]any{"api": quota}})
}

// ---- videos ----

type dimension struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

type v2GenerateRequest struct {
	VideoInputs []struct {
		Character *struct {
			Type           string `json:"type"`
			AvatarID       string `json:"avatar_id"`
			TalkingPhotoID string `json:"talking_photo_id"`
		} `json:"character"`
		Voice *struct {
			Type         string `json:"type"`
			InputText    string `json:"input_text"`
			VoiceID      string `json:"voice_id"`
			AudioURL     string `json:"audio_url"`
			AudioAssetID string `json:"audio_asset_id"`
		} `json:"voice"`
		Background *struct {
			Type         string `json:"type"`
			Value        string `json:"value"`
			URL          string `json:"url"`
			ImageAssetID string `json:"image_asset_id"`
			VideoAssetID string `json:"video_asset_id"`
		} `json:"background"`
	} `json:"video_inputs"`
	Caption     bool       `json:"caption"`
	Title       string     `json:"title"`
	CallbackID  string     `json:"callback_id"`
	CallbackURL string     `json:"callback_url"`
	FolderID    string     `json:"folder_id"`
	Dimension   *dimension `json:"dimension"`
	Test        bool       `json:"test"`
}

// GAP: the bodies of v2 validation errors are not documented (upstream-v1v2 §1.2: "bodies not
// retrievable"); we answer 400 in the observed v2 object form with code invalid_parameter.
func (s *Server) v2GenerateVideo(w http.ResponseWriter, r *http.Request, c *call) {
	var req v2GenerateRequest
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if len(req.VideoInputs) == 0 {
		s.writeError(w, c.style, invalidParam("video_inputs", "video_inputs is required and must contain 1 to 50 scenes"))
		return
	}
	if len(req.VideoInputs) > 50 {
		s.writeError(w, c.style, invalidParam("video_inputs", "video_inputs must contain at most 50 scenes"))
		return
	}
	dim, e := checkDimension(req.Dimension, 1280, 720)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	var dur float64
	var script strings.Builder
	for i, in := range req.VideoInputs {
		if in.Character == nil {
			s.writeError(w, c.style, invalidParam("character", "video_inputs[%d].character is required", i))
			return
		}
		switch in.Character.Type {
		case "avatar":
			if s.cat.avatarByID[in.Character.AvatarID] == nil {
				// Observed: 400 with the v2 object form for an unusable avatar [HG-iss-postiz].
				s.writeError(w, c.style, apiError{Status: 400, Legacy: 400175, Code: "avatar_not_found",
					Message: fmt.Sprintf("Avatar %q not found or not available to this account", in.Character.AvatarID)})
				return
			}
		case "talking_photo":
			if !s.hasTalkingPhoto(c, in.Character.TalkingPhotoID) {
				s.writeError(w, c.style, apiError{Status: 400, Legacy: 400175, Code: "talking_photo_not_found",
					Message: fmt.Sprintf("Talking photo %q not found", in.Character.TalkingPhotoID)})
				return
			}
		default:
			s.writeError(w, c.style, invalidParam("character.type", "video_inputs[%d].character.type must be avatar or talking_photo", i))
			return
		}
		if in.Voice == nil {
			s.writeError(w, c.style, invalidParam("voice", "video_inputs[%d].voice is required", i))
			return
		}
		switch in.Voice.Type {
		case "text":
			if strings.TrimSpace(in.Voice.InputText) == "" {
				s.writeError(w, c.style, invalidParam("input_text", "video_inputs[%d].voice.input_text is required", i))
				return
			}
			if len([]rune(in.Voice.InputText)) >= 5000 { // text < 5000 chars [HG-limits]
				s.writeError(w, c.style, invalidParam("input_text", "video_inputs[%d].voice.input_text must be shorter than 5000 characters", i))
				return
			}
			if s.cat.voiceByID[in.Voice.VoiceID] == nil {
				s.writeError(w, c.style, apiError{Status: 400, Legacy: 400175, Code: "voice_not_found",
					Message: fmt.Sprintf("Voice %q not found", in.Voice.VoiceID)})
				return
			}
			dur += scriptDuration(in.Voice.InputText)
			script.WriteString(in.Voice.InputText + "\n")
		case "audio":
			if in.Voice.AudioURL == "" && in.Voice.AudioAssetID == "" {
				s.writeError(w, c.style, invalidParam("voice", "either audio_url or audio_asset_id must be provided"))
				return
			}
			dur += 5 // GAP: the simulator does not read the audio; 5 s per audio scene
		case "silence":
			dur += 1
		default:
			s.writeError(w, c.style, invalidParam("voice.type", "video_inputs[%d].voice.type must be text, audio or silence", i))
			return
		}
		if bg := in.Background; bg != nil {
			switch bg.Type {
			case "color":
				if !isHexColor(bg.Value) {
					s.writeError(w, c.style, invalidParam("background.value", "background value must be a hex color such as #FFFFFF"))
					return
				}
			case "image":
				if bg.URL == "" && bg.ImageAssetID == "" {
					s.writeError(w, c.style, invalidParam("background", "either url or image_asset_id must be provided"))
					return
				}
			case "video":
				if bg.URL == "" && bg.VideoAssetID == "" {
					s.writeError(w, c.style, invalidParam("background", "either url or video_asset_id must be provided"))
					return
				}
			}
		}
	}
	v := &video{
		API: 2, Title: req.Title, CallbackID: req.CallbackID, CallbackURL: req.CallbackURL,
		FolderID: req.FolderID, Test: req.Test, Caption: req.Caption,
		Width: dim.Width, Height: dim.Height, Duration: dur, OutputFormat: "mp4",
	}
	s.addVideo(c, v, script.String())
	okV2(w, map[string]any{"video_id": v.ID})
}

func (s *Server) hasTalkingPhoto(c *call, id string) bool {
	for _, tp := range s.talkingPhotos(c) {
		if tp.id == id {
			return true
		}
	}
	return false
}

func isHexColor(v string) bool {
	if len(v) != 7 || v[0] != '#' {
		return false
	}
	_, err := strconv.ParseUint(v[1:], 16, 32)
	return err == nil
}

// checkDimension applies the documented 128–4096 range [HG-limits].
func checkDimension(d *dimension, defW, defH int) (dimension, *apiError) {
	if d == nil || (d.Width == 0 && d.Height == 0) {
		return dimension{defW, defH}, nil
	}
	if d.Width < 128 || d.Width > 4096 || d.Height < 128 || d.Height > 4096 {
		e := invalidParam("dimension", "dimension width and height must be between 128 and 4096")
		return dimension{}, &e
	}
	return *d, nil
}

// addVideo assigns an id, applies the failure trigger, charges credits and stores v.
func (s *Server) addVideo(c *call, v *video, script string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.ID, v.Key, v.Base, v.CreatedAt = s.ids.Hex(32), c.key, c.base, time.Now()
	if v.Title == "" {
		v.Title = "Untitled Video"
	}
	if failTrigger.MatchString(script) {
		v.Fail = true
		// Failure object shape {code, detail, message} [HG-status]; 40039 is the documented
		// INVALID_TEXT_INPUT code [HG-errors]. GAP: which code upstream uses for this case.
		v.failCode, v.failV3Code = "40039", "rendering_failed"
		v.failMsg = "Video rendering failed"
		v.failDetail = "Simulated failure: the script contains the trigger word FAIL."
	}
	if !v.Test {
		// 2 credits per minute in 30 s increments [HG-limits].
		c.acct.creditsUsed += math.Ceil(v.Duration / 30)
	}
	c.acct.videos[v.ID] = v
	c.acct.videoOrder = append(c.acct.videoOrder, v.ID)
	s.videos[v.ID] = v
}

// findVideo returns the key's video and advances it (lazy progress on reads).
func (s *Server) findVideo(c *call, id string) *video {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := c.acct.videos[id]
	if v != nil {
		s.advanceVideo(v)
	}
	return v
}

type v1StatusData struct {
	CallbackID      any    `json:"callback_id"`
	CaptionURL      any    `json:"caption_url"`
	CreatedAt       int64  `json:"created_at"`
	Duration        any    `json:"duration"`
	Error           any    `json:"error"`
	GifURL          any    `json:"gif_url"`
	ID              string `json:"id"`
	Status          string `json:"status"`
	ThumbnailURL    any    `json:"thumbnail_url"`
	VideoURL        any    `json:"video_url"`
	VideoURLCaption any    `json:"video_url_caption"`
}

// v1VideoStatus: everything but id, status and created_at is null until the video is done
// [HG-status]; a failed render is HTTP 200 with status "failed" and an error object.
func (s *Server) v1VideoStatus(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.URL.Query().Get("video_id")
	if id == "" {
		s.writeError(w, c.style, apiError{Status: 400, Legacy: 40001, Code: "missing_params", Message: "Missing required parameter: video_id"})
		return
	}
	v := s.findVideo(c, id)
	if v == nil {
		// 404 "video doesn't exist or you don't have access" [HG-status-snap].
		s.writeError(w, c.style, notFound("video_not_found", "Video not found or you don't have access to it"))
		return
	}
	st := s.videoStatus(v)
	d := v1StatusData{ID: v.ID, Status: st, CreatedAt: v.CreatedAt.Unix()}
	switch st {
	case "completed":
		d.CallbackID = nullable(v.CallbackID)
		d.Duration = v.Duration
		d.VideoURL = s.videoURL(c.base, v.ID)
		d.ThumbnailURL = mediaURL(c.base, "images", v.ID+".png")
		d.GifURL = mediaURL(c.base, "gifs", v.ID+".gif")
		if v.Caption {
			d.CaptionURL = mediaURL(c.base, "captions", v.ID+".ass")
			d.VideoURLCaption = s.videoURL(c.base, v.ID)
		}
	case "failed":
		d.CallbackID = nullable(v.CallbackID)
		d.Error = map[string]any{"code": v.failCode, "detail": v.failDetail, "message": v.failMsg}
	}
	okV1(w, d)
}

// v1Status maps the lifecycle onto the list vocabulary completed|processing|failed [HG-vlist].
func (s *Server) v1ListStatus(v *video) string {
	switch st := s.videoStatus(v); st {
	case "completed", "failed":
		return st
	}
	return "processing"
}

func (s *Server) v1ListVideos(w http.ResponseWriter, r *http.Request, c *call) {
	type item struct {
		VideoID    string `json:"video_id"`
		VideoTitle string `json:"video_title"`
		Status     string `json:"status"`
		CreatedAt  int64  `json:"created_at"`
		Type       string `json:"type"`
	}
	var items []item
	s.mu.Lock()
	for i := len(c.acct.videoOrder) - 1; i >= 0; i-- {
		if v := c.acct.videos[c.acct.videoOrder[i]]; v != nil {
			items = append(items, item{v.ID, v.Title, s.v1ListStatus(v), v.CreatedAt.Unix(), "GENERATED"})
		}
	}
	for i := len(c.acct.transOrder) - 1; i >= 0; i-- {
		if t := c.acct.translations[c.acct.transOrder[i]]; t != nil {
			st := map[string]string{"success": "completed", "failed": "failed"}[s.translationStatus(t)]
			if st == "" {
				st = "processing"
			}
			items = append(items, item{t.ID, t.Title, st, t.CreatedAt.Unix(), "TRANSLATED"})
		}
	}
	s.mu.Unlock()
	// limit 0–100 [HG-vlist]; 0 or absent means the maximum.
	q := r.URL.Query()
	if q.Get("limit") == "0" {
		q.Del("limit")
		r.URL.RawQuery = q.Encode()
	}
	p, e := paginate(r, items, 100, 100)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if p.Items == nil {
		p.Items = []item{}
	}
	okV1(w, map[string]any{"token": p.Next, "videos": p.Items})
}

// GAP: the body of DELETE /v1/video.delete (upstream-v1v2 §3 item 3); we answer the code
// envelope with data null.
func (s *Server) v1DeleteVideo(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.URL.Query().Get("video_id")
	if id == "" {
		s.writeError(w, c.style, apiError{Status: 400, Legacy: 40001, Code: "missing_params", Message: "Missing required parameter: video_id"})
		return
	}
	s.mu.Lock()
	found := false
	if r.URL.Query().Get("type") == "video_translate" {
		if _, found = c.acct.translations[id]; found {
			delete(c.acct.translations, id)
			delete(s.translations, id)
		}
	} else if _, found = c.acct.videos[id]; found {
		delete(c.acct.videos, id)
		delete(s.videos, id)
	}
	s.mu.Unlock()
	if !found {
		s.writeError(w, c.style, notFound("video_not_found", "Video not found or you don't have access to it"))
		return
	}
	okV1(w, nil)
}

// ---- templates ----

type templateRequest struct {
	Variables   map[string]templateVar `json:"variables"`
	Title       string                 `json:"title"`
	Caption     bool                   `json:"caption"`
	CallbackID  string                 `json:"callback_id"`
	CallbackURL string                 `json:"callback_url"`
	FolderID    string                 `json:"folder_id"`
	Dimension   *dimension             `json:"dimension"`
	Test        bool                   `json:"test"`
}

// templateVideo validates a template generate request and builds the video.
func (s *Server) templateVideo(t *template, req *templateRequest) (*video, string, *apiError) {
	if len(req.Variables) == 0 {
		e := invalidParam("variables", "variables is required")
		return nil, "", &e
	}
	var script strings.Builder
	for name, v := range req.Variables {
		def, ok := t.Variables[name]
		if !ok {
			e := invalidParam("variables", "variable %q is not defined in template %s", name, t.ID)
			return nil, "", &e
		}
		if v.Type != "" && v.Type != def.Type {
			e := invalidParam("variables", "variable %q must have type %q", name, def.Type)
			return nil, "", &e
		}
		if def.Type == "text" {
			content, _ := v.Properties["content"].(string)
			script.WriteString(content + "\n")
		}
	}
	for _, sc := range t.Scenes {
		script.WriteString(sc.Script + "\n")
	}
	defW, defH := 1280, 720
	if t.AspectRatio == "portrait" {
		defW, defH = 720, 1280
	}
	dim, e := checkDimension(req.Dimension, defW, defH)
	if e != nil {
		return nil, "", e
	}
	if (dim.Width >= dim.Height) != (defW >= defH) {
		e := invalidParam("dimension", "dimension must match the template's aspect ratio (%s)", t.AspectRatio)
		return nil, "", &e
	}
	v := &video{
		Title: req.Title, CallbackID: req.CallbackID, CallbackURL: req.CallbackURL, FolderID: req.FolderID,
		Test: req.Test, Caption: req.Caption, Width: dim.Width, Height: dim.Height,
		Duration: scriptDuration(script.String()), OutputFormat: "mp4", TemplateID: t.ID,
	}
	if v.Title == "" {
		v.Title = t.Name
	}
	return v, script.String(), nil
}

func (s *Server) v2GenerateTemplate(w http.ResponseWriter, r *http.Request, c *call) {
	t := s.cat.templateByID[r.PathValue("template_id")]
	if t == nil {
		s.writeError(w, c.style, notFound("template_not_found", "Template not found"))
		return
	}
	var req templateRequest
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	v, script, e := s.templateVideo(t, &req)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	v.API = 2
	s.addVideo(c, v, script)
	okV2(w, map[string]any{"video_id": v.ID})
}

// ---- translation ----

func (s *Server) v2TranslateLanguages(w http.ResponseWriter, r *http.Request, c *call) {
	okV2(w, map[string]any{"languages": s.cat.languages})
}

type translateRequest struct {
	VideoURL           string `json:"video_url"`
	VideoID            string `json:"video_id"`
	OutputLanguage     string `json:"output_language"`
	Title              string `json:"title"`
	TranslateAudioOnly bool   `json:"translate_audio_only"`
	CallbackID         string `json:"callback_id"`
	CallbackURL        string `json:"callback_url"`
}

// newTranslation checks the source and language and stores the job. Caller validated shape.
func (s *Server) newTranslation(c *call, api int, srcURL, srcVideoID, lang, title string, audioOnly bool, cbID, cbURL string) (*translation, *apiError) {
	if !slices.Contains(s.cat.languages, lang) {
		e := invalidParam("output_language", "unsupported output language %q; see the languages endpoint", lang)
		return nil, &e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// GAP: the simulator does not download source URLs; a URL source is taken as a 20 s video.
	dur := 20.0
	if srcVideoID != "" {
		v := c.acct.videos[srcVideoID]
		if v == nil {
			e := notFound("video_not_found", "Video not found or you don't have access to it")
			return nil, &e
		}
		dur = v.Duration
	}
	t := &translation{
		ID: s.ids.Hex(32), Key: c.key, API: api, Title: title, SourceURL: srcURL, Language: lang,
		InputLang: "English", CallbackID: cbID, CallbackURL: cbURL, AudioOnly: audioOnly,
		Fail:     failTrigger.MatchString(title) || failTrigger.MatchString(srcURL),
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

func (s *Server) v2Translate(w http.ResponseWriter, r *http.Request, c *call) {
	var req translateRequest
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if req.VideoURL == "" && req.VideoID == "" {
		s.writeError(w, c.style, invalidParam("video_url", "video_url is required"))
		return
	}
	if req.OutputLanguage == "" {
		s.writeError(w, c.style, invalidParam("output_language", "output_language is required"))
		return
	}
	t, e := s.newTranslation(c, 2, req.VideoURL, req.VideoID, req.OutputLanguage, req.Title, req.TranslateAudioOnly, req.CallbackID, req.CallbackURL)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV2(w, map[string]any{"video_translate_id": t.ID})
}

func (s *Server) findTranslation(c *call, id string) *translation {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := c.acct.translations[id]
	if t != nil {
		s.advanceTranslation(t)
	}
	return t
}

func (s *Server) v2TranslationStatus(w http.ResponseWriter, r *http.Request, c *call) {
	t := s.findTranslation(c, r.PathValue("video_translate_id"))
	if t == nil {
		s.writeError(w, c.style, notFound("video_translate_not_found", "Video translation not found"))
		return
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
}

// ---- assets (upload host) ----

// uploadTypes are the Content-Types upload.heygen.com/v1/asset accepts [HG-upload].
var uploadTypes = map[string]struct{ fileType, ext string }{
	"image/png": {"image", "png"}, "image/jpeg": {"image", "jpg"}, "video/mp4": {"video", "mp4"},
	"video/webm": {"video", "webm"}, "audio/mpeg": {"audio", "mp3"},
}

// maxUploadBytes — GAP: the upload host's own size limit is undocumented (upstream-v1v2
// §1.5); we use the 100 MB video resource limit.
const maxUploadBytes = 100 << 20

func (s *Server) storeAsset(c *call, name, fileType, mimeType, ext string, data []byte) *asset {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &asset{ID: s.ids.Hex(32), Key: c.key, FileType: fileType, MIME: mimeType, Ext: ext, Data: data, CreatedAt: time.Now()}
	a.Name = name
	if a.Name == "" {
		a.Name = a.ID // data.name equals the id in the upload example [HG-upload]
	}
	c.acct.assets[a.ID] = a
	c.acct.assetOrder = append(c.acct.assetOrder, a.ID)
	s.assets[a.ID] = a
	return a
}

func (s *Server) v1UploadAsset(w http.ResponseWriter, r *http.Request, c *call) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	kind, ok := uploadTypes[mt]
	if !ok {
		s.writeError(w, c.style, invalidParam("Content-Type", "Unsupported Content-Type %q: use image/png, image/jpeg, video/mp4, video/webm or audio/mpeg", mt))
		return
	}
	// The body may arrive chunked, without Content-Length; read it to the end.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUploadBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, c.style, apiError{Status: 413, Legacy: 400413, Code: "payload_too_large", Message: "File is too large"})
			return
		}
		s.writeError(w, c.style, invalidParam("body", "could not read the upload body"))
		return
	}
	if len(data) == 0 {
		s.writeError(w, c.style, invalidParam("body", "the request body must contain the file bytes"))
		return
	}
	a := s.storeAsset(c, "", kind.fileType, mt, kind.ext, data)
	var imageKey any
	if kind.fileType == "image" {
		imageKey = "image/" + a.ID + "/original"
	}
	okUpload(w, map[string]any{
		"id": a.ID, "name": a.Name, "file_type": a.FileType, "folder_id": "", "meta": nil,
		"created_ts": a.CreatedAt.Unix(), "url": mediaURL(c.base, "assets", a.ID+"."+a.Ext), "image_key": imageKey,
	})
}

// v1ListAssets answers in the error/data envelope, as documented for this route [HG-assets].
func (s *Server) v1ListAssets(w http.ResponseWriter, r *http.Request, c *call) {
	ft := r.URL.Query().Get("file_type")
	var items []map[string]any
	s.mu.Lock()
	for i := len(c.acct.assetOrder) - 1; i >= 0; i-- {
		a := c.acct.assets[c.acct.assetOrder[i]]
		if a == nil || (ft != "" && a.FileType != ft) {
			continue
		}
		items = append(items, map[string]any{
			"id": a.ID, "name": a.Name, "file_type": a.FileType, "folder_id": a.FolderID,
			"created_ts": a.CreatedAt.Unix(), "url": mediaURL(c.base, "assets", a.ID+"."+a.Ext),
		})
	}
	s.mu.Unlock()
	q := r.URL.Query()
	if q.Get("limit") == "0" {
		q.Del("limit")
		r.URL.RawQuery = q.Encode()
	}
	p, e := paginate(r, items, 100, 100)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if p.Items == nil {
		p.Items = []map[string]any{}
	}
	okV2(w, map[string]any{"assets": p.Items, "total": len(items), "token": p.Next})
}

// ---- photo avatars ----

func (s *Server) photoAvatarJSON(p *privateAvatar) map[string]any {
	status := "pending"
	if done, failed := s.avatarDone(p); done {
		status = "completed"
		if failed {
			status = "failed"
		}
	}
	return map[string]any{
		"id": p.ID, "image_url": p.ImageURL, "created_at": float64(p.CreatedAt.UnixMilli()) / 1000,
		"name": p.Name, "status": status, "group_id": p.GroupID, "is_motion": false, "business_type": "uploaded",
	}
}

func (s *Server) v2CreatePhotoAvatar(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		ImageKey     string `json:"image_key"`
		Name         string `json:"name"`
		GenerationID string `json:"generation_id"`
	}
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if req.Name == "" {
		s.writeError(w, c.style, invalidParam("name", "name is required"))
		return
	}
	if req.ImageKey == "" && req.GenerationID == "" {
		s.writeError(w, c.style, invalidParam("image_key", "image_key is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	imageURL := ""
	if req.ImageKey != "" {
		id := strings.TrimSuffix(strings.TrimPrefix(req.ImageKey, "image/"), "/original")
		a := c.acct.assets[id]
		if a == nil || a.FileType != "image" {
			s.writeError(w, c.style, invalidParam("image_key", "image_key %q does not refer to an uploaded image", req.ImageKey))
			return
		}
		imageURL = mediaURL(c.base, "assets", a.ID+"."+a.Ext)
	}
	p := s.addPrivateAvatar(c, "", req.Name, "photo_avatar", imageURL)
	p.ImageKey = req.ImageKey
	c.acct.creditsUsed += 4 // photo_avatar/train: 4 credits per call [HG-limits]
	okV2(w, s.photoAvatarJSON(p))
}

// addPrivateAvatar creates a look (and a group unless groupID names one). Caller holds s.mu.
func (s *Server) addPrivateAvatar(c *call, groupID, name, kind, imageURL string) *privateAvatar {
	g := c.acct.groups[groupID]
	if g == nil {
		g = &privateGroup{ID: s.ids.Hex(32), Name: name, CreatedAt: time.Now()}
		c.acct.groups[g.ID] = g
		c.acct.groupOrder = append(c.acct.groupOrder, g.ID)
	}
	p := &privateAvatar{ID: s.ids.Hex(32), GroupID: g.ID, Name: name, Kind: kind, ImageURL: imageURL,
		Fail: failTrigger.MatchString(name), CreatedAt: time.Now()}
	if p.ImageURL == "" {
		p.ImageURL = mediaURL(c.base, "images", p.ID+".png")
	}
	g.Looks = append(g.Looks, p.ID)
	c.acct.avatars[p.ID] = p
	c.acct.avatarOrder = append(c.acct.avatarOrder, p.ID)
	return p
}

func (s *Server) v2PhotoAvatar(w http.ResponseWriter, r *http.Request, c *call) {
	s.mu.Lock()
	p := c.acct.avatars[r.PathValue("photo_avatar_id")]
	s.mu.Unlock()
	if p == nil {
		s.writeError(w, c.style, notFound("photo_avatar_not_found", "Photo avatar not found"))
		return
	}
	okV2(w, s.photoAvatarJSON(p))
}

// ---- webhooks (v1) ----

type webhookRequest struct {
	URL      string   `json:"url"`
	Events   []string `json:"events"`
	EntityID string   `json:"entity_id"`
}

func (req *webhookRequest) validate() *apiError {
	u, err := url.Parse(req.URL)
	if req.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e := invalidParam("url", "url must be an absolute http(s) URL")
		return &e
	}
	for _, ev := range req.Events {
		if !slices.Contains(webhookEvents, ev) {
			e := invalidParam("events", "unknown event type %q", ev)
			return &e
		}
	}
	return nil
}

// addEndpoint stores a webhook endpoint. GAP: upstream probes the URL with OPTIONS (1 s
// timeout) before accepting it [HG-wh-add]; the simulator does not, so demos can register
// URLs that are not up yet.
func (s *Server) addEndpoint(c *call, req *webhookRequest) *endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	// GAP: secret format; v3 secrets look like whsec_… [HG-v3-wh].
	ep := &endpoint{ID: s.ids.Hex(32), URL: req.URL, Secret: "whsec_" + s.ids.Alnum(32),
		Events: req.Events, EntityID: req.EntityID, CreatedAt: time.Now()}
	c.acct.hooks[ep.ID] = ep
	c.acct.hookOrder = append(c.acct.hookOrder, ep.ID)
	return ep
}

func (s *Server) v1EndpointJSON(c *call, ep *endpoint) map[string]any {
	var events any // null = all events [HG-wh-list]
	if len(ep.Events) > 0 {
		events = ep.Events
	}
	return map[string]any{
		"endpoint_id": ep.ID, "url": ep.URL, "secret": ep.Secret, "status": "enabled", "events": events,
		"username": c.acct.username, "created_at": ep.CreatedAt.UTC().Format("2006-01-02T15:04:05"),
		"entity_id": nullable(ep.EntityID),
	}
}

// GAP: the envelope of POST /v1/webhook/endpoint.add (upstream-v1v2 §3 item 3); the code
// envelope, as for the list endpoint.
func (s *Server) v1AddWebhook(w http.ResponseWriter, r *http.Request, c *call) {
	var req webhookRequest
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if e := req.validate(); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV1(w, s.v1EndpointJSON(c, s.addEndpoint(c, &req)))
}

func (s *Server) v1ListWebhooks(w http.ResponseWriter, r *http.Request, c *call) {
	s.mu.Lock()
	out := []map[string]any{}
	for _, id := range c.acct.hookOrder {
		if ep := c.acct.hooks[id]; ep != nil {
			out = append(out, s.v1EndpointJSON(c, ep))
		}
	}
	s.mu.Unlock()
	okV1(w, out)
}

func (s *Server) removeEndpoint(c *call, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.acct.hooks[id] == nil {
		return false
	}
	delete(c.acct.hooks, id)
	c.acct.hookOrder = slices.DeleteFunc(c.acct.hookOrder, func(x string) bool { return x == id })
	return true
}

// GAP: the body of DELETE /v1/webhook/endpoint.delete (upstream-v1v2 §3 item 3).
func (s *Server) v1DeleteWebhook(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.URL.Query().Get("endpoint_id")
	if id == "" {
		s.writeError(w, c.style, apiError{Status: 400, Legacy: 40001, Code: "missing_params", Message: "Missing required parameter: endpoint_id"})
		return
	}
	if !s.removeEndpoint(c, id) {
		s.writeError(w, c.style, apiError{Status: 404, Legacy: 400175, Code: "not_found", Message: "Webhook endpoint not found"})
		return
	}
	okV1(w, nil)
}

func (s *Server) v1WebhookEvents(w http.ResponseWriter, r *http.Request, c *call) {
	okUpload(w, legacyWebhookEvents) // this route also carries "msg": null [HG-wh]
}
