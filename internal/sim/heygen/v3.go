package heygen

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// ---- avatars: groups and looks [v3 spec §4.1] ----

func (s *Server) publicGroupJSON(base string, g *avatarGroup) map[string]any {
	first := s.cat.avatarByID[g.Looks[0]]
	return map[string]any{
		"id": g.ID, "name": g.Name, "created_at": g.CreatedAt, "looks_count": len(g.Looks),
		"gender": g.Gender, "default_voice_id": g.DefaultVoiceID,
		"preview_image_url": mediaURL(base, "images", first.ID+".png"),
		"preview_video_url": mediaURL(base, "previews", first.ID+".mp4"),
		"consent_status":    nil,
	}
}

// privateStatus maps training progress to processing|completed|failed. Caller holds s.mu.
func (s *Server) privateStatus(p *privateAvatar) string {
	switch done, failed := s.avatarDone(p); {
	case failed:
		return "failed"
	case done:
		return "completed"
	}
	return "processing"
}

// Caller holds s.mu.
func (s *Server) privateGroupJSON(c *call, g *privateGroup) map[string]any {
	status, img := "processing", ""
	if len(g.Looks) > 0 {
		p := c.acct.avatars[g.Looks[0]]
		status, img = s.privateStatus(p), p.ImageURL
	}
	m := map[string]any{
		"id": g.ID, "name": g.Name, "created_at": g.CreatedAt.Unix(), "looks_count": len(g.Looks),
		"gender": nil, "default_voice_id": nil, "preview_image_url": img, "preview_video_url": nil,
		"status": status, "consent_status": nil,
	}
	if status == "failed" {
		m["error"] = map[string]any{"code": "training_failed", "message": "Avatar training failed (simulated FAIL trigger in the name)."}
	}
	return m
}

func (s *Server) v3ListGroups(w http.ResponseWriter, r *http.Request, c *call) {
	own := r.URL.Query().Get("ownership")
	if own != "" && own != "public" && own != "private" {
		s.writeError(w, c.style, invalidParam("ownership", "ownership must be public or private"))
		return
	}
	var items []map[string]any
	if own != "public" {
		s.mu.Lock()
		for _, id := range c.acct.groupOrder {
			items = append(items, s.privateGroupJSON(c, c.acct.groups[id]))
		}
		s.mu.Unlock()
	}
	if own != "private" {
		for _, g := range s.cat.groups {
			items = append(items, s.publicGroupJSON(c.base, g))
		}
	}
	p, e := paginate(r, items, 20, 50)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3List(w, p)
}

func (s *Server) v3GetGroup(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("group_id")
	if g := s.cat.groupByID[id]; g != nil {
		okV3(w, s.publicGroupJSON(c.base, g))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := c.acct.groups[id]; g != nil {
		okV3(w, s.privateGroupJSON(c, g))
		return
	}
	s.writeError(w, c.style, notFound("avatar_not_found", "Avatar group not found"))
}

func (s *Server) publicLookJSON(base string, a *avatar) map[string]any {
	w, h := 1920, 1080
	if a.Orientation == "portrait" {
		w, h = 1080, 1920
	}
	engines := []string{"avatar_iv", "avatar_v"}
	if strings.Contains(a.ID, "expressive") {
		engines = append(engines, "avatar_iii")
	}
	return map[string]any{
		"id": a.ID, "name": a.Name, "avatar_type": "studio_avatar", "group_id": a.GroupID,
		"gender": a.Gender, "default_voice_id": a.DefaultVoiceID,
		"preview_image_url": mediaURL(base, "images", a.ID+".png"),
		"preview_video_url": mediaURL(base, "previews", a.ID+".mp4"),
		"image_width":       w, "image_height": h, "preferred_orientation": a.Orientation,
		"supported_api_engines": engines, "tags": a.Tags,
	}
}

// Caller holds s.mu.
func (s *Server) privateLookJSON(p *privateAvatar) map[string]any {
	m := map[string]any{
		"id": p.ID, "name": p.Name, "avatar_type": p.Kind, "group_id": p.GroupID, "gender": nil,
		"default_voice_id": nil, "preview_image_url": p.ImageURL, "preview_video_url": nil,
		"image_width": 1080, "image_height": 1920, "preferred_orientation": "portrait",
		"status": s.privateStatus(p), "supported_api_engines": []string{"avatar_iv", "avatar_v"}, "tags": []string{},
	}
	if m["status"] == "failed" {
		m["error"] = map[string]any{"code": "training_failed", "message": "Avatar training failed (simulated FAIL trigger in the name)."}
	}
	return m
}

func (s *Server) v3ListLooks(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	own, group, typ := q.Get("ownership"), q.Get("group_id"), q.Get("avatar_type")
	if own != "" && own != "public" && own != "private" {
		s.writeError(w, c.style, invalidParam("ownership", "ownership must be public or private"))
		return
	}
	var items []map[string]any
	if own != "public" {
		s.mu.Lock()
		for _, id := range c.acct.avatarOrder {
			p := c.acct.avatars[id]
			if (group == "" || p.GroupID == group) && (typ == "" || p.Kind == typ) {
				items = append(items, s.privateLookJSON(p))
			}
		}
		s.mu.Unlock()
	}
	if own != "private" && (typ == "" || typ == "studio_avatar") {
		for _, a := range s.cat.avatars {
			if group == "" || a.GroupID == group {
				items = append(items, s.publicLookJSON(c.base, a))
			}
		}
	}
	p, e := paginate(r, items, 20, 50)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3List(w, p)
}

func (s *Server) v3GetLook(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("look_id")
	if a := s.cat.avatarByID[id]; a != nil {
		okV3(w, s.publicLookJSON(c.base, a))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := c.acct.avatars[id]; p != nil {
		okV3(w, s.privateLookJSON(p))
		return
	}
	s.writeError(w, c.style, notFound("avatar_not_found", "Avatar look not found"))
}

// assetInput is the v3 file union: url | asset_id | base64 [v3 spec §3].
type assetInput struct {
	Type      string `json:"type"`
	URL       string `json:"url"`
	AssetID   string `json:"asset_id"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
}

// resolve checks the input and returns a URL for it. Caller holds s.mu.
func (s *Server) resolveAsset(c *call, in *assetInput, param string) (string, *apiError) {
	bad := func(format string, args ...any) (string, *apiError) {
		e := invalidParam(param, format, args...)
		return "", &e
	}
	if in == nil {
		return bad("%s is required", param)
	}
	switch in.Type {
	case "url":
		if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
			return bad("%s.url must be an http(s) URL", param)
		}
		return in.URL, nil
	case "asset_id":
		a := c.acct.assets[in.AssetID]
		if a == nil {
			return bad("asset %q not found", in.AssetID)
		}
		return mediaURL(c.base, "assets", a.ID+"."+a.Ext), nil
	case "base64":
		if in.MediaType == "" {
			return bad("%s.media_type is required", param)
		}
		if _, err := base64.StdEncoding.DecodeString(in.Data); err != nil || in.Data == "" {
			return bad("%s.data must be base64", param)
		}
		return "", nil
	}
	return bad("%s.type must be url, asset_id or base64", param)
}

func (s *Server) v3CreateAvatar(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		Type          string      `json:"type"`
		Name          string      `json:"name"`
		File          *assetInput `json:"file"`
		Prompt        string      `json:"prompt"`
		AvatarGroupID string      `json:"avatar_group_id"`
		AvatarID      string      `json:"avatar_id"`
	}
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	kind := map[string]string{"photo": "photo_avatar", "digital_twin": "digital_twin", "prompt": "photo_avatar"}[req.Type]
	if kind == "" {
		s.writeError(w, c.style, invalidParam("type", "type must be photo, digital_twin or prompt"))
		return
	}
	if req.Name == "" {
		s.writeError(w, c.style, invalidParam("name", "name is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	img := ""
	if req.Type == "prompt" {
		if req.Prompt == "" {
			s.writeError(w, c.style, invalidParam("prompt", "prompt is required"))
			return
		}
		if req.AvatarID != "" && s.cat.avatarByID[req.AvatarID] == nil && c.acct.avatars[req.AvatarID] == nil {
			s.writeError(w, c.style, notFound("avatar_not_found", "Avatar not found")) // [D-chg]
			return
		}
	} else {
		u, e := s.resolveAsset(c, req.File, "file")
		if e != nil {
			s.writeError(w, c.style, *e)
			return
		}
		if req.Type == "photo" {
			img = u
		}
	}
	if req.AvatarGroupID != "" && c.acct.groups[req.AvatarGroupID] == nil {
		if s.cat.groupByID[req.AvatarGroupID] != nil {
			s.writeError(w, c.style, invalidParam("avatar_group_id", "public avatar groups cannot be modified"))
		} else {
			s.writeError(w, c.style, notFound("avatar_not_found", "Avatar group not found"))
		}
		return
	}
	newGroup := c.acct.groups[req.AvatarGroupID] == nil
	p := s.addPrivateAvatar(c, req.AvatarGroupID, req.Name, kind, img)
	c.acct.creditsUsed += 4 // GAP: v3 avatar credit cost; pricing says $1 per call [D-lim]
	var group any
	if newGroup {
		group = s.privateGroupJSON(c, c.acct.groups[p.GroupID])
	}
	okV3(w, map[string]any{"avatar_group": group, "avatar_item": s.privateLookJSON(p)})
}

// ---- voices [v3 spec §4.2] ----

func (s *Server) v3ListVoices(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	typ := q.Get("type")
	if typ != "" && typ != "public" && typ != "private" {
		s.writeError(w, c.style, invalidParam("type", "type must be public or private"))
		return
	}
	var items []map[string]any
	if typ != "private" { // the simulator has no voice clones, so private lists are empty
		for _, v := range s.cat.voices {
			if (q.Get("engine") == "starfish" && !v.Starfish) ||
				(q.Get("language") != "" && !strings.EqualFold(q.Get("language"), v.Language)) ||
				(q.Get("gender") != "" && q.Get("gender") != v.Gender) {
				continue
			}
			items = append(items, map[string]any{
				"voice_id": v.ID, "name": v.Name, "language": v.Language, "gender": v.Gender, "type": "public",
				"preview_audio_url": mediaURL(c.base, "audio", v.ID+".mp3"), "support_pause": v.SupportPause,
				"support_locale": false,
			})
		}
	}
	p, e := paginate(r, items, 20, 100)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3List(w, p)
}

func (s *Server) v3GetVoice(w http.ResponseWriter, r *http.Request, c *call) {
	v := s.cat.voiceByID[r.PathValue("voice_id")]
	if v == nil {
		s.writeError(w, c.style, notFound("voice_not_found", "Voice not found"))
		return
	}
	okV3(w, map[string]any{
		"voice_id": v.ID, "support_pause": v.SupportPause, "name": v.Name, "language": v.Language,
		"gender": v.Gender, "preview_audio_url": mediaURL(c.base, "audio", v.ID+".mp3"),
		"support_interactive_avatar": false,
	})
}

func (s *Server) v3Speech(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		Text      string  `json:"text"`
		VoiceID   string  `json:"voice_id"`
		InputType string  `json:"input_type"`
		Speed     float64 `json:"speed"`
	}
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	n := len([]rune(req.Text))
	switch {
	case n == 0 || n > 5000:
		s.writeError(w, c.style, invalidParam("text", "text must be 1 to 5000 characters"))
		return
	case req.VoiceID == "":
		s.writeError(w, c.style, invalidParam("voice_id", "voice_id is required"))
		return
	case req.InputType != "" && req.InputType != "text" && req.InputType != "ssml":
		s.writeError(w, c.style, invalidParam("input_type", "input_type must be text or ssml"))
		return
	case req.Speed != 0 && (req.Speed < 0.5 || req.Speed > 2):
		s.writeError(w, c.style, invalidParam("speed", "speed must be between 0.5 and 2.0"))
		return
	}
	v := s.cat.voiceByID[req.VoiceID]
	if v == nil {
		s.writeError(w, c.style, notFound("voice_not_found", "Voice not found"))
		return
	}
	if !v.Starfish {
		// GAP: HTTP status of voice_not_usable [v3 spec §5.3]; 400 here.
		s.writeError(w, c.style, apiError{Status: 400, Code: "voice_not_usable", Param: "voice_id",
			Message: "This voice can't be used for speech; list voices with engine=starfish."})
		return
	}
	speed := req.Speed
	if speed == 0 {
		speed = 1
	}
	words := strings.Fields(req.Text)
	dur := math.Round(scriptDuration(req.Text)/speed*1000) / 1000
	stamps := make([]map[string]any, len(words))
	for i, wd := range words {
		step := dur / float64(len(words))
		stamps[i] = map[string]any{"word": wd, "start": math.Round(float64(i)*step*1000) / 1000, "end": math.Round(float64(i+1)*step*1000) / 1000}
	}
	s.mu.Lock()
	id := s.ids.Hex(32)
	s.speech[id] = dur
	s.mu.Unlock()
	okV3(w, map[string]any{
		"audio_url": mediaURL(c.base, "audio", id+".mp3"), "duration": dur, "request_id": id, "word_timestamps": stamps,
	})
}

// ---- videos [v3 spec §4.3] ----

// v3 detail status vocabulary is pending|processing|completed|failed; "waiting" only
// appears in the create response.
func (s *Server) v3VideoStatus(v *video) string {
	switch st := s.videoStatus(v); st {
	case "pending", "waiting":
		return "pending"
	default:
		return st
	}
}

// Caller holds s.mu.
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
		// GAP: failure_code vocabulary; only "rendering_failed" is documented.
		m["failure_code"] = v.failV3Code
		m["failure_message"] = v.failMsg + ": " + v.failDetail
	}
	return m
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
	// Test is not in the v3 schema; the simulator honours it for fast demos (GAP).
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

func (s *Server) v3CreateVideo(w http.ResponseWriter, r *http.Request, c *call) {
	var req v3VideoRequest
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	v, script, e := s.v3BuildVideo(c, &req)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	s.addVideo(c, v, script)
	okV3(w, map[string]any{"video_id": v.ID, "status": "waiting", "output_format": v.OutputFormat})
}

func (s *Server) v3BuildVideo(c *call, req *v3VideoRequest) (*video, string, *apiError) {
	fail := func(e apiError) (*video, string, *apiError) { return nil, "", &e }
	if req.Resolution == "" {
		req.Resolution = "1080p"
	}
	if _, ok := resolutions[req.Resolution]; !ok {
		return fail(invalidParam("resolution", "resolution must be 4k, 1080p or 720p"))
	}
	if req.AspectRatio == "" {
		req.AspectRatio = "16:9"
	}
	if !slices.Contains([]string{"16:9", "9:16", "4:5", "5:4", "1:1", "auto"}, req.AspectRatio) {
		return fail(invalidParam("aspect_ratio", "aspect_ratio must be one of 16:9, 9:16, 4:5, 5:4, 1:1, auto"))
	}
	if req.OutputFormat == "" {
		req.OutputFormat = "mp4"
	}
	if req.OutputFormat != "mp4" && req.OutputFormat != "webm" {
		return fail(invalidParam("output_format", "output_format must be mp4 or webm"))
	}
	if req.OutputFormat == "webm" && len(req.Background) > 0 && string(req.Background) != "null" {
		return fail(invalidParam("background", "background cannot be used with output_format webm"))
	}
	var dur float64
	var script string
	switch req.Type {
	case "avatar", "image":
		defaultVoice := ""
		if req.Type == "avatar" {
			var id string
			if err := json.Unmarshal(req.AvatarID, &id); err != nil || id == "" {
				return fail(invalidParam("avatar_id", "avatar_id is required"))
			}
			if a := s.cat.avatarByID[id]; a != nil {
				defaultVoice = a.DefaultVoiceID
			} else {
				s.mu.Lock()
				p := c.acct.avatars[id]
				st := ""
				if p != nil {
					st = s.privateStatus(p)
				}
				s.mu.Unlock()
				if p == nil {
					return fail(notFound("avatar_not_found", fmt.Sprintf("Avatar %q not found", id)))
				}
				if st != "completed" {
					return fail(invalidParam("avatar_id", "avatar %q is not ready (status %s)", id, st))
				}
			}
		} else {
			s.mu.Lock()
			_, e := s.resolveAsset(c, req.Image, "image")
			s.mu.Unlock()
			if e != nil {
				return nil, "", e
			}
		}
		hasAudio := req.AudioURL != "" || req.AudioAssetID != ""
		switch {
		case req.Script != "" && hasAudio:
			return fail(invalidParam("script", "script and audio are mutually exclusive"))
		case hasAudio:
			dur = 5 // GAP: the simulator does not read the audio
		case strings.TrimSpace(req.Script) == "":
			return fail(invalidParam("script", "script or audio_url/audio_asset_id is required"))
		case len([]rune(req.Script)) > 5000:
			return fail(invalidParam("script", "script must be at most 5000 characters"))
		default:
			vid := req.VoiceID
			if vid == "" {
				vid = defaultVoice
			}
			if vid == "" {
				return fail(invalidParam("voice_id", "voice_id is required with script"))
			}
			if s.cat.voiceByID[vid] == nil {
				return fail(notFound("voice_not_found", fmt.Sprintf("Voice %q not found", vid)))
			}
			dur, script = scriptDuration(req.Script), req.Script
		}
	case "cinematic_avatar":
		var ids []string
		if err := json.Unmarshal(req.AvatarID, &ids); err != nil || len(ids) < 1 || len(ids) > 3 {
			return fail(invalidParam("avatar_id", "avatar_id must be an array of 1 to 3 look ids"))
		}
		if req.Prompt == "" {
			return fail(invalidParam("prompt", "prompt is required"))
		}
		dur, script = 10, req.Prompt
		if req.Duration != 0 {
			if req.Duration < 4 || req.Duration > 15 {
				return fail(invalidParam("duration", "duration must be between 4 and 15"))
			}
			dur = req.Duration
		}
	case "studio":
		var scenes []json.RawMessage
		if err := json.Unmarshal(req.Scenes, &scenes); err != nil || len(scenes) < 1 || len(scenes) > 50 {
			return fail(invalidParam("scenes", "scenes must contain 1 to 50 scenes"))
		}
		// GAP: scene durations are not computed; 5 s per scene.
		dur, script = 5*float64(len(scenes)), string(req.Scenes)
	default:
		return fail(invalidParam("type", "type must be one of avatar, image, cinematic_avatar, studio"))
	}
	wd, ht := frameSize(req.Resolution, req.AspectRatio)
	v := &video{
		API: 3, Title: req.Title, CallbackID: req.CallbackID, CallbackURL: req.CallbackURL, FolderID: req.FolderID,
		Test: req.Test, Caption: len(req.Caption) > 0 && string(req.Caption) != "null",
		Width: wd, Height: ht, Duration: dur, OutputFormat: req.OutputFormat,
	}
	return v, script, nil
}

func (s *Server) v3ListVideos(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	var items []map[string]any
	s.mu.Lock()
	for i := len(c.acct.videoOrder) - 1; i >= 0; i-- {
		v := c.acct.videos[c.acct.videoOrder[i]]
		if v == nil || (q.Get("folder_id") != "" && v.FolderID != q.Get("folder_id")) ||
			(q.Get("title") != "" && !strings.Contains(strings.ToLower(v.Title), strings.ToLower(q.Get("title")))) {
			continue
		}
		s.advanceVideo(v)
		items = append(items, s.v3VideoJSON(c.base, v))
	}
	s.mu.Unlock()
	p, e := paginate(r, items, 10, 100)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3List(w, p)
}

func (s *Server) v3GetVideo(w http.ResponseWriter, r *http.Request, c *call) {
	v := s.findVideo(c, r.PathValue("video_id"))
	if v == nil {
		s.writeError(w, c.style, notFound("video_not_found", "Video not found"))
		return
	}
	s.mu.Lock()
	m := s.v3VideoJSON(c.base, v)
	s.mu.Unlock()
	okV3(w, m)
}

func (s *Server) v3DeleteVideo(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("video_id")
	s.mu.Lock()
	_, ok := c.acct.videos[id]
	delete(c.acct.videos, id)
	if ok {
		delete(s.videos, id)
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, c.style, notFound("video_not_found", "Video not found"))
		return
	}
	okV3(w, map[string]any{"id": id, "deleted": true})
}

// ---- assets [v3 spec §4.4] ----

// maxV3Asset is the POST /v3/assets limit, 32 MB [v3 spec §4.4].
const maxV3Asset = 32 << 20

// v3AssetTypes: png, jpeg, mp4, webm, mp3, wav, pdf, srt [CLI asset.go; D-assets].
var v3AssetTypes = map[string]struct{ kind, ext string }{
	"image/png": {"image", "png"}, "image/jpeg": {"image", "jpg"}, "video/mp4": {"video", "mp4"},
	"video/webm": {"video", "webm"}, "audio/mpeg": {"audio", "mp3"}, "audio/wav": {"audio", "wav"},
	"application/pdf": {"document", "pdf"}, "application/x-subrip": {"document", "srt"},
}

// sniffMIME detects the type from the bytes ("auto-detected from file bytes"), falling back
// to the file name for formats the sniffer does not know (MP3 without ID3, SRT).
func sniffMIME(data []byte, filename, partType string) string {
	mt := http.DetectContentType(data)
	mt, _, _ = mime.ParseMediaType(mt)
	switch mt {
	case "audio/wave":
		return "audio/wav"
	case "application/octet-stream", "text/plain":
		switch strings.ToLower(path.Ext(filename)) {
		case ".mp3":
			return "audio/mpeg"
		case ".srt":
			return "application/x-subrip"
		case ".wav":
			return "audio/wav"
		}
		if pt, _, _ := mime.ParseMediaType(partType); pt != "" && pt != "application/octet-stream" {
			return pt
		}
	}
	return mt
}

func (s *Server) v3UploadAsset(w http.ResponseWriter, r *http.Request, c *call) {
	limit := s.maxAssetBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		s.writeError(w, c.style, invalidParam("file", "the body must be multipart/form-data with a file part named file"))
		return
	}
	tooBig := apiError{Status: 413, Code: "payload_too_large", Param: "file", Message: "File exceeds the 32 MB upload limit; use direct uploads for larger files."}
	for {
		part, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.writeError(w, c.style, tooBig)
			} else {
				s.writeError(w, c.style, invalidParam("file", "file part is required"))
			}
			return
		}
		if part.FormName() != "file" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		var mbe *http.MaxBytesError
		if int64(len(data)) > limit || errors.As(err, &mbe) {
			// GAP: the oversize response; HeyGen's CLI maps 413 to payload_too_large.
			s.writeError(w, c.style, tooBig)
			return
		}
		if err != nil || len(data) == 0 {
			s.writeError(w, c.style, invalidParam("file", "file is empty or unreadable"))
			return
		}
		mt := sniffMIME(data, part.FileName(), part.Header.Get("Content-Type"))
		kind, ok := v3AssetTypes[mt]
		if !ok {
			s.writeError(w, c.style, invalidParam("file", "unsupported file type %q", mt))
			return
		}
		a := s.storeAsset(c, part.FileName(), kind.kind, mt, kind.ext, data)
		okV3(w, map[string]any{
			"asset_id": a.ID, "url": mediaURL(c.base, "assets", a.ID+"."+a.Ext), "mime_type": mt, "size_bytes": len(data),
		})
		return
	}
}

func (s *Server) v3GetAsset(w http.ResponseWriter, r *http.Request, c *call) {
	s.mu.Lock()
	a := c.acct.assets[r.PathValue("asset_id")]
	s.mu.Unlock()
	if a == nil {
		s.writeError(w, c.style, notFound("resource_not_found", "Asset not found"))
		return
	}
	okV3(w, map[string]any{
		"id": a.ID, "name": a.Name, "type": a.FileType, "owner": c.acct.username, "space_id": "space_" + c.acct.username,
		"uploaded_at": a.CreatedAt.Unix(), "folder_id": nullable(a.FolderID), "url": mediaURL(c.base, "assets", a.ID+"."+a.Ext),
	})
}

func (s *Server) v3DeleteAsset(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("asset_id")
	s.mu.Lock()
	_, ok := c.acct.assets[id]
	if ok {
		delete(c.acct.assets, id)
		delete(s.assets, id)
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, c.style, notFound("resource_not_found", "Asset not found"))
		return
	}
	okV3(w, map[string]any{"id": id})
}

// ---- templates [v3 spec §4.5] ----

func v3Aspect(a string) string {
	if a == "portrait" {
		return "9:16"
	}
	return "16:9"
}

func (s *Server) v3TemplateJSON(base string, t *template, detail bool) map[string]any {
	m := map[string]any{
		"id": t.ID, "name": t.Name, "aspect_ratio": v3Aspect(t.AspectRatio),
		"thumbnail_url": mediaURL(base, "images", "template_"+t.ID+".png"),
		"created_at":    t.CreatedAt, "updated_at": t.CreatedAt,
	}
	if detail {
		var ids []string
		var scenes []map[string]any
		for _, sc := range t.Scenes {
			ids = append(ids, sc.ID)
			var vars []map[string]any
			for _, n := range sc.Vars {
				vars = append(vars, map[string]any{"name": n, "variable_type": t.Variables[n].Type})
			}
			scenes = append(scenes, map[string]any{"scene_id": sc.ID, "script": sc.Script, "variables": vars})
		}
		// Defaults "in the same shape the generate request accepts" [CLI].
		m["scene_ids"], m["scenes"], m["variables"] = ids, scenes, t.Variables
	}
	return m
}

func (s *Server) v3ListTemplates(w http.ResponseWriter, r *http.Request, c *call) {
	var items []map[string]any
	for _, t := range s.cat.templates {
		items = append(items, s.v3TemplateJSON(c.base, t, false))
	}
	p, e := paginate(r, items, 10, 100)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3List(w, p)
}

func (s *Server) v3GetTemplate(w http.ResponseWriter, r *http.Request, c *call) {
	t := s.cat.templateByID[r.PathValue("template_id")]
	if t == nil {
		s.writeError(w, c.style, notFound("resource_not_found", "Template not found"))
		return
	}
	okV3(w, s.v3TemplateJSON(c.base, t, true))
}

func (s *Server) v3GenerateTemplate(w http.ResponseWriter, r *http.Request, c *call) {
	t := s.cat.templateByID[r.PathValue("template_id")]
	if t == nil {
		s.writeError(w, c.style, notFound("resource_not_found", "Template not found"))
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
	v.API = 3
	s.addVideo(c, v, script)
	s.mu.Lock()
	m := s.v3VideoJSON(c.base, v)
	s.mu.Unlock()
	okV3(w, m) // returns a VideoDetail [CLI]
}

// ---- video translation [v3 spec §4.6] ----

func (s *Server) v3CreateTranslation(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		Video              *assetInput `json:"video"`
		OutputLanguages    []string    `json:"output_languages"`
		Title              string      `json:"title"`
		TranslateAudioOnly bool        `json:"translate_audio_only"`
		CallbackURL        string      `json:"callback_url"`
		CallbackID         string      `json:"callback_id"`
	}
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if req.Video == nil || (req.Video.Type != "url" && req.Video.Type != "asset_id") {
		s.writeError(w, c.style, invalidParam("video", "video must be {type: url|asset_id, ...}"))
		return
	}
	s.mu.Lock()
	src, e := s.resolveAsset(c, req.Video, "video")
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if len(req.OutputLanguages) == 0 {
		s.writeError(w, c.style, invalidParam("output_languages", "output_languages is required"))
		return
	}
	for _, l := range req.OutputLanguages {
		if !slices.Contains(s.cat.languages, l) {
			s.writeError(w, c.style, invalidParam("output_languages", "unsupported output language %q", l))
			return
		}
	}
	ids := []string{}
	for _, l := range req.OutputLanguages {
		t, e := s.newTranslation(c, 3, src, "", l, req.Title, req.TranslateAudioOnly, req.CallbackID, req.CallbackURL)
		if e != nil {
			s.writeError(w, c.style, *e)
			return
		}
		ids = append(ids, t.ID)
	}
	okV3(w, map[string]any{"video_translation_ids": ids})
}

func (s *Server) v3TranslationLanguages(w http.ResponseWriter, r *http.Request, c *call) {
	okV3(w, map[string]any{"languages": s.cat.languages})
}

func (s *Server) v3GetTranslation(w http.ResponseWriter, r *http.Request, c *call) {
	t := s.findTranslation(c, r.PathValue("video_translation_id"))
	if t == nil {
		s.writeError(w, c.style, notFound("resource_not_found", "Video translation not found"))
		return
	}
	st := s.translationStatus(t)
	m := map[string]any{
		"id": t.ID, "status": st, "title": t.Title, "input_language": t.InputLang, "output_language": t.Language,
		"duration": nil, "created_at": t.CreatedAt.Unix(), "callback_id": nullable(t.CallbackID),
		"translate_audio_only": t.AudioOnly, "video_url": nil, "audio_url": nil,
		"srt_caption_url": nil, "vtt_caption_url": nil, "failure_message": nil,
	}
	switch st {
	case "success":
		m["status"] = "completed" // v3 vocabulary pending|running|completed|failed
		m["duration"] = t.Duration
		if !t.AudioOnly {
			m["video_url"] = s.videoURL(c.base, t.ID)
		}
		m["audio_url"] = mediaURL(c.base, "audio", t.ID+".mp3")
		m["srt_caption_url"] = mediaURL(c.base, "captions", t.ID+".srt")
		m["vtt_caption_url"] = mediaURL(c.base, "captions", t.ID+".vtt")
	case "failed":
		m["failure_message"] = translationFailMsg
	}
	okV3(w, m)
}

// ---- webhooks [v3 spec §4.7] ----

func v3EndpointJSON(ep *endpoint, withSecret bool) map[string]any {
	var secret, events any
	if withSecret {
		secret = ep.Secret // only on create and rotate; null in lists
	}
	if len(ep.Events) > 0 {
		events = ep.Events
	}
	return map[string]any{
		"endpoint_id": ep.ID, "url": ep.URL, "events": events, "status": "enabled",
		"created_at": ep.CreatedAt.UTC().Format(time.RFC3339), "secret": secret,
	}
}

func (s *Server) v3CreateWebhook(w http.ResponseWriter, r *http.Request, c *call) {
	var req webhookRequest
	if e := decodeJSON(w, r, &req); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	if e := req.validate(); e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3(w, v3EndpointJSON(s.addEndpoint(c, &req), true))
}

func (s *Server) v3ListWebhooks(w http.ResponseWriter, r *http.Request, c *call) {
	var items []map[string]any
	s.mu.Lock()
	for _, id := range c.acct.hookOrder {
		items = append(items, v3EndpointJSON(c.acct.hooks[id], false))
	}
	s.mu.Unlock()
	p, e := paginate(r, items, 10, 100)
	if e != nil {
		s.writeError(w, c.style, *e)
		return
	}
	okV3List(w, p)
}

func (s *Server) v3DeleteWebhook(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.removeEndpoint(c, r.PathValue("endpoint_id")) {
		s.writeError(w, c.style, notFound("resource_not_found", "Webhook endpoint not found"))
		return
	}
	// Specced as {"data": {}, "error": null} [CLI gen/webhook.go].
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{}, "error": nil})
}

func (s *Server) v3RotateSecret(w http.ResponseWriter, r *http.Request, c *call) {
	s.mu.Lock()
	ep := c.acct.hooks[r.PathValue("endpoint_id")]
	if ep != nil {
		ep.Secret = "whsec_" + s.ids.Alnum(32)
	}
	s.mu.Unlock()
	if ep == nil {
		s.writeError(w, c.style, notFound("resource_not_found", "Webhook endpoint not found"))
		return
	}
	okV3(w, map[string]any{"endpoint_id": ep.ID, "secret": ep.Secret})
}

func (s *Server) v3EventTypes(w http.ResponseWriter, r *http.Request, c *call) {
	items := make([]map[string]any, 0, len(webhookEvents))
	for _, ev := range webhookEvents {
		items = append(items, map[string]any{"event_type": ev, "description": "Fired on " + strings.ReplaceAll(ev, "_", " ") + "."})
	}
	okV3List(w, page[map[string]any]{Items: items})
}

// ---- user [v3 spec §4.8] ----

// v3Me reports an API-key (wallet) account; the balance is the remaining credits at an
// assumed $0.50 per credit (GAP: the simulator's own conversion).
func (s *Server) v3Me(w http.ResponseWriter, r *http.Request, c *call) {
	s.mu.Lock()
	credits := c.acct.remainingCredits(c.exhausted)
	s.mu.Unlock()
	okV3(w, map[string]any{
		"username": c.acct.username, "email": c.acct.username + "@example.com",
		"first_name": "Sim", "last_name": "User", "billing_type": "wallet",
		"wallet": map[string]any{
			"currency": "usd", "remaining_balance": math.Round(credits*50) / 100,
			"auto_reload": map[string]any{"enabled": false, "threshold_usd": nil, "amount_usd": nil},
		},
		"subscription": nil, "usage_based": nil,
	})
}
