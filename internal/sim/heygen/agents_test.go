package heygen

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func TestVideoAgentSessionRendersItsVideoAndSendsItsEvent(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev map[string]any
		_ = json.Unmarshal(b, &ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	_, ts := newSim(t, simcore.Options{Speed: 20})
	const key = "agent-key"

	rp := call3(t, ts, "POST", "/v3/video-agents", key, map[string]any{
		"prompt": "A short product demo for our app", "orientation": "portrait", "callback_url": hook.URL, "callback_id": "cb-1"})
	if rp.status != 200 || str(rp.body, "data", "session_id") == "" || str(rp.body, "data", "video_id") == "" ||
		str(rp.body, "data", "status") != "thinking" || get(rp.body, "data", "created_at") == nil {
		t.Fatalf("create: %d %s", rp.status, rp.raw)
	}
	sid, vid := str(rp.body, "data", "session_id"), str(rp.body, "data", "video_id")

	seen := map[string]bool{}
	var last reply
	waitFor(t, "the session to complete", func() bool {
		last = call3(t, ts, "GET", "/v3/video-agents/"+sid, key, nil)
		seen[str(last.body, "data", "status")] = true
		return str(last.body, "data", "status") == "completed"
	})
	if !seen["thinking"] || !seen["generating"] {
		t.Errorf("states seen %v, want thinking and generating before completed", seen)
	}
	if get(last.body, "data", "progress") != 100.0 || str(last.body, "data", "video_id") != vid || str(last.body, "data", "title") == "" {
		t.Errorf("completed session: %s", last.raw)
	}
	if msgs, _ := get(last.body, "data", "messages").([]any); len(msgs) < 2 || str(msgs[len(msgs)-1], "role") != "user" {
		t.Errorf("messages (newest first, the prompt last): %v", msgs)
	}
	// The session's video is an ordinary v3 video, portrait.
	v := call3(t, ts, "GET", "/v3/videos/"+vid, key, nil)
	if str(v.body, "data", "status") != "completed" || str(v.body, "data", "video_url") == "" {
		t.Errorf("the session's video: %s", v.raw)
	}
	waitFor(t, "video_agent.success", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0
	})
	mu.Lock()
	ev := events[0]
	mu.Unlock()
	if ev["event_type"] != "video_agent.success" || str(ev, "event_data", "session_id") != sid ||
		str(ev, "event_data", "video_id") != vid || str(ev, "event_data", "callback_id") != "cb-1" || str(ev, "event_data", "url") == "" {
		t.Errorf("event %v", ev)
	}
	// Another key does not see the session.
	if rp := call3(t, ts, "GET", "/v3/video-agents/"+sid, "other-key", nil); rp.status != 404 || str(rp.body, "error", "code") != "resource_not_found" {
		t.Errorf("other key: %d %s", rp.status, rp.raw)
	}
}

func TestVideoAgentFailsOnTheTriggerAndStops(t *testing.T) {
	_, ts := newSim(t, simcore.Options{Speed: 20})
	const key = "agent-key"
	rp := call3(t, ts, "POST", "/v3/video-agents", key, map[string]any{"prompt": "This one should FAIL"})
	sid := str(rp.body, "data", "session_id")
	waitFor(t, "the session to fail", func() bool {
		return str(call3(t, ts, "GET", "/v3/video-agents/"+sid, key, nil).body, "data", "status") == "failed"
	})

	// A chat session thinks, then waits for input, until it is stopped.
	rp = call3(t, ts, "POST", "/v3/video-agents", key, map[string]any{"prompt": "Let's plan a video", "mode": "chat"})
	chat := str(rp.body, "data", "session_id")
	if get(rp.body, "data", "video_id") != nil {
		t.Errorf("a chat session has a video at once: %s", rp.raw)
	}
	waitFor(t, "waiting_for_input", func() bool {
		return str(call3(t, ts, "GET", "/v3/video-agents/"+chat, key, nil).body, "data", "status") == "waiting_for_input"
	})
	stop := call3(t, ts, "POST", "/v3/video-agents/"+chat+"/stop", key, map[string]any{})
	if stop.status != 200 || str(stop.body, "data", "session_id") != chat {
		t.Fatalf("stop: %d %s", stop.status, stop.raw)
	}
	if st := str(call3(t, ts, "GET", "/v3/video-agents/"+chat, key, nil).body, "data", "status"); st != "failed" {
		t.Errorf("a stopped session is %q", st)
	}
	if rp := call3(t, ts, "POST", "/v3/video-agents/nope/stop", key, map[string]any{}); rp.status != 404 {
		t.Errorf("stop unknown: %d", rp.status)
	}
}

func TestVideoAgentValidatesAndListsStyles(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	const key = "agent-key"
	for _, c := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{}, "prompt"},
		{map[string]any{"prompt": "x", "mode": "solo"}, "mode"},
		{map[string]any{"prompt": "x", "orientation": "square"}, "orientation"},
		{map[string]any{"prompt": "x", "style_id": "style_nope"}, "style_id"},
		{map[string]any{"prompt": "x", "files": []any{map[string]any{"type": "asset_id", "asset_id": "nope"}}}, "files"},
	} {
		rp := call3(t, ts, "POST", "/v3/video-agents", key, c.body)
		if rp.status != 400 || str(rp.body, "error", "code") != "invalid_parameter" || str(rp.body, "error", "param") != c.param {
			t.Errorf("%v: %d %s", c.body, rp.status, rp.raw)
		}
	}
	if rp := call3(t, ts, "POST", "/v3/video-agents", "", map[string]any{"prompt": "x"}); rp.status != 401 {
		t.Errorf("no key: %d", rp.status)
	}
	if rp := call3(t, ts, "POST", "/v3/video-agents", "exhausted-1", map[string]any{"prompt": "x"}); rp.status != 402 {
		t.Errorf("exhausted key: %d", rp.status)
	}
	all := call3(t, ts, "GET", "/v3/video-agents/styles", key, nil)
	items, _ := get(all.body, "data").([]any)
	if all.status != 200 || len(items) == 0 || str(items[0], "style_id") == "" || get(all.body, "has_more") != false {
		t.Fatalf("styles: %d %s", all.status, all.raw)
	}
	cine := call3(t, ts, "GET", "/v3/video-agents/styles?tag=cinematic&limit=1", key, nil)
	if got, _ := get(cine.body, "data").([]any); len(got) != 1 || get(cine.body, "has_more") != true {
		t.Errorf("styles by tag, one per page: %s", cine.raw)
	}
	// A style may be named when creating a session.
	rp := call3(t, ts, "POST", "/v3/video-agents", key, map[string]any{"prompt": "x", "style_id": str(items[0], "style_id")})
	if rp.status != 200 {
		t.Errorf("with a style: %d %s", rp.status, rp.raw)
	}
}
