package heygen

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Video batches and bulk statuses: POST /v3/videos/batches and GET /v3/videos/statuses
// (docs/simulators.md §8). A batch is up to 100 POST /v3/videos payloads; each valid item
// becomes an ordinary video at once (its own webhooks fire), an invalid one a failed item.
// When every item is terminal, batch.finished goes to the batch's callback_url and to the
// endpoints that want it.

const maxBatchItems = 100 // and at most 100 ids per statuses request [HG-cli]

type batch struct {
	ID, Key, Title, CallbackURL string
	CreatedAt                   time.Time
	Items                       []batchItem
	Notified                    bool
}

type batchItem struct {
	VideoID string
	Err     *apiError // the item's payload was refused: a failed item without a video
}

// v3ItemStatus is a video's status in the batch and bulk vocabulary
// queued|processing|completed|failed [HG-cli]. Caller holds s.mu.
func (s *Server) v3ItemStatus(c *account, it batchItem) (string, any) {
	if it.Err != nil {
		return "failed", map[string]any{"code": it.Err.Code, "message": it.Err.Message}
	}
	v := c.videos[it.VideoID]
	if v == nil {
		return "not_found", nil
	}
	switch st := s.videoStatus(v); st {
	case "pending", "waiting":
		return "queued", nil
	case "failed":
		return "failed", map[string]any{"code": v.failV3Code, "message": v.failMsg + ": " + v.failDetail}
	default:
		return st, nil
	}
}

// batchState is the aggregate status (processing until every item is terminal; then failed
// if every item failed, else completed — GAP, docs/simulators.md §8) and the counts by item
// status. Caller holds s.mu.
func (s *Server) batchState(a *account, b *batch) (string, map[string]int) {
	counts := map[string]int{}
	for _, it := range b.Items {
		st, _ := s.v3ItemStatus(a, it)
		counts[st]++
	}
	switch {
	case counts["queued"]+counts["processing"] > 0:
		return "processing", counts
	case counts["failed"] == len(b.Items):
		return "failed", counts
	}
	return "completed", counts
}

// advanceBatch sends batch.finished once every item is terminal. Caller holds s.mu.
func (s *Server) advanceBatch(b *batch) {
	if b.Notified {
		return
	}
	a := s.accounts[b.Key]
	if a == nil {
		return
	}
	for _, it := range b.Items {
		if v := a.videos[it.VideoID]; v != nil {
			s.advanceVideo(v)
		}
	}
	st, counts := s.batchState(a, b)
	if st == "processing" {
		return
	}
	// GAP: batch.finished's event_data; the batch's id, status and counts
	// (docs/simulators.md §14).
	data := map[string]any{"batch_id": b.ID, "status": st, "total_items": len(b.Items), "counts_by_status": counts}
	s.announce(&b.Notified, b.Key, "batch.finished", data, b.CallbackURL)
}

// v3CreateVideoBatch: body {videos* [1..100 create payloads], title?, callback_url?} [HG-cli].
// GAP: the answer; 202 {"data": {batch_id, status, total_items, created_at}}, as the
// translation and lipsync batch creates answer 202 with a batch_id (docs/simulators.md §8).
func (s *Server) v3CreateVideoBatch(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Videos      []json.RawMessage `json:"videos"`
		Title       string            `json:"title"`
		CallbackURL string            `json:"callback_url"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Videos) == 0 || len(req.Videos) > maxBatchItems {
		return invalidParam("videos", "videos must hold 1 to %d video requests", maxBatchItems)
	}
	b := &batch{Title: req.Title, CallbackURL: req.CallbackURL}
	for _, raw := range req.Videos {
		var vr v3VideoRequest
		var it batchItem
		if err := json.Unmarshal(raw, &vr); err != nil {
			it.Err = invalidParam("videos", "invalid video request: %v", err)
		} else if v, script, err := s.v3BuildVideo(c, &vr); err != nil {
			it.Err, _ = err.(*apiError)
			if it.Err == nil {
				it.Err = invalidParam("videos", "%v", err)
			}
		} else {
			s.addVideo(c, v, script)
			it.VideoID = v.ID
		}
		b.Items = append(b.Items, it)
	}
	s.mu.Lock()
	b.ID, b.Key, b.CreatedAt = s.ids.Hex(32), c.key, time.Now()
	c.acct.batches[b.ID] = b
	c.acct.batchOrder = append(c.acct.batchOrder, b.ID)
	st, _ := s.batchState(c.acct, b)
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"data": map[string]any{
		"batch_id": b.ID, "status": st, "title": nullable(b.Title), "total_items": len(b.Items),
		"created_at": b.CreatedAt.Unix(),
	}})
	return nil
}

// idList reads a query parameter of comma-separated ids, given once or repeated [HG-cli].
// GAP: whether upstream takes the parameter repeated; the simulator does
// (docs/simulators.md §8).
func idList(r *http.Request, name string) []string {
	var ids []string
	for _, v := range r.URL.Query()[name] {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// v3VideoStatuses: GET /v3/videos/statuses?video_ids=a,b&batch_ids=c → the list envelope of
// {video_id, status, batch_id, item_index, error}; an id the key does not own is not_found
// [HG-cli]. GAP: the answer is one page, has_more false (docs/simulators.md §8).
func (s *Server) v3VideoStatuses(w http.ResponseWriter, r *http.Request, c *call) error {
	videoIDs, batchIDs := idList(r, "video_ids"), idList(r, "batch_ids")
	if len(videoIDs) == 0 && len(batchIDs) == 0 {
		return invalidParam("video_ids", "video_ids or batch_ids is required")
	}
	if len(videoIDs)+len(batchIDs) > maxBatchItems {
		return invalidParam("video_ids", "at most %d ids may be given", maxBatchItems)
	}
	items := []map[string]any{}
	s.mu.Lock()
	for _, id := range videoIDs {
		st, errObj := s.v3ItemStatus(c.acct, batchItem{VideoID: id})
		items = append(items, map[string]any{"video_id": id, "status": st, "batch_id": nil, "item_index": nil, "error": errObj})
	}
	for _, id := range batchIDs {
		b := c.acct.batches[id]
		if b == nil {
			items = append(items, map[string]any{"video_id": nil, "status": "not_found", "batch_id": id, "item_index": nil, "error": nil})
			continue
		}
		for i, it := range b.Items {
			st, errObj := s.v3ItemStatus(c.acct, it)
			items = append(items, map[string]any{"video_id": nullable(it.VideoID), "status": st, "batch_id": id, "item_index": i, "error": errObj})
		}
	}
	s.mu.Unlock()
	okV3List(w, page[map[string]any]{Items: items})
	return nil
}
