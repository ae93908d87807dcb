package catalog

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// heygenV3More checks the account fields of the Video Agent, lipsync, voice clone and
// direct upload actions against the simulator; clip is an uploaded MP4 asset of the org's.
func (d *simDriver) heygenV3More(t *testing.T, clip string) {
	const hg = "heygen"

	// A large file the direct way: the asset id, a PUT to the storage URL without a key,
	// then complete (job_ref: the recorded asset).
	mp4 := media.MP4(2, 320, 240)
	up := d.invoke(t, hg, "v3-create-direct-upload", simRequest{body: map[string]any{
		"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": len(mp4)}})
	ids, err := d.cat.Service(hg).Endpoint("v3-create-direct-upload").CreatedJobIDs(up)
	if err != nil || len(ids) != 1 {
		t.Fatalf("v3-create-direct-upload: creates_job found %q, %v in %v", ids, err, up)
	}
	d.created[hg+"/"+ids[0]] = true
	resp, raw := simtest.Do(t, http.DefaultClient, http.MethodPut, str(t, up, "data", "upload_url"), bytes.NewReader(mp4),
		"Content-Type", str(t, up, "data", "upload_headers", "Content-Type"))
	if resp.StatusCode != 200 {
		t.Fatalf("PUT upload_url: %d %s", resp.StatusCode, raw)
	}
	d.invoke(t, hg, "v3-complete-direct-upload", simRequest{params: map[string]string{"asset_id": ids[0]}, body: map[string]any{}})
	d.invoke(t, hg, "v3-get-asset", simRequest{params: map[string]string{"asset_id": ids[0]}})

	// A voice clone of an uploaded sample, read while it trains, then deleted.
	sample := d.create(t, hg, "v3-upload-asset", simRequest{files: map[string][]byte{"file": media.MP3(2)}}, 1)[0]
	clone := d.create(t, hg, "v3-clone-voice", simRequest{body: map[string]any{
		"voice_name": "Org A narrator", "audio": map[string]any{"type": "asset_id", "asset_id": sample}}}, 1)[0]
	d.invoke(t, hg, "v3-get-voice", simRequest{params: map[string]string{"voice_id": clone}})
	d.invoke(t, hg, "v3-design-voice", simRequest{body: map[string]any{"prompt": "warm female narrator"}})

	// A Video Agent session in generate mode: the session and its video are the org's; the
	// session is followed to completed and the video read with v3-get-video.
	style := str(t, d.invoke(t, hg, "v3-list-video-agent-styles", simRequest{}), "data", 0, "style_id")
	agent := d.create(t, hg, "v3-create-video-agent", simRequest{body: map[string]any{
		"prompt": "A 30 second product demo", "avatar_id": simAvatar, "style_id": style,
		"files": []any{map[string]any{"type": "asset_id", "asset_id": clip}}}}, 2)
	done := d.follow(t, hg, "v3-create-video-agent", agent[0], nil)
	if simtest.Get(done, "data", "video_id") != agent[1] {
		t.Errorf("the completed session names video %v, want %s", simtest.Get(done, "data", "video_id"), agent[1])
	}
	d.invoke(t, hg, "v3-get-video", simRequest{params: map[string]string{"video_id": agent[1]}})
	// A chat session has no video yet; it is stopped.
	chat := d.create(t, hg, "v3-create-video-agent", simRequest{body: map[string]any{"prompt": "Let's plan a video", "mode": "chat"}}, 1)[0]
	d.invoke(t, hg, "v3-stop-video-agent", simRequest{params: map[string]string{"session_id": chat}, body: map[string]any{}})

	// A lipsync of the org's clip with new audio, followed (output_seconds) to completed.
	lip := d.create(t, hg, "v3-create-lipsync", simRequest{body: map[string]any{
		"video": map[string]any{"type": "asset_id", "asset_id": clip},
		"audio": map[string]any{"type": "url", "url": "https://media.example.test/org-a/new-voice.mp3"}}}, 1)[0]
	d.follow(t, hg, "v3-create-lipsync", lip, nil)

	d.invoke(t, hg, "v3-delete-voice", simRequest{params: map[string]string{"voice_id": clone}})
}
