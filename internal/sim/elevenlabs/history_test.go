package elevenlabs

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

type historyPage struct {
	History           []historyItem `json:"history"`
	LastHistoryItemID *string       `json:"last_history_item_id"`
	HasMore           bool          `json:"has_more"`
}

func TestHistoryPaginatesWithACursor(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var ids []string // newest first
	for i := range 7 {
		r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": fmt.Sprintf("item number %d", i)})
		ids = append([]string{r.header.Get("history-item-id")}, ids...)
	}
	// A zero-retention call leaves no history item.
	if r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel+"?enable_logging=false", testKey, map[string]string{"text": "secret"}); r.header.Get("history-item-id") != "" {
		t.Error("enable_logging=false still created a history item")
	}

	var got []string
	q := url.Values{"page_size": {"3"}}
	for pages := 1; ; pages++ {
		var p historyPage
		call(t, ts, "GET", "/v1/history?"+q.Encode(), testKey, nil).json(t, &p)
		for _, it := range p.History {
			got = append(got, it.ID)
		}
		if !p.HasMore {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		if pages > 5 || p.LastHistoryItemID == nil {
			t.Fatal("pagination does not end")
		}
		q.Set("start_after_history_item_id", *p.LastHistoryItemID)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("paged ids %v, want newest first %v", got, ids)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/history?start_after_history_item_id=nope", testKey, nil), 404, "history_item_not_found")
}

func TestHistoryItemGetAudioDelete(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	text := "Remember this sentence."
	tts := call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": text})
	id := tts.header.Get("history-item-id")

	var it historyItem
	call(t, ts, "GET", "/v1/history/"+id, testKey, nil).json(t, &it)
	if it.ID != id || it.Text != text || it.VoiceID != rachel || it.VoiceName != "Rachel" || it.ContentType != "audio/mpeg" ||
		it.State != "created" || it.RequestID != tts.header.Get("request-id") || it.CharTo-it.CharFrom != len(text) {
		t.Errorf("item %+v", it)
	}
	audio := call(t, ts, "GET", "/v1/history/"+id+"/audio", testKey, nil)
	if audio.status != 200 || audio.header.Get("Content-Type") != "audio/mpeg" || string(audio.body) != string(tts.body) {
		t.Errorf("history audio differs from the TTS audio")
	}
	if _, err := media.MP3Duration(audio.body); err != nil {
		t.Error(err)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/history/"+id, "sk_bob", nil), 404, "history_item_not_found")
	if r := call(t, ts, "DELETE", "/v1/history/"+id, testKey, nil); r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/history/"+id+"/audio", testKey, nil), 404, "history_item_not_found")
}

func TestHistoryIsPerKey(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": "alice speaks"})
	var p historyPage
	call(t, ts, "GET", "/v1/history", "sk_bob", nil).json(t, &p)
	if len(p.History) != 0 || p.HasMore || p.LastHistoryItemID != nil {
		t.Errorf("bob sees %+v", p)
	}
	call(t, ts, "GET", "/v1/history", testKey, nil).json(t, &p)
	if len(p.History) != 1 {
		t.Errorf("alice sees %d items", len(p.History))
	}
}
