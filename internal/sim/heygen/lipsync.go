package heygen

import (
	"math"
	"net/http"
	"time"
)

// Lipsync: POST /v3/lipsyncs and GET /v3/lipsyncs/{lipsync_id} (docs/simulators.md §13):
// replace a video's audio and re-animate the speaker's lips [HG-cli].
//
//	speed mode:      pending 0–1 s, running 1–4 s, then completed|failed
//	precision mode:  pending 0–1 s, running 1–8 s, then completed|failed
//
// The word FAIL in the title or the source video's URL makes it fail. GAP: HeyGen's webhook
// event types name no lipsync event, so none is sent, not even to callback_url
// (docs/simulators.md §13).
const (
	lipsyncQueued    = 1 * time.Second
	lipsyncSpeed     = 4 * time.Second
	lipsyncPrecision = 8 * time.Second
)

type lipsync struct {
	ID, Key, Title, CallbackID string
	Caption, Fail              bool
	Total                      time.Duration
	Duration                   float64
	CreatedAt                  time.Time
	out                        *video // the output file, served from /media/heygen/videos/
}

// lipsyncStatus is pending, running, completed or failed [HG-cli].
func (s *Server) lipsyncStatus(l *lipsync) string {
	el := s.clock.Elapsed(l.CreatedAt)
	switch {
	case el < lipsyncQueued:
		return "pending"
	case el < l.Total:
		return "running"
	case l.Fail:
		return "failed"
	}
	return "completed"
}

const lipsyncFailMsg = "Lipsync failed: no face could be tracked in the source video (simulated FAIL trigger)."

// lipsyncJSON is the detail object. Caller holds s.mu.
func (s *Server) lipsyncJSON(base string, l *lipsync) map[string]any {
	st := s.lipsyncStatus(l)
	m := map[string]any{
		"id": l.ID, "status": st, "title": nullable(l.Title), "created_at": l.CreatedAt.Unix(),
		"callback_id": nullable(l.CallbackID), "duration": nil, "video_url": nil, "caption_url": nil,
		"failure_message": nil,
	}
	switch st {
	case "completed":
		m["duration"] = l.Duration
		m["video_url"] = s.videoURL(base, l.ID)
		if l.Caption {
			m["caption_url"] = mediaURL(base, "captions", l.ID+".srt")
		}
	case "failed":
		m["failure_message"] = lipsyncFailMsg
	}
	return m
}

type lipsyncRequest struct {
	Video       *assetInput `json:"video"`
	Audio       *assetInput `json:"audio"`
	Mode        string      `json:"mode"`
	Title       string      `json:"title"`
	CallbackURL string      `json:"callback_url"`
	CallbackID  string      `json:"callback_id"`
	FolderID    string      `json:"folder_id"`
	Caption     bool        `json:"enable_caption"`
	StartTime   *float64    `json:"start_time"`
	EndTime     *float64    `json:"end_time"`
	FPSMode     string      `json:"fps_mode"`
}

func (req *lipsyncRequest) validate() error {
	for _, in := range []struct {
		name string
		v    *assetInput
	}{{"video", req.Video}, {"audio", req.Audio}} {
		if in.v == nil {
			return invalidParam(in.name, "%s is required", in.name)
		}
		// Lipsync takes only url and asset_id inputs [HG-cli].
		if in.v.Type != "url" && in.v.Type != "asset_id" {
			return invalidParam(in.name, "%s.type must be url or asset_id", in.name)
		}
	}
	switch {
	case req.Mode != "" && req.Mode != "speed" && req.Mode != "precision":
		return invalidParam("mode", "mode must be speed or precision")
	case req.FPSMode != "" && req.FPSMode != "vfr" && req.FPSMode != "cfr" && req.FPSMode != "passthrough":
		return invalidParam("fps_mode", "fps_mode must be vfr, cfr or passthrough")
	case req.StartTime != nil && *req.StartTime < 0:
		return invalidParam("start_time", "start_time must be at least 0")
	case req.StartTime != nil && req.EndTime != nil && *req.EndTime <= *req.StartTime:
		return invalidParam("end_time", "end_time must be after start_time")
	}
	return nil
}

func (s *Server) v3CreateLipsync(w http.ResponseWriter, r *http.Request, c *call) error {
	var req lipsyncRequest
	if err := decodeValid(w, r, &req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	videoURL, err := s.resolveAsset(c, req.Video, "video")
	if err != nil {
		return err
	}
	if _, err := s.resolveAsset(c, req.Audio, "audio"); err != nil {
		return err
	}
	// GAP: the length of the source is not probed; a source video counts as 20 s, or the
	// span start_time..end_time when both are given (docs/simulators.md §13).
	dur := translationSourceSeconds
	if req.StartTime != nil && req.EndTime != nil {
		dur = math.Round((*req.EndTime-*req.StartTime)*1000) / 1000
	}
	l := &lipsync{ID: s.ids.Hex(32), Key: c.key, Title: req.Title, CallbackID: req.CallbackID,
		Caption: req.Caption, Total: lipsyncSpeed, Duration: dur, CreatedAt: time.Now(),
		Fail: failTrigger.MatchString(req.Title) || failTrigger.MatchString(videoURL)}
	if req.Mode == "precision" {
		l.Total = lipsyncPrecision
	}
	// The output is a test-clock video (2 s) in the media index only: it is not one of the
	// key's videos, so /v3/videos does not list it.
	l.out = &video{ID: l.ID, Key: c.key, API: 3, Title: req.Title, Test: true, Notified: true, Fail: l.Fail,
		Width: 1280, Height: 720, Duration: dur, OutputFormat: "mp4", CreatedAt: l.CreatedAt, Base: c.base}
	s.videos[l.ID] = l.out
	c.acct.lipsyncs[l.ID] = l
	c.acct.creditsUsed += math.Ceil(dur / 30) // GAP: lipsync pricing; as a video (§15)
	okV3(w, map[string]any{"lipsync_id": l.ID})
	return nil
}

func (s *Server) v3GetLipsync(w http.ResponseWriter, r *http.Request, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := c.acct.lipsyncs[r.PathValue("lipsync_id")]
	if l == nil {
		return notFound("resource_not_found", "Lipsync not found")
	}
	okV3(w, s.lipsyncJSON(c.base, l))
	return nil
}
