package heygen

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Management routes of v3 objects: renaming and deleting avatar looks and groups, avatar
// consent, the translation list and delete, webhook endpoint updates and the webhook event
// history (docs/simulators.md §10, §13, §14).

// ---- avatar groups and looks ----

var (
	errNoGroup = notFound("avatar_not_found", "Avatar group not found")
	errNoLook  = notFound("avatar_not_found", "Avatar look not found")
	// GAP: the error for changing a public (catalog) group or look; the 400 POST /v3/avatars
	// gives for a public avatar_group_id (docs/simulators.md §10).
	errPublicAvatar = invalidParam("", "public avatars cannot be modified or deleted")
)

// v3DeleteGroup deletes one of the key's groups and its looks → {"data": {"id"}} [HG-cli].
func (s *Server) v3DeleteGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("group_id")
	if s.cat.groupByID[id] != nil {
		return errPublicAvatar
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := c.acct.groups[id]
	if g == nil {
		return errNoGroup
	}
	for _, look := range g.Looks {
		delete(c.acct.avatars, look)
	}
	c.acct.avatarOrder = slices.DeleteFunc(c.acct.avatarOrder, func(x string) bool { return slices.Contains(g.Looks, x) })
	s.dropGroup(c, id)
	okV3(w, map[string]any{"id": id})
	return nil
}

// dropGroup removes a group from the key's groups. Caller holds s.mu.
func (s *Server) dropGroup(c *call, id string) {
	delete(c.acct.groups, id)
	c.acct.groupOrder = slices.DeleteFunc(c.acct.groupOrder, func(x string) bool { return x == id })
}

// v3GroupConsent starts (or, with consent_video, completes) a group's consent [HG-cli]:
// {"data": {"avatar_group", "url"?}}. GAP: the consent link's form and lifetime (24 h per
// the docs), and whether photo-avatar groups, which need no consent, are refused; the
// simulator accepts any of the key's groups, answers a link on app.heygen.com and sets
// consent_status pending, or approved at once for a consent_video (docs/simulators.md §10).
func (s *Server) v3GroupConsent(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		RerouteURL   string      `json:"reroute_url"`
		ConsentVideo *assetInput `json:"consent_video"`
		ConsentText  string      `json:"consent_text"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	id := r.PathValue("group_id")
	if s.cat.groupByID[id] != nil {
		return errPublicAvatar
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := c.acct.groups[id]
	if g == nil {
		return errNoGroup
	}
	out := map[string]any{}
	if req.ConsentVideo != nil {
		if _, err := s.resolveAsset(c, req.ConsentVideo, "consent_video"); err != nil {
			return err
		}
		g.Consent = "approved"
	} else {
		if g.Consent == "" {
			g.Consent = "pending"
		}
		out["url"] = "https://app.heygen.com/avatar-consent/" + s.ids.Hex(32)
	}
	out["avatar_group"] = s.privateGroupJSON(c, g)
	okV3(w, out)
	return nil
}

// v3UpdateLook renames one of the key's looks: body {"name"*} → the look [HG-cli].
func (s *Server) v3UpdateLook(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name *string `json:"name"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	id := r.PathValue("look_id")
	if s.cat.avatarByID[id] != nil {
		return errPublicAvatar
	}
	if req.Name == nil || *req.Name == "" {
		return invalidParam("name", "name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.acct.avatars[id]
	if p == nil {
		return errNoLook
	}
	p.Name = *req.Name
	okV3(w, s.privateLookJSON(p))
	return nil
}

// v3DeleteLook deletes one of the key's looks → {"data": {"id"}}; the last look of a group
// takes the group with it [HG-cli].
func (s *Server) v3DeleteLook(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("look_id")
	if s.cat.avatarByID[id] != nil {
		return errPublicAvatar
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.acct.avatars[id]
	if p == nil {
		return errNoLook
	}
	delete(c.acct.avatars, id)
	c.acct.avatarOrder = slices.DeleteFunc(c.acct.avatarOrder, func(x string) bool { return x == id })
	if g := c.acct.groups[p.GroupID]; g != nil {
		g.Looks = slices.DeleteFunc(g.Looks, func(x string) bool { return x == id })
		if len(g.Looks) == 0 {
			s.dropGroup(c, g.ID)
		}
	}
	okV3(w, map[string]any{"id": id})
	return nil
}

// ---- video translations ----

// v3ListTranslations lists the key's translations, newest first: limit 1–100 (default 10),
// token [HG-cli].
func (s *Server) v3ListTranslations(w http.ResponseWriter, r *http.Request, c *call) error {
	var items []map[string]any
	s.mu.Lock()
	for _, t := range newestFirst(c.acct.transOrder, c.acct.translations) {
		s.advanceTranslation(t)
		items = append(items, s.v3TranslationJSON(c.base, t))
	}
	s.mu.Unlock()
	return okV3Page(w, r, items, 10, 100)
}

// v3DeleteTranslation → {"data": {"id"}} [HG-cli].
func (s *Server) v3DeleteTranslation(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("video_translation_id")
	if !removeOwned(s, c.acct.translations, s.translations, id) {
		return notFound("resource_not_found", "Video translation not found")
	}
	okV3(w, map[string]any{"id": id})
	return nil
}

// ---- webhooks ----

// v3UpdateWebhook changes an endpoint's url and/or events (the list is replaced; [] or null
// is every event) → the endpoint, secret null [HG-cli, HG-v3-wh].
func (s *Server) v3UpdateWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		URL    *string         `json:"url"`
		Events json.RawMessage `json:"events"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var events []string
	if isSet(req.Events) {
		if err := json.Unmarshal(req.Events, &events); err != nil {
			return invalidParam("events", "events must be an array of event types")
		}
	}
	check := webhookRequest{URL: "https://example.com/", Events: events}
	if req.URL != nil {
		check.URL = *req.URL
	}
	if err := check.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := c.acct.hooks[r.PathValue("endpoint_id")]
	if ep == nil {
		return errNoEndpoint
	}
	if req.URL != nil {
		ep.URL = *req.URL
	}
	if len(req.Events) > 0 {
		ep.Events = events
	}
	okV3(w, v3EndpointJSON(ep, false))
	return nil
}

// sentEvent is one webhook event emit sent for a key.
type sentEvent struct {
	ID, Type string
	Data     map[string]any
	At       time.Time
}

// maxKeptEvents bounds each key's event history. GAP: upstream's retention
// (docs/simulators.md §14).
const maxKeptEvents = 1000

// recordEvent keeps e in the key's history. Caller holds s.mu.
func (a *account) recordEvent(e sentEvent) {
	a.events = append(a.events, e)
	if n := len(a.events) - maxKeptEvents; n > 0 {
		a.events = slices.Delete(a.events, 0, n)
	}
}

// entityOf is the id of the object an event is about (what entity_id filters on).
func entityOf(data map[string]any) string {
	for _, k := range []string{"video_id", "video_translate_id", "id", "batch_id", "session_id"} {
		if v, ok := data[k].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// v3WebhookEvents lists the key's sent events, newest first, filtered by event_type and
// entity_id: {event_id, event_type, event_data, created_at (ISO)}; limit 1–100 (default 10),
// token [HG-cli].
func (s *Server) v3WebhookEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	typ, entity := q.Get("event_type"), q.Get("entity_id")
	if typ != "" && !slices.Contains(webhookEvents, typ) {
		return invalidParam("event_type", "unknown event type %q", typ)
	}
	var items []map[string]any
	s.mu.Lock()
	for i := len(c.acct.events) - 1; i >= 0; i-- {
		e := c.acct.events[i]
		if (typ != "" && e.Type != typ) || (entity != "" && entityOf(e.Data) != entity) {
			continue
		}
		items = append(items, map[string]any{"event_id": e.ID, "event_type": e.Type,
			"event_data": e.Data, "created_at": e.At.UTC().Format(time.RFC3339)})
	}
	s.mu.Unlock()
	return okV3Page(w, r, items, 10, 100)
}
