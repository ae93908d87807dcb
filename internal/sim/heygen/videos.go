package heygen

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Videos: POST /v2/video/generate, GET /v1/video_status.get, GET /v1/video.list,
// DELETE /v1/video.delete and the v3 /v3/videos family (docs/simulators.md §8). Both
// versions share one store, so a video made through v2 can be read through v3.

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
		// INVALID_TEXT_INPUT code [HG-errors]. GAP: which code upstream uses for this case
		// (docs/simulators.md §8).
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

// findVideo returns the key's video, advanced (progress is lazy on reads), or the 404 of
// the route's version.
func (s *Server) findVideo(c *call, id string) (*video, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := c.acct.videos[id]
	if v == nil {
		return nil, videoNotFound(c.style)
	}
	s.advanceVideo(v)
	return v, nil
}

// videoNotFound: v1 says "video doesn't exist or you don't have access" [HG-status-snap].
func videoNotFound(st style) error {
	if st == styleV3 {
		return notFound("video_not_found", "Video not found")
	}
	return notFound("video_not_found", "Video not found or you don't have access to it")
}

// ---- v2 generate ----

type dimension struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

type v2Scene struct {
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
}

type v2GenerateRequest struct {
	VideoInputs []v2Scene  `json:"video_inputs"`
	Caption     bool       `json:"caption"`
	Title       string     `json:"title"`
	CallbackID  string     `json:"callback_id"`
	CallbackURL string     `json:"callback_url"`
	FolderID    string     `json:"folder_id"`
	Dimension   *dimension `json:"dimension"`
	Test        bool       `json:"test"`
}

// v2GenerateVideo serves POST /v2/video/generate. GAP: the bodies of v2 validation errors
// are not documented; they are 400 in the observed v2 object form with code
// invalid_parameter (docs/simulators.md §6).
func (s *Server) v2GenerateVideo(w http.ResponseWriter, r *http.Request, c *call) error {
	var req v2GenerateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.VideoInputs) == 0 {
		return invalidParam("video_inputs", "video_inputs is required and must contain 1 to 50 scenes")
	}
	if len(req.VideoInputs) > 50 {
		return invalidParam("video_inputs", "video_inputs must contain at most 50 scenes")
	}
	dim, err := checkDimension(req.Dimension, 1280, 720)
	if err != nil {
		return err
	}
	var dur float64
	var script strings.Builder
	for i := range req.VideoInputs {
		d, text, err := s.v2CheckScene(c, i, &req.VideoInputs[i])
		if err != nil {
			return err
		}
		dur += d
		script.WriteString(text)
	}
	v := &video{
		API: 2, Title: req.Title, CallbackID: req.CallbackID, CallbackURL: req.CallbackURL,
		FolderID: req.FolderID, Test: req.Test, Caption: req.Caption,
		Width: dim.Width, Height: dim.Height, Duration: dur, OutputFormat: "mp4",
	}
	s.addVideo(c, v, script.String())
	okV2(w, map[string]any{"video_id": v.ID})
	return nil
}

// v2CheckScene validates scene i and returns its duration and spoken text.
func (s *Server) v2CheckScene(c *call, i int, in *v2Scene) (float64, string, error) {
	if in.Character == nil {
		return 0, "", invalidParam("character", "video_inputs[%d].character is required", i)
	}
	switch in.Character.Type {
	case "avatar":
		if s.cat.avatarByID[in.Character.AvatarID] == nil {
			// Observed: 400 with the v2 object form for an unusable avatar [HG-iss-postiz].
			return 0, "", &apiError{Status: 400, Legacy: 400175, Code: "avatar_not_found",
				Message: fmt.Sprintf("Avatar %q not found or not available to this account", in.Character.AvatarID)}
		}
	case "talking_photo":
		if !s.hasTalkingPhoto(c, in.Character.TalkingPhotoID) {
			return 0, "", &apiError{Status: 400, Legacy: 400175, Code: "talking_photo_not_found",
				Message: fmt.Sprintf("Talking photo %q not found", in.Character.TalkingPhotoID)}
		}
	default:
		return 0, "", invalidParam("character.type", "video_inputs[%d].character.type must be avatar or talking_photo", i)
	}
	if in.Voice == nil {
		return 0, "", invalidParam("voice", "video_inputs[%d].voice is required", i)
	}
	var dur float64
	var text string
	switch in.Voice.Type {
	case "text":
		if strings.TrimSpace(in.Voice.InputText) == "" {
			return 0, "", invalidParam("input_text", "video_inputs[%d].voice.input_text is required", i)
		}
		if len([]rune(in.Voice.InputText)) >= 5000 { // text < 5000 chars [HG-limits]
			return 0, "", invalidParam("input_text", "video_inputs[%d].voice.input_text must be shorter than 5000 characters", i)
		}
		if s.cat.voiceByID[in.Voice.VoiceID] == nil {
			return 0, "", &apiError{Status: 400, Legacy: 400175, Code: "voice_not_found",
				Message: fmt.Sprintf("Voice %q not found", in.Voice.VoiceID)}
		}
		dur, text = scriptDuration(in.Voice.InputText), in.Voice.InputText+"\n"
	case "audio":
		if in.Voice.AudioURL == "" && in.Voice.AudioAssetID == "" {
			return 0, "", invalidParam("voice", "either audio_url or audio_asset_id must be provided")
		}
		dur = audioSceneSeconds
	case "silence":
		dur = 1
	default:
		return 0, "", invalidParam("voice.type", "video_inputs[%d].voice.type must be text, audio or silence", i)
	}
	if bg := in.Background; bg != nil {
		switch {
		case bg.Type == "color" && !isHexColor(bg.Value):
			return 0, "", invalidParam("background.value", "background value must be a hex color such as #FFFFFF")
		case bg.Type == "image" && bg.URL == "" && bg.ImageAssetID == "":
			return 0, "", invalidParam("background", "either url or image_asset_id must be provided")
		case bg.Type == "video" && bg.URL == "" && bg.VideoAssetID == "":
			return 0, "", invalidParam("background", "either url or video_asset_id must be provided")
		}
	}
	return dur, text, nil
}

// audioSceneSeconds — GAP: the simulator does not read audio; an audio-driven scene or
// video lasts 5 s (docs/simulators.md §8).
const audioSceneSeconds = 5

func isHexColor(v string) bool {
	if len(v) != 7 || v[0] != '#' {
		return false
	}
	_, err := strconv.ParseUint(v[1:], 16, 32)
	return err == nil
}

// checkDimension applies the documented 128–4096 range [HG-limits].
func checkDimension(d *dimension, defW, defH int) (dimension, error) {
	if d == nil || (d.Width == 0 && d.Height == 0) {
		return dimension{defW, defH}, nil
	}
	if d.Width < 128 || d.Width > 4096 || d.Height < 128 || d.Height > 4096 {
		return dimension{}, invalidParam("dimension", "dimension width and height must be between 128 and 4096")
	}
	return *d, nil
}

// ---- v1 status, list, delete ----

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
func (s *Server) v1VideoStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.URL.Query().Get("video_id")
	if id == "" {
		return missingParam("video_id")
	}
	v, err := s.findVideo(c, id)
	if err != nil {
		return err
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
	return nil
}

// v1ListStatus maps a job status onto the list vocabulary completed|processing|failed
// [HG-vlist].
func v1ListStatus(st string) string {
	switch st {
	case "completed", "success":
		return "completed"
	case "failed":
		return "failed"
	}
	return "processing"
}

// v1ListVideos lists the key's videos, then its translations, newest first.
func (s *Server) v1ListVideos(w http.ResponseWriter, r *http.Request, c *call) error {
	type item struct {
		VideoID    string `json:"video_id"`
		VideoTitle string `json:"video_title"`
		Status     string `json:"status"`
		CreatedAt  int64  `json:"created_at"`
		Type       string `json:"type"`
	}
	var items []item
	s.mu.Lock()
	for _, v := range newestFirst(c.acct.videoOrder, c.acct.videos) {
		items = append(items, item{v.ID, v.Title, v1ListStatus(s.videoStatus(v)), v.CreatedAt.Unix(), "GENERATED"})
	}
	for _, t := range newestFirst(c.acct.transOrder, c.acct.translations) {
		items = append(items, item{t.ID, t.Title, v1ListStatus(s.translationStatus(t)), t.CreatedAt.Unix(), "TRANSLATED"})
	}
	s.mu.Unlock()
	p, err := legacyPage(r, items)
	if err != nil {
		return err
	}
	okV1(w, map[string]any{"token": p.Next, "videos": p.Items})
	return nil
}

// v1DeleteVideo deletes a video, or a translation with type=video_translate. GAP: the
// response body is undocumented; the code envelope with data null (docs/simulators.md §8).
func (s *Server) v1DeleteVideo(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	id := q.Get("video_id")
	if id == "" {
		return missingParam("video_id")
	}
	deleted := false
	if q.Get("type") == "video_translate" {
		deleted = removeOwned(s, c.acct.translations, s.translations, id)
	} else {
		deleted = removeOwned(s, c.acct.videos, s.videos, id)
	}
	if !deleted {
		return videoNotFound(c.style)
	}
	okV1(w, nil)
	return nil
}

// ---- v3 ----

// v3VideoStatus: the v3 detail vocabulary is pending|processing|completed|failed;
// "waiting" only appears in the create response [HG-cli].
func (s *Server) v3VideoStatus(v *video) string {
	switch st := s.videoStatus(v); st {
	case "pending", "waiting":
		return "pending"
	default:
		return st
	}
}

// v3VideoJSON is the VideoDetail object. Caller holds s.mu.
func (s *Server) v3VideoJSON(base string, v *video) map[string]any {
	st := s.v3VideoStatus(v)
	m := map[string]any{
		"id": v.ID, "status": st, "title": v.Title, "created_at": v.CreatedAt.Unix(), "completed_at": nil,
		"video_url": nil, "thumbnail_url": nil, "gif_url": nil, "captioned_video_url": nil,
		"subtitle_url": nil, "duration": nil, "folder_id": nullable(v.FolderID),
		"video_page_url": "https://app.heygen.com/videos/" + v.ID,
	}
	switch st {
	case "completed":
		m["completed_at"] = s.doneAt(v.CreatedAt, v.total())
		m["video_url"] = s.videoURL(base, v.ID)
		m["thumbnail_url"] = mediaURL(base, "images", v.ID+".png")
		m["gif_url"] = mediaURL(base, "gifs", v.ID+".gif")
		m["subtitle_url"] = mediaURL(base, "captions", v.ID+".srt") // sidecar always returned
		if v.Caption {
			m["captioned_video_url"] = s.videoURL(base, v.ID)
		}
		m["duration"] = v.Duration
	case "failed":
		m["completed_at"] = s.doneAt(v.CreatedAt, v.total())
		// GAP: the failure_code vocabulary; only "rendering_failed" is documented
		// (docs/simulators.md §8).
		m["failure_code"] = v.failV3Code
		m["failure_message"] = v.failMsg + ": " + v.failDetail
	}
	return m
}

// v3VideoDetail is v3VideoJSON under the lock.
func (s *Server) v3VideoDetail(base string, v *video) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v3VideoJSON(base, v)
}

type v3VideoRequest struct {
	Type         string          `json:"type"`
	AvatarID     json.RawMessage `json:"avatar_id"`
	Image        *assetInput     `json:"image"`
	Script       string          `json:"script"`
	VoiceID      string          `json:"voice_id"`
	AudioURL     string          `json:"audio_url"`
	AudioAssetID string          `json:"audio_asset_id"`
	Prompt       string          `json:"prompt"`
	Duration     float64         `json:"duration"`
	Scenes       json.RawMessage `json:"scenes"`
	Resolution   string          `json:"resolution"`
	AspectRatio  string          `json:"aspect_ratio"`
	OutputFormat string          `json:"output_format"`
	Background   json.RawMessage `json:"background"`
	Caption      json.RawMessage `json:"caption"`
	Title        string          `json:"title"`
	CallbackURL  string          `json:"callback_url"`
	CallbackID   string          `json:"callback_id"`
	FolderID     string          `json:"folder_id"`
	// Test is not in the v3 schema; GAP: the simulator honours it for fast demos
	// (docs/simulators.md §8).
	Test bool `json:"test"`
}

var resolutions = map[string]int{"720p": 720, "1080p": 1080, "4k": 2160}

// frameSize turns resolution + aspect ratio into pixels (short side = resolution).
func frameSize(res, aspect string) (int, int) {
	short := resolutions[res]
	ratios := map[string][2]int{"16:9": {16, 9}, "auto": {16, 9}, "9:16": {9, 16}, "1:1": {1, 1}, "4:5": {4, 5}, "5:4": {5, 4}}
	rt := ratios[aspect]
	if rt[0] >= rt[1] {
		return short * rt[0] / rt[1] &^ 1, short
	}
	return short, short * rt[1] / rt[0] &^ 1
}

func (s *Server) v3CreateVideo(w http.ResponseWriter, r *http.Request, c *call) error {
	var req v3VideoRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	v, script, err := s.v3BuildVideo(c, &req)
	if err != nil {
		return err
	}
	s.addVideo(c, v, script)
	okV3(w, map[string]any{"video_id": v.ID, "status": "waiting", "output_format": v.OutputFormat})
	return nil
}

// v3BuildVideo validates a create request (a union on type) and builds the video.
func (s *Server) v3BuildVideo(c *call, req *v3VideoRequest) (*video, string, error) {
	if req.Resolution == "" {
		req.Resolution = "1080p"
	}
	if _, ok := resolutions[req.Resolution]; !ok {
		return nil, "", invalidParam("resolution", "resolution must be 4k, 1080p or 720p")
	}
	if req.AspectRatio == "" {
		req.AspectRatio = "16:9"
	}
	if !slices.Contains([]string{"16:9", "9:16", "4:5", "5:4", "1:1", "auto"}, req.AspectRatio) {
		return nil, "", invalidParam("aspect_ratio", "aspect_ratio must be one of 16:9, 9:16, 4:5, 5:4, 1:1, auto")
	}
	if req.OutputFormat == "" {
		req.OutputFormat = "mp4"
	}
	if req.OutputFormat != "mp4" && req.OutputFormat != "webm" {
		return nil, "", invalidParam("output_format", "output_format must be mp4 or webm")
	}
	if req.OutputFormat == "webm" && isSet(req.Background) {
		return nil, "", invalidParam("background", "background cannot be used with output_format webm")
	}
	var dur float64
	var script string
	var err error
	switch req.Type {
	case "avatar", "image":
		dur, script, err = s.v3Narration(c, req)
	case "cinematic_avatar":
		var ids []string
		if err := json.Unmarshal(req.AvatarID, &ids); err != nil || len(ids) < 1 || len(ids) > 3 {
			return nil, "", invalidParam("avatar_id", "avatar_id must be an array of 1 to 3 look ids")
		}
		if req.Prompt == "" {
			return nil, "", invalidParam("prompt", "prompt is required")
		}
		dur, script = 10, req.Prompt
		if req.Duration != 0 {
			if req.Duration < 4 || req.Duration > 15 {
				return nil, "", invalidParam("duration", "duration must be between 4 and 15")
			}
			dur = req.Duration
		}
	case "studio":
		var scenes []json.RawMessage
		if err := json.Unmarshal(req.Scenes, &scenes); err != nil || len(scenes) < 1 || len(scenes) > 50 {
			return nil, "", invalidParam("scenes", "scenes must contain 1 to 50 scenes")
		}
		// GAP: scene durations are not computed; 5 s per scene (docs/simulators.md §8).
		dur, script = 5*float64(len(scenes)), string(req.Scenes)
	default:
		return nil, "", invalidParam("type", "type must be one of avatar, image, cinematic_avatar, studio")
	}
	if err != nil {
		return nil, "", err
	}
	wd, ht := frameSize(req.Resolution, req.AspectRatio)
	v := &video{
		API: 3, Title: req.Title, CallbackID: req.CallbackID, CallbackURL: req.CallbackURL, FolderID: req.FolderID,
		Test: req.Test, Caption: isSet(req.Caption),
		Width: wd, Height: ht, Duration: dur, OutputFormat: req.OutputFormat,
	}
	return v, script, nil
}

// v3Narration checks the subject (avatar look or image) and the script or audio of an
// avatar or image video, and returns its duration and script.
func (s *Server) v3Narration(c *call, req *v3VideoRequest) (float64, string, error) {
	defaultVoice := ""
	if req.Type == "avatar" {
		var id string
		if err := json.Unmarshal(req.AvatarID, &id); err != nil || id == "" {
			return 0, "", invalidParam("avatar_id", "avatar_id is required")
		}
		if a := s.cat.avatarByID[id]; a != nil {
			defaultVoice = a.DefaultVoiceID
		} else if err := s.readyPrivateLook(c, id); err != nil {
			return 0, "", err
		}
	} else {
		s.mu.Lock()
		_, err := s.resolveAsset(c, req.Image, "image")
		s.mu.Unlock()
		if err != nil {
			return 0, "", err
		}
	}
	hasAudio := req.AudioURL != "" || req.AudioAssetID != ""
	switch {
	case req.Script != "" && hasAudio:
		return 0, "", invalidParam("script", "script and audio are mutually exclusive")
	case hasAudio:
		return audioSceneSeconds, "", nil
	case strings.TrimSpace(req.Script) == "":
		return 0, "", invalidParam("script", "script or audio_url/audio_asset_id is required")
	case len([]rune(req.Script)) > 5000:
		return 0, "", invalidParam("script", "script must be at most 5000 characters")
	}
	vid := req.VoiceID
	if vid == "" {
		vid = defaultVoice
	}
	if vid == "" {
		return 0, "", invalidParam("voice_id", "voice_id is required with script")
	}
	if s.cat.voiceByID[vid] == nil {
		return 0, "", notFound("voice_not_found", fmt.Sprintf("Voice %q not found", vid))
	}
	return scriptDuration(req.Script), req.Script, nil
}

// isSet reports whether an optional JSON field was given a non-null value.
func isSet(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func (s *Server) v3ListVideos(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	folder, title := q.Get("folder_id"), strings.ToLower(q.Get("title"))
	var items []map[string]any
	s.mu.Lock()
	for _, v := range newestFirst(c.acct.videoOrder, c.acct.videos) {
		if (folder != "" && v.FolderID != folder) || (title != "" && !strings.Contains(strings.ToLower(v.Title), title)) {
			continue
		}
		s.advanceVideo(v)
		items = append(items, s.v3VideoJSON(c.base, v))
	}
	s.mu.Unlock()
	return okV3Page(w, r, items, 10, 100)
}

func (s *Server) v3GetVideo(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.findVideo(c, r.PathValue("video_id"))
	if err != nil {
		return err
	}
	okV3(w, s.v3VideoDetail(c.base, v))
	return nil
}

func (s *Server) v3DeleteVideo(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("video_id")
	if !removeOwned(s, c.acct.videos, s.videos, id) {
		return videoNotFound(c.style)
	}
	okV3(w, map[string]any{"id": id, "deleted": true})
	return nil
}
