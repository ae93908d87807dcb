package heygen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func TestV3VideoBatchAndStatuses(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	rs, ch := receiver(t)
	item := func(script string) map[string]any {
		return map[string]any{"type": "avatar", "avatar_id": firstAvatar, "script": script, "voice_id": firstVoice}
	}
	cr := call3(t, ts, "POST", "/v3/videos/batches", "k1", map[string]any{
		"title": "Launch", "callback_url": rs.URL + "/batch",
		"videos": []any{item("Hello one"), item("please FAIL"), map[string]any{"type": "nope"}},
	})
	batchID := str(cr.body, "data", "batch_id")
	if cr.status != 202 || batchID == "" || get(cr.body, "data", "total_items") != 3.0 || str(cr.body, "data", "status") != "processing" {
		t.Fatalf("create: %d %s", cr.status, cr.raw)
	}

	// batch.finished reaches the callback once every item is terminal.
	select {
	case d := <-ch:
		var ev map[string]any
		_ = json.Unmarshal(d.body, &ev)
		if d.path != "/batch" || ev["event_type"] != "batch.finished" || str(ev, "event_data", "batch_id") != batchID ||
			str(ev, "event_data", "status") != "completed" || get(ev, "event_data", "counts_by_status", "failed") != 2.0 {
			t.Fatalf("batch.finished: %s %s", d.path, d.body)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no batch.finished delivery")
	}

	st := call3(t, ts, "GET", "/v3/videos/statuses?batch_ids="+batchID, "k1", nil)
	if st.status != 200 || len(get(st.body, "data").([]any)) != 3 || st.body["has_more"] != false {
		t.Fatalf("statuses by batch: %d %s", st.status, st.raw)
	}
	okID, failID := str(st.body, "data", 0, "video_id"), str(st.body, "data", 1, "video_id")
	if str(st.body, "data", 0, "status") != "completed" || str(st.body, "data", 1, "status") != "failed" ||
		get(st.body, "data", 2, "video_id") != nil || str(st.body, "data", 2, "error", "code") != "invalid_parameter" ||
		get(st.body, "data", 2, "item_index") != 2.0 || str(st.body, "data", 2, "batch_id") != batchID {
		t.Fatalf("statuses by batch: %s", st.raw)
	}
	// Comma lists and repeated parameters; an unknown or other key's id is not_found.
	st = call3(t, ts, "GET", "/v3/videos/statuses?video_ids="+okID+","+failID+"&video_ids=nope", "k1", nil)
	if str(st.body, "data", 0, "status") != "completed" || str(st.body, "data", 1, "error", "code") != "rendering_failed" ||
		str(st.body, "data", 2, "status") != "not_found" {
		t.Fatalf("statuses by id: %s", st.raw)
	}
	if other := call3(t, ts, "GET", "/v3/videos/statuses?video_ids="+okID, "k2", nil); str(other.body, "data", 0, "status") != "not_found" {
		t.Fatalf("another key sees the video: %s", other.raw)
	}
	// The batch's videos are ordinary videos.
	if v := call3(t, ts, "GET", "/v3/videos/"+okID, "k1", nil); str(v.body, "data", "status") != "completed" {
		t.Fatalf("batch video: %s", v.raw)
	}
}

func TestV3VideoBatchValidation(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{}
	}
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		param              string
	}{
		{"no videos", "POST", "/v3/videos/batches", map[string]any{"title": "x"}, 400, "videos"},
		{"too many", "POST", "/v3/videos/batches", map[string]any{"videos": many}, 400, "videos"},
		{"statuses without ids", "GET", "/v3/videos/statuses", nil, 400, "video_ids"},
		{"statuses over 100", "GET", "/v3/videos/statuses?video_ids=" + strings.Repeat("a,", 101), nil, 400, "video_ids"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rp := call3(t, ts, tt.method, tt.path, "k1", tt.body)
			if rp.status != tt.status || str(rp.body, "error", "code") != "invalid_parameter" || str(rp.body, "error", "param") != tt.param {
				t.Fatalf("%d %s", rp.status, rp.raw)
			}
		})
	}
	if rp := call3(t, ts, "POST", "/v3/videos/batches", "", map[string]any{}); rp.status != 401 {
		t.Fatalf("no key: %d %s", rp.status, rp.raw)
	}
}
