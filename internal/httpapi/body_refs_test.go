package httpapi_test

// On the shared key an org may not use another org's objects by naming them anywhere in an
// envelope: not only where the job an action reads is named (job_ref), but in the body of a
// translation, in the scenes of a video, in the path of a speech call (the catalog's
// job_refs). These tests drive the gateway against the provider simulators with two orgs.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// premadeVoice is an ElevenLabs premade voice the simulator knows ("Rachel").
const premadeVoice = "21m00Tcm4TlvDq8ikWAM"

// imagePNG is a small valid PNG.
func imagePNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mustCall invokes and fails the test unless the answer is 200; it returns the decoded answer
// (nil for an answer that is not JSON).
func (e *acctEnv) mustCall(key, org, service, action, envelope string) any {
	e.t.Helper()
	r := e.call(key, org, service, action, envelope)
	if r.Status != http.StatusOK {
		e.t.Fatalf("%s/%s as %s: %d %s", service, action, org, r.Status, r.Body)
	}
	var v any
	if json.Unmarshal(r.Body, &v) != nil {
		return nil
	}
	return v
}

// uploadAsset uploads a file as the org through upload-asset and returns the asset's id.
func (e *acctEnv) uploadAsset(key, org, contentType string, data []byte) string {
	e.t.Helper()
	v := e.mustCall(key, org, "heygen", "upload-asset", `{"files": {"file": {"filename": "f", "content_type": "`+contentType+
		`", "data": "`+base64.StdEncoding.EncodeToString(data)+`"}}}`)
	id, _ := simtest.Get(v, "data", "id").(string)
	if id == "" {
		e.t.Fatalf("upload-asset as %s: no id in %v", org, v)
	}
	return id
}

// cloneVoice clones an ElevenLabs voice as the org through add-voice and returns its id.
func (e *acctEnv) cloneVoice(key, org, name string) string {
	e.t.Helper()
	v := e.mustCall(key, org, "elevenlabs", "add-voice", `{"body": {"name": "`+name+`"}, "files": {"files": [{"filename": "s.mp3",
		"content_type": "audio/mpeg", "data": "`+base64.StdEncoding.EncodeToString(media.MP3(2))+`"}]}}`)
	id, _ := simtest.Get(v, "voice_id").(string)
	if id == "" {
		e.t.Fatalf("add-voice as %s: no voice_id in %v", org, v)
	}
	return id
}

// audioScene is a generate-video body of one scene spoken by an uploaded audio asset in
// front of an uploaded image.
func audioScene(audio, image string) string {
	b, _ := json.Marshal(map[string]any{"body": map[string]any{"test": true, "video_inputs": []any{
		map[string]any{"character": map[string]any{"type": "avatar", "avatar_id": simAvatar},
			"voice": map[string]any{"type": "text", "input_text": "Hello.", "voice_id": simVoice}},
		map[string]any{"character": map[string]any{"type": "avatar", "avatar_id": simAvatar},
			"voice":      map[string]any{"type": "audio", "audio_asset_id": audio},
			"background": map[string]any{"type": "image", "image_asset_id": image}},
	}}})
	return string(b)
}

func TestSharedKeyBodyNamingAnotherOrgsObjectIsNotFoundWithoutCallingTheUpstream(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o.withSim())
		e.platformPolicy("heygen")
		e.platformPolicy("elevenlabs")
		img, mp3 := imagePNG(t), media.MP3(2)

		alphaVideo, _ := e.makeVideo(e.adminA, "org-a", "Alpha's video.")
		betaVideo, _ := e.makeVideo(e.adminB, "org-b", "Beta's video.")
		alphaImage, alphaAudio := e.uploadAsset(e.adminA, "org-a", "image/png", img), e.uploadAsset(e.adminA, "org-a", "audio/mpeg", mp3)
		betaImage, betaAudio := e.uploadAsset(e.adminB, "org-b", "image/png", img), e.uploadAsset(e.adminB, "org-b", "audio/mpeg", mp3)
		alphaVoice := e.cloneVoice(e.adminA, "org-a", "Alpha's narrator")
		betaVoice := e.cloneVoice(e.adminB, "org-b", "Beta's narrator")

		// Beta cannot use anything of alpha's, wherever the envelope names it; nor, where
		// only an org's object fits, an id the gateway never recorded.
		n := e.up.count()
		for _, c := range []struct{ service, action, envelope string }{
			{"heygen", "translate-video", `{"body": {"video_id": "` + alphaVideo + `", "output_language": "Spanish"}}`},
			{"heygen", "translate-video", `{"body": {"video_id": "no-such-video", "output_language": "Spanish"}}`},
			{"heygen", "generate-video", audioScene(alphaAudio, betaImage)},
			{"heygen", "generate-video", audioScene(betaAudio, alphaImage)},
			{"heygen", "create-photo-avatar", `{"body": {"name": "Beta", "image_key": "image/` + alphaImage + `/original"}}`},
			{"heygen", "v3-create-video", `{"body": {"type": "image", "image": {"type": "asset_id", "asset_id": "` + alphaImage + `"},
				"script": "Hi.", "voice_id": "` + simVoice + `", "test": true}}`},
			{"heygen", "v3-create-video-translation", `{"body": {"video": {"type": "asset_id", "asset_id": "` + alphaImage + `"},
				"output_languages": ["Spanish"]}}`},
			{"elevenlabs", "tts", `{"path_params": {"voice_id": "` + alphaVoice + `"}, "body": {"text": "Hello."}}`},
			{"elevenlabs", "tts-stream", `{"path_params": {"voice_id": "` + alphaVoice + `"}, "body": {"text": "Hello."}}`},
			{"elevenlabs", "tts-timestamps", `{"path_params": {"voice_id": "` + alphaVoice + `"}, "body": {"text": "Hello."}}`},
			{"elevenlabs", "tts-stream-timestamps", `{"path_params": {"voice_id": "` + alphaVoice + `"}, "body": {"text": "Hello."}}`},
			{"elevenlabs", "get-voice", `{"path_params": {"voice_id": "` + alphaVoice + `"}}`},
			{"elevenlabs", "get-voice-settings", `{"path_params": {"voice_id": "` + alphaVoice + `"}}`},
		} {
			assertBody(t, e.call(e.adminB, "org-b", c.service, c.action, c.envelope), 404, bodyNotFound)
		}
		// Nor by naming its own video and alpha's under one member name, spelt twice: which one
		// the provider reads is its parser's affair.
		for _, body := range []string{
			`{"video_id": "` + betaVideo + `", "video_id": "` + alphaVideo + `", "output_language": "Spanish"}`,
			`{"video_id": "` + betaVideo + `", "Video_ID": "` + alphaVideo + `", "output_language": "Spanish"}`,
		} {
			r := e.call(e.adminB, "org-b", "heygen", "translate-video", `{"body": `+body+`}`)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "names a member twice") {
				t.Errorf("a member spelt twice: %d %s", r.Status, r.Body)
			}
		}
		e.expectCalls("beta naming alpha's objects", n)

		// Its own objects, and the providers' public ones, it may use.
		e.mustCall(e.adminB, "org-b", "heygen", "translate-video", `{"body": {"video_id": "`+betaVideo+`", "output_language": "Spanish"}}`)
		e.mustCall(e.adminB, "org-b", "heygen", "generate-video", audioScene(betaAudio, betaImage))
		e.mustCall(e.adminB, "org-b", "heygen", "create-photo-avatar", `{"body": {"name": "Beta", "image_key": "image/`+betaImage+`/original"}}`)
		for _, voice := range []string{betaVoice, premadeVoice} {
			r := e.call(e.adminB, "org-b", "elevenlabs", "tts", `{"path_params": {"voice_id": "`+voice+`"}, "body": {"text": "Hello."}}`)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "audio/mpeg" || len(r.Body) == 0 {
				t.Errorf("beta speaking with voice %s: %d %s %.100q", voice, r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			e.mustCall(e.adminB, "org-b", "elevenlabs", "get-voice", `{"path_params": {"voice_id": "`+voice+`"}}`)
		}
		// So may alpha, with its own.
		e.mustCall(e.adminA, "org-a", "heygen", "translate-video", `{"body": {"video_id": "`+alphaVideo+`", "output_language": "Spanish"}}`)
		e.mustCall(e.adminA, "org-a", "heygen", "generate-video", audioScene(alphaAudio, alphaImage))
		if r := e.call(e.adminA, "org-a", "elevenlabs", "tts", `{"path_params": {"voice_id": "`+alphaVoice+`"}, "body": {"text": "Hi."}}`); r.Status != http.StatusOK {
			t.Errorf("alpha speaking with its own voice: %d %s", r.Status, r.Body)
		}
	})
}

// TestTenantKeyBodyRefsRefuseNothing: with the org's own provider account, ids in the body
// are the provider's to answer; the gateway refuses none.
func TestTenantKeyBodyRefsRefuseNothing(t *testing.T) {
	e := newAcctEnv(t, acctOptions{sim: true})
	e.platformPolicy("heygen")
	e.platformPolicy("elevenlabs")
	betaVideo, _ := e.makeVideo(e.adminB, "org-b", "Beta, on the shared account.")
	betaImage := e.uploadAsset(e.adminB, "org-b", "image/png", imagePNG(t))
	betaVoice := e.cloneVoice(e.adminB, "org-b", "Beta's narrator")
	e.tenantPolicy("heygen", e.orgA)
	e.tenantPolicy("elevenlabs", e.orgA)

	n := e.up.count()
	for _, c := range []struct{ service, action, envelope string }{
		{"heygen", "translate-video", `{"body": {"video_id": "` + betaVideo + `", "output_language": "Spanish"}}`},
		{"heygen", "generate-video", audioScene("no-such-asset", betaImage)},
		{"elevenlabs", "tts", `{"path_params": {"voice_id": "` + betaVoice + `"}, "body": {"text": "Hello."}}`},
	} {
		// The provider does not know beta's objects on alpha's own account: its error, not the gateway's 404.
		r := e.call(e.adminA, "org-a", c.service, c.action, c.envelope)
		if r.Status == http.StatusNotFound && strings.Contains(string(r.Body), "Not found.") {
			t.Errorf("%s on alpha's own key was refused by the gateway: %d %s", c.action, r.Status, r.Body)
		}
	}
	e.expectCalls("the tenant key", n+3)
	if got := e.up.last(t).Header.Get("xi-api-key"); got != elevenKey {
		t.Errorf("alpha's call used key %q, want its own", got)
	}
}
