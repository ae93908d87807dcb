package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// pollVideoStatus is the seed's pollVideoStatus: it polls video-status until the status
// is completed or failed and returns the last data object.
func (e *e2eEnv) pollVideoStatus(videoID string) map[string]any {
	e.t.Helper()
	var data map[string]any
	e2ePoll(e.t, "video "+videoID, func() bool {
		res := e.call("heygen", "video-status", map[string]any{"query": map[string]any{"video_id": videoID}})
		data, _ = jget(res, "data").(map[string]any)
		switch st, _ := data["status"].(string); st {
		case "completed", "failed":
			return true
		case "pending", "waiting", "processing":
			return false
		default:
			e.t.Fatalf("unexpected video status %q: %v", st, res)
		}
		return false
	})
	return data
}

func TestE2EHeyGenSeedWorkflowEndsWithDownloadableRangeableMP4(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)

	// Step 1 and 2: avatars and voices.
	avatars := jlist(t, e.call("heygen", "list-avatars", map[string]any{}), "data", "avatars")
	voices := jlist(t, e.call("heygen", "list-voices", map[string]any{}), "data", "voices")
	if len(avatars) == 0 || len(voices) == 0 {
		t.Fatalf("empty lists: %d avatars, %d voices", len(avatars), len(voices))
	}
	jstr(t, avatars[0], "avatar_name")
	jstr(t, voices[0], "name")
	avatarID, voiceID := jstr(t, avatars[0], "avatar_id"), jstr(t, voices[0], "voice_id")

	// Step 4: generate, the seed body exactly.
	res := e.call("heygen", "generate-video", map[string]any{
		"body": simtest.HeyGenVideoRequest(avatarID, voiceID, "Hello! This is a demonstration of HeyGen video generation."),
	})
	videoID := jstr(t, res, "data", "video_id")

	// Step 5: poll until completed.
	data := e.pollVideoStatus(videoID)
	if data["status"] != "completed" {
		t.Fatalf("video ended %v: %v", data["status"], data)
	}
	videoURL := jstr(t, data, "video_url")
	if !strings.HasPrefix(videoURL, e.simURL+"/") {
		t.Errorf("video_url %q is not on the simulator %s", videoURL, e.simURL)
	}

	// The file is an MP4 and can be fetched by ranges (players seek).
	status, hdr, mp4 := e.download(videoURL)
	if status != http.StatusOK || !isMP4(mp4) {
		t.Fatalf("download: status %d, %d bytes, not an MP4 (%q)", status, len(mp4), mp4[:min(len(mp4), 12)])
	}
	if ct := hdr.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type = %q, want video/mp4", ct)
	}
	status, hdr, part := e.download(videoURL, "Range", "bytes=0-99")
	if status != http.StatusPartialContent {
		t.Fatalf("Range request: status %d, want 206", status)
	}
	if len(part) != 100 || !bytes.Equal(part, mp4[:100]) {
		t.Errorf("Range request returned %d bytes, not the file's first 100", len(part))
	}
	if cr := hdr.Get("Content-Range"); cr != fmt.Sprintf("bytes 0-99/%d", len(mp4)) {
		t.Errorf("Content-Range = %q", cr)
	}
}

func TestE2EHeyGenTemplateFlowCompletes(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	templates := jlist(t, e.call("heygen", "list-templates", map[string]any{}), "data", "templates")
	if len(templates) == 0 {
		t.Fatal("no templates")
	}
	templateID := jstr(t, templates[0], "template_id")
	jstr(t, templates[0], "name")

	tpl := e.call("heygen", "get-template", e2ePathParams("template_id", templateID))
	if _, ok := jget(tpl, "data", "variables", "script").(map[string]any); !ok {
		t.Fatalf("template has no script variable: %v", tpl)
	}

	// The seed's generate-template-video request.
	res := e.call("heygen", "generate-template-video", map[string]any{
		"path_params": map[string]any{"template_id": templateID},
		"body": map[string]any{
			"test": true, "caption": false,
			"variables": map[string]any{"script": map[string]any{
				"name": "script", "type": "text", "properties": map[string]any{"content": "Hello, this is a test video."},
			}},
		},
	})
	data := e.pollVideoStatus(jstr(t, res, "data", "video_id"))
	if data["status"] != "completed" || jstr(t, data, "video_url") == "" {
		t.Fatalf("template video ended %v", data)
	}
}

func TestE2EHeyGenScriptWithFAILEndsFailedWithErrorObject(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	res := e.call("heygen", "generate-video", map[string]any{
		"body": simtest.HeyGenVideoRequest("Abigail_expressive_2024112501", "f38a635bee7a4d1f9b0a654a31d050d2", "This render will FAIL on purpose."),
	})
	data := e.pollVideoStatus(jstr(t, res, "data", "video_id"))
	if data["status"] != "failed" {
		t.Fatalf("status = %v, want failed: %v", data["status"], data)
	}
	// The seed throws new Error(result.data.error || ...): the error must be there.
	errObj, ok := data["error"].(map[string]any)
	if !ok {
		t.Fatalf("data.error = %#v, want an object", data["error"])
	}
	if jstr(t, errObj, "message") == "" || jget(errObj, "code") == nil {
		t.Errorf("error object lacks code or message: %v", errObj)
	}
}

// TestE2EHeyGenLegacyActions covers the documented v1/v2 actions beyond the seed's flows.
func TestE2EHeyGenLegacyActions(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	hookURL := e2eWebhookSink(t)

	t.Run("videos: list and delete", func(t *testing.T) {
		e := e.with(t)
		res := e.call("heygen", "generate-video", map[string]any{
			"body": simtest.HeyGenVideoRequest("Abigail_expressive_2024112501", "f38a635bee7a4d1f9b0a654a31d050d2", "A video to list and delete."),
		})
		id := jstr(t, res, "data", "video_id")
		videos := jlist(t, e.call("heygen", "list-videos", map[string]any{}), "data", "videos")
		if !e2eContainsID(videos, "video_id", id) {
			t.Fatalf("list-videos lacks %s: %v", id, videos)
		}
		e.call("heygen", "delete-video", map[string]any{"query": map[string]any{"video_id": id}})
		videos = jlist(t, e.call("heygen", "list-videos", map[string]any{}), "data", "videos")
		if e2eContainsID(videos, "video_id", id) {
			t.Errorf("video %s still listed after delete-video", id)
		}
	})

	t.Run("translation", func(t *testing.T) {
		e := e.with(t)
		langs := jlist(t, e.call("heygen", "v3-list-translation-languages", nil), "data", "languages")
		res := e.call("heygen", "translate-video", map[string]any{"body": map[string]any{
			"video_url": "https://example.com/source.mp4", "output_language": langs[0], "title": "e2e translation",
		}})
		id := jstr(t, res, "data", "video_translate_id")
		var data any
		e2ePoll(t, "translation", func() bool {
			data = e.call("heygen", "translation-status", e2ePathParams("video_translate_id", id))
			st := jget(data, "data", "status")
			return st == "success" || st == "failed"
		})
		if jget(data, "data", "status") != "success" {
			t.Fatalf("translation ended %v", data)
		}
		status, _, b := e.download(jstr(t, data, "data", "url"))
		if status != http.StatusOK || !isMP4(b) {
			t.Errorf("translated video: status %d, MP4 %v", status, isMP4(b))
		}
	})

	t.Run("assets: binary upload as JSON files and as a multipart part; photo avatar", func(t *testing.T) {
		e := e.with(t)
		// 1. The JSON envelope's files key (clients that cannot send multipart).
		res := e.call("heygen", "upload-asset", map[string]any{"files": map[string]any{
			"file": map[string]any{"filename": "face.png", "content_type": "image/png", "data": base64.StdEncoding.EncodeToString(tinyPNG)},
		}})
		jsonID, jsonURL := jstr(t, res, "data", "id"), jstr(t, res, "data", "url")
		if jget(res, "data", "file_type") != "image" {
			t.Errorf("file_type = %v, want image", jget(res, "data", "file_type"))
		}
		imageKey := jstr(t, res, "data", "image_key")

		// 2. A real multipart file part, whose bytes become the upstream body.
		mp3 := media.MP3(1)
		status, _, body := e.invokeMultipart("heygen", "upload-asset", nil,
			formFile{field: "file", filename: "voice.mp3", contentType: "audio/mpeg", data: mp3})
		if status != http.StatusOK {
			t.Fatalf("multipart upload-asset: %d %s", status, body)
		}
		res = e2eDecode(t, body)
		partID, partURL := jstr(t, res, "data", "id"), jstr(t, res, "data", "url")
		if jget(res, "data", "file_type") != "audio" {
			t.Errorf("file_type = %v, want audio", jget(res, "data", "file_type"))
		}

		// Both arrived byte for byte.
		for _, c := range []struct {
			url  string
			want []byte
		}{{jsonURL, tinyPNG}, {partURL, mp3}} {
			status, _, got := e.download(c.url)
			if status != http.StatusOK || !bytes.Equal(got, c.want) {
				t.Errorf("asset %s: status %d, %d bytes, want the %d uploaded bytes", c.url, status, len(got), len(c.want))
			}
		}
		assets := jlist(t, e.call("heygen", "list-assets", map[string]any{}), "data", "assets")
		if !e2eContainsID(assets, "id", jsonID) || !e2eContainsID(assets, "id", partID) {
			t.Errorf("list-assets lacks %s or %s: %v", jsonID, partID, assets)
		}

		// A photo avatar from the uploaded image, trained to completion.
		res = e.call("heygen", "create-photo-avatar", map[string]any{"body": map[string]any{"name": "E2E Face", "image_key": imageKey}})
		photoID := jstr(t, res, "data", "id")
		e2ePoll(t, "photo avatar training", func() bool {
			res = e.call("heygen", "photo-avatar-train-status", e2ePathParams("photo_avatar_id", photoID))
			return jget(res, "data", "status") != "pending"
		})
		if jget(res, "data", "status") != "completed" {
			t.Fatalf("photo avatar ended %v", res)
		}
		photos := jlist(t, e.call("heygen", "list-talking-photos", map[string]any{}), "data")
		if !e2eContainsID(photos, "id", photoID) {
			t.Errorf("list-talking-photos lacks the trained photo avatar %s", photoID)
		}
	})

	t.Run("quota", func(t *testing.T) {
		e := e.with(t)
		res := e.call("heygen", "get-remaining-quota", nil)
		if q, ok := jget(res, "data", "remaining_quota").(float64); !ok || q <= 0 {
			t.Errorf("remaining_quota = %v", jget(res, "data", "remaining_quota"))
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		e := e.with(t)
		res := e.call("heygen", "add-webhook", map[string]any{"body": map[string]any{
			"url": hookURL + "/legacy", "events": []string{"avatar_video.success"},
		}})
		id := jstr(t, res, "data", "endpoint_id")
		if !e2eContainsID(jlist(t, e.call("heygen", "list-webhooks", nil), "data"), "endpoint_id", id) {
			t.Fatalf("list-webhooks lacks %s", id)
		}
		e.call("heygen", "delete-webhook", map[string]any{"query": map[string]any{"endpoint_id": id}})
		if e2eContainsID(jlist(t, e.call("heygen", "list-webhooks", nil), "data"), "endpoint_id", id) {
			t.Errorf("webhook %s still listed after delete-webhook", id)
		}
	})
}

// e2eContainsID reports whether a list of objects has one whose field equals id.
func e2eContainsID(list []any, field, id string) bool {
	for _, it := range list {
		if jget(it, field) == id {
			return true
		}
	}
	return false
}
