package heygen

import (
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

func TestLipsyncRunsToCompletedWithADownloadableVideo(t *testing.T) {
	_, ts := newSim(t, simcore.Options{Speed: 20})
	const key = "lip-key"
	rp := call3(t, ts, "POST", "/v3/lipsyncs", key, map[string]any{
		"video": map[string]any{"type": "url", "url": "https://media.example.test/talk.mp4"},
		"audio": map[string]any{"type": "url", "url": "https://media.example.test/voice.mp3"},
		"title": "Relipped", "enable_caption": true, "callback_id": "cb-9", "start_time": 2, "end_time": 8.5,
	})
	id := str(rp.body, "data", "lipsync_id")
	if rp.status != 200 || id == "" {
		t.Fatalf("create: %d %s", rp.status, rp.raw)
	}
	seen := map[string]bool{}
	var last reply
	waitFor(t, "the lipsync to complete", func() bool {
		last = call3(t, ts, "GET", "/v3/lipsyncs/"+id, key, nil)
		st := str(last.body, "data", "status")
		seen[st] = true
		if st != "completed" && get(last.body, "data", "duration") != nil {
			t.Errorf("a duration before completion: %s", last.raw)
		}
		return st == "completed"
	})
	if !seen["pending"] || !seen["running"] {
		t.Errorf("states %v, want pending and running before completed", seen)
	}
	if get(last.body, "data", "duration") != 6.5 || str(last.body, "data", "title") != "Relipped" ||
		str(last.body, "data", "callback_id") != "cb-9" || str(last.body, "data", "caption_url") == "" {
		t.Errorf("completed: %s", last.raw)
	}
	resp, b := simtest.Do(t, ts.Client(), "GET", str(last.body, "data", "video_url"), nil)
	if resp.StatusCode != 200 || len(b) < 8 || string(b[4:8]) != "ftyp" {
		t.Errorf("video_url: %d, %d bytes", resp.StatusCode, len(b))
	}
	// The output is not one of the key's videos.
	if rp := call3(t, ts, "GET", "/v3/videos/"+id, key, nil); rp.status != 404 {
		t.Errorf("GET /v3/videos/{lipsync id}: %d", rp.status)
	}
	if rp := call3(t, ts, "GET", "/v3/lipsyncs/"+id, "other-key", nil); rp.status != 404 || str(rp.body, "error", "code") != "resource_not_found" {
		t.Errorf("other key: %d %s", rp.status, rp.raw)
	}
}

func TestLipsyncFailsAndValidates(t *testing.T) {
	_, ts := newSim(t, simcore.Options{Speed: 20})
	const key = "lip-key"
	// An uploaded asset as the source, and FAIL in the title.
	mp3 := media.MP3(1)
	up := uploadV3(t, ts, key, "voice.mp3", mp3)
	rp := call3(t, ts, "POST", "/v3/lipsyncs", key, map[string]any{
		"video": map[string]any{"type": "url", "url": "https://media.example.test/talk.mp4"},
		"audio": map[string]any{"type": "asset_id", "asset_id": up}, "title": "Please FAIL", "mode": "precision",
	})
	id := str(rp.body, "data", "lipsync_id")
	var last reply
	waitFor(t, "the lipsync to fail", func() bool {
		last = call3(t, ts, "GET", "/v3/lipsyncs/"+id, key, nil)
		return str(last.body, "data", "status") == "failed"
	})
	if str(last.body, "data", "failure_message") == "" || get(last.body, "data", "video_url") != nil {
		t.Errorf("failed: %s", last.raw)
	}

	video := map[string]any{"type": "url", "url": "https://media.example.test/talk.mp4"}
	for _, c := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"audio": video}, "video"},
		{map[string]any{"video": video}, "audio"},
		{map[string]any{"video": video, "audio": map[string]any{"type": "base64", "media_type": "audio/mpeg", "data": "AA=="}}, "audio"},
		{map[string]any{"video": video, "audio": video, "mode": "fast"}, "mode"},
		{map[string]any{"video": video, "audio": video, "start_time": 5, "end_time": 2}, "end_time"},
		{map[string]any{"video": map[string]any{"type": "asset_id", "asset_id": "nope"}, "audio": video}, "video"},
	} {
		rp := call3(t, ts, "POST", "/v3/lipsyncs", key, c.body)
		if rp.status != 400 || str(rp.body, "error", "param") != c.param {
			t.Errorf("%v: %d %s", c.body, rp.status, rp.raw)
		}
	}
	if rp := call3(t, ts, "GET", "/v3/lipsyncs/nope", key, nil); rp.status != 404 {
		t.Errorf("unknown: %d", rp.status)
	}
}
