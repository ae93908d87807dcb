package heygen

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Webhooks: the v1 /v1/webhook/* routes and the v3 /v3/webhooks/* routes manage one set of
// endpoints per key; emit delivers job events to them (docs/simulators.md §14).

type endpoint struct {
	ID, URL, Secret, EntityID string
	Events                    []string // empty: all events
	CreatedAt                 time.Time
}

func (e *endpoint) wants(event string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, event)
}

// eventsJSON is the endpoint's event list, or null for all events [HG-wh-list].
func (e *endpoint) eventsJSON() any {
	if len(e.Events) == 0 {
		return nil
	}
	return e.Events
}

// webhookEvents are the event types endpoints may subscribe to [HG-v3-wh, HG-cli].
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

type webhookRequest struct {
	URL      string   `json:"url"`
	Events   []string `json:"events"`
	EntityID string   `json:"entity_id"`
}

func (req *webhookRequest) validate() error {
	u, err := url.Parse(req.URL)
	if req.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidParam("url", "url must be an absolute http(s) URL")
	}
	for _, ev := range req.Events {
		if !slices.Contains(webhookEvents, ev) {
			return invalidParam("events", "unknown event type %q", ev)
		}
	}
	return nil
}

// newSecret — GAP: the secret format; v3 secrets look like whsec_… [HG-v3-wh], and both
// versions use that form here (docs/simulators.md §14). Caller holds s.mu.
func (s *Server) newSecret() string { return "whsec_" + s.ids.Alnum(32) }

// addEndpoint reads, checks and stores an endpoint, then answers with ok: the body of both
// create routes. GAP: upstream probes a v1 URL with OPTIONS (1 s timeout) before accepting
// it [HG-wh-add]; the simulator does not, so demos can register URLs that are not up yet
// (docs/simulators.md §14).
func (s *Server) addEndpoint(w http.ResponseWriter, r *http.Request, c *call, ok func(*endpoint)) error {
	var req webhookRequest
	if err := decodeValid(w, r, &req); err != nil {
		return err
	}
	s.mu.Lock()
	ep := &endpoint{ID: s.ids.Hex(32), URL: req.URL, Secret: s.newSecret(),
		Events: req.Events, EntityID: req.EntityID, CreatedAt: time.Now()}
	c.acct.hooks[ep.ID] = ep
	c.acct.hookOrder = append(c.acct.hookOrder, ep.ID)
	s.mu.Unlock()
	ok(ep)
	return nil
}

// endpoints lists the key's endpoints in creation order, each rendered by f under the lock.
func (s *Server) endpoints(c *call, f func(*endpoint) map[string]any) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range c.acct.hookOrder {
		if ep := c.acct.hooks[id]; ep != nil {
			out = append(out, f(ep))
		}
	}
	return out
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

// ---- v1 ----

func v1EndpointJSON(c *call, ep *endpoint) map[string]any {
	return map[string]any{
		"endpoint_id": ep.ID, "url": ep.URL, "secret": ep.Secret, "status": "enabled", "events": ep.eventsJSON(),
		"username": c.acct.username, "created_at": ep.CreatedAt.UTC().Format("2006-01-02T15:04:05"),
		"entity_id": nullable(ep.EntityID),
	}
}

// v1AddWebhook: GAP: the envelope of POST /v1/webhook/endpoint.add; the code envelope, as
// for the list endpoint (docs/simulators.md §14).
func (s *Server) v1AddWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.addEndpoint(w, r, c, func(ep *endpoint) { okV1(w, v1EndpointJSON(c, ep)) })
}

func (s *Server) v1ListWebhooks(w http.ResponseWriter, r *http.Request, c *call) error {
	okV1(w, s.endpoints(c, func(ep *endpoint) map[string]any { return v1EndpointJSON(c, ep) }))
	return nil
}

// v1DeleteWebhook: GAP: the response body; the code envelope with data null
// (docs/simulators.md §14).
func (s *Server) v1DeleteWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.URL.Query().Get("endpoint_id")
	if id == "" {
		return missingParam("endpoint_id")
	}
	if !s.removeEndpoint(c, id) {
		return &apiError{Status: 404, Legacy: 400175, Code: "not_found", Message: "Webhook endpoint not found"}
	}
	okV1(w, nil)
	return nil
}

// v1WebhookEvents: this route also carries "msg": null [HG-wh].
func (s *Server) v1WebhookEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	okUpload(w, legacyWebhookEvents)
	return nil
}

// ---- v3 ----

// v3EndpointJSON: the secret is shown only on create and rotate, null in lists [HG-v3-wh].
func v3EndpointJSON(ep *endpoint, withSecret bool) map[string]any {
	var secret any
	if withSecret {
		secret = ep.Secret
	}
	return map[string]any{
		"endpoint_id": ep.ID, "url": ep.URL, "events": ep.eventsJSON(), "status": "enabled",
		"created_at": ep.CreatedAt.UTC().Format(time.RFC3339), "secret": secret,
	}
}

var errNoEndpoint = notFound("resource_not_found", "Webhook endpoint not found")

func (s *Server) v3CreateWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.addEndpoint(w, r, c, func(ep *endpoint) { okV3(w, v3EndpointJSON(ep, true)) })
}

func (s *Server) v3ListWebhooks(w http.ResponseWriter, r *http.Request, c *call) error {
	items := s.endpoints(c, func(ep *endpoint) map[string]any { return v3EndpointJSON(ep, false) })
	return okV3Page(w, r, items, 10, 100)
}

func (s *Server) v3DeleteWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.removeEndpoint(c, r.PathValue("endpoint_id")) {
		return errNoEndpoint
	}
	// Specced as {"data": {}, "error": null} [HG-cli].
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{}, "error": nil})
	return nil
}

func (s *Server) v3RotateSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	s.mu.Lock()
	ep := c.acct.hooks[r.PathValue("endpoint_id")]
	if ep != nil {
		ep.Secret = s.newSecret()
	}
	s.mu.Unlock()
	if ep == nil {
		return errNoEndpoint
	}
	okV3(w, map[string]any{"endpoint_id": ep.ID, "secret": ep.Secret})
	return nil
}

func (s *Server) v3EventTypes(w http.ResponseWriter, r *http.Request, c *call) error {
	items := make([]map[string]any, 0, len(webhookEvents))
	for _, ev := range webhookEvents {
		items = append(items, map[string]any{"event_type": ev, "description": "Fired on " + strings.ReplaceAll(ev, "_", " ") + "."})
	}
	okV3List(w, page[map[string]any]{Items: items})
	return nil
}

// ---- delivery ----

// emit delivers {"event_type","event_data"} [HG-wh] to every endpoint of key that wants the
// event, signed, and to callbackURL, unsigned, and keeps it for GET /v3/webhooks/events: the signature header is sent only to
// registered endpoints [HG-cli]. Caller holds s.mu.
//
// GAP: the signature header name and algorithm. The simulator sends the hex HMAC-SHA256 of
// the raw body keyed with the endpoint secret as-is, in Options.WebhookSignatureHeader
// (default X-Signature), plus Heygen-Timestamp and Heygen-Event-Id (docs/simulators.md §14).
func (s *Server) emit(key, event string, data map[string]any, callbackURL string) {
	if s.closed {
		return
	}
	body, _ := json.Marshal(map[string]any{"event_type": event, "event_data": data})
	eventID := s.ids.Hex(32)
	if a := s.accounts[key]; a != nil {
		a.recordEvent(sentEvent{ID: eventID, Type: event, Data: data, At: time.Now()})
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

// deliver POSTs body in the background, retrying with backoff. GAP: upstream retries for up
// to 24 h; the simulator gives up after 3 attempts (docs/simulators.md §14). Caller holds s.mu.
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
