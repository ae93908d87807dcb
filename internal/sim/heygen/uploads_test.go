package heygen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// uploadV3 uploads data with POST /v3/assets and returns the asset id.
func uploadV3(t *testing.T, ts *httptest.Server, key, filename string, data []byte) string {
	t.Helper()
	body, ctype := multipartBody(t, "file", filename, data)
	rp := call3(t, ts, "POST", "/v3/assets", key, body, "Content-Type", ctype)
	if rp.status != 200 {
		t.Fatalf("upload %s: %d %s", filename, rp.status, rp.raw)
	}
	return str(rp.body, "data", "asset_id")
}

// putUpload PUTs data to a presigned upload URL with header pairs, and returns the status
// and body.
func putUpload(t *testing.T, ts *httptest.Server, u string, data []byte, header ...string) (int, string) {
	t.Helper()
	resp, b := simtest.Do(t, ts.Client(), "PUT", u, bytes.NewReader(data), header...)
	return resp.StatusCode, string(b)
}

func TestDirectUploadPutThenCompleteMakesTheAssetUsable(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	const key = "up-key"
	mp4 := media.MP4(2, 320, 240)
	sum := sha256.Sum256(mp4)
	rp := call3(t, ts, "POST", "/v3/assets/direct-uploads", key, map[string]any{
		"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": len(mp4), "checksum_sha256": hex.EncodeToString(sum[:])})
	if rp.status != 200 || str(rp.body, "data", "status") != "pending_upload" || get(rp.body, "data", "expires_in_seconds") != 900.0 ||
		get(rp.body, "data", "max_bytes") != float64(len(mp4)) || str(rp.body, "data", "upload_headers", "Content-Type") != "video/mp4" ||
		str(rp.body, "data", "upload_headers", "x-amz-checksum-sha256") == "" {
		t.Fatalf("create: %d %s", rp.status, rp.raw)
	}
	id, u := str(rp.body, "data", "asset_id"), str(rp.body, "data", "upload_url")
	if !strings.Contains(u, "/media/heygen/uploads/"+id+"?") || !strings.Contains(u, "X-Amz-Signature=") {
		t.Fatalf("upload_url %s", u)
	}

	// Not usable before it is completed.
	if rp := call3(t, ts, "GET", "/v3/assets/"+id, key, nil); rp.status != 404 {
		t.Errorf("GET before complete: %d", rp.status)
	}
	if rp := call3(t, ts, "POST", "/v3/assets/"+id+"/complete", key, nil); rp.status != 409 || str(rp.body, "error", "code") != "conflict" {
		t.Errorf("complete before the PUT: %d %s", rp.status, rp.raw)
	}

	// The storage URL refuses any API credential, another signature, type or size.
	for _, c := range []struct {
		name   string
		url    string
		data   []byte
		header []string
		status int
		code   string
	}{
		{"a HeyGen key", u, mp4, []string{"Content-Type", "video/mp4", "X-Api-Key", key}, 400, "InvalidArgument"},
		{"a bearer token", u, mp4, []string{"Content-Type", "video/mp4", "Authorization", "Bearer " + key}, 400, "InvalidArgument"},
		{"another signature", strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=00", 1), mp4, []string{"Content-Type", "video/mp4"}, 403, "SignatureDoesNotMatch"},
		{"another type", u, mp4, []string{"Content-Type", "video/webm"}, 403, "SignatureDoesNotMatch"},
		{"too many bytes", u, append(append([]byte{}, mp4...), 0), []string{"Content-Type", "video/mp4"}, 400, "EntityTooLarge"},
		{"too few bytes", u, mp4[:len(mp4)-1], []string{"Content-Type", "video/mp4"}, 400, "IncompleteBody"},
	} {
		status, body := putUpload(t, ts, c.url, c.data, c.header...)
		if status != c.status || !strings.Contains(body, "<Code>"+c.code+"</Code>") {
			t.Errorf("%s: %d %s", c.name, status, body)
		}
	}
	if status, body := putUpload(t, ts, u, mp4, "Content-Type", "video/mp4"); status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	done := call3(t, ts, "POST", "/v3/assets/"+id+"/complete", key, map[string]any{"checksum_sha256": hex.EncodeToString(sum[:])})
	if done.status != 200 || str(done.body, "data", "asset_id") != id || str(done.body, "data", "mime_type") != "video/mp4" ||
		get(done.body, "data", "size_bytes") != float64(len(mp4)) || str(done.body, "data", "status") != "processing" {
		t.Fatalf("complete: %d %s", done.status, done.raw)
	}
	// Idempotent; the asset is usable, and its bytes are served back.
	if again := call3(t, ts, "POST", "/v3/assets/"+id+"/complete", key, nil); again.status != 200 || str(again.body, "data", "url") != str(done.body, "data", "url") {
		t.Errorf("complete again: %d %s", again.status, again.raw)
	}
	if got := call3(t, ts, "GET", "/v3/assets/"+id, key, nil); got.status != 200 || str(got.body, "data", "name") != "talk.mp4" || str(got.body, "data", "type") != "video" {
		t.Errorf("GET after complete: %d %s", got.status, got.raw)
	}
	resp, b := simtest.Do(t, ts.Client(), "GET", str(done.body, "data", "url"), nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, mp4) {
		t.Errorf("asset url: %d, %d bytes", resp.StatusCode, len(b))
	}
	// Usable as an input, by its key only.
	lip := call3(t, ts, "POST", "/v3/lipsyncs", key, map[string]any{
		"video": map[string]any{"type": "asset_id", "asset_id": id}, "audio": map[string]any{"type": "url", "url": "https://x.test/a.mp3"}})
	if lip.status != 200 {
		t.Errorf("lipsync of the asset: %d %s", lip.status, lip.raw)
	}
	if rp := call3(t, ts, "POST", "/v3/assets/"+id+"/complete", "other-key", nil); rp.status != 404 {
		t.Errorf("complete by another key: %d", rp.status)
	}
	// Once completed, the URL takes no more bytes.
	if status, _ := putUpload(t, ts, u, mp4, "Content-Type", "video/mp4"); status != 403 {
		t.Errorf("PUT after complete: %d", status)
	}
}

func TestDirectUploadURLExpiresAndCompleteChecksTheBytes(t *testing.T) {
	_, ts := newSim(t, simcore.Options{Speed: 100000}) // 15 simulated minutes pass in 9 ms
	const key = "up-key"
	png := placeholderPNG("x")
	rp := call3(t, ts, "POST", "/v3/assets/direct-uploads", key, map[string]any{"filename": "a.png", "content_type": "image/png", "size_bytes": len(png)})
	time.Sleep(20 * time.Millisecond)
	if status, body := putUpload(t, ts, str(rp.body, "data", "upload_url"), png, "Content-Type", "image/png"); status != 403 ||
		!strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "expired") {
		t.Errorf("expired PUT: %d %s", status, body)
	}

	// Bytes that are not of the declared type are refused on complete.
	_, ts = newSim(t, simcore.Options{})
	rp = call3(t, ts, "POST", "/v3/assets/direct-uploads", key, map[string]any{"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": len(png)})
	id := str(rp.body, "data", "asset_id")
	if status, body := putUpload(t, ts, str(rp.body, "data", "upload_url"), png, "Content-Type", "video/mp4"); status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if rp := call3(t, ts, "POST", "/v3/assets/"+id+"/complete", key, nil); rp.status != 400 || str(rp.body, "error", "param") != "content_type" {
		t.Errorf("complete with other bytes: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "POST", "/v3/assets/"+id+"/complete", key, map[string]any{"checksum_sha256": strings.Repeat("0", 64)}); rp.status != 400 ||
		str(rp.body, "error", "param") != "checksum_sha256" {
		t.Errorf("complete with another checksum: %d %s", rp.status, rp.raw)
	}

	for _, c := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"content_type": "video/mp4", "size_bytes": 10}, "filename"},
		{map[string]any{"filename": "a", "size_bytes": 10}, "content_type"},
		{map[string]any{"filename": "a", "content_type": "video/mp4"}, "size_bytes"},
		{map[string]any{"filename": "a", "content_type": "video/mp4", "size_bytes": 0}, "size_bytes"},
		{map[string]any{"filename": "a", "content_type": "text/html", "size_bytes": 10}, "content_type"},
		{map[string]any{"filename": "a", "content_type": "video/mp4", "size_bytes": 10, "checksum_sha256": "xyz"}, "checksum_sha256"},
	} {
		rp := call3(t, ts, "POST", "/v3/assets/direct-uploads", key, c.body)
		if rp.status != 400 || str(rp.body, "error", "param") != c.param {
			t.Errorf("%v: %d %s", c.body, rp.status, rp.raw)
		}
	}
	if rp := call3(t, ts, "POST", "/v3/assets/direct-uploads", "", map[string]any{}); rp.status != 401 {
		t.Errorf("no key: %d", rp.status)
	}
	if rp := call3(t, ts, "POST", "/v3/assets/nope/complete", key, nil); rp.status != 404 || str(rp.body, "error", "code") != "resource_not_found" {
		t.Errorf("complete unknown: %d %s", rp.status, rp.raw)
	}
}

func TestVoiceCloneDesignAndDelete(t *testing.T) {
	_, ts := newSim(t, simcore.Options{Speed: 20})
	const key = "voice-key"
	sample := uploadV3(t, ts, key, "sample.mp3", media.MP3(2))
	rp := call3(t, ts, "POST", "/v3/voices/clone", key, map[string]any{
		"voice_name": "My narrator", "language": "en", "audio": map[string]any{"type": "asset_id", "asset_id": sample}})
	id := str(rp.body, "data", "voice_clone_id")
	if rp.status != 200 || id == "" {
		t.Fatalf("clone: %d %s", rp.status, rp.raw)
	}
	if got := call3(t, ts, "GET", "/v3/voices/"+id, key, nil); str(got.body, "data", "status") != "processing" {
		t.Errorf("a new clone: %s", got.raw)
	}
	waitFor(t, "the clone to complete", func() bool {
		return str(call3(t, ts, "GET", "/v3/voices/"+id, key, nil).body, "data", "status") == "complete"
	})
	// A complete clone may narrate a Video Agent session.
	if rp := call3(t, ts, "POST", "/v3/video-agents", key, map[string]any{"prompt": "x", "voice_id": id}); rp.status != 200 {
		t.Errorf("agent with the clone: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "GET", "/v3/voices/"+id, "other-key", nil); rp.status != 404 {
		t.Errorf("another key reads the clone: %d", rp.status)
	}
	if rp := call3(t, ts, "DELETE", "/v3/voices/"+id, key, nil); rp.status != 200 || str(rp.body, "data", "voice_id") != id {
		t.Errorf("delete: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "DELETE", "/v3/voices/"+id, key, nil); rp.status != 404 || str(rp.body, "error", "code") != "voice_not_found" {
		t.Errorf("delete again: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "DELETE", "/v3/voices/"+firstVoice, key, nil); rp.status != 404 {
		t.Errorf("delete a catalog voice: %d", rp.status)
	}
	for _, c := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"audio": map[string]any{"type": "url", "url": "https://x.test/a.mp3"}}, "voice_name"},
		{map[string]any{"voice_name": "x"}, "audio"},
	} {
		if rp := call3(t, ts, "POST", "/v3/voices/clone", key, c.body); rp.status != 400 || str(rp.body, "error", "param") != c.param {
			t.Errorf("clone %v: %d %s", c.body, rp.status, rp.raw)
		}
	}

	// Design: up to 3 voices, the same for the same prompt and seed, others for the next seed.
	design := func(body map[string]any) reply { return call3(t, ts, "POST", "/v3/voices", key, body) }
	a, b := design(map[string]any{"prompt": "warm female narrator", "gender": "female"}), design(map[string]any{"prompt": "warm female narrator", "gender": "female"})
	voices, _ := get(a.body, "data", "voices").([]any)
	if a.status != 200 || len(voices) != 3 || string(a.raw) != string(b.raw) || get(a.body, "data", "seed") != 0.0 {
		t.Fatalf("design: %d %s", a.status, a.raw)
	}
	for _, v := range voices {
		if str(v, "gender") != "female" || str(v, "type") != "public" {
			t.Errorf("designed voice %v", v)
		}
	}
	next := design(map[string]any{"prompt": "warm female narrator", "gender": "female", "seed": 1})
	if str(next.body, "data", "voices", 0, "voice_id") == str(voices[0], "voice_id") || get(next.body, "data", "seed") != 1.0 {
		t.Errorf("seed 1 repeats seed 0: %s", next.raw)
	}
	if rp := design(map[string]any{"prompt": "x", "seed": 1 << 40}); rp.status != 200 || len(get(rp.body, "data", "voices").([]any)) != 0 {
		t.Errorf("a seed past the end: %d %s", rp.status, rp.raw)
	}
	for _, body := range []map[string]any{{}, {"prompt": "x", "gender": "other"}, {"prompt": "x", "seed": -1}, {"prompt": "x", "locale": "xx-YY"}} {
		if rp := design(body); rp.status != 400 {
			t.Errorf("design %v: %d", body, rp.status)
		}
	}
}
