package heygen

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

func TestAuthErrorsUseEachAPIVersionsEnvelope(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	tests := []struct {
		name, method, path, key string
		body                    any
		status                  int
		check                   func(map[string]any) bool
	}{
		{"v2 missing key is legacy 400112", "GET", "/v2/avatars", "", nil, 401,
			func(b map[string]any) bool { return get(b, "code") == 400112.0 && b["message"] == "Unauthorized" }},
		{"v1 wrong key is legacy 400112", "GET", "/v1/video.list", "invalid-key", nil, 401,
			func(b map[string]any) bool { return get(b, "code") == 400112.0 }},
		{"v3 missing key is unauthorized", "GET", "/v3/videos", "", nil, 401,
			func(b map[string]any) bool {
				return str(b, "error", "code") == "unauthorized" && strings.Contains(str(b, "error", "doc_url"), "#unauthorized")
			}},
		{"v3 wrong key is unauthorized", "GET", "/v3/users/me", "invalid-x", nil, 401,
			func(b map[string]any) bool { return str(b, "error", "code") == "unauthorized" }},
		{"v2 exhausted key on billable call", "POST", "/v2/video/generate", "exhausted-1", simtest.HeyGenVideoRequest(firstAvatar, firstVoice, "hi"), 402,
			func(b map[string]any) bool { return str(b, "error", "code") == "insufficient_credit" }},
		{"v3 exhausted key on billable call", "POST", "/v3/videos", "exhausted-1", map[string]any{"type": "avatar"}, 402,
			func(b map[string]any) bool { return str(b, "error", "code") == "insufficient_credit" }},
		{"exhausted key may still read", "GET", "/v2/avatars", "exhausted-1", nil, 200,
			func(b map[string]any) bool { return b["error"] == nil && get(b, "data", "avatars", 0) != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := call3(t, ts, tt.method, tt.path, tt.key, tt.body)
			if rp.status != tt.status || !tt.check(rp.body) {
				t.Fatalf("got %d %s", rp.status, rp.raw)
			}
		})
	}
}

func TestBearerTokenAuthenticatesV3Only(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	if rp := call3(t, ts, "GET", "/v3/users/me", "", nil, "Authorization", "Bearer tok-1"); rp.status != 200 {
		t.Fatalf("v3 with bearer: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "GET", "/v2/avatars", "", nil, "Authorization", "Bearer tok-1"); rp.status != 401 {
		t.Fatalf("v2 with bearer: %d %s", rp.status, rp.raw)
	}
}

func TestValidationErrorsUseProviderFormat(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, param        string
	}{
		{"generate without video_inputs", "POST", "/v2/video/generate", map[string]any{"test": true}, 400, "invalid_parameter", ""},
		{"generate with unknown avatar", "POST", "/v2/video/generate", simtest.HeyGenVideoRequest("nobody", firstVoice, "hi"), 400, "avatar_not_found", ""},
		{"v3 video without avatar_id", "POST", "/v3/videos", map[string]any{"type": "avatar", "script": "hi"}, 400, "invalid_parameter", "avatar_id"},
		{"v3 video with bad resolution", "POST", "/v3/videos", map[string]any{"type": "avatar", "avatar_id": firstAvatar, "script": "hi", "resolution": "8k"}, 400, "invalid_parameter", "resolution"},
		{"v3 video with unknown avatar", "POST", "/v3/videos", map[string]any{"type": "avatar", "avatar_id": "nope", "script": "hi"}, 404, "avatar_not_found", ""},
		{"v3 translation without languages", "POST", "/v3/video-translations", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}}, 400, "invalid_parameter", "output_languages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := call3(t, ts, tt.method, tt.path, "k1", tt.body)
			if rp.status != tt.status || str(rp.body, "error", "code") != tt.code || str(rp.body, "error", "param") != tt.param {
				t.Fatalf("got %d %s", rp.status, rp.raw)
			}
		})
	}
}

// The documented client workflow (docs/simulators.md §8): list avatars → list voices → generate a
// test video → poll → download.
func TestSeedWorkflowEndsWithRangeableMP4(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	av := call3(t, ts, "GET", "/v2/avatars", "k1", nil)
	if av.status != 200 || av.body["error"] != nil || str(av.body, "data", "avatars", 0, "avatar_id") != firstAvatar ||
		str(av.body, "data", "avatars", 0, "avatar_name") != "Abigail (Upper Body)" {
		t.Fatalf("avatars: %d %.300s", av.status, av.raw)
	}
	if n := len(get(av.body, "data", "avatars").([]any)); n < 24 {
		t.Errorf("only %d avatars", n)
	}
	vo := call3(t, ts, "GET", "/v2/voices", "k1", nil)
	if str(vo.body, "data", "voices", 0, "voice_id") != firstVoice || str(vo.body, "data", "voices", 0, "name") != "Chill Brian" ||
		str(vo.body, "data", "voices", 0, "language") != "English" {
		t.Fatalf("voices: %.300s", vo.raw)
	}
	gen := call3(t, ts, "POST", "/v2/video/generate", "k1", simtest.HeyGenVideoRequest(firstAvatar, firstVoice, "Hello, this is a test video."))
	id := str(gen.body, "data", "video_id")
	if gen.status != 200 || len(id) != 32 || gen.body["error"] != nil {
		t.Fatalf("generate: %d %s", gen.status, gen.raw)
	}
	seen := map[string]bool{}
	var st reply
	waitFor(t, "completed", func() bool {
		st = call3(t, ts, "GET", "/v1/video_status.get?video_id="+id, "k1", nil)
		seen[str(st.body, "data", "status")] = true
		return str(st.body, "data", "status") == "completed"
	})
	if get(st.body, "code") != 100.0 || st.body["message"] != "Success" || get(st.body, "data", "duration") == nil {
		t.Fatalf("status envelope: %s", st.raw)
	}
	videoURL := str(st.body, "data", "video_url")
	if !strings.HasPrefix(videoURL, ts.URL+"/media/heygen/videos/"+id+".mp4") {
		t.Fatalf("video_url %q", videoURL)
	}

	resp, err := http.Get(videoURL)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || string(full[4:8]) != "ftyp" {
		t.Fatalf("download: %d %s % x", resp.StatusCode, resp.Header.Get("Content-Type"), full[:8])
	}
	req, _ := http.NewRequest("GET", videoURL, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, full[100:200]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(part))
	}
}

func TestScriptWithFAILEndsFailedWithErrorObject(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	gen := call3(t, ts, "POST", "/v2/video/generate", "k1", simtest.HeyGenVideoRequest(firstAvatar, firstVoice, "This one will FAIL."))
	id := str(gen.body, "data", "video_id")
	var st reply
	waitFor(t, "failed", func() bool {
		st = call3(t, ts, "GET", "/v1/video_status.get?video_id="+id, "k1", nil)
		return str(st.body, "data", "status") == "failed"
	})
	if st.status != 200 || str(st.body, "data", "error", "code") == "" || str(st.body, "data", "error", "message") == "" ||
		get(st.body, "data", "video_url") != nil {
		t.Fatalf("failed status: %s", st.raw)
	}
}

func TestObjectsAreInvisibleToOtherKeys(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	id := str(call3(t, ts, "POST", "/v2/video/generate", "alice", simtest.HeyGenVideoRequest(firstAvatar, firstVoice, "hi")).body, "data", "video_id")
	asset := call3(t, ts, "POST", "/v1/asset", "alice", "png-bytes", "Content-Type", "image/png")
	assetID := str(asset.body, "data", "id")
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"v1 status", "GET", "/v1/video_status.get?video_id=" + id, 404},
		{"v3 get", "GET", "/v3/videos/" + id, 404},
		{"v1 delete", "DELETE", "/v1/video.delete?video_id=" + id, 404},
		{"v3 asset", "GET", "/v3/assets/" + assetID, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rp := call3(t, ts, tt.method, tt.path, "bob", nil); rp.status != tt.status {
				t.Fatalf("bob got %d %s", rp.status, rp.raw)
			}
			if rp := call3(t, ts, "GET", "/v1/video_status.get?video_id="+id, "alice", nil); rp.status != 200 {
				t.Fatalf("alice lost her video: %d", rp.status)
			}
		})
	}
	if rp := call3(t, ts, "GET", "/v1/video.list", "bob", nil); len(get(rp.body, "data", "videos").([]any)) != 0 {
		t.Fatalf("bob lists alice's videos: %s", rp.raw)
	}
	if rp := call3(t, ts, "GET", "/v1/video.list", "alice", nil); str(rp.body, "data", "videos", 0, "video_id") != id {
		t.Fatalf("alice's list: %s", rp.raw)
	}
}

func TestTemplateFlowV2AndV3(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	list := call3(t, ts, "GET", "/v2/templates", "k1", nil)
	tplID := str(list.body, "data", "templates", 0, "template_id")
	if tplID == "" || len(get(list.body, "data", "templates").([]any)) < 3 {
		t.Fatalf("templates: %s", list.raw)
	}
	tpl := call3(t, ts, "GET", "/v2/template/"+tplID, "k1", nil)
	if str(tpl.body, "data", "variables", "script", "type") != "text" {
		t.Fatalf("template: %s", tpl.raw)
	}
	body := map[string]any{"test": true, "caption": false, "variables": map[string]any{
		"script": map[string]any{"name": "script", "type": "text", "properties": map[string]any{"content": "Hello, this is a test video."}},
	}}
	gen := call3(t, ts, "POST", "/v2/template/"+tplID+"/generate", "k1", body)
	id := str(gen.body, "data", "video_id")
	if gen.status != 200 || id == "" {
		t.Fatalf("generate: %d %s", gen.status, gen.raw)
	}
	waitFor(t, "template video", func() bool {
		return str(call3(t, ts, "GET", "/v1/video_status.get?video_id="+id, "k1", nil).body, "data", "status") == "completed"
	})
	if rp := call3(t, ts, "POST", "/v2/template/"+tplID+"/generate", "k1", map[string]any{}); rp.status != 400 {
		t.Fatalf("generate without variables: %d", rp.status)
	}

	v3 := call3(t, ts, "GET", "/v3/templates/"+tplID, "k1", nil)
	if str(v3.body, "data", "variables", "script", "type") != "text" || get(v3.body, "data", "scenes", 0, "scene_id") == nil {
		t.Fatalf("v3 template: %s", v3.raw)
	}
	v3gen := call3(t, ts, "POST", "/v3/templates/"+tplID, "k1", body)
	if v3gen.status != 200 || str(v3gen.body, "data", "id") == "" || str(v3gen.body, "data", "status") != "pending" {
		t.Fatalf("v3 generate: %d %s", v3gen.status, v3gen.raw)
	}
}

func TestV3CreateVideoProgressesToCompleted(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	cr := call3(t, ts, "POST", "/v3/videos", "k1", map[string]any{
		"type": "avatar", "avatar_id": firstAvatar, "script": "Hello world from v3", "voice_id": firstVoice,
		"resolution": "720p", "aspect_ratio": "16:9", "callback_id": "job-1",
	})
	id := str(cr.body, "data", "video_id")
	if cr.status != 200 || id == "" || str(cr.body, "data", "status") != "waiting" || str(cr.body, "data", "output_format") != "mp4" {
		t.Fatalf("create: %d %s", cr.status, cr.raw)
	}
	var got reply
	waitFor(t, "v3 completed", func() bool {
		got = call3(t, ts, "GET", "/v3/videos/"+id, "k1", nil)
		return str(got.body, "data", "status") == "completed"
	})
	if !strings.Contains(str(got.body, "data", "video_url"), "/media/heygen/videos/"+id+".mp4") || get(got.body, "data", "completed_at") == nil {
		t.Fatalf("detail: %s", got.raw)
	}
	list := call3(t, ts, "GET", "/v3/videos?limit=1", "k1", nil)
	if str(list.body, "data", 0, "id") != id || list.body["has_more"] != false {
		t.Fatalf("list: %s", list.raw)
	}
	if rp := call3(t, ts, "DELETE", "/v3/videos/"+id, "k1", nil); get(rp.body, "data", "deleted") != true {
		t.Fatalf("delete: %s", rp.raw)
	}
}

func TestUploadAssetAcceptsChunkedBinaryBody(t *testing.T) {
	s, _ := newSim(t, simcore.Options{})
	var transferEncoding []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/asset" {
			transferEncoding = r.TransferEncoding
		}
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	png := media.MP4(1, 64, 64) // any bytes will do; the upload host trusts Content-Type
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(png); i += 100 {
			_, _ = pw.Write(png[i:min(i+100, len(png))])
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", ts.URL+"/v1/asset", pr) // no Content-Length: chunked
	req.Header.Set("X-API-KEY", "k1")
	req.Header.Set("Content-Type", "video/mp4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != 200 || get(up, "code") != 100.0 || str(up, "data", "file_type") != "video" || str(up, "data", "id") == "" {
		t.Fatalf("upload: %d %v", resp.StatusCode, up)
	}
	if len(transferEncoding) != 1 || transferEncoding[0] != "chunked" {
		t.Fatalf("upload arrived with Transfer-Encoding %v, want chunked", transferEncoding)
	}
	dl, err := http.Get(str(up, "data", "url"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if !bytes.Equal(got, png) {
		t.Fatalf("asset url served %d bytes, want %d", len(got), len(png))
	}
	list := call3(t, ts, "GET", "/v1/asset/list", "k1", nil)
	if str(list.body, "data", "assets", 0, "id") != str(up, "data", "id") || list.body["error"] != nil {
		t.Fatalf("asset list: %s", list.raw)
	}
	if rp := call3(t, ts, "POST", "/v1/asset", "k1", "x", "Content-Type", "application/zip"); rp.status != 400 {
		t.Fatalf("zip upload: %d %s", rp.status, rp.raw)
	}
}

func multipartBody(t *testing.T, field, filename string, data []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return &b, mw.FormDataContentType()
}

func TestV3UploadAssetMultipart(t *testing.T) {
	s, ts := newSim(t, simcore.Options{})
	s.maxAssetBytes = 64 << 10 // stands in for 32 MB so the oversize case stays fast
	png := placeholderPNG("x")
	body, ctype := multipartBody(t, "file", "face.png", png)
	rp := call3(t, ts, "POST", "/v3/assets", "k1", body, "Content-Type", ctype)
	if rp.status != 200 || str(rp.body, "data", "mime_type") != "image/png" || get(rp.body, "data", "size_bytes") != float64(len(png)) {
		t.Fatalf("upload: %d %s", rp.status, rp.raw)
	}
	id := str(rp.body, "data", "asset_id")
	if got := call3(t, ts, "GET", "/v3/assets/"+id, "k1", nil); str(got.body, "data", "name") != "face.png" || str(got.body, "data", "type") != "image" {
		t.Fatalf("get asset: %s", got.raw)
	}

	tests := []struct {
		name   string
		field  string
		data   []byte
		status int
	}{
		{"wrong field name", "upload", png, 400},
		{"unsupported type", "file", []byte("PK\x03\x04zipzipzip"), 400},
		{"over the limit", "file", make([]byte, 64<<10+10), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ctype := multipartBody(t, tt.field, "f.bin", tt.data)
			if rp := call3(t, ts, "POST", "/v3/assets", "k1", body, "Content-Type", ctype); rp.status != tt.status {
				t.Fatalf("got %d %.200s", rp.status, rp.raw)
			}
		})
	}
}

type delivery struct {
	path   string
	header http.Header
	body   []byte
}

func receiver(t *testing.T) (*httptest.Server, chan delivery) {
	ch := make(chan delivery, 16)
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- delivery{r.URL.Path, r.Header.Clone(), b}
	}))
	t.Cleanup(rs.Close)
	return rs, ch
}

func TestWebhookIsSignedWithEndpointSecretWithoutPolling(t *testing.T) {
	tests := []struct {
		name, header, addPath string
		script, event         string
	}{
		{"v1 endpoint, success", "", "/v1/webhook/endpoint.add", "Hello there", "avatar_video.success"},
		{"v3 endpoint, failure, custom header", "Heygen-Signature", "/v3/webhooks/endpoints", "please FAIL", "avatar_video.fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newSim(t, simcore.Options{WebhookSignatureHeader: tt.header})
			rs, ch := receiver(t)
			add := call3(t, ts, "POST", tt.addPath, "k1", map[string]any{"url": rs.URL + "/hook"})
			secret := str(add.body, "data", "secret")
			if add.status != 200 || secret == "" {
				t.Fatalf("add endpoint: %d %s", add.status, add.raw)
			}
			req := simtest.HeyGenVideoRequest(firstAvatar, firstVoice, tt.script)
			req["callback_url"], req["callback_id"] = rs.URL+"/callback", "cb-7"
			id := str(call3(t, ts, "POST", "/v2/video/generate", "k1", req).body, "data", "video_id")

			header := tt.header
			if header == "" {
				header = "X-Signature"
			}
			got := map[string]delivery{}
			for len(got) < 2 {
				select {
				case d := <-ch:
					got[d.path] = d
				case <-time.After(2 * time.Second):
					t.Fatalf("only %d deliveries", len(got))
				}
			}
			hook := got["/hook"]
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(hook.body)
			if want := hex.EncodeToString(mac.Sum(nil)); hook.header.Get(header) != want {
				t.Fatalf("signature %q, want %q", hook.header.Get(header), want)
			}
			var ev map[string]any
			_ = json.Unmarshal(hook.body, &ev)
			if ev["event_type"] != tt.event || str(ev, "event_data", "video_id") != id || str(ev, "event_data", "callback_id") != "cb-7" {
				t.Fatalf("event: %s", hook.body)
			}
			if cb := got["/callback"]; cb.header.Get(header) != "" || !bytes.Equal(cb.body, hook.body) {
				t.Fatalf("callback_url delivery must be unsigned with the same body: %v %s", cb.header, cb.body)
			}
		})
	}
}

func TestFaultsApplyInTheRouteEnvelope(t *testing.T) {
	faults := simcore.NewFaults()
	_, ts := newSim(t, simcore.Options{Faults: faults})
	tests := []struct {
		name, path string
		check      func(map[string]any) bool
	}{
		{"v3", "/v3/voices", func(b map[string]any) bool { return str(b, "error", "code") == "rate_limit_exceeded" }},
		{"v2", "/v2/voices", func(b map[string]any) bool { return str(b, "error", "code") == "rate_limit_exceeded" }},
		{"v1", "/v1/video.list", func(b map[string]any) bool { return get(b, "code") == 400429.0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := call3(t, ts, "GET", tt.path, "k1", nil, simcore.FaultHeader, "kind=rate_limit,retry_after=3")
			if rp.status != 429 || rp.header.Get("Retry-After") != "3" || !tt.check(rp.body) {
				t.Fatalf("got %d %v %s", rp.status, rp.header, rp.raw)
			}
		})
	}
	faults.Add("k2", simcore.Fault{Kind: simcore.FaultStatus, Status: 503})
	if rp := call3(t, ts, "GET", "/v3/voices", "k2", nil); rp.status != 503 {
		t.Fatalf("planned fault: %d", rp.status)
	}
	if rp := call3(t, ts, "GET", "/v3/voices", "k2", nil); rp.status != 200 {
		t.Fatalf("fault should apply once: %d", rp.status)
	}
}

func TestSameSeedGivesSameCatalogAndIDs(t *testing.T) {
	run := func(seed uint64) (avatars, voices []byte, videoID string) {
		_, ts := newSim(t, simcore.Options{Seed: seed, PublicURL: "http://sim.test"})
		avatars = call3(t, ts, "GET", "/v2/avatars", "k1", nil).raw
		voices = call3(t, ts, "GET", "/v2/voices", "k1", nil).raw
		videoID = str(call3(t, ts, "POST", "/v2/video/generate", "k1", simtest.HeyGenVideoRequest(firstAvatar, firstVoice, "hi")).body, "data", "video_id")
		return
	}
	a1, v1, id1 := run(42)
	a2, v2, id2 := run(42)
	if !bytes.Equal(a1, a2) || !bytes.Equal(v1, v2) || id1 != id2 {
		t.Fatal("same seed, different data")
	}
	_, v3, id3 := run(43)
	if bytes.Equal(v1, v3) || id1 == id3 {
		t.Fatal("different seeds, same data")
	}
}

func TestHandlesOnlyHeyGenPaths(t *testing.T) {
	s, _ := newSim(t, simcore.Options{})
	tests := []struct {
		path string
		want bool
	}{
		{"/v2/avatars", true}, {"/v1/asset", true}, {"/v1/asset/list", true}, {"/v1/video_status.get", true},
		{"/v3/videos/abc", true}, {"/v3/avatars/looks", true}, {"/v3/video-translations/languages", true},
		{"/media/heygen/videos/abc.mp4", true},
		{"/v1/voices", false}, {"/v1/text-to-speech/abc", false}, {"/v1/asset/abc", false},
		{"/v2/video/talking_photo", false}, {"/", false},
	}
	for _, tt := range tests {
		if got := s.Handles(tt.path); got != tt.want {
			t.Errorf("Handles(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestTranslationAndPhotoAvatarProgress(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	tr := call3(t, ts, "POST", "/v2/video_translate", "k1", map[string]any{"video_url": "https://example.com/a.mp4", "output_language": "Spanish"})
	id := str(tr.body, "data", "video_translate_id")
	if id == "" {
		t.Fatalf("translate: %s", tr.raw)
	}
	waitFor(t, "translation", func() bool {
		return str(call3(t, ts, "GET", "/v2/video_translate/"+id, "k1", nil).body, "data", "status") == "success"
	})

	img := call3(t, ts, "POST", "/v1/asset", "k1", string(placeholderPNG("me")), "Content-Type", "image/png")
	pa := call3(t, ts, "POST", "/v2/photo_avatar/avatar_group/create", "k1", map[string]any{"image_key": str(img.body, "data", "image_key"), "name": "Me"})
	paID := str(pa.body, "data", "id")
	if str(pa.body, "data", "status") != "pending" {
		t.Fatalf("photo avatar: %s", pa.raw)
	}
	waitFor(t, "photo avatar", func() bool {
		return str(call3(t, ts, "GET", "/v2/photo_avatar/"+paID, "k1", nil).body, "data", "status") == "completed"
	})
	tp := call3(t, ts, "GET", "/v1/talking_photo.list", "k1", nil)
	if !strings.Contains(string(tp.raw), paID) {
		t.Fatalf("talking photos miss the new photo avatar: %s", tp.raw)
	}
}

func TestCloseStopsBackgroundGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(simcore.Options{Speed: 1000})
	s.Close()
	s.Close()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every error goes through writeError; these pin its exact bodies in each API version.
func TestErrorBodiesAreExactPerVersion(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	tests := []struct {
		name, method, path, key string
		hdr                     []string
		status                  int
		body                    string
	}{
		{"v1 missing parameter", "GET", "/v1/video_status.get", "k1", nil, 400,
			`{"code":40001,"message":"Missing required parameter: video_id"}`},
		{"v1 unknown video", "DELETE", "/v1/video.delete?video_id=nope", "k1", nil, 404,
			`{"code":40031,"message":"Video not found or you don't have access to it"}`},
		{"v2 unknown template", "GET", "/v2/template/nope", "k1", nil, 404,
			`{"error":{"code":"template_not_found","message":"Template not found"}}`},
		{"v2 bad key is legacy", "GET", "/v2/voices", "invalid-1", nil, 401,
			`{"code":400112,"message":"Unauthorized"}`},
		{"v3 validation has param and doc_url", "GET", "/v3/voices?limit=0", "k1", nil, 400,
			`{"error":{"code":"invalid_parameter","message":"limit must be an integer between 1 and 100","param":"limit","doc_url":"https://developers.heygen.com/docs/error-codes#invalid-parameter"}}`},
		{"v3 unknown template", "GET", "/v3/templates/nope", "k1", nil, 404,
			`{"error":{"code":"resource_not_found","message":"Template not found","doc_url":"https://developers.heygen.com/docs/error-codes#resource-not-found"}}`},
		{"v1 fault is legacy 400000+status", "GET", "/v1/asset/list", "k1", []string{simcore.FaultHeader, "kind=status,status=503"}, 503,
			`{"code":400503,"message":"Simulated upstream failure."}`},
		{"missing download is a plain 404", "GET", "/media/heygen/videos/nope.mp4", "", nil, 404,
			"404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := call3(t, ts, tt.method, tt.path, tt.key, nil, tt.hdr...)
			if got := strings.TrimSpace(string(rp.raw)); rp.status != tt.status || got != tt.body {
				t.Fatalf("got %d %s\nwant %d %s", rp.status, got, tt.status, tt.body)
			}
		})
	}
}
