package heygen

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Objects a key creates live in its account; no key can see another's.
type account struct {
	key      string
	username string

	videos       map[string]*video
	videoOrder   []string
	translations map[string]*translation
	transOrder   []string
	assets       map[string]*asset
	assetOrder   []string
	avatars      map[string]*privateAvatar // photo avatars (v2) and v3 looks
	avatarOrder  []string
	groups       map[string]*privateGroup
	groupOrder   []string
	hooks        map[string]*endpoint
	hookOrder    []string

	creditsUsed float64
}

// startingCredits is every key's balance (a Pro-like monthly pool; HG-limits).
const startingCredits = 600

func (s *Server) account(key string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[key]
	if a == nil {
		sum := sha256.Sum256([]byte(key))
		a = &account{
			key: key, username: hex.EncodeToString(sum[:8]),
			videos: map[string]*video{}, translations: map[string]*translation{},
			assets: map[string]*asset{}, avatars: map[string]*privateAvatar{},
			groups: map[string]*privateGroup{}, hooks: map[string]*endpoint{},
		}
		s.accounts[key] = a
	}
	return a
}

func (a *account) remainingCredits(exhausted bool) float64 {
	if exhausted {
		return 0
	}
	return max(0, startingCredits-a.creditsUsed)
}

// Job timings, in simulated time (divide by Options.Speed for real time). Upstream gives no
// figure beyond "typically 5–15 minutes" [HG-skill video-status.md]; the simulator is faster
// on purpose so demos finish:
//
//	test video:     pending 0–0.4 s, waiting 0.4–0.8 s, processing 0.8–2 s, then completed|failed
//	other videos:   pending 0–1 s,   waiting 1–2 s,     processing 2–10 s,  then completed|failed
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

// status returns pending, waiting, processing, completed or failed [HG-createvideo, HG-status].
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

// advanceVideo sends the terminal webhook once. Caller holds s.mu.
func (s *Server) advanceVideo(v *video) {
	if v.Notified {
		return
	}
	switch s.videoStatus(v) {
	case "completed":
		v.Notified = true
		s.emit(v.Key, "avatar_video.success", map[string]any{
			"video_id": v.ID, "url": s.videoURL(v.Base, v.ID), "callback_id": nullable(v.CallbackID),
		}, v.CallbackURL)
	case "failed":
		v.Notified = true
		// Legacy payload uses `msg`, not `message` [HG-wh].
		s.emit(v.Key, "avatar_video.fail", map[string]any{
			"video_id": v.ID, "msg": v.failMsg, "callback_id": nullable(v.CallbackID),
		}, v.CallbackURL)
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

func (s *Server) advanceTranslation(t *translation) {
	if t.Notified {
		return
	}
	switch s.translationStatus(t) {
	case "success":
		t.Notified = true
		s.emit(t.Key, "video_translate.success", map[string]any{
			"video_translate_id": t.ID, "url": s.videoURL(t.Base, t.ID),
			"callback_id": nullable(t.CallbackID), "output_language": t.Language,
		}, t.CallbackURL)
	case "failed":
		t.Notified = true
		s.emit(t.Key, "video_translate.fail", map[string]any{
			"video_translate_id": t.ID, "message": translationFailMsg,
			"callback_id": nullable(t.CallbackID), "output_language": t.Language,
		}, t.CallbackURL)
	}
}

type asset struct {
	ID, Key, Name, FileType, MIME, Ext, FolderID string
	Data                                         []byte
	CreatedAt                                    time.Time
}

type privateGroup struct {
	ID, Name  string
	CreatedAt time.Time
	Looks     []string
}

// privateAvatar is a photo avatar (v2: POST /v2/photo_avatar/avatar_group/create) or a v3
// look made with POST /v3/avatars. Its id doubles as talking_photo_id / avatar_id.
type privateAvatar struct {
	ID, GroupID, Name, Kind, ImageKey, ImageURL string
	Fail                                        bool
	CreatedAt                                   time.Time
}

// avatarStatus: "pending"/"processing" while training, then completed|failed.
func (s *Server) avatarDone(p *privateAvatar) (done, failed bool) {
	if s.clock.Elapsed(p.CreatedAt) < avatarTotal {
		return false, false
	}
	return true, p.Fail
}

type endpoint struct {
	ID, URL, Secret, EntityID string
	Events                    []string // empty: all events
	CreatedAt                 time.Time
}

func (e *endpoint) wants(event string) bool {
	if len(e.Events) == 0 {
		return true
	}
	for _, ev := range e.Events {
		if ev == event {
			return true
		}
	}
	return false
}

// webhookEvents are the event types endpoints may subscribe to [v3 spec §4.7, CLI webhook.go].
var webhookEvents = []string{
	"avatar_video.success", "avatar_video.fail", "avatar_video_gif.success", "avatar_video_gif.fail",
	"avatar_video_caption.success", "avatar_video_caption.fail", "video_translate.success",
	"video_translate.fail", "video_translate.preflight.validation_failed",
	"video_translate.preflight.download_failed", "personalized_video", "instant_avatar.success",
	"instant_avatar.fail", "photo_avatar_generation.success", "photo_avatar_generation.fail",
	"photo_avatar_train.success", "photo_avatar_train.fail", "photo_avatar_add_motion.success",
	"photo_avatar_add_motion.fail", "proofread_creation.success", "proofread_creation.fail",
	"live_avatar.success", "live_avatar.fail", "video_agent.success", "video_agent.fail",
	"hyperframes_video.success", "hyperframes_video.fail", "ai_clipping.success",
	"ai_clipping.fail", "batch.finished",
}

// legacyWebhookEvents is what GET /v1/webhook/webhook.list returns [HG-wh].
var legacyWebhookEvents = []string{
	"avatar_video.success", "avatar_video.fail", "avatar_video_gif.success", "avatar_video_gif.fail",
	"video_translate.success", "video_translate.fail", "personalized_video",
}

// emit delivers {"event_type","event_data"} [HG-wh] to every endpoint of key that wants the
// event, signed, and to callbackURL, unsigned: "the signature header is sent only to
// registered endpoints" [v3 spec §4.7, CLI ai-clipping.go]. Caller holds s.mu.
//
// GAP: the signature header name and algorithm (upstream-v1v2 §3 item 1, v3 spec §6 item 1).
// We send hex HMAC-SHA256 of the raw body keyed with the endpoint secret as-is, in
// Options.WebhookSignatureHeader (default X-Signature), plus Heygen-Timestamp and
// Heygen-Event-Id as several v3 receivers expect [3P-wh].
func (s *Server) emit(key, event string, data map[string]any, callbackURL string) {
	if s.closed {
		return
	}
	body, _ := json.Marshal(map[string]any{"event_type": event, "event_data": data})
	eventID := s.ids.Hex(32)
	a := s.accounts[key]
	if a != nil {
		for _, id := range a.hookOrder {
			if ep := a.hooks[id]; ep != nil && ep.wants(event) {
				mac := hmac.New(sha256.New, []byte(ep.Secret))
				mac.Write(body)
				s.deliver(ep.URL, body, hex.EncodeToString(mac.Sum(nil)), eventID)
			}
		}
	}
	if callbackURL != "" {
		s.deliver(callbackURL, body, "", eventID)
	}
}

// deliver POSTs body in the background, retrying a few times with backoff (upstream retries
// for up to 24 h [3P-r1]; the simulator gives up after 3 attempts). Caller holds s.mu.
func (s *Server) deliver(url string, body []byte, sig, eventID string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for attempt := 0; attempt < 3; attempt++ {
			if attempt > 0 {
				select {
				case <-s.ctx.Done():
					return
				case <-time.After(s.clock.Scale(time.Duration(attempt) * 2 * time.Second)):
				}
			}
			req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "HeyGen-Webhook/1.0 (aiproxy simulator)")
			req.Header.Set("Heygen-Event-Id", eventID)
			req.Header.Set("Heygen-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			if sig != "" {
				req.Header.Set(s.sigHeader, sig)
			}
			resp, err := s.webhook.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode < 300 {
					return
				}
			}
		}
	}()
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
