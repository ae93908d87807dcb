package tenancy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// On a shared provider key, Admit checks every object the envelope names where the catalog's
// job_refs say, in the query, the path or the body: a strict ref must name the org's jobs, a
// may_be_public ref must not name another org's. With the org's own key nothing is refused.
func TestAdmitChecksTheObjectsAnEnvelopeNames(t *testing.T) {
	e := newEnv(t)
	alpha, beta := e.org("alpha"), e.org("beta")
	record := func(org *aiproxy.Org, service, action, id string) {
		t.Helper()
		if err := e.store.CreateJob(e.ctx, &aiproxy.Job{OrgID: org.ID, Service: service, Action: action, UpstreamID: id,
			Source: aiproxy.SourcePlatform, RequestID: "r-" + id, KeyPrefix: "k", CreatedAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	record(alpha, "heygen", "generate-video", "video-a")
	record(beta, "heygen", "generate-video", "video-b")
	record(alpha, "heygen", "upload-asset", "asset-a")
	record(beta, "heygen", "upload-asset", "asset-b")
	record(alpha, "heygen", "v3-create-avatar", "look-a")
	record(beta, "heygen", "v3-create-avatar", "look-b")
	record(alpha, "heygen", "create-photo-avatar", "photo-a")
	record(alpha, "elevenlabs", "add-voice", "voice-a")
	record(beta, "elevenlabs", "add-voice", "voice-b")
	// The same id in another service is not the same object.
	record(alpha, "elevenlabs", "add-voice", "asset-b")

	admit := func(org *aiproxy.Org, source aiproxy.Source, service, action string, req tenancy.Request) error {
		t.Helper()
		s := e.cat.Service(service)
		inv := e.m.NewInvocation(tenancy.CLI, org, tenancy.ServiceState{Service: s}, s.Endpoint(action), "req-1")
		return inv.Admit(e.ctx, source, req)
	}
	body := func(v any) tenancy.Request {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return tenancy.Request{Body: b}
	}
	path := func(k, v string) tenancy.Request { return tenancy.Request{PathParams: map[string]string{k: v}} }
	scene := func(avatar, audio, bg string) map[string]any {
		sc := map[string]any{"character": map[string]any{"type": "avatar", "avatar_id": avatar},
			"voice": map[string]any{"type": "audio", "audio_asset_id": audio}}
		if bg != "" {
			sc["background"] = map[string]any{"type": "image", "image_asset_id": bg}
		}
		return sc
	}
	const stock = "Abigail_expressive_2024112501"

	tests := []struct {
		name            string
		service, action string
		req             tenancy.Request
		betaOK          bool // beta, on the shared key, is admitted
	}{
		// A strict body ref: beta's own video, another org's, one never recorded.
		{"translate beta's video", "heygen", "translate-video", body(map[string]any{"video_id": "video-b", "output_language": "es"}), true},
		{"translate alpha's video", "heygen", "translate-video", body(map[string]any{"video_id": "video-a", "output_language": "es"}), false},
		{"translate an unrecorded video", "heygen", "translate-video", body(map[string]any{"video_id": "video-x"}), false},
		{"translate a url", "heygen", "translate-video", body(map[string]any{"video_url": "https://x.test/v.mp4"}), true},
		{"translate with no body", "heygen", "translate-video", tenancy.Request{}, true},
		{"translate with a null body", "heygen", "translate-video", tenancy.Request{Body: json.RawMessage("null")}, true},
		{"translate with a number as id", "heygen", "translate-video", body(map[string]any{"video_id": 12}), false},
		// Every scene counts, strict and may_be_public refs alike.
		{"scenes of beta's assets and a stock avatar", "heygen", "generate-video",
			body(map[string]any{"video_inputs": []any{scene(stock, "asset-b", ""), scene("look-b", "asset-b", "asset-b")}}), true},
		{"alpha's audio in the second scene", "heygen", "generate-video",
			body(map[string]any{"video_inputs": []any{scene(stock, "asset-b", ""), scene(stock, "asset-a", "")}}), false},
		{"alpha's background", "heygen", "generate-video",
			body(map[string]any{"video_inputs": []any{scene(stock, "asset-b", "asset-a")}}), false},
		{"an unrecorded asset", "heygen", "generate-video",
			body(map[string]any{"video_inputs": []any{scene(stock, "asset-x", "")}}), false},
		{"alpha's look as the avatar", "heygen", "generate-video",
			body(map[string]any{"video_inputs": []any{scene("look-a", "asset-b", "")}}), false},
		{"alpha's photo avatar as a talking photo", "heygen", "generate-video", body(map[string]any{"video_inputs": []any{
			map[string]any{"character": map[string]any{"type": "talking_photo", "talking_photo_id": "photo-a"}}}}), false},
		// An array where one id is expected: every element.
		{"cinematic avatar with alpha's look among stock ones", "heygen", "v3-create-video",
			body(map[string]any{"type": "cinematic_avatar", "avatar_id": []any{stock, "look-a"}, "prompt": "p"}), false},
		{"cinematic avatar with beta's and stock looks", "heygen", "v3-create-video",
			body(map[string]any{"type": "cinematic_avatar", "avatar_id": []any{stock, "look-b"}, "prompt": "p"}), true},
		// An id written inside a value (image_key).
		{"photo avatar from beta's image", "heygen", "create-photo-avatar", body(map[string]any{"name": "n", "image_key": "image/asset-b/original"}), true},
		{"photo avatar from alpha's image", "heygen", "create-photo-avatar", body(map[string]any{"name": "n", "image_key": "image/asset-a/original"}), false},
		// A may_be_public ref in a query.
		{"looks of alpha's group", "heygen", "v3-list-avatar-looks", tenancy.Request{Query: url.Values{"group_id": {"x", "look-a"}}}, false},
		// A voice in the path: a premade one, beta's clone, alpha's clone.
		{"speak with a premade voice", "elevenlabs", "tts", path("voice_id", "21m00Tcm4TlvDq8ikWAM"), true},
		{"speak with beta's voice", "elevenlabs", "tts-stream", path("voice_id", "voice-b"), true},
		{"speak with alpha's voice", "elevenlabs", "tts", path("voice_id", "voice-a"), false},
		{"stream with alpha's voice", "elevenlabs", "tts-stream-timestamps", path("voice_id", "voice-a"), false},
		{"read alpha's voice", "elevenlabs", "get-voice", path("voice_id", "voice-a"), false},
		{"read alpha's voice settings", "elevenlabs", "get-voice-settings", path("voice_id", "voice-a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := admit(beta, aiproxy.SourcePlatform, tt.service, tt.action, tt.req)
			if tt.betaOK && err != nil {
				t.Errorf("beta on the shared key: %v, want admitted", err)
			}
			var ae *aiproxy.Error
			if !tt.betaOK && (aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND || !errors.As(err, &ae) || ae.Message != "Not found.") {
				t.Errorf("beta on the shared key: %v, want 404 Not found.", err)
			}
			// With its own provider account, beta is refused nothing.
			if err := admit(beta, aiproxy.SourceTenant, tt.service, tt.action, tt.req); err != nil {
				t.Errorf("beta on its own key: %v, want admitted", err)
			}
		})
	}

	// Too many ids to check is a bad request, not a thousand lookups.
	var scenes []any
	for i := range 501 {
		scenes = append(scenes, scene(stock, fmt.Sprintf("asset-%d", i), ""))
	}
	err := admit(beta, aiproxy.SourcePlatform, "heygen", "generate-video", body(map[string]any{"video_inputs": scenes}))
	if aiproxy.ErrorCode(err) != aiproxy.EINVALID || !strings.Contains(err.Error(), "more than 500 objects") {
		t.Errorf("501 assets: %v, want a bad request", err)
	}
	// The same id named again counts once.
	scenes = scenes[:0]
	for range 600 {
		scenes = append(scenes, scene(stock, "asset-b", "asset-b"))
	}
	if err := admit(beta, aiproxy.SourcePlatform, "heygen", "generate-video", body(map[string]any{"video_inputs": scenes})); err != nil {
		t.Errorf("600 scenes of one asset: %v", err)
	}
	// A body whose object names a member twice (the provider may read either) is refused; on
	// the org's own key it goes on.
	for _, raw := range []string{
		`{"video_id": "video-b", "video_id": "video-a"}`,
		`{"video_id": "video-b", "VIDEO_ID": "video-a"}`,
		`{"video_id": "video-b", "Video_Id": "video-b"}`,
		`{"video_id": "video-b", "extra": [{"a": 1, "A": 2}]}`,
		"{\"video_id\": \"video-b\", \"video_\\u0069d\": \"video-a\"}", // an escape spells the same name
	} {
		err := admit(beta, aiproxy.SourcePlatform, "heygen", "translate-video", tenancy.Request{Body: json.RawMessage(raw)})
		if aiproxy.ErrorCode(err) != aiproxy.EINVALID || !strings.Contains(err.Error(), "names a member twice") {
			t.Errorf("%s: %v, want a bad request", raw, err)
		}
		if err := admit(beta, aiproxy.SourceTenant, "heygen", "translate-video", tenancy.Request{Body: json.RawMessage(raw)}); err != nil {
			t.Errorf("%s on beta's own key: %v", raw, err)
		}
	}
	if err := admit(beta, aiproxy.SourcePlatform, "heygen", "translate-video", tenancy.Request{Body: json.RawMessage(`{"video_id": `)}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("a body that is not JSON: %v, want a bad request", err)
	}
	// Members that differ otherwise are fine, at every depth.
	if err := admit(beta, aiproxy.SourcePlatform, "heygen", "translate-video", tenancy.Request{
		Body: json.RawMessage(`{"video_id": "video-b", "video_ids": [{"a": 1, "b": {"a": 2}}, {"a": 3}], "x": null}`)}); err != nil {
		t.Errorf("distinct members: %v", err)
	}

	// A job_ref still works as before: the job itself must be the org's.
	if err := admit(alpha, aiproxy.SourcePlatform, "heygen", "v3-get-video", path("video_id", "video-a")); err != nil {
		t.Errorf("alpha reading its video: %v", err)
	}
	if err := admit(beta, aiproxy.SourcePlatform, "heygen", "v3-get-video", path("video_id", "video-a")); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Errorf("beta reading alpha's video: %v", err)
	}
}
