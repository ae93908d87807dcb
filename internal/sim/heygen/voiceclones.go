package heygen

import (
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Voice design and clones (docs/simulators.md §11): POST /v3/voices (design: a semantic
// search of the catalog), POST /v3/voices/clone and DELETE /v3/voices/{voice_id} [HG-cli].
// A clone is the key's own: GET /v3/voices/{voice_id} shows it with its status,
// processing for 3 s, then complete (failed when its name has the word FAIL), and it may
// narrate a Video Agent session once complete.

type voiceClone struct {
	ID, Key, Name, Language string
	Fail                    bool
	CreatedAt               time.Time
}

// cloneStatus is processing, complete or failed [HG-cli].
func (s *Server) cloneStatus(v *voiceClone) string {
	switch {
	case s.clock.Elapsed(v.CreatedAt) < avatarTotal:
		return "processing"
	case v.Fail:
		return "failed"
	}
	return "complete"
}

// cloneReady reports whether id is one of the key's clones, complete.
func (s *Server) cloneReady(c *call, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := c.acct.clones[id]
	return v != nil && s.cloneStatus(v) == "complete"
}

// cloneJSON is the GET /v3/voices/{voice_id} answer for a clone. Caller holds s.mu.
func (s *Server) cloneJSON(base string, v *voiceClone) map[string]any {
	st := s.cloneStatus(v)
	m := map[string]any{
		"voice_id": v.ID, "support_pause": true, "name": v.Name, "language": nullable(v.Language),
		"gender": nil, "preview_audio_url": nil, "created_at": v.CreatedAt.Unix(), "status": st,
		"failure_message": nil, "support_interactive_avatar": false,
	}
	switch st {
	case "complete":
		m["preview_audio_url"] = mediaURL(base, "audio", v.ID+".mp3")
	case "failed":
		m["failure_message"] = "Voice cloning failed: the sample has too little clear speech (simulated FAIL trigger)."
	}
	return m
}

// maxClones — GAP: the plan's clone allowance; 30 per key, then 400
// resource_limit_reached [HG-v3-err] (docs/simulators.md §11).
const maxClones = 30

func (s *Server) v3CloneVoice(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		VoiceName string      `json:"voice_name"`
		Audio     *assetInput `json:"audio"`
		Language  string      `json:"language"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.VoiceName) == "" {
		return invalidParam("voice_name", "voice_name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.resolveAsset(c, req.Audio, "audio"); err != nil {
		return err
	}
	if len(c.acct.clones) >= maxClones {
		return &apiError{Status: 400, Code: "resource_limit_reached",
			Message: "You have reached your voice clone limit. Delete a voice clone or upgrade your plan."}
	}
	v := &voiceClone{ID: s.ids.Hex(32), Key: c.key, Name: req.VoiceName, Language: req.Language,
		Fail: failTrigger.MatchString(req.VoiceName), CreatedAt: time.Now()}
	c.acct.clones[v.ID] = v
	okV3(w, map[string]any{"voice_clone_id": v.ID})
	return nil
}

// v3GetClone answers GET /v3/voices/{voice_id} for one of the key's clones; ok is false
// when id is not one (the catalog's voices are answered by v3GetVoice).
func (s *Server) v3GetClone(w http.ResponseWriter, c *call, id string) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := c.acct.clones[id]
	if v == nil {
		return false
	}
	okV3(w, s.cloneJSON(c.base, v))
	return true
}

// v3DeleteVoice deletes one of the key's clones; any other id, an already deleted one
// included, is 404 voice_not_found [HG-cli].
func (s *Server) v3DeleteVoice(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("voice_id")
	s.mu.Lock()
	_, own := c.acct.clones[id]
	delete(c.acct.clones, id)
	s.mu.Unlock()
	if !own {
		return notFound("voice_not_found", "Voice not found")
	}
	okV3(w, map[string]any{"voice_id": id})
	return nil
}

// localeLanguages maps a BCP-47 locale's language to the catalog's language names.
var localeLanguages = map[string]string{
	"en": "English", "es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese",
	"it": "Italian", "ja": "Japanese", "hi": "Hindi", "zh": "Chinese", "ar": "Arabic",
}

// v3DesignVoice "designs" a voice: it ranks the catalog's voices against the prompt's words
// (name, gender, language) and answers up to 3, the seed-th batch. GAP: the ranking is the
// simulator's; the same prompt and seed always answer the same voices, as upstream
// (docs/simulators.md §11).
func (s *Server) v3DesignVoice(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Prompt string `json:"prompt"`
		Gender string `json:"gender"`
		Locale string `json:"locale"`
		Seed   *int   `json:"seed"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	seed := 0
	if req.Seed != nil {
		seed = *req.Seed
	}
	switch {
	case strings.TrimSpace(req.Prompt) == "":
		return invalidParam("prompt", "prompt is required")
	case req.Gender != "" && req.Gender != "male" && req.Gender != "female":
		return invalidParam("gender", "gender must be male or female")
	case seed < 0:
		return invalidParam("seed", "seed must be at least 0")
	}
	lang := ""
	if req.Locale != "" {
		base, _, _ := strings.Cut(req.Locale, "-")
		if lang = localeLanguages[strings.ToLower(base)]; lang == "" {
			return invalidParam("locale", "unsupported locale %q", req.Locale)
		}
	}
	words := strings.Fields(strings.ToLower(req.Prompt))
	type scored struct {
		v     *voice
		score int
		tie   uint64
	}
	var cands []scored
	for _, v := range s.cat.voices {
		if (req.Gender != "" && v.Gender != req.Gender) || (lang != "" && v.Language != lang) {
			continue
		}
		hay := strings.ToLower(v.Name + " " + v.Gender + " " + v.Language)
		sc := 0
		for _, wd := range words {
			if len(wd) > 2 && strings.Contains(hay, strings.Trim(wd, ",.;:!?")) {
				sc++
			}
		}
		h := fnv.New64a()
		h.Write([]byte(req.Prompt + "\x00" + v.ID))
		cands = append(cands, scored{v, sc, h.Sum64()})
	}
	slices.SortFunc(cands, func(a, b scored) int {
		if a.score != b.score {
			return b.score - a.score
		}
		switch {
		case a.tie < b.tie:
			return -1
		case a.tie > b.tie:
			return 1
		}
		return 0
	})
	out := []map[string]any{}
	start := len(cands)
	if seed < len(cands) {
		start = seed * 3
	}
	for i := start; i < min(start+3, len(cands)); i++ {
		v := cands[i].v
		out = append(out, map[string]any{
			"voice_id": v.ID, "name": v.Name, "language": v.Language, "gender": v.Gender, "type": "public",
			"preview_audio_url": voicePreview(c.base, v), "support_pause": v.SupportPause, "support_locale": false,
		})
	}
	okV3(w, map[string]any{"seed": seed, "voices": out})
	return nil
}
