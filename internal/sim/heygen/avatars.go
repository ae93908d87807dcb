package heygen

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Avatars: the public catalog (GET /v2/avatars, GET /v2/avatar/{id}/details), talking
// photos (GET /v1/talking_photo.list), v2 photo avatars and the v3 groups and looks
// (docs/simulators.md §10). A photo avatar made through v2 is also a v3 look, and both are
// usable as talking photos once trained.

// photoAvatarCredits is the charge for creating a photo avatar or v3 avatar:
// photo_avatar/train costs 4 credits per call [HG-limits]. GAP: the v3 cost; pricing gives
// $1 per call [HG-v3-lim], taken as the same 4 credits (docs/simulators.md §10).
const photoAvatarCredits = 4

func avatarPreviews(base, id string) (image, video string) {
	return mediaURL(base, "images", id+".png"), mediaURL(base, "previews", id+".mp4")
}

// ---- public catalog (v2) ----

// avatarJSON is a GET /v2/avatars item. GAP: the full item field list; the first five are
// documented, premium/type/tags/default_voice_id come from the details endpoint
// (docs/simulators.md §10).
func avatarJSON(base string, a *avatar) map[string]any {
	img, vid := avatarPreviews(base, a.ID)
	return map[string]any{
		"avatar_id": a.ID, "avatar_name": a.Name, "gender": a.Gender,
		"preview_image_url": img, "preview_video_url": vid,
		"premium": a.Premium, "type": nil, "tags": a.Tags, "default_voice_id": a.DefaultVoiceID,
	}
}

func (s *Server) v2ListAvatars(w http.ResponseWriter, r *http.Request, c *call) error {
	avatars := make([]map[string]any, 0, len(s.cat.avatars))
	for _, a := range s.cat.avatars {
		avatars = append(avatars, avatarJSON(c.base, a))
	}
	photos := []map[string]any{}
	for _, tp := range s.talkingPhotos(c) {
		photos = append(photos, map[string]any{
			"talking_photo_id": tp.id, "talking_photo_name": tp.name, "preview_image_url": tp.image,
		})
	}
	okV2(w, map[string]any{"avatars": avatars, "talking_photos": photos})
	return nil
}

func (s *Server) v2AvatarDetails(w http.ResponseWriter, r *http.Request, c *call) error {
	a := s.cat.avatarByID[r.PathValue("avatar_id")]
	if a == nil {
		return notFound("avatar_not_found", "Avatar not found")
	}
	img, vid := avatarPreviews(c.base, a.ID)
	okV2(w, map[string]any{
		"type": "avatar", "id": a.ID, "name": a.Name, "gender": a.Gender,
		"preview_image_url": img, "preview_video_url": vid,
		"premium": a.Premium, "is_public": true, "default_voice_id": a.DefaultVoiceID, "tags": a.Tags,
	})
	return nil
}

// ---- talking photos ----

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
		if s.avatarState(p, "") == "completed" {
			out = append(out, talkingPhotoItem{p.ID, p.Name, p.ImageURL})
		}
	}
	return out
}

func (s *Server) hasTalkingPhoto(c *call, id string) bool {
	for _, tp := range s.talkingPhotos(c) {
		if tp.id == id {
			return true
		}
	}
	return false
}

func (s *Server) v1ListTalkingPhotos(w http.ResponseWriter, r *http.Request, c *call) error {
	out := []map[string]any{}
	for _, tp := range s.talkingPhotos(c) {
		out = append(out, map[string]any{"id": tp.id, "image_url": tp.image, "circle_image": tp.image})
	}
	okV1(w, out)
	return nil
}

// ---- private avatars: shared by v2 photo avatars and v3 looks ----

// avatarState is training, completed or failed; training is the word of the caller's API
// version (v2 "pending", v3 "processing").
func (s *Server) avatarState(p *privateAvatar, training string) string {
	switch done, failed := s.avatarDone(p); {
	case failed:
		return "failed"
	case done:
		return "completed"
	}
	return training
}

// addPrivateAvatar creates a look (and a group unless groupID names one) and charges for
// it. Caller holds s.mu.
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
	c.acct.creditsUsed += photoAvatarCredits
	return p
}

// ---- v2 photo avatars ----

// photoAvatarJSON is the v2 photo avatar object.
func (s *Server) photoAvatarJSON(p *privateAvatar) map[string]any {
	return map[string]any{
		"id": p.ID, "image_url": p.ImageURL, "created_at": float64(p.CreatedAt.UnixMilli()) / 1000,
		"name": p.Name, "status": s.avatarState(p, "pending"), "group_id": p.GroupID, "is_motion": false,
		"business_type": "uploaded",
	}
}

func (s *Server) v2CreatePhotoAvatar(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		ImageKey     string `json:"image_key"`
		Name         string `json:"name"`
		GenerationID string `json:"generation_id"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return invalidParam("name", "name is required")
	}
	if req.ImageKey == "" && req.GenerationID == "" {
		return invalidParam("image_key", "image_key is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	imageURL := ""
	if req.ImageKey != "" {
		id := strings.TrimSuffix(strings.TrimPrefix(req.ImageKey, "image/"), "/original")
		a := c.acct.assets[id]
		if a == nil || a.FileType != "image" {
			return invalidParam("image_key", "image_key %q does not refer to an uploaded image", req.ImageKey)
		}
		imageURL = a.url(c.base)
	}
	p := s.addPrivateAvatar(c, "", req.Name, "photo_avatar", imageURL)
	p.ImageKey = req.ImageKey
	okV2(w, s.photoAvatarJSON(p))
	return nil
}

func (s *Server) v2PhotoAvatar(w http.ResponseWriter, r *http.Request, c *call) error {
	p := lookup(s, c.acct.avatars, r.PathValue("photo_avatar_id"))
	if p == nil {
		return notFound("photo_avatar_not_found", "Photo avatar not found")
	}
	okV2(w, s.photoAvatarJSON(p))
	return nil
}

// ---- v3 groups and looks ----

func (s *Server) publicGroupJSON(base string, g *avatarGroup) map[string]any {
	img, vid := avatarPreviews(base, g.Looks[0])
	return map[string]any{
		"id": g.ID, "name": g.Name, "created_at": g.CreatedAt, "looks_count": len(g.Looks),
		"gender": g.Gender, "default_voice_id": g.DefaultVoiceID,
		"preview_image_url": img, "preview_video_url": vid, "consent_status": nil,
	}
}

// withTrainingError adds the error object a failed private group or look carries.
func withTrainingError(m map[string]any) map[string]any {
	if m["status"] == "failed" {
		m["error"] = map[string]any{"code": "training_failed", "message": "Avatar training failed (simulated FAIL trigger in the name)."}
	}
	return m
}

// privateGroupJSON takes its status and image from the group's first look. Caller holds s.mu.
func (s *Server) privateGroupJSON(c *call, g *privateGroup) map[string]any {
	status, img := "processing", ""
	if len(g.Looks) > 0 {
		p := c.acct.avatars[g.Looks[0]]
		status, img = s.avatarState(p, "processing"), p.ImageURL
	}
	return withTrainingError(map[string]any{
		"id": g.ID, "name": g.Name, "created_at": g.CreatedAt.Unix(), "looks_count": len(g.Looks),
		"gender": nil, "default_voice_id": nil, "preview_image_url": img, "preview_video_url": nil,
		"status": status, "consent_status": nullable(g.Consent),
	})
}

func publicLookJSON(base string, a *avatar) map[string]any {
	w, h := 1920, 1080
	if a.Orientation == "portrait" {
		w, h = 1080, 1920
	}
	engines := []string{"avatar_iv", "avatar_v"}
	if strings.Contains(a.ID, "expressive") {
		engines = append(engines, "avatar_iii")
	}
	img, vid := avatarPreviews(base, a.ID)
	return map[string]any{
		"id": a.ID, "name": a.Name, "avatar_type": "studio_avatar", "group_id": a.GroupID,
		"gender": a.Gender, "default_voice_id": a.DefaultVoiceID,
		"preview_image_url": img, "preview_video_url": vid,
		"image_width": w, "image_height": h, "preferred_orientation": a.Orientation,
		"supported_api_engines": engines, "tags": a.Tags,
	}
}

// privateLookJSON: caller holds s.mu.
func (s *Server) privateLookJSON(p *privateAvatar) map[string]any {
	return withTrainingError(map[string]any{
		"id": p.ID, "name": p.Name, "avatar_type": p.Kind, "group_id": p.GroupID, "gender": nil,
		"default_voice_id": nil, "preview_image_url": p.ImageURL, "preview_video_url": nil,
		"image_width": 1080, "image_height": 1920, "preferred_orientation": "portrait",
		"status": s.avatarState(p, "processing"), "supported_api_engines": []string{"avatar_iv", "avatar_v"}, "tags": []string{},
	})
}

// readyPrivateLook checks that id is one of the key's looks and has finished training.
func (s *Server) readyPrivateLook(c *call, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.acct.avatars[id]
	if p == nil {
		return notFound("avatar_not_found", fmt.Sprintf("Avatar %q not found", id))
	}
	if st := s.avatarState(p, "processing"); st != "completed" {
		return invalidParam("avatar_id", "avatar %q is not ready (status %s)", id, st)
	}
	return nil
}

// ownership reads the ownership filter: "" (all), public or private.
func ownership(r *http.Request) (string, error) {
	own := r.URL.Query().Get("ownership")
	if own != "" && own != "public" && own != "private" {
		return "", invalidParam("ownership", "ownership must be public or private")
	}
	return own, nil
}

// v3ListGroups lists the key's groups (oldest first), then the public ones.
func (s *Server) v3ListGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	own, err := ownership(r)
	if err != nil {
		return err
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
	return okV3Page(w, r, items, 20, 50)
}

// catalogOrOwn renders the public catalog's object named id, or else the key's own object,
// or answers missing: a v3 get of a group or a look.
func catalogOrOwn[P, Q any](s *Server, id string, public map[string]*P, own map[string]*Q,
	publicJSON func(*P) map[string]any, ownJSON func(*Q) map[string]any, missing error) (map[string]any, error) {
	if p := public[id]; p != nil {
		return publicJSON(p), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := own[id]; q != nil {
		return ownJSON(q), nil
	}
	return nil, missing
}

func (s *Server) v3GetGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := catalogOrOwn(s, r.PathValue("group_id"), s.cat.groupByID, c.acct.groups,
		func(g *avatarGroup) map[string]any { return s.publicGroupJSON(c.base, g) },
		func(g *privateGroup) map[string]any { return s.privateGroupJSON(c, g) },
		notFound("avatar_not_found", "Avatar group not found"))
	if err != nil {
		return err
	}
	okV3(w, m)
	return nil
}

// v3ListLooks lists the key's looks (oldest first), then the public ones, filtered by
// group_id and avatar_type.
func (s *Server) v3ListLooks(w http.ResponseWriter, r *http.Request, c *call) error {
	own, err := ownership(r)
	if err != nil {
		return err
	}
	group, typ := r.URL.Query().Get("group_id"), r.URL.Query().Get("avatar_type")
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
				items = append(items, publicLookJSON(c.base, a))
			}
		}
	}
	return okV3Page(w, r, items, 20, 50)
}

func (s *Server) v3GetLook(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := catalogOrOwn(s, r.PathValue("look_id"), s.cat.avatarByID, c.acct.avatars,
		func(a *avatar) map[string]any { return publicLookJSON(c.base, a) },
		s.privateLookJSON, notFound("avatar_not_found", "Avatar look not found"))
	if err != nil {
		return err
	}
	okV3(w, m)
	return nil
}

// v3CreateAvatar serves POST /v3/avatars, a union on type: photo, digital_twin or prompt.
func (s *Server) v3CreateAvatar(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Type          string      `json:"type"`
		Name          string      `json:"name"`
		File          *assetInput `json:"file"`
		Prompt        string      `json:"prompt"`
		AvatarGroupID string      `json:"avatar_group_id"`
		AvatarID      string      `json:"avatar_id"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	kind := map[string]string{"photo": "photo_avatar", "digital_twin": "digital_twin", "prompt": "photo_avatar"}[req.Type]
	if kind == "" {
		return invalidParam("type", "type must be photo, digital_twin or prompt")
	}
	if req.Name == "" {
		return invalidParam("name", "name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	img := ""
	if req.Type == "prompt" {
		if req.Prompt == "" {
			return invalidParam("prompt", "prompt is required")
		}
		if req.AvatarID != "" && s.cat.avatarByID[req.AvatarID] == nil && c.acct.avatars[req.AvatarID] == nil {
			return notFound("avatar_not_found", "Avatar not found") // [HG-v3-chg]
		}
	} else {
		u, err := s.resolveAsset(c, req.File, "file")
		if err != nil {
			return err
		}
		if req.Type == "photo" {
			img = u
		}
	}
	newGroup := c.acct.groups[req.AvatarGroupID] == nil
	if req.AvatarGroupID != "" && newGroup {
		if s.cat.groupByID[req.AvatarGroupID] != nil {
			return invalidParam("avatar_group_id", "public avatar groups cannot be modified")
		}
		return notFound("avatar_not_found", "Avatar group not found")
	}
	p := s.addPrivateAvatar(c, req.AvatarGroupID, req.Name, kind, img)
	var group any
	if newGroup {
		group = s.privateGroupJSON(c, c.acct.groups[p.GroupID])
	}
	okV3(w, map[string]any{"avatar_group": group, "avatar_item": s.privateLookJSON(p)})
	return nil
}
