package heygen

import (
	"math"
	"net/http"
	"strings"
)

// Voices: GET /v2/voices, GET /v3/voices, GET /v3/voices/{id} and POST /v3/voices/speech
// (docs/simulators.md §11). Every voice is from the seeded catalog; the simulator has no
// voice clones, so private voice lists are empty.

func voicePreview(base string, v *voice) string { return mediaURL(base, "audio", v.ID+".mp3") }

// v2ListVoices: GAP: item fields beyond the HeyGen skill's list (docs/simulators.md §11).
func (s *Server) v2ListVoices(w http.ResponseWriter, r *http.Request, c *call) error {
	out := make([]map[string]any, 0, len(s.cat.voices))
	for _, v := range s.cat.voices {
		out = append(out, map[string]any{
			"voice_id": v.ID, "language": v.Language, "gender": v.Gender, "name": v.Name,
			"preview_audio": voicePreview(c.base, v), "support_pause": v.SupportPause,
			"emotion_support": v.Emotion, "support_interactive_avatar": false, "support_locale": false,
		})
	}
	okV2(w, map[string]any{"voices": out})
	return nil
}

// v3ListVoices filters by type, engine (starfish: usable for speech), language and gender.
func (s *Server) v3ListVoices(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	typ, engine, lang, gender := q.Get("type"), q.Get("engine"), q.Get("language"), q.Get("gender")
	if typ != "" && typ != "public" && typ != "private" {
		return invalidParam("type", "type must be public or private")
	}
	var items []map[string]any
	if typ != "private" {
		for _, v := range s.cat.voices {
			if (engine == "starfish" && !v.Starfish) ||
				(lang != "" && !strings.EqualFold(lang, v.Language)) || (gender != "" && gender != v.Gender) {
				continue
			}
			items = append(items, map[string]any{
				"voice_id": v.ID, "name": v.Name, "language": v.Language, "gender": v.Gender, "type": "public",
				"preview_audio_url": voicePreview(c.base, v), "support_pause": v.SupportPause,
				"support_locale": false,
			})
		}
	}
	return okV3Page(w, r, items, 20, 100)
}

func (s *Server) findVoice(id string) (*voice, error) {
	v := s.cat.voiceByID[id]
	if v == nil {
		return nil, notFound("voice_not_found", "Voice not found")
	}
	return v, nil
}

func (s *Server) v3GetVoice(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.v3GetClone(w, c, r.PathValue("voice_id")) { // one of the key's clones (voiceclones.go)
		return nil
	}
	v, err := s.findVoice(r.PathValue("voice_id"))
	if err != nil {
		return err
	}
	okV3(w, map[string]any{
		"voice_id": v.ID, "support_pause": v.SupportPause, "name": v.Name, "language": v.Language,
		"gender": v.Gender, "preview_audio_url": voicePreview(c.base, v),
		"support_interactive_avatar": false,
	})
	return nil
}

// v3Speech "speaks" text with a starfish voice: an MP3 of the estimated length and evenly
// spread word timestamps (docs/simulators.md §11).
func (s *Server) v3Speech(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Text      string  `json:"text"`
		VoiceID   string  `json:"voice_id"`
		InputType string  `json:"input_type"`
		Speed     float64 `json:"speed"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	switch n := len([]rune(req.Text)); {
	case n == 0 || n > 5000:
		return invalidParam("text", "text must be 1 to 5000 characters")
	case req.VoiceID == "":
		return invalidParam("voice_id", "voice_id is required")
	case req.InputType != "" && req.InputType != "text" && req.InputType != "ssml":
		return invalidParam("input_type", "input_type must be text or ssml")
	case req.Speed != 0 && (req.Speed < 0.5 || req.Speed > 2):
		return invalidParam("speed", "speed must be between 0.5 and 2.0")
	}
	v, err := s.findVoice(req.VoiceID)
	if err != nil {
		return err
	}
	if !v.Starfish {
		// GAP: the HTTP status of voice_not_usable; 400 here (docs/simulators.md §11).
		return &apiError{Status: 400, Code: "voice_not_usable", Param: "voice_id",
			Message: "This voice can't be used for speech; list voices with engine=starfish."}
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
	return nil
}
