package heygen

import (
	"hash/fnv"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Video Agent: POST /v3/video-agents, GET /v3/video-agents/{session_id},
// POST /v3/video-agents/{session_id}/stop and GET /v3/video-agents/styles
// (docs/simulators.md §8). Shapes are those of HeyGen's CLI [HG-cli].
//
// A session in generate mode thinks, then renders one video, which it names in its create
// answer (HeyGen's CLI polls that video with GET /v3/videos/{video_id}); the session ends
// with the video: completed, or failed (the word FAIL in the prompt). A chat-mode session
// thinks, then waits for input. The terminal state sends video_agent.success|fail to the
// key's endpoints and to callback_url.
//
//	session:  thinking 0–1 s, then generating until its video ends (the test-video clock,
//	          2 s from creation), then completed|failed
//	chat:     thinking 0–1 s, then waiting_for_input
const agentThinking = 1 * time.Second

type agentSession struct {
	ID, Key, Prompt, Mode, Title string
	CallbackID, CallbackURL      string
	Video                        *video // generate mode: the video the session renders
	Stopped                      bool
	StoppedAt                    time.Time
	CreatedAt                    time.Time
	Notified                     bool
}

// sessionStatus is thinking, waiting_for_input, generating, completed or failed [HG-cli].
// Caller holds s.mu.
func (s *Server) sessionStatus(se *agentSession) string {
	if se.Stopped {
		return "failed"
	}
	switch {
	case s.clock.Elapsed(se.CreatedAt) < agentThinking:
		return "thinking"
	case se.Video == nil:
		return "waiting_for_input"
	}
	switch s.v3VideoStatus(se.Video) {
	case "completed":
		return "completed"
	case "failed":
		return "failed"
	}
	return "generating"
}

// advanceSession sends the session's terminal webhook once. Caller holds s.mu.
func (s *Server) advanceSession(se *agentSession) {
	if se.Notified {
		return
	}
	// GAP: the event_data of video_agent events; the legacy video fields plus the session
	// (docs/simulators.md §8).
	data := map[string]any{"session_id": se.ID, "video_id": nil, "callback_id": nullable(se.CallbackID)}
	if se.Video != nil {
		data["video_id"] = se.Video.ID
	}
	switch s.sessionStatus(se) {
	case "completed":
		data["url"] = s.videoURL(se.Video.Base, se.Video.ID)
		s.announce(&se.Notified, se.Key, "video_agent.success", data, se.CallbackURL)
	case "failed":
		data["msg"] = s.sessionFailure(se)
		s.announce(&se.Notified, se.Key, "video_agent.fail", data, se.CallbackURL)
	}
}

func (s *Server) sessionFailure(se *agentSession) string {
	if se.Stopped {
		return "The session was stopped."
	}
	return "Video Agent could not render the video (simulated FAIL trigger)."
}

// sessionTitle — GAP: the "LLM-generated session title"; the prompt's first words.
func sessionTitle(prompt string) string {
	words := strings.Fields(prompt)
	if len(words) > 6 {
		words = words[:6]
	}
	return strings.Join(words, " ")
}

// sessionJSON is the GET answer. Caller holds s.mu.
func (s *Server) sessionJSON(se *agentSession) map[string]any {
	st := s.sessionStatus(se)
	created := se.CreatedAt.Unix()
	msgs := []map[string]any{{"role": "user", "type": "text", "content": se.Prompt, "created_at": created}}
	add := func(m map[string]any) { msgs = append([]map[string]any{m}, msgs...) }
	var title any
	progress := 5
	if st != "thinking" {
		title = se.Title
		add(map[string]any{"role": "model", "type": "text", "created_at": created,
			"content": "Here is my plan for \"" + se.Title + "\": a script, an avatar and scenes."})
	}
	switch st {
	case "waiting_for_input":
		progress = 10
		add(map[string]any{"role": "model", "type": "text", "created_at": created,
			"content": "Which voice should narrate the video?"})
	case "generating":
		el := s.clock.Elapsed(se.CreatedAt)
		progress = min(99, 10+int(math.Round(85*float64(el)/float64(se.Video.total()))))
		add(map[string]any{"role": "model", "type": "resource", "created_at": created,
			"content": "Rendering the video.", "resource_ids": []string{se.Video.ID}})
	case "completed":
		progress = 100
		add(map[string]any{"role": "model", "type": "resource", "created_at": created,
			"content": "Your video is ready.", "resource_ids": []string{se.Video.ID}})
	case "failed":
		add(map[string]any{"role": "model", "type": "error", "created_at": created, "content": s.sessionFailure(se)})
	}
	var videoID any
	if se.Video != nil {
		videoID = se.Video.ID
	}
	return map[string]any{
		"session_id": se.ID, "status": st, "progress": progress, "title": title,
		"video_id": videoID, "created_at": created, "messages": msgs,
	}
}

type agentRequest struct {
	Prompt        string        `json:"prompt"`
	Mode          string        `json:"mode"`
	AvatarID      string        `json:"avatar_id"`
	VoiceID       string        `json:"voice_id"`
	StyleID       string        `json:"style_id"`
	BrandKitID    string        `json:"brand_kit_id"`
	Orientation   string        `json:"orientation"`
	Files         []*assetInput `json:"files"`
	IncognitoMode bool          `json:"incognito_mode"`
	CallbackURL   string        `json:"callback_url"`
	CallbackID    string        `json:"callback_id"`
}

func (req *agentRequest) validate() error {
	switch n := len([]rune(req.Prompt)); {
	case strings.TrimSpace(req.Prompt) == "" || n > 10000:
		return invalidParam("prompt", "prompt must be 1 to 10000 characters")
	case req.Mode != "" && req.Mode != "generate" && req.Mode != "chat":
		return invalidParam("mode", "mode must be generate or chat")
	case req.Orientation != "" && req.Orientation != "landscape" && req.Orientation != "portrait":
		return invalidParam("orientation", "orientation must be landscape or portrait")
	case len(req.Files) > 20:
		return invalidParam("files", "at most 20 files")
	}
	return nil
}

// agentVideoSeconds — GAP: how long an agent's video is; the prompt says nothing of it, so
// 30 s (docs/simulators.md §8).
const agentVideoSeconds = 30

func (s *Server) v3CreateAgentSession(w http.ResponseWriter, r *http.Request, c *call) error {
	var req agentRequest
	if err := decodeValid(w, r, &req); err != nil {
		return err
	}
	if req.AvatarID != "" && s.cat.avatarByID[req.AvatarID] == nil {
		if err := s.readyPrivateLook(c, req.AvatarID); err != nil {
			return err
		}
	}
	if req.VoiceID != "" && s.cat.voiceByID[req.VoiceID] == nil && !s.cloneReady(c, req.VoiceID) {
		return notFound("voice_not_found", "Voice not found")
	}
	if req.StyleID != "" && !slices.ContainsFunc(agentStyles, func(st agentStyle) bool { return st.ID == req.StyleID }) {
		return invalidParam("style_id", "style %q not found", req.StyleID)
	}
	var ferr error
	s.mu.Lock()
	for _, f := range req.Files {
		if _, ferr = s.resolveAsset(c, f, "files"); ferr != nil {
			break
		}
	}
	s.mu.Unlock()
	if ferr != nil {
		return ferr
	}

	se := &agentSession{Key: c.key, Prompt: req.Prompt, Mode: req.Mode, Title: sessionTitle(req.Prompt),
		CallbackID: req.CallbackID, CallbackURL: req.CallbackURL}
	if se.Mode == "" {
		se.Mode = "generate"
	}
	if se.Mode == "generate" {
		wd, ht := 1280, 720
		if req.Orientation == "portrait" {
			wd, ht = 720, 1280
		}
		// The session's video is an ordinary v3 video of the key's, on the test-video clock
		// so that the session ends soon. Its own avatar_video events are not sent: the
		// session's video_agent events stand for them (GAP, docs/simulators.md §8).
		se.Video = &video{API: 3, Title: se.Title, Test: true, Notified: true,
			CallbackID: req.CallbackID, Width: wd, Height: ht, Duration: agentVideoSeconds, OutputFormat: "mp4"}
		s.addVideo(c, se.Video, req.Prompt)
	}
	s.mu.Lock()
	if se.Video != nil {
		c.acct.creditsUsed += math.Ceil(se.Video.Duration / 30) // as a video: 1 credit per 30 s
	}
	se.ID, se.CreatedAt = s.ids.Hex(32), time.Now()
	c.acct.sessions[se.ID] = se
	out := map[string]any{"session_id": se.ID, "status": s.sessionStatus(se), "video_id": nil, "created_at": se.CreatedAt.Unix()}
	if se.Video != nil {
		out["video_id"] = se.Video.ID
	}
	s.mu.Unlock()
	okV3(w, out)
	return nil
}

var errNoSession = notFound("resource_not_found", "Video Agent session not found")

func (s *Server) v3GetAgentSession(w http.ResponseWriter, r *http.Request, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := c.acct.sessions[r.PathValue("session_id")]
	if se == nil {
		return errNoSession
	}
	s.advanceSession(se)
	okV3(w, s.sessionJSON(se))
	return nil
}

// v3StopAgentSession halts a running session. GAP: what a stopped session reports; here it
// is failed ("The session was stopped."), its unfinished video fails too, and stopping an
// ended session changes nothing (docs/simulators.md §8).
func (s *Server) v3StopAgentSession(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := c.acct.sessions[r.PathValue("session_id")]
	if se == nil {
		return errNoSession
	}
	if st := s.sessionStatus(se); st != "completed" && st != "failed" {
		se.Stopped, se.StoppedAt = true, time.Now()
		if v := se.Video; v != nil {
			v.Fail, v.failCode, v.failV3Code = true, "40039", "stopped"
			v.failMsg, v.failDetail = "Video rendering stopped", "the Video Agent session was stopped."
		}
		s.advanceSession(se)
	}
	okV3(w, map[string]any{"session_id": se.ID})
	return nil
}

// ---- styles ----

type agentStyle struct {
	ID, Name, AspectRatio string
	Tags                  []string
}

// agentStyles — GAP: HeyGen's curated styles are not published; these stand in, tagged
// with the tags the CLI names (docs/simulators.md §8).
var agentStyles = func() []agentStyle {
	var out []agentStyle
	for i, st := range []struct {
		name string
		tags []string
	}{
		{"Cinematic Story", []string{"cinematic"}}, {"Retro Tech", []string{"retro-tech"}},
		{"Iconic Artist", []string{"iconic-artist"}}, {"Pop Culture", []string{"pop-culture"}},
		{"Handmade Paper", []string{"handmade"}}, {"Print Editorial", []string{"print"}},
		{"Cinematic Portrait", []string{"cinematic"}}, {"Retro Arcade", []string{"retro-tech", "pop-culture"}},
	} {
		h := fnv.New64a()
		h.Write([]byte(st.name))
		ar := "16:9"
		if i%4 == 3 {
			ar = "9:16"
		}
		out = append(out, agentStyle{ID: "style_" + hexOf(h.Sum64()), Name: st.name, AspectRatio: ar, Tags: st.tags})
	}
	return out
}()

func hexOf(n uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[n&15]
		n >>= 4
	}
	return string(b)
}

func (s *Server) v3AgentStyles(w http.ResponseWriter, r *http.Request, c *call) error {
	tag := r.URL.Query().Get("tag")
	var items []map[string]any
	for _, st := range agentStyles {
		if tag != "" && !slices.Contains(st.Tags, tag) {
			continue
		}
		items = append(items, map[string]any{
			"style_id": st.ID, "name": st.Name, "aspect_ratio": st.AspectRatio, "tags": st.Tags,
			"thumbnail_url":     mediaURL(c.base, "images", st.ID+".png"),
			"preview_video_url": nil,
		})
	}
	return okV3Page(w, r, items, 20, 100)
}
