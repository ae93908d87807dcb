package elevenlabs

import (
	"net/http"
	"slices"
	"strings"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// historyItem is the OpenAPI SpeechHistoryItemResponse.
type historyItem struct {
	ID            string        `json:"history_item_id"`
	RequestID     string        `json:"request_id"`
	VoiceID       string        `json:"voice_id"`
	ModelID       string        `json:"model_id"`
	VoiceName     string        `json:"voice_name"`
	VoiceCategory string        `json:"voice_category"`
	Text          string        `json:"text"`
	DateUnix      int64         `json:"date_unix"`
	CharFrom      int           `json:"character_count_change_from"`
	CharTo        int           `json:"character_count_change_to"`
	ContentType   string        `json:"content_type"`
	State         string        `json:"state"`
	Settings      VoiceSettings `json:"settings"`
	Feedback      any           `json:"feedback"`
	ShareLinkID   *string       `json:"share_link_id"`
	Source        string        `json:"source"`
	Alignments    any           `json:"alignments"`
	Dialogue      any           `json:"dialogue"`

	seconds float64 // audio length, to regenerate the same audio
}

// addHistory records item as the key's newest history item.
func (a *account) addHistory(item *historyItem) *historyItem {
	item.ID = a.rand.Alnum(20)
	a.mu.Lock()
	a.history = slices.Insert(a.history, 0, item)
	a.mu.Unlock()
	return item
}

func (a *account) historyItem(id string) (historyItem, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, it := range a.history {
		if it.ID == id {
			return *it, true
		}
	}
	return historyItem{}, false
}

// GAP: the status and wording for an unknown history item are undocumented; 404
// history_item_not_found, matching voice_not_found (docs/simulators.md §22).
func writeHistoryNotFound(w http.ResponseWriter, id string) {
	writeDetail(w, http.StatusNotFound, "history_item_not_found", "A history item with the history_item_id "+id+" was not found.")
}

// listHistory serves GET /v1/history: newest first, cursor pagination through
// start_after_history_item_id / last_history_item_id / has_more [EL-oas].
func (s *Server) listHistory(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	q := r.URL.Query()
	size, ferr := intParam(q.Get("page_size"), "page_size", 100, 1, 1000)
	if ferr != nil {
		writeValidation(w, *ferr)
		return
	}
	a.mu.Lock()
	var matched []historyItem
	for _, it := range a.history {
		switch {
		case q.Get("voice_id") != "" && it.VoiceID != q.Get("voice_id"):
		case q.Get("source") != "" && it.Source != q.Get("source"):
		case q.Get("search") != "" && !strings.Contains(strings.ToLower(it.Text), strings.ToLower(q.Get("search"))):
		default:
			matched = append(matched, *it)
		}
	}
	a.mu.Unlock()
	start := 0
	if after := q.Get("start_after_history_item_id"); after != "" {
		i := slices.IndexFunc(matched, func(it historyItem) bool { return it.ID == after })
		if i < 0 {
			writeHistoryNotFound(w, after)
			return
		}
		start = i + 1
	}
	page := append([]historyItem{}, matched[start:min(start+size, len(matched))]...)
	var last *string
	if len(page) > 0 {
		last = &page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"history": page, "last_history_item_id": last, "has_more": start+len(page) < len(matched),
	})
}

// requestedHistoryItem finds the key's history item named by {history_item_id}, answering
// 404 when there is none.
func (s *Server) requestedHistoryItem(w http.ResponseWriter, r *http.Request) (historyItem, bool) {
	return requested(w, r, "history_item_id", s.accountOf(r).historyItem, writeHistoryNotFound)
}

func (s *Server) getHistoryItem(w http.ResponseWriter, r *http.Request) {
	if it, ok := s.requestedHistoryItem(w, r); ok {
		writeJSON(w, http.StatusOK, it)
	}
}

func (s *Server) getHistoryAudio(w http.ResponseWriter, r *http.Request) {
	if it, ok := s.requestedHistoryItem(w, r); ok {
		writeAudio(w, media.MP3(it.seconds))
	}
}

func (s *Server) deleteHistoryItem(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("history_item_id")
	if !removeFrom(a, &a.history, func(it *historyItem) bool { return it.ID == id }) {
		writeHistoryNotFound(w, id)
		return
	}
	writeStatusOK(w)
}
