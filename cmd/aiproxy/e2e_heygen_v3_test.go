package main

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// pollV3Video polls v3-get-video until the video is completed or failed.
func (e *e2eEnv) pollV3Video(videoID string) any {
	e.t.Helper()
	var res any
	e2ePoll(e.t, "v3 video "+videoID, func() bool {
		res = e.call("heygen", "v3-get-video", e2ePathParams("video_id", videoID))
		st := jget(res, "data", "status")
		return st == "completed" || st == "failed"
	})
	return res
}

// v3First calls a v3 list action and returns the first item of its data array, failing
// the test ("no " + what) when the list is empty.
func (e *e2eEnv) v3First(what, action string, envelope any) any {
	e.t.Helper()
	items := jlist(e.t, e.call("heygen", action, envelope), "data")
	if len(items) == 0 {
		e.t.Fatal("no " + what)
	}
	return items[0]
}

// v3GetByID calls a v3 get action with id as its path parameter param, and checks that
// the answer's data.field is id.
func (e *e2eEnv) v3GetByID(action, param, id, field string) {
	e.t.Helper()
	res := e.call("heygen", action, e2ePathParams(param, id))
	if jget(res, "data", field) != id {
		e.t.Errorf("%s returned %v", action, res)
	}
}

func TestE2EHeyGenV3CreateVideoCompletesAndDownloads(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	look := e.v3First("avatar looks", "v3-list-avatar-looks", nil)
	res := e.call("heygen", "v3-create-video", map[string]any{"body": map[string]any{
		"type": "avatar", "avatar_id": jstr(t, look, "id"), "script": "Hello from the v3 API.",
		"voice_id": "f38a635bee7a4d1f9b0a654a31d050d2", "test": true, "resolution": "720p",
	}})
	id := jstr(t, res, "data", "video_id")
	res = e.pollV3Video(id)
	if jget(res, "data", "status") != "completed" {
		t.Fatalf("v3 video ended %v", res)
	}
	status, _, b := e.download(jstr(t, res, "data", "video_url"))
	if status != http.StatusOK || !isMP4(b) {
		t.Errorf("v3 video download: status %d, MP4 %v", status, isMP4(b))
	}

	videos := jlist(t, e.call("heygen", "v3-list-videos", nil), "data")
	if !e2eContainsID(videos, "id", id) {
		t.Fatalf("v3-list-videos lacks %s", id)
	}
	res = e.call("heygen", "v3-delete-video", e2ePathParams("video_id", id))
	if jget(res, "data", "deleted") != true {
		t.Errorf("v3-delete-video answered %v", res)
	}
	status, _, body := e.invoke("heygen", "v3-get-video", e2ePathParams("video_id", id))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(404) {
		t.Errorf("v3-get-video after delete: %d %s, want 502 with upstream_status 404", status, body)
	}
}

func TestE2EHeyGenV3Avatars(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	gid := jstr(t, e.v3First("avatar groups", "v3-list-avatar-groups", map[string]any{"query": map[string]any{"ownership": "public"}}), "id")
	e.v3GetByID("v3-get-avatar-group", "group_id", gid, "id")
	lid := jstr(t, e.v3First("looks in group "+gid, "v3-list-avatar-looks", map[string]any{"query": map[string]any{"group_id": gid}}), "id")
	l := e.call("heygen", "v3-get-avatar-look", e2ePathParams("look_id", lid))
	if jget(l, "data", "group_id") != gid {
		t.Errorf("look %s: group_id %v, want %s", lid, jget(l, "data", "group_id"), gid)
	}

	// A photo avatar, polled with the action the catalog names (v3-get-avatar-look).
	res := e.call("heygen", "v3-create-avatar", map[string]any{"body": map[string]any{
		"type": "photo", "name": "E2E Photo", "file": map[string]any{"type": "url", "url": "https://example.com/face.png"},
	}})
	newLook := jstr(t, res, "data", "avatar_item", "id")
	e2ePoll(t, "v3 avatar training", func() bool {
		res = e.call("heygen", "v3-get-avatar-look", e2ePathParams("look_id", newLook))
		return jget(res, "data", "status") != "processing"
	})
	if jget(res, "data", "status") != "completed" {
		t.Errorf("v3 avatar ended %v", res)
	}
}

func TestE2EHeyGenV3VoicesAndSpeech(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	vid := jstr(t, e.v3First("starfish voices", "v3-list-voices", map[string]any{"query": map[string]any{"engine": "starfish"}}), "voice_id")
	e.v3GetByID("v3-get-voice", "voice_id", vid, "voice_id")
	res := e.call("heygen", "v3-speech", map[string]any{"body": map[string]any{"text": "Speech through the proxy.", "voice_id": vid}})
	status, _, mp3 := e.download(jstr(t, res, "data", "audio_url"))
	if status != http.StatusOK {
		t.Fatalf("speech audio: status %d", status)
	}
	if d, err := media.MP3Duration(mp3); err != nil || d <= 0 {
		t.Errorf("speech audio is not a valid MP3: %v (%v s)", err, d)
	}
	if len(jlist(t, res, "data", "word_timestamps")) != 4 {
		t.Errorf("word_timestamps = %v, want 4 words", jget(res, "data", "word_timestamps"))
	}
}

func TestE2EHeyGenV3AssetsMultipart(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	status, _, body := e.invokeMultipart("heygen", "v3-upload-asset", nil,
		formFile{field: "file", filename: "face.png", contentType: "image/png", data: tinyPNG})
	if status != http.StatusOK {
		t.Fatalf("v3-upload-asset: %d %s", status, body)
	}
	res := e2eDecode(t, body)
	id := jstr(t, res, "data", "asset_id")
	if jget(res, "data", "mime_type") != "image/png" || jget(res, "data", "size_bytes") != float64(len(tinyPNG)) {
		t.Errorf("upload answer %v, want image/png of %d bytes", res, len(tinyPNG))
	}
	a := e.call("heygen", "v3-get-asset", e2ePathParams("asset_id", id))
	if jget(a, "data", "name") != "face.png" {
		t.Errorf("v3-get-asset: name %v, want face.png", jget(a, "data", "name"))
	}
	if status, _, b := e.download(jstr(t, a, "data", "url")); status != http.StatusOK || !bytes.Equal(b, tinyPNG) {
		t.Errorf("asset bytes: status %d, %d bytes, want the uploaded %d", status, len(b), len(tinyPNG))
	}
	e.call("heygen", "v3-delete-asset", e2ePathParams("asset_id", id))
	status, _, body = e.invoke("heygen", "v3-get-asset", e2ePathParams("asset_id", id))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(404) {
		t.Errorf("v3-get-asset after delete: %d %s", status, body)
	}
}

func TestE2EHeyGenV3TemplateVideoCompletes(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	tid := jstr(t, e.v3First("templates", "v3-list-templates", nil), "id")
	tpl := e.call("heygen", "v3-get-template", e2ePathParams("template_id", tid))
	if len(jlist(t, tpl, "data", "scenes")) == 0 {
		t.Errorf("v3-get-template has no scenes: %v", tpl)
	}
	res := e.call("heygen", "v3-generate-template-video", map[string]any{
		"path_params": map[string]any{"template_id": tid},
		"body": map[string]any{"test": true, "variables": map[string]any{"script": map[string]any{
			"name": "script", "type": "text", "properties": map[string]any{"content": "A v3 template video."},
		}}},
	})
	res = e.pollV3Video(jstr(t, res, "data", "id"))
	if jget(res, "data", "status") != "completed" {
		t.Fatalf("v3 template video ended %v", res)
	}
}

func TestE2EHeyGenV3TranslationCompletes(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	langs := jlist(t, e.call("heygen", "v3-list-translation-languages", nil), "data", "languages")
	if len(langs) == 0 {
		t.Fatal("no languages")
	}
	res := e.call("heygen", "v3-create-video-translation", map[string]any{"body": map[string]any{
		"video": map[string]any{"type": "url", "url": "https://example.com/source.mp4"}, "output_languages": langs[:1],
	}})
	ids := jlist(t, res, "data", "video_translation_ids")
	if len(ids) != 1 {
		t.Fatalf("video_translation_ids = %v", ids)
	}
	e2ePoll(t, "v3 translation", func() bool {
		res = e.call("heygen", "v3-get-video-translation", e2ePathParams("video_translation_id", ids[0]))
		st := jget(res, "data", "status")
		return st == "completed" || st == "failed"
	})
	if jget(res, "data", "status") != "completed" || jstr(t, res, "data", "video_url") == "" {
		t.Fatalf("v3 translation ended %v", res)
	}
}

func TestE2EHeyGenV3WebhooksAndCurrentUser(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	hookURL := e2eWebhookSink(t)
	res := e.call("heygen", "v3-create-webhook-endpoint", map[string]any{"body": map[string]any{"url": hookURL + "/v3"}})
	id := jstr(t, res, "data", "endpoint_id")
	jstr(t, res, "data", "secret")
	if !e2eContainsID(jlist(t, e.call("heygen", "v3-list-webhook-endpoints", nil), "data"), "endpoint_id", id) {
		t.Fatalf("v3-list-webhook-endpoints lacks %s", id)
	}
	e.call("heygen", "v3-delete-webhook-endpoint", e2ePathParams("endpoint_id", id))
	if e2eContainsID(jlist(t, e.call("heygen", "v3-list-webhook-endpoints", nil), "data"), "endpoint_id", id) {
		t.Errorf("endpoint %s still listed after delete", id)
	}

	me := e.call("heygen", "v3-get-current-user", nil)
	if b, ok := jget(me, "data", "wallet", "remaining_balance").(float64); !ok || b <= 0 {
		t.Errorf("v3-get-current-user: wallet %v", jget(me, "data", "wallet"))
	}
}
