package elevenlabs

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

type searchPage struct {
	Voices        []Voice `json:"voices"`
	HasMore       bool    `json:"has_more"`
	TotalCount    int     `json:"total_count"`
	NextPageToken *string `json:"next_page_token"`
}

func TestSearchVoicesFiltersAndSorts(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var p searchPage
	call(t, ts, "GET", "/v2/voices?search=BRITISH&page_size=100", testKey, nil).json(t, &p)
	if p.TotalCount == 0 || p.TotalCount == len(premade) {
		t.Fatalf("search in labels found %d of %d", p.TotalCount, len(premade))
	}
	for _, v := range p.Voices {
		if v.Labels["accent"] != "british" && !strings.Contains(strings.ToLower(*v.Description), "british") {
			t.Errorf("%s matched search=british", v.Name)
		}
	}
	call(t, ts, "GET", "/v2/voices?sort=name&sort_direction=desc&page_size=100", testKey, nil).json(t, &p)
	names := make([]string, len(p.Voices))
	for i, v := range p.Voices {
		names[i] = strings.ToLower(v.Name)
	}
	if !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("sort=name desc: %v", names)
	}
	q := url.Values{"voice_ids": {rachel, "JBFqnCBsd6RMkjVDRZzb"}}
	call(t, ts, "GET", "/v2/voices?"+q.Encode(), testKey, nil).json(t, &p)
	if p.TotalCount != 2 {
		t.Errorf("voice_ids found %d voices, want 2", p.TotalCount)
	}
	call(t, ts, "GET", "/v2/voices?voice_type=personal", testKey, nil).json(t, &p)
	if p.TotalCount != 0 || p.Voices == nil {
		t.Errorf("personal voices of a new key: %+v", p)
	}
	for _, bad := range []string{"sort=age", "sort_direction=up", "voice_type=mine", "page_size=101", "include_total_count=maybe"} {
		if r := call(t, ts, "GET", "/v2/voices?"+bad, testKey, nil); r.status != 422 {
			t.Errorf("%s: %d %s, want 422", bad, r.status, r.body)
		}
	}
}

type sharedPage struct {
	Voices     []libraryVoice `json:"voices"`
	HasMore    bool           `json:"has_more"`
	TotalCount int            `json:"total_count"`
	LastSortID *string        `json:"last_sort_id"`
}

func TestSharedVoicesPageAndAddToTheKey(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	seen := map[string]bool{}
	var p sharedPage
	for page := 0; ; page++ {
		call(t, ts, "GET", "/v1/shared-voices?page_size=25&page="+strconv.Itoa(page), testKey, nil).json(t, &p)
		for _, v := range p.Voices {
			seen[v.VoiceID] = true
			if v.PublicOwnerID == "" || v.PreviewURL == "" || v.IsAddedByUser {
				t.Fatalf("library voice %+v", v)
			}
		}
		if !p.HasMore {
			break
		}
	}
	if len(seen) != libraryVoices || p.TotalCount != libraryVoices {
		t.Errorf("paged %d voices of %d", len(seen), p.TotalCount)
	}
	call(t, ts, "GET", "/v1/shared-voices?language=de&gender=female", testKey, nil).json(t, &p)
	for _, v := range p.Voices {
		if v.Language != "de" || v.Gender != "female" {
			t.Errorf("filtered voice %s: %s %s", v.Name, v.Language, v.Gender)
		}
	}
	if r := call(t, ts, "GET", "/v1/shared-voices?sort=best", testKey, nil); r.status != 422 {
		t.Errorf("sort=best: %d", r.status)
	}

	lib := sharedLibrary(0)[3]
	path := "/v1/voices/add/" + lib.PublicOwnerID + "/" + lib.VoiceID
	if r := call(t, ts, "POST", path, testKey, map[string]any{}); r.status != 422 {
		t.Errorf("without new_name: %d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "POST", "/v1/voices/add/someone/"+lib.VoiceID, testKey, map[string]any{"new_name": "x"}), 404, "voice_not_found")
	var added struct {
		VoiceID string `json:"voice_id"`
	}
	r := call(t, ts, "POST", path, testKey, map[string]any{"new_name": "My narrator"})
	r.json(t, &added)
	if r.status != 200 || added.VoiceID == "" || added.VoiceID == lib.VoiceID {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "POST", path, testKey, map[string]any{"new_name": "again"}), 400, "voice_already_added")

	var v Voice
	call(t, ts, "GET", "/v1/voices/"+added.VoiceID, testKey, nil).json(t, &v)
	if v.Name != "My narrator" || v.Category != lib.Category || !libraryCopy(v) {
		t.Errorf("added voice %+v", v)
	}
	var sp searchPage
	call(t, ts, "GET", "/v2/voices?voice_type=community", testKey, nil).json(t, &sp)
	if sp.TotalCount != 1 || sp.Voices[0].VoiceID != added.VoiceID {
		t.Errorf("community voices: %+v", sp)
	}
	call(t, ts, "GET", "/v1/shared-voices?search="+url.QueryEscape(lib.Name), testKey, nil).json(t, &p)
	i := slices.IndexFunc(p.Voices, func(x libraryVoice) bool { return x.VoiceID == lib.VoiceID })
	if i < 0 || !p.Voices[i].IsAddedByUser || !p.Voices[i].IsBookmarked {
		t.Errorf("library after adding: %+v", p.Voices)
	}
	// Another key neither has the voice nor sees it added.
	wantDetail(t, call(t, ts, "GET", "/v1/voices/"+added.VoiceID, "sk_bob", nil), 404, "voice_not_found")

	// Its settings can be changed (voice settings edit, which is the same route form).
	if r := call(t, ts, "POST", "/v1/voices/"+added.VoiceID+"/settings/edit", testKey, map[string]float64{"stability": 0.3}); r.status != 200 {
		t.Fatalf("settings edit: %d %s", r.status, r.body)
	}
	var st VoiceSettings
	call(t, ts, "GET", "/v1/voices/"+added.VoiceID+"/settings", testKey, nil).json(t, &st)
	if st.Stability == nil || *st.Stability != 0.3 {
		t.Errorf("settings after edit: %+v", st)
	}
	// Other five-segment POST paths under /v1/voices are FastAPI's 404.
	if r := call(t, ts, "POST", "/v1/voices/copy/a/b", testKey, map[string]any{"new_name": "x"}); r.status != 404 || string(r.body) != `{"detail":"Not Found"}` {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
	if r := call(t, ts, "DELETE", "/v1/voices/"+added.VoiceID, testKey, nil); r.status != 200 {
		t.Errorf("delete: %d", r.status)
	}
}
