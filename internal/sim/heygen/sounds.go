package heygen

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Audio catalog search: GET /v3/audio/sounds (docs/simulators.md §11). Query `query`*,
// `type` music (default) | sound_effects, `limit` 1–50 (default 10), `min_score` (default
// 0.7), `token`; items {id, name, description, audio_url, duration, score, type, placement,
// peak_offset} ranked by score, in the list envelope [HG-cli].
//
// GAP: upstream ranks by semantic similarity. The simulator's score is the share of the
// query's words found in a track's name and description (1 when all are), so a query that
// shares no word with the small fixed catalog below finds nothing (docs/simulators.md §11).

type sound struct {
	ID, Name, Description, Type string
	Duration                    float64
	Placement                   string  // sound effects: hit, riser or bed
	PeakOffset                  float64 // sound effects: seconds to the loudest peak
}

var sounds = []sound{
	{ID: "snd_music_upbeat_lofi", Name: "Sunny Loop", Description: "upbeat lofi hip-hop beat with warm keys", Type: "music", Duration: 92},
	{ID: "snd_music_corporate", Name: "Forward Motion", Description: "bright corporate pop with claps, upbeat and positive", Type: "music", Duration: 120},
	{ID: "snd_music_cinematic", Name: "Rising Tide", Description: "tense cinematic strings building to an epic riser", Type: "music", Duration: 75},
	{ID: "snd_music_ambient", Name: "Soft Focus", Description: "calm ambient piano pad for explainer videos", Type: "music", Duration: 150},
	{ID: "snd_music_acoustic", Name: "Front Porch", Description: "gentle acoustic guitar folk, warm and calm", Type: "music", Duration: 110},
	{ID: "snd_sfx_whoosh", Name: "Whoosh Transition", Description: "fast whoosh for a scene change transition", Type: "sound_effects", Duration: 1.2, Placement: "hit", PeakOffset: 0.4},
	{ID: "snd_sfx_cash", Name: "Cash Register", Description: "cash register cha-ching", Type: "sound_effects", Duration: 1.5, Placement: "hit", PeakOffset: 0.3},
	{ID: "snd_sfx_riser", Name: "Cinematic Riser", Description: "tense cinematic riser building tension", Type: "sound_effects", Duration: 4, Placement: "riser", PeakOffset: 3.8},
	{ID: "snd_sfx_click", Name: "Mouse Click", Description: "single mouse click for a UI tap", Type: "sound_effects", Duration: 0.3, Placement: "hit", PeakOffset: 0.05},
	{ID: "snd_sfx_crowd", Name: "Office Ambience", Description: "quiet office room tone bed with distant chatter", Type: "sound_effects", Duration: 30, Placement: "bed", PeakOffset: 12},
}

// soundScore is the share of the query's words found in the track's words.
func soundScore(query []string, sd sound) float64 {
	words := strings.FieldsFunc(strings.ToLower(sd.Name+" "+sd.Description), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	})
	hit := 0
	for _, q := range query {
		if slices.Contains(words, q) {
			hit++
		}
	}
	return math.Round(float64(hit)/float64(len(query))*1000) / 1000
}

func (s *Server) v3SearchSounds(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	query := strings.Fields(strings.ToLower(q.Get("query")))
	if len(query) == 0 {
		return invalidParam("query", "query is required")
	}
	typ := q.Get("type")
	if typ == "" {
		typ = "music"
	}
	if typ != "music" && typ != "sound_effects" {
		return invalidParam("type", "type must be music or sound_effects")
	}
	minScore := 0.7
	if v := q.Get("min_score"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return invalidParam("min_score", "min_score must be a number between 0 and 1")
		}
		minScore = f
	}
	type hit struct {
		sd    sound
		score float64
	}
	var hits []hit
	for _, sd := range sounds {
		if sc := soundScore(query, sd); sd.Type == typ && sc >= minScore && sc > 0 {
			hits = append(hits, hit{sd, sc})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	items := make([]map[string]any, 0, len(hits))
	s.mu.Lock()
	for _, h := range hits {
		// The audio route serves s.speech's ids (id → seconds): downloads work like speech's.
		s.speech[h.sd.ID] = h.sd.Duration
		m := map[string]any{
			"id": h.sd.ID, "name": h.sd.Name, "description": h.sd.Description, "type": h.sd.Type,
			"audio_url": mediaURL(c.base, "audio", h.sd.ID+".mp3"), "duration": h.sd.Duration,
			"score": h.score, "placement": nil, "peak_offset": nil,
		}
		if h.sd.Placement != "" {
			m["placement"], m["peak_offset"] = h.sd.Placement, h.sd.PeakOffset
		}
		items = append(items, m)
	}
	s.mu.Unlock()
	return okV3Page(w, r, items, 10, 50)
}
