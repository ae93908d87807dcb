package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// HeyGen v3, issue 13 part 1: Video Agent sessions, lipsyncs, voice design, clones and
// their deletion, and direct uploads, through the gateway.

func TestE2EHeyGenV3VideoAgent(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	style := jstr(t, e.v3First("video agent styles", "v3-list-video-agent-styles", map[string]any{"query": map[string]any{"tag": "cinematic"}}), "style_id")
	res := e.call("heygen", "v3-create-video-agent", map[string]any{"body": map[string]any{
		"prompt": "A 30 second product demo of our app", "style_id": style, "orientation": "landscape"}})
	session, video := jstr(t, res, "data", "session_id"), jstr(t, res, "data", "video_id")
	e2ePoll(t, "video agent session", func() bool {
		res = e.call("heygen", "v3-get-video-agent", e2ePathParams("session_id", session))
		st := jget(res, "data", "status")
		return st == "completed" || st == "failed"
	})
	if jget(res, "data", "status") != "completed" || jget(res, "data", "video_id") != video || jget(res, "data", "progress") != float64(100) {
		t.Fatalf("session ended %v", res)
	}
	// The session's video, as HeyGen's CLI reads it: an ordinary v3 video.
	res = e.pollV3Video(video)
	if status, _, b := e.download(jstr(t, res, "data", "video_url")); status != http.StatusOK || !isMP4(b) {
		t.Errorf("agent video download: status %d, MP4 %v", status, isMP4(b))
	}
	// The gateway recorded the session as a job and followed it to completed.
	e.expectJobState(session, "completed", "completed")

	// A chat session waits for input until it is stopped.
	res = e.call("heygen", "v3-create-video-agent", map[string]any{"body": map[string]any{"prompt": "Let's plan a video", "mode": "chat"}})
	chat := jstr(t, res, "data", "session_id")
	if jget(res, "data", "video_id") != nil {
		t.Errorf("a chat session has a video at once: %v", res)
	}
	res = e.call("heygen", "v3-stop-video-agent", map[string]any{"path_params": map[string]any{"session_id": chat}, "body": map[string]any{}})
	if jget(res, "data", "session_id") != chat {
		t.Errorf("v3-stop-video-agent answered %v", res)
	}
	if st := jget(e.call("heygen", "v3-get-video-agent", e2ePathParams("session_id", chat)), "data", "status"); st != "failed" {
		t.Errorf("a stopped session is %v", st)
	}
}

func TestE2EHeyGenV3Lipsync(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	res := e.call("heygen", "v3-create-lipsync", map[string]any{"body": map[string]any{
		"video": map[string]any{"type": "url", "url": "https://example.com/talk.mp4"},
		"audio": map[string]any{"type": "url", "url": "https://example.com/new-voice.mp3"},
		"title": "E2E lipsync", "enable_caption": true,
	}})
	id := jstr(t, res, "data", "lipsync_id")
	e2ePoll(t, "lipsync", func() bool {
		res = e.call("heygen", "v3-get-lipsync", e2ePathParams("lipsync_id", id))
		st := jget(res, "data", "status")
		return st == "completed" || st == "failed"
	})
	if jget(res, "data", "status") != "completed" || jstr(t, res, "data", "caption_url") == "" {
		t.Fatalf("lipsync ended %v", res)
	}
	if status, _, b := e.download(jstr(t, res, "data", "video_url")); status != http.StatusOK || !isMP4(b) {
		t.Errorf("lipsync download: status %d, MP4 %v", status, isMP4(b))
	}
	e.expectJobState(id, "completed", "completed")
}

func TestE2EHeyGenV3VoiceDesignCloneAndDelete(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	res := e.call("heygen", "v3-design-voice", map[string]any{"body": map[string]any{"prompt": "warm, confident female narrator", "gender": "female"}})
	if voices := jlist(t, res, "data", "voices"); len(voices) == 0 || len(voices) > 3 {
		t.Errorf("v3-design-voice answered %d voices", len(voices))
	}
	status, _, body := e.invokeMultipart("heygen", "v3-upload-asset", nil,
		formFile{field: "file", filename: "sample.mp3", contentType: "audio/mpeg", data: media.MP3(2)})
	if status != http.StatusOK {
		t.Fatalf("v3-upload-asset: %d %s", status, body)
	}
	sample := jstr(t, e2eDecode(t, body), "data", "asset_id")
	res = e.call("heygen", "v3-clone-voice", map[string]any{"body": map[string]any{
		"voice_name": "E2E narrator", "audio": map[string]any{"type": "asset_id", "asset_id": sample}}})
	clone := jstr(t, res, "data", "voice_clone_id")
	e2ePoll(t, "voice clone", func() bool {
		res = e.call("heygen", "v3-get-voice", e2ePathParams("voice_id", clone))
		return jget(res, "data", "status") != "processing"
	})
	if jget(res, "data", "status") != "complete" {
		t.Fatalf("clone ended %v", res)
	}
	res = e.call("heygen", "v3-delete-voice", e2ePathParams("voice_id", clone))
	if jget(res, "data", "voice_id") != clone {
		t.Errorf("v3-delete-voice answered %v", res)
	}
	status, _, body = e.invoke("heygen", "v3-delete-voice", e2ePathParams("voice_id", clone))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(404) {
		t.Errorf("v3-delete-voice again: %d %s", status, body)
	}
}

func TestE2EHeyGenV3DirectUpload(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	mp4 := media.MP4(2, 320, 240)
	res := e.call("heygen", "v3-create-direct-upload", map[string]any{"body": map[string]any{
		"filename": "large-talk.mp4", "content_type": "video/mp4", "size_bytes": len(mp4)}})
	id, uploadURL := jstr(t, res, "data", "asset_id"), jstr(t, res, "data", "upload_url")
	// The storage URL is the provider's (the simulator's), never the gateway's: the client
	// PUTs there itself, and the gateway never sees (nor signs) that request.
	if !strings.HasPrefix(uploadURL, e.simURL+"/") || strings.HasPrefix(uploadURL, e.proxy.URL) {
		t.Fatalf("upload_url %s", uploadURL)
	}
	headers := jget(res, "data", "upload_headers").(map[string]any)
	if headers["Content-Type"] != "video/mp4" {
		t.Errorf("upload_headers %v", headers)
	}
	// The storage host refuses a provider key: a client that sent one would leak it.
	put := func(extra ...string) (int, []byte) {
		h := []string{"Content-Type", "video/mp4"}
		resp, b := simtest.Do(t, http.DefaultClient, http.MethodPut, uploadURL, bytes.NewReader(mp4), append(h, extra...)...)
		return resp.StatusCode, b
	}
	if status, b := put("X-Api-Key", e2eHeyGenKey); status != http.StatusBadRequest {
		t.Errorf("PUT with the provider key: %d %s", status, b)
	}
	// Completing before the bytes arrive is the provider's conflict, passed on.
	status, _, body := e.invoke("heygen", "v3-complete-direct-upload", e2ePathParams("asset_id", id))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(409) {
		t.Errorf("complete before the PUT: %d %s", status, body)
	}
	if status, b := put(); status != http.StatusOK {
		t.Fatalf("PUT upload_url: %d %s", status, b)
	}
	res = e.call("heygen", "v3-complete-direct-upload", map[string]any{"path_params": map[string]any{"asset_id": id}, "body": map[string]any{}})
	if jget(res, "data", "asset_id") != id || jget(res, "data", "mime_type") != "video/mp4" || jget(res, "data", "size_bytes") != float64(len(mp4)) {
		t.Fatalf("v3-complete-direct-upload answered %v", res)
	}
	a := e.call("heygen", "v3-get-asset", e2ePathParams("asset_id", id))
	if status, _, b := e.download(jstr(t, a, "data", "url")); status != http.StatusOK || !bytes.Equal(b, mp4) {
		t.Errorf("asset bytes: status %d, %d bytes, want the uploaded %d", status, len(b), len(mp4))
	}

	// Discovery says how the endpoint is used: PUT it yourself, then the completing action.
	req, _ := http.NewRequest("GET", e.proxy.URL+httpapi.DefaultPrefix+"/orgs/"+e2eOrg+"/services/heygen/", nil)
	req.Header.Set("Authorization", "Api-Key "+e.key)
	resp, err := e.proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Endpoints []struct {
			Slug       string  `json:"slug"`
			Note       *string `json:"note"`
			NextAction *string `json:"next_action"`
		} `json:"endpoints"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ep := range d.Endpoints {
		if ep.Slug == "v3-create-direct-upload" {
			found = true
			if ep.NextAction == nil || *ep.NextAction != "v3-complete-direct-upload" || ep.Note == nil ||
				!strings.Contains(*ep.Note, "upload_url") || !strings.Contains(*ep.Note, "no API key") {
				t.Errorf("discovery of v3-create-direct-upload: note %v, next_action %v", ep.Note, ep.NextAction)
			}
		}
	}
	if !found {
		t.Error("discovery lacks v3-create-direct-upload")
	}
}

// expectJobState checks that the gateway recorded the upstream job id as a job, with the
// state and the provider's word given (the status answers passed through it).
func (e *e2eEnv) expectJobState(upstreamID, state, providerStatus string) {
	e.t.Helper()
	e2ePoll(e.t, "job "+upstreamID+" recorded "+state, func() bool {
		j, err := e.app.store.JobByUpstreamID(context.Background(), "heygen", upstreamID)
		return err == nil && j.Status == state && j.ProviderStatus == providerStatus
	})
}
