package elevenlabs

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// The paginated voice search (GET /v2/voices) and the voice library: the voices other
// ElevenLabs users share (GET /v1/shared-voices), which an account adds to its own voices
// with POST /v1/voices/add/{public_user_id}/{voice_id} (docs/simulators.md §20).

// searchVoices serves GET /v2/voices [EL-oas, EL-js]: page_size 1–100 (default 10),
// next_page_token (an offset), search (in name, description, labels and category), category,
// voice_type, voice_ids, sort (created_at_unix or name) and sort_direction (asc or desc).
// GET /v1/voices has no pagination and stops working past 500 voices [EL-js]; this is the
// route that pages.
func (s *Server) searchVoices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []fieldError
	size, ferr := intParam(q.Get("page_size"), "page_size", 10, 1, 100)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if e := enumParam(q, "sort", "created_at_unix", "name"); e != nil {
		errs = append(errs, *e)
	}
	if e := enumParam(q, "sort_direction", "asc", "desc"); e != nil {
		errs = append(errs, *e)
	}
	if e := enumParam(q, "voice_type", "personal", "community", "default", "workspace", "non-default", "non-community", "saved"); e != nil {
		errs = append(errs, *e)
	}
	if _, e := boolParam(q.Get("include_total_count"), "include_total_count", true); e != nil {
		errs = append(errs, *e)
	}
	ids := q["voice_ids"]
	if len(ids) > 100 {
		errs = append(errs, fieldError{Loc: []any{"query", "voice_ids"}, Msg: "List should have at most 100 items after validation, not " + strconv.Itoa(len(ids)), Type: "too_long"})
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	search := strings.ToLower(q.Get("search"))
	var matched []Voice
	for _, v := range s.visibleVoices(s.accountOf(r)) {
		if (search == "" || voiceMatches(v, search)) &&
			(q.Get("category") == "" || v.Category == q.Get("category")) &&
			(len(ids) == 0 || slices.Contains(ids, v.VoiceID)) &&
			voiceOfType(v, q.Get("voice_type")) {
			matched = append(matched, v)
		}
	}
	if by := q.Get("sort"); by != "" {
		desc := q.Get("sort_direction") == "desc"
		slices.SortStableFunc(matched, func(x, y Voice) int {
			var c int
			if by == "name" {
				c = cmp.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name))
			} else {
				c = cmp.Compare(unixOf(x.CreatedAtUnix), unixOf(y.CreatedAtUnix))
			}
			if desc {
				return -c
			}
			return c
		})
	}
	start, end, next := offsetPage(q.Get("next_page_token"), size, len(matched))
	writeJSON(w, http.StatusOK, map[string]any{
		"voices": append([]Voice{}, matched[start:end]...), "has_more": next != nil,
		"total_count": len(matched), "next_page_token": next,
	})
}

func unixOf(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// voiceMatches reports whether search (lower case) is in v's name, description, labels or
// category.
func voiceMatches(v Voice, search string) bool {
	fields := []string{v.Name, v.Category}
	if v.Description != nil {
		fields = append(fields, *v.Description)
	}
	for _, l := range v.Labels {
		fields = append(fields, l)
	}
	return slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), search) })
}

// voiceOfType applies voice_type [EL-js VoicesSearchRequest]. The simulator has no
// workspace members, so "workspace" voices are none and "personal" are the key's own
// (cloned) voices; "community" are voices added from the library.
func voiceOfType(v Voice, typ string) bool {
	community := libraryCopy(v)
	switch typ {
	case "personal", "non-community":
		return v.IsOwner
	case "community":
		return community
	case "default":
		return v.Category == "premade"
	case "workspace":
		return false
	case "non-default", "saved":
		return v.Category != "premade"
	}
	return true
}

// libraryCopy reports whether v was added from the voice library.
func libraryCopy(v Voice) bool {
	sh, ok := v.Sharing.(map[string]any)
	return ok && sh["status"] == "copied"
}

// enumParam checks that a query parameter, when given, is one of allowed.
func enumParam(q map[string][]string, name string, allowed ...string) *fieldError {
	for _, v := range q[name] {
		if v != "" && !slices.Contains(allowed, v) {
			return &fieldError{Loc: []any{"query", name}, Msg: "Input should be " + quoteOr(allowed), Type: "enum"}
		}
	}
	return nil
}

// quoteOr writes pydantic's list of allowed values: 'a', 'b' or 'c'.
func quoteOr(allowed []string) string {
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = "'" + a + "'"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// boolParam parses a boolean query parameter as pydantic does.
func boolParam(raw, name string, def bool) (bool, *fieldError) {
	switch strings.ToLower(raw) {
	case "":
		return def, nil
	case "true", "1", "yes", "on", "t", "y":
		return true, nil
	case "false", "0", "no", "off", "f", "n":
		return false, nil
	}
	return false, &fieldError{Loc: []any{"query", name}, Msg: "Input should be a valid boolean, unable to interpret input", Type: "bool_parsing"}
}

// libraryVoice is the OpenAPI LibraryVoiceResponseModel [EL-js].
type libraryVoice struct {
	PublicOwnerID                string         `json:"public_owner_id"`
	VoiceID                      string         `json:"voice_id"`
	DateUnix                     int64          `json:"date_unix"`
	Name                         string         `json:"name"`
	Accent                       string         `json:"accent"`
	Gender                       string         `json:"gender"`
	Age                          string         `json:"age"`
	Descriptive                  string         `json:"descriptive"`
	UseCase                      string         `json:"use_case"`
	Category                     string         `json:"category"`
	Language                     string         `json:"language"`
	Locale                       string         `json:"locale"`
	Description                  string         `json:"description"`
	PreviewURL                   string         `json:"preview_url"`
	UsageCharacterCount1y        int64          `json:"usage_character_count_1y"`
	UsageCharacterCount7d        int64          `json:"usage_character_count_7d"`
	PlayAPIUsageCharacterCount1y int64          `json:"play_api_usage_character_count_1y"`
	ClonedByCount                int64          `json:"cloned_by_count"`
	Rate                         *float64       `json:"rate"`
	FiatRate                     *float64       `json:"fiat_rate"`
	FreeUsersAllowed             bool           `json:"free_users_allowed"`
	LiveModerationEnabled        bool           `json:"live_moderation_enabled"`
	Featured                     bool           `json:"featured"`
	VerifiedLanguages            []VerifiedLang `json:"verified_languages"`
	NoticePeriod                 *int           `json:"notice_period"`
	InstagramUsername            *string        `json:"instagram_username"`
	TwitterUsername              *string        `json:"twitter_username"`
	YoutubeUsername              *string        `json:"youtube_username"`
	TiktokUsername               *string        `json:"tiktok_username"`
	ImageURL                     *string        `json:"image_url"`
	IsAddedByUser                bool           `json:"is_added_by_user"`
	IsBookmarked                 bool           `json:"is_bookmarked"`
}

// libraryNames, accents and the rest make the seeded library: libraryVoices voices, each
// from a different public owner.
var (
	libraryNames = []string{"Alita", "Bram", "Celeste", "Dario", "Elowen", "Farid", "Greta", "Hugo", "Ines", "Jasper",
		"Kaia", "Lorenzo", "Maren", "Nikolai", "Odette", "Pavel", "Quinn", "Rosa", "Soren", "Talia",
		"Ulrich", "Vera", "Wendell", "Ximena", "Yusuf", "Zora", "Amara", "Bastian", "Clio", "Desmond"}
	libraryAccents = []string{"american", "british", "australian", "irish", "spanish", "german", "french", "indian"}
	libraryLangs   = []struct{ lang, locale string }{{"en", "en-US"}, {"en", "en-GB"}, {"es", "es-ES"}, {"de", "de-DE"}, {"fr", "fr-FR"}, {"it", "it-IT"}}
	libraryUses    = []string{"narrative_story", "conversational", "characters_animation", "social_media", "entertainment_tv", "advertisement", "informative_educational"}
	libraryDescs   = []string{"calm", "confident", "warm", "deep", "upbeat", "raspy", "soft", "crisp"}
	libraryCats    = []string{"professional", "professional", "professional", "high_quality", "generated", "famous"}
)

const libraryVoices = 60

// sharedLibrary builds the voice library from seed: the same voices for every key.
func sharedLibrary(seed uint64) []libraryVoice {
	rnd := simcore.NewRand(seed ^ 0x11b7a7)
	out := make([]libraryVoice, libraryVoices)
	for i := range out {
		lang := libraryLangs[i%len(libraryLangs)]
		owner := rnd.Hex(64)
		id := rnd.Alnum(20)
		preview := fmt.Sprintf("https://storage.googleapis.com/eleven-public-prod/%s/voices/%s/%s-%s-%s-%s-%s.mp3",
			rnd.Alnum(28), id, rnd.Hex(8), rnd.Hex(4), rnd.Hex(4), rnd.Hex(4), rnd.Hex(12))
		gender := []string{"female", "male", "neutral"}[i%3]
		desc := libraryDescs[i%len(libraryDescs)]
		rate := 1.0
		v := libraryVoice{
			PublicOwnerID: owner, VoiceID: id,
			DateUnix: 1700000000 + int64(i)*86400*7,
			Name:     libraryNames[i%len(libraryNames)] + []string{"", " - Storyteller"}[i/len(libraryNames)%2],
			Accent:   libraryAccents[i%len(libraryAccents)], Gender: gender,
			Age:         []string{"young", "middle_aged", "old"}[i/3%3],
			Descriptive: desc, UseCase: libraryUses[i%len(libraryUses)],
			Category: libraryCats[i%len(libraryCats)], Language: lang.lang, Locale: lang.locale,
			Description: fmt.Sprintf("A %s %s voice with a %s accent.", desc, gender, libraryAccents[i%len(libraryAccents)]),
			PreviewURL:  preview,
			// Usage falls with the index, so the library's default order is also by popularity.
			UsageCharacterCount1y:        int64(libraryVoices-i) * 151_337,
			UsageCharacterCount7d:        int64(libraryVoices-i) * 2_903,
			PlayAPIUsageCharacterCount1y: int64(libraryVoices-i) * 40_211,
			ClonedByCount:                int64(libraryVoices-i) * 37,
			Rate:                         &rate,
			FreeUsersAllowed:             i%4 != 3,
			Featured:                     i%10 == 0,
			VerifiedLanguages:            []VerifiedLang{{Language: lang.lang, ModelID: "eleven_multilingual_v2", Accent: &libraryAccents[i%len(libraryAccents)], Locale: &lang.locale, PreviewURL: &preview}},
		}
		out[i] = v
	}
	return out
}

// listSharedVoices serves GET /v1/shared-voices [EL-js]: page_size 1–100 (default 30),
// page (from 0), filters category, gender, age, accent, language, locale, search,
// use_cases, descriptives, featured, owner_id, and sort (created_date,
// usage_character_count_1y, trending, cloned_by_count; all newest or most first).
// is_added_by_user and is_bookmarked are the key's own.
func (s *Server) listSharedVoices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []fieldError
	size, ferr := intParam(q.Get("page_size"), "page_size", 30, 1, 100)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	page, ferr := intParam(q.Get("page"), "page", 0, 0, 1<<30)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if e := enumParam(q, "category", "professional", "famous", "high_quality", "generated"); e != nil {
		errs = append(errs, *e)
	}
	if e := enumParam(q, "sort", "created_date", "usage_character_count_1y", "trending", "cloned_by_count"); e != nil {
		errs = append(errs, *e)
	}
	featured, ferr := boolParam(q.Get("featured"), "featured", false)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	a := s.accountOf(r)
	a.mu.Lock()
	added := map[string]bool{}
	bookmarked := map[string]bool{}
	for _, v := range a.voices {
		if sh, ok := v.Sharing.(map[string]any); ok && sh["status"] == "copied" {
			orig, _ := sh["original_voice_id"].(string)
			added[orig] = true
			if v.IsBookmarked != nil && *v.IsBookmarked {
				bookmarked[orig] = true
			}
		}
	}
	a.mu.Unlock()
	eq := func(name, v string) bool { return q.Get(name) == "" || strings.EqualFold(q.Get(name), v) }
	in := func(name, v string) bool { return len(q[name]) == 0 || slices.Contains(q[name], v) }
	search := strings.ToLower(q.Get("search"))
	var matched []libraryVoice
	for _, v := range sharedLibrary(s.opts.Seed) {
		if eq("category", v.Category) && eq("gender", v.Gender) && eq("age", v.Age) && eq("accent", v.Accent) &&
			eq("language", v.Language) && eq("locale", v.Locale) && eq("owner_id", v.PublicOwnerID) &&
			in("use_cases", v.UseCase) && in("descriptives", v.Descriptive) && (!featured || v.Featured) &&
			(search == "" || strings.Contains(strings.ToLower(v.Name+" "+v.Description+" "+v.Accent+" "+v.Descriptive+" "+v.UseCase), search)) {
			v.IsAddedByUser, v.IsBookmarked = added[v.VoiceID], bookmarked[v.VoiceID]
			matched = append(matched, v)
		}
	}
	switch q.Get("sort") {
	case "created_date":
		slices.SortStableFunc(matched, func(x, y libraryVoice) int { return cmp.Compare(y.DateUnix, x.DateUnix) })
	case "cloned_by_count":
		slices.SortStableFunc(matched, func(x, y libraryVoice) int { return cmp.Compare(y.ClonedByCount, x.ClonedByCount) })
	case "usage_character_count_1y":
		slices.SortStableFunc(matched, func(x, y libraryVoice) int { return cmp.Compare(y.UsageCharacterCount1y, x.UsageCharacterCount1y) })
	default: // trending: GAP, the simulator's trending order is its 7-day usage
		slices.SortStableFunc(matched, func(x, y libraryVoice) int { return cmp.Compare(y.UsageCharacterCount7d, x.UsageCharacterCount7d) })
	}
	start := min(page*size, len(matched))
	end := min(start+size, len(matched))
	var lastSortID *string
	if end > start {
		id := matched[end-1].VoiceID
		lastSortID = &id
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"voices": append([]libraryVoice{}, matched[start:end]...), "has_more": end < len(matched),
		"total_count": len(matched), "last_sort_id": lastSortID,
	})
}

// addSharedVoiceRequest is BodyAddSharedVoiceV1VoicesAddPublicUserIdVoiceIdPost [EL-js].
type addSharedVoiceRequest struct {
	NewName    *string `json:"new_name"`
	Bookmarked *bool   `json:"bookmarked"`
}

// voicesFiveSegments serves POST /v1/voices/{a}/{b}/{c}. Go's ServeMux cannot hold both
// POST /v1/voices/add/{public_user_id}/{voice_id} and POST /v1/voices/{voice_id}/settings/edit
// (a path such as /v1/voices/add/settings/edit matches both, and neither is more specific),
// so the first is registered in this general form, which the second, more specific, still
// wins over; any other path of this form is FastAPI's 404.
func (s *Server) voicesFiveSegments(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("first") != "add" {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
		return
	}
	s.addSharedVoice(w, r)
}

// addSharedVoice serves POST /v1/voices/add/{public_user_id}/{voice_id} [EL-js]: the library
// voice becomes one of the key's voices, named new_name, under a new voice id ({voice_id}).
// GAP: whether the copy keeps the library voice's id is not documented; the SDK's example
// answers a different id, so the simulator makes a new one (docs/simulators.md §20).
func (s *Server) addSharedVoice(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	owner, id := r.PathValue("public_user_id"), r.PathValue("voice_id")
	var body addSharedVoiceRequest
	if errs := decodeBody(r, &body); errs != nil {
		writeValidation(w, errs...)
		return
	}
	if body.NewName == nil {
		writeValidation(w, missing("body", "new_name"))
		return
	}
	i := slices.IndexFunc(sharedLibrary(s.opts.Seed), func(v libraryVoice) bool { return v.VoiceID == id && v.PublicOwnerID == owner })
	if i < 0 {
		// GAP: the answer for a voice the library does not have (or another owner's id) is
		// not documented; voice_not_found, as for the key's own voices.
		writeVoiceNotFound(w, id)
		return
	}
	lib := sharedLibrary(s.opts.Seed)[i]
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.voices {
		if sh, ok := v.Sharing.(map[string]any); ok && sh["status"] == "copied" && sh["original_voice_id"] == id {
			// GAP: adding the same library voice twice is not documented; the simulator
			// answers 400 voice_already_added.
			writeDetail(w, http.StatusBadRequest, "voice_already_added", "The voice "+id+" is already in your voices as "+v.VoiceID+".")
			return
		}
	}
	now := s.clock.Now().Unix()
	perm := "admin"
	desc := lib.Description
	preview := lib.PreviewURL
	bookmarked := body.Bookmarked == nil || *body.Bookmarked
	v := &Voice{
		VoiceID: a.rand.Alnum(20), Name: *body.NewName, Category: lib.Category,
		FineTuning: &FineTuning{State: map[string]string{}, VerificationFailures: []string{}, Progress: map[string]any{}, Message: map[string]any{}},
		Labels: map[string]string{"accent": lib.Accent, "age": lib.Age, "gender": lib.Gender,
			"descriptive": lib.Descriptive, "use_case": lib.UseCase, "language": lib.Language},
		Description: &desc, PreviewURL: &preview,
		AvailableForTiers: []string{}, HighQualityBaseModelIDs: []string{},
		VerifiedLanguages: lib.VerifiedLanguages,
		Sharing: map[string]any{
			"status": "copied", "original_voice_id": lib.VoiceID, "public_owner_id": lib.PublicOwnerID,
			"name": lib.Name, "category": lib.Category, "date_unix": lib.DateUnix,
		},
		VoiceVerification:    VoiceVerification{VerificationFailures: []string{}},
		PermissionOnResource: &perm, CreatedAtUnix: &now, IsBookmarked: &bookmarked,
	}
	a.voices = append(a.voices, v)
	writeJSON(w, http.StatusOK, map[string]string{"voice_id": v.VoiceID})
}
