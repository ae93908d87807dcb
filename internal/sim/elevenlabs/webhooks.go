package elevenlabs

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Workspace webhooks (docs/simulators.md §25): GET and POST /v1/workspace/webhooks, PATCH and
// DELETE /v1/workspace/webhooks/{webhook_id}, with the shapes of ElevenLabs' SDK [EL-js-wh],
// one set per key; and signed deliveries of {type, event_timestamp, data} to a key's enabled
// webhooks, which the control route POST /_sim/webhooks/send triggers.

// SignatureHeader is the header that carries a delivery's signature [EL-wh].
const SignatureHeader = "ElevenLabs-Signature"

// SignWebhook returns the ElevenLabs-Signature value for body sent at t:
// "t=<unix seconds>,v0=<lowercase hex HMAC-SHA256 of "<t>.<body>", keyed with secret's
// UTF-8 bytes>", what the SDK's constructEvent checks [EL-js-wh].
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v0=" + hex.EncodeToString(mac.Sum(nil))
}

// webhook is one workspace webhook (WorkspaceWebhookResponseModel [EL-js-wh]) and what the
// simulator keeps to deliver to it.
type webhook struct {
	ID, Name, URL, Secret string
	Disabled              bool
	RetryEnabled          bool
	Headers               map[string]string // request_headers, sent with every delivery
	Created               time.Time

	failureCode int       // the last non-2xx status a delivery got; 0: none yet
	failureAt   time.Time // when
}

// view renders the webhook as the list answers it. GAP: which products trigger a webhook
// (usage) is set in ElevenLabs' web app; the simulator has none, so usage is [] when asked
// for (include_usages) and null otherwise, and the failure fields are null until a delivery
// fails (docs/simulators.md §25).
func (h *webhook) view(withUsage bool) map[string]any {
	v := map[string]any{
		"name": h.Name, "webhook_id": h.ID, "webhook_url": h.URL,
		"is_disabled": h.Disabled, "is_auto_disabled": false,
		"created_at_unix": h.Created.Unix(), "auth_type": "hmac",
		"usage": nil, "most_recent_failure_error_code": nil, "most_recent_failure_timestamp": nil,
	}
	if withUsage {
		v["usage"] = []any{}
	}
	if h.failureCode != 0 {
		v["most_recent_failure_error_code"] = h.failureCode
		v["most_recent_failure_timestamp"] = h.failureAt.Unix()
	}
	return v
}

// GAP: the status and wording for an unknown webhook are undocumented; 404
// webhook_not_found, worded like voice_not_found (docs/simulators.md §25).
func writeWebhookNotFound(w http.ResponseWriter, id string) {
	writeDetail(w, http.StatusNotFound, "webhook_not_found", "A webhook with the webhook_id "+id+" was not found.")
}

// findWebhook returns the key's webhook with that id. Caller holds a.mu.
func (a *account) findWebhook(id string) *webhook {
	i := slices.IndexFunc(a.webhooks, func(h *webhook) bool { return h.ID == id })
	if i < 0 {
		return nil
	}
	return a.webhooks[i]
}

// listWebhooks serves GET /v1/workspace/webhooks. GAP: the order is not documented; oldest
// first (docs/simulators.md §25).
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	withUsage := false
	if v := r.URL.Query().Get("include_usages"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeValidation(w, fieldError{Loc: []any{"query", "include_usages"}, Msg: "Input should be a valid boolean, unable to interpret input", Type: "bool_parsing"})
			return
		}
		withUsage = b
	}
	a := s.accountOf(r)
	a.mu.Lock()
	views := make([]map[string]any, 0, len(a.webhooks))
	for _, h := range a.webhooks {
		views = append(views, h.view(withUsage))
	}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": views})
}

// createWebhookRequest is BodyCreateWorkspaceWebhookV1WorkspaceWebhooksPost: settings are
// WebhookHmacSettings, the only kind an API key can create [EL-js-wh].
type createWebhookRequest struct {
	Settings *struct {
		AuthType       *string            `json:"auth_type"`
		Name           *string            `json:"name"`
		WebhookURL     *string            `json:"webhook_url"`
		RequestHeaders map[string]*string `json:"request_headers"`
	} `json:"settings"`
}

// validWebhookURL checks a webhook_url as pydantic's HttpUrl would. GAP: ElevenLabs calls it
// "the HTTPS callback URL"; the simulator accepts http too, so tests can register local
// receivers (docs/simulators.md §25).
func validWebhookURL(raw string, loc ...any) *fieldError {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "" || u.Host == "":
		return &fieldError{Loc: loc, Msg: "Input should be a valid URL, relative URL without a base", Type: "url_parsing"}
	case u.Scheme != "http" && u.Scheme != "https":
		return &fieldError{Loc: loc, Msg: "URL scheme should be 'http' or 'https'", Type: "url_scheme"}
	}
	return nil
}

// headersOf keeps the request headers that have a value.
func headersOf(in map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if v != nil && k != "" {
			out[k] = *v
		}
	}
	return out
}

// createWebhook serves POST /v1/workspace/webhooks: {webhook_id, webhook_secret}, the secret
// shown this once [EL-js-wh].
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req createWebhookRequest
	if errs := decodeBody(r, &req); errs != nil {
		writeValidation(w, errs...)
		return
	}
	var errs []fieldError
	st := req.Settings
	if st == nil {
		writeValidation(w, missing("body", "settings"))
		return
	}
	switch {
	case st.AuthType == nil:
		errs = append(errs, fieldError{Loc: []any{"body", "settings", "auth_type"}, Msg: "Field required", Type: "missing"})
	case *st.AuthType != "hmac":
		errs = append(errs, fieldError{Loc: []any{"body", "settings", "auth_type"}, Msg: "Input should be 'hmac'", Type: "literal_error"})
	}
	if st.Name == nil {
		errs = append(errs, fieldError{Loc: []any{"body", "settings", "name"}, Msg: "Field required", Type: "missing"})
	}
	if st.WebhookURL == nil {
		errs = append(errs, fieldError{Loc: []any{"body", "settings", "webhook_url"}, Msg: "Field required", Type: "missing"})
	} else if ferr := validWebhookURL(*st.WebhookURL, "body", "settings", "webhook_url"); ferr != nil {
		errs = append(errs, *ferr)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	a := s.accountOf(r)
	h := &webhook{
		ID: a.rand.Alnum(20), Name: *st.Name, URL: *st.WebhookURL, Secret: newWebhookSecret(a),
		RetryEnabled: true, Headers: headersOf(st.RequestHeaders), Created: s.clock.Now(),
	}
	a.mu.Lock()
	a.webhooks = append(a.webhooks, h)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"webhook_id": h.ID, "webhook_secret": h.Secret})
}

// newWebhookSecret — GAP: the secret's format is not documented (the SDK types it as a
// string); the simulator makes "wsec_" and 32 hex digits (docs/simulators.md §25).
func newWebhookSecret(a *account) string { return "wsec_" + a.rand.Hex(32) }

// updateWebhookRequest is BodyUpdateWorkspaceWebhookV1WorkspaceWebhooksWebhookIdPatch
// [EL-js-wh]; other members (such as events) are ignored, as FastAPI ignores them.
type updateWebhookRequest struct {
	IsDisabled     *bool              `json:"is_disabled"`
	Name           *string            `json:"name"`
	RetryEnabled   *bool              `json:"retry_enabled"`
	RequestHeaders map[string]*string `json:"request_headers"`
}

// updateWebhook serves PATCH /v1/workspace/webhooks/{webhook_id}: is_disabled and name are
// required [EL-js-wh]; the answer is {"status": "ok"}.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	var req updateWebhookRequest
	if errs := decodeBody(r, &req); errs != nil {
		writeValidation(w, errs...)
		return
	}
	var errs []fieldError
	if req.IsDisabled == nil {
		errs = append(errs, missing("body", "is_disabled"))
	}
	if req.Name == nil {
		errs = append(errs, missing("body", "name"))
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	a, id := s.accountOf(r), r.PathValue("webhook_id")
	a.mu.Lock()
	h := a.findWebhook(id)
	if h != nil {
		h.Disabled, h.Name = *req.IsDisabled, *req.Name
		if req.RetryEnabled != nil {
			h.RetryEnabled = *req.RetryEnabled
		}
		if req.RequestHeaders != nil {
			h.Headers = headersOf(req.RequestHeaders)
		}
	}
	a.mu.Unlock()
	if h == nil {
		writeWebhookNotFound(w, id)
		return
	}
	writeStatusOK(w)
}

// deleteWebhook serves DELETE /v1/workspace/webhooks/{webhook_id}: {"status": "ok"}.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("webhook_id")
	if !removeFrom(a, &a.webhooks, func(h *webhook) bool { return h.ID == id }) {
		writeWebhookNotFound(w, id)
		return
	}
	writeStatusOK(w)
}

// ---- delivery ----

// webhookEvent is what ElevenLabs POSTs: the event's type, when it happened (Unix seconds)
// and its data [EL-wh].
type webhookEvent struct {
	Type           string          `json:"type"`
	EventTimestamp int64           `json:"event_timestamp"`
	Data           json.RawMessage `json:"data"`
}

// webhookAttempts bounds the attempts of one delivery. GAP: ElevenLabs' retry schedule is not
// documented; three attempts, 2 and 4 simulated seconds apart, each with a 10 s timeout, for
// transient failures only (a 5xx, a 429, no answer) and only while the webhook's
// retry_enabled is on, the default (docs/simulators.md §25).
const webhookAttempts = 3

// target is what one delivery needs of a webhook, copied under the account's lock.
type target struct {
	id, url, secret string
	headers         map[string]string
	retry           bool
}

// emit delivers one event to every enabled webhook of a, each from a goroutine that s.wg
// tracks (Close waits for them, cancelling the ones in flight), and returns a channel that
// yields, once every delivery has ended, how many webhooks accepted it (answered 2xx).
func (s *Server) emit(a *account, eventType string, data json.RawMessage) <-chan int {
	return s.emitTo(a, "", eventType, data)
}

// emitTo is emit to one webhook of a, the one whose id is only; "" means every one.
func (s *Server) emitTo(a *account, only, eventType string, data json.RawMessage) <-chan int {
	done := make(chan int, 1)
	body, err := json.Marshal(webhookEvent{Type: eventType, EventTimestamp: s.clock.Now().Unix(), Data: data})
	if err != nil {
		done <- 0
		return done
	}
	a.mu.Lock()
	var targets []target
	for _, h := range a.webhooks {
		if !h.Disabled && (only == "" || h.ID == only) {
			targets = append(targets, target{id: h.ID, url: h.URL, secret: h.Secret, headers: h.Headers, retry: h.RetryEnabled})
		}
	}
	a.mu.Unlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		done <- 0
		return done
	}
	s.wg.Add(len(targets) + 1)
	s.mu.Unlock()
	results := make(chan bool, len(targets))
	for _, t := range targets {
		go func() {
			defer s.wg.Done()
			results <- s.deliver(a, t, body)
		}()
	}
	go func() {
		defer s.wg.Done()
		n := 0
		for range targets {
			if <-results {
				n++
			}
		}
		done <- n
	}()
	return done
}

// deliver POSTs body to one webhook, signed afresh for each attempt, and reports whether it
// answered 2xx. A non-2xx answer is kept as the webhook's most recent failure.
func (s *Server) deliver(a *account, t target, body []byte) bool {
	for attempt := 0; attempt < webhookAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-s.ctx.Done():
				return false
			case <-time.After(s.clock.Scale(time.Duration(attempt) * 2 * time.Second)):
			}
		}
		req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, t.url, bytes.NewReader(body))
		if err != nil {
			return false
		}
		for k, v := range t.headers {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, SignWebhook(t.secret, time.Now(), body))
		status := 0
		if resp, err := s.webhookClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			status = resp.StatusCode
			if status >= 200 && status <= 299 {
				return true
			}
			a.mu.Lock()
			if h := a.findWebhook(t.id); h != nil {
				h.failureCode, h.failureAt = status, time.Now()
			}
			a.mu.Unlock()
		}
		transient := status == 0 || status == http.StatusTooManyRequests || status >= 500
		if !t.retry || !transient || s.ctx.Err() != nil {
			return false
		}
	}
	return false
}

// sendWebhook serves the control route POST /_sim/webhooks/send {"type", "data": {…}}: the
// key's webhooks get the event, signed, as ElevenLabs would send it; the answer,
// {"delivered_to": N}, comes once every delivery has ended, N being how many answered 2xx.
// ElevenLabs sends no event for the jobs the catalog has (dubbing), so tests make one here
// (docs/simulators.md §25).
func (s *Server) sendWebhook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Type *string          `json:"type"`
		Data *json.RawMessage `json:"data"` // sent as it is written
	}
	if errs := decodeBody(r, &req); errs != nil {
		writeValidation(w, errs...)
		return
	}
	var errs []fieldError
	switch {
	case req.Type == nil:
		errs = append(errs, missing("body", "type"))
	case *req.Type == "":
		errs = append(errs, fieldError{Loc: []any{"body", "type"}, Msg: "String should have at least 1 character", Type: "string_too_short"})
	}
	switch {
	case req.Data == nil:
		errs = append(errs, missing("body", "data"))
	case !bytes.HasPrefix(bytes.TrimSpace(*req.Data), []byte("{")):
		errs = append(errs, fieldError{Loc: []any{"body", "data"}, Msg: "Input should be a valid dictionary", Type: "dict_type"})
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	select {
	case n := <-s.emit(s.accountOf(r), *req.Type, *req.Data):
		writeJSON(w, http.StatusOK, map[string]int{"delivered_to": n})
	case <-r.Context().Done():
	}
}
