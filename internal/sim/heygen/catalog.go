package heygen

import (
	"fmt"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// The public catalog (avatars, voices, templates, talking photos, languages) is generated
// once per server from opts.Seed, so two servers with the same seed list the same data.
// docs/simulators.md §17 describes it; field names are those of §10 and §11.

type avatar struct {
	ID, Name, Gender, DefaultVoiceID string
	GroupID                          string
	Premium                          bool
	Tags                             []string
	Orientation                      string
	CreatedAt                        int64
}

type avatarGroup struct {
	ID, Name, Gender, DefaultVoiceID string
	Looks                            []string // avatar (look) ids
	CreatedAt                        int64
}

type voice struct {
	ID, Name, Language, Gender string
	SupportPause, Emotion      bool
	Starfish                   bool // usable with POST /v3/voices/speech
}

type template struct {
	ID, Name, AspectRatio string
	CreatedAt             int64
	Scenes                []templateScene
	// Variables in the v2 shape: name → {name, type, properties}.
	Variables map[string]templateVar
	varOrder  []string
}

type templateScene struct {
	ID, Script string
	Vars       []string
}

type templateVar struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

type talkingPhoto struct {
	ID, Name string
}

type catalog struct {
	avatars       []*avatar
	avatarByID    map[string]*avatar
	groups        []*avatarGroup
	groupByID     map[string]*avatarGroup
	voices        []*voice
	voiceByID     map[string]*voice
	templates     []*template
	templateByID  map[string]*template
	talkingPhotos []talkingPhoto
	languages     []string
}

var (
	femaleNames = []string{"Abigail", "Adriana", "Amelia", "Anna", "Bianca", "Camila", "Chloe", "Daisy", "Elena", "Fatima", "Gala", "Hana", "Imelda", "Jasmine", "Kayla", "Leah", "Mei", "Nadia", "Olivia", "Priya"}
	maleNames   = []string{"Aditya", "Brandon", "Carlos", "Darnell", "Edward", "Felix", "Gabriel", "Hiroshi", "Ivan", "Jamal", "Kai", "Lucas", "Marcus", "Noah", "Omar", "Pedro", "Raul", "Santa", "Tyler", "Wayne"}
	lookStyles  = []struct{ id, label string }{
		{"expressive", "Upper Body"}, {"sitting", "Sitting"}, {"standing", "Standing"},
		{"office", "Office Front"}, {"casual", "Casual"}, {"business", "Business"},
	}
	voiceAdjectives = []string{"Warm", "Bright", "Calm", "Deep", "Lively", "Crisp", "Gentle", "Bold", "Soft", "Clear"}
	voiceLanguages  = []string{"English", "English", "English", "Spanish", "French", "German", "Portuguese", "Italian", "Japanese", "Hindi", "Chinese", "Arabic"}
	tagPool         = []string{"AVATAR_IV", "NEW", "BUSINESS", "LIFESTYLE", "EDUCATION", "HEALTH"}
)

// translationLanguages are the names GET /v2/video_translate/target_languages and
// GET /v3/video-translations/languages return [HG-vt, HG-v3-vt].
var translationLanguages = []string{
	"English", "English - Your Accent", "English (United States)", "English (UK)",
	"Spanish", "Spanish (Spain)", "Spanish (Mexico)", "French", "French (France)", "German",
	"Italian", "Portuguese (Brazil)", "Portuguese (Portugal)", "Dutch", "Polish", "Turkish",
	"Russian", "Japanese", "Korean", "Chinese (Mandarin, Simplified)", "Hindi", "Arabic",
	"Indonesian", "Swedish", "Ukrainian", "Vietnamese",
}

func newCatalog(seed uint64) *catalog {
	r := simcore.NewRand(seed)
	c := &catalog{
		avatarByID:   map[string]*avatar{},
		groupByID:    map[string]*avatarGroup{},
		voiceByID:    map[string]*voice{},
		templateByID: map[string]*template{},
		languages:    translationLanguages,
	}
	const epoch = 1732492800 // 2024-11-25, the date in Abigail_expressive_2024112501

	// Voices first: avatars point at them as default voices.
	c.addVoice(&voice{ID: "f38a635bee7a4d1f9b0a654a31d050d2", Name: "Chill Brian", Language: "English", Gender: "male", SupportPause: true, Emotion: true, Starfish: true})
	for i := 1; i < 48; i++ {
		gender, pool := "female", femaleNames
		if i%2 == 1 {
			gender, pool = "male", maleNames
		}
		name := fmt.Sprintf("%s %s", voiceAdjectives[r.IntN(len(voiceAdjectives))], pool[r.IntN(len(pool))])
		c.addVoice(&voice{
			ID: r.Hex(32), Name: name, Language: voiceLanguages[r.IntN(len(voiceLanguages))], Gender: gender,
			SupportPause: r.IntN(4) != 0, Emotion: r.IntN(3) == 0, Starfish: r.IntN(2) == 0,
		})
	}
	voiceFor := func(gender string) string {
		for {
			v := c.voices[r.IntN(len(c.voices))]
			if v.Gender == gender {
				return v.ID
			}
		}
	}

	// Avatar groups (one per person) with several looks each. The first look is the one the
	// seed page shows: Abigail_expressive_2024112501 / "Abigail (Upper Body)".
	persons := []struct{ name, gender string }{{"Abigail", "female"}}
	for i := 0; len(persons) < 14; i++ {
		if i%2 == 0 {
			persons = append(persons, struct{ name, gender string }{maleNames[r.IntN(len(maleNames))], "male"})
		} else {
			persons = append(persons, struct{ name, gender string }{femaleNames[r.IntN(len(femaleNames))], "female"})
		}
	}
	seen := map[string]bool{}
	for pi, p := range persons {
		if seen[p.name] {
			continue
		}
		seen[p.name] = true
		g := &avatarGroup{ID: r.Hex(32), Name: p.name, Gender: p.gender, CreatedAt: epoch - int64(r.IntN(400))*86400}
		if pi == 0 {
			g.DefaultVoiceID = voiceFor("female")
		} else {
			g.DefaultVoiceID = voiceFor(p.gender)
		}
		nLooks := 2 + r.IntN(3)
		for li := 0; li < nLooks; li++ {
			st := lookStyles[(li+r.IntN(len(lookStyles)))%len(lookStyles)]
			if li == 0 {
				st = lookStyles[0]
			}
			id := fmt.Sprintf("%s_%s_%s%02d", p.name, st.id, dateStamp(g.CreatedAt), li+1)
			if pi == 0 && li == 0 {
				id = "Abigail_expressive_2024112501"
			}
			if c.avatarByID[id] != nil {
				continue
			}
			a := &avatar{
				ID: id, Name: fmt.Sprintf("%s (%s)", p.name, st.label), Gender: p.gender,
				DefaultVoiceID: g.DefaultVoiceID, GroupID: g.ID, Premium: r.IntN(5) == 0,
				Tags: []string{tagPool[r.IntN(len(tagPool))]}, CreatedAt: g.CreatedAt,
				Orientation: []string{"landscape", "portrait", "landscape"}[r.IntN(3)],
			}
			c.avatars = append(c.avatars, a)
			c.avatarByID[id] = a
			g.Looks = append(g.Looks, id)
		}
		c.groups = append(c.groups, g)
		c.groupByID[g.ID] = g
	}

	for i := 0; i < 6; i++ {
		name := femaleNames[r.IntN(len(femaleNames))]
		if i%2 == 1 {
			name = maleNames[r.IntN(len(maleNames))]
		}
		c.talkingPhotos = append(c.talkingPhotos, talkingPhoto{ID: r.Hex(32), Name: name})
	}

	tplNames := []struct{ name, aspect string }{
		{"Training Template", "landscape"}, {"Product Announcement", "landscape"},
		{"Social Short", "portrait"}, {"Customer Welcome", "landscape"},
	}
	for _, tn := range tplNames {
		t := &template{ID: r.Hex(32), Name: tn.name, AspectRatio: tn.aspect, CreatedAt: epoch + int64(r.IntN(300))*86400, Variables: map[string]templateVar{}}
		a := c.avatars[r.IntN(len(c.avatars))]
		t.addVar(templateVar{Name: "script", Type: "text", Properties: map[string]any{"content": "Welcome to our team! This short video walks you through your first week."}})
		t.addVar(templateVar{Name: "name", Type: "text", Properties: map[string]any{"content": "there"}})
		t.addVar(templateVar{Name: "avatar", Type: "character", Properties: map[string]any{"character_id": a.ID, "type": "avatar"}})
		t.addVar(templateVar{Name: "voice", Type: "voice", Properties: map[string]any{"voice_id": a.DefaultVoiceID}})
		t.addVar(templateVar{Name: "background", Type: "image", Properties: map[string]any{"url": "", "asset_id": nil, "fit": "cover"}})
		t.Scenes = []templateScene{
			{ID: r.Hex(32), Script: "Hi {{name}}! {{script}}", Vars: []string{"name", "script", "avatar", "voice"}},
			{ID: r.Hex(32), Script: "Thanks for watching.", Vars: []string{"background"}},
		}
		c.templates = append(c.templates, t)
		c.templateByID[t.ID] = t
	}
	return c
}

func (c *catalog) addVoice(v *voice) {
	c.voices = append(c.voices, v)
	c.voiceByID[v.ID] = v
}

func (t *template) addVar(v templateVar) {
	t.Variables[v.Name] = v
	t.varOrder = append(t.varOrder, v.Name)
}

func dateStamp(unix int64) string { return time.Unix(unix, 0).UTC().Format("20060102") }
