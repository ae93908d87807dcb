package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// parsedMultipart is an upstream multipart body, part by part.
type parsedPart struct {
	field, filename, contentType string
	data                         string
}

func parseMultipart(t *testing.T, rec recorded) []parsedPart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(rec.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("upstream Content-Type = %q", rec.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(rec.Body), params["boundary"])
	var out []parsedPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, parsedPart{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), string(b)})
	}
}

func TestRawModeSendsNoBody(t *testing.T) {
	e := newEnv(t)
	e.invoke("heygen", "list-avatars", `{"body": {"ignored": true}}`)
	got := e.up.last(t)
	if got.Method != "GET" || len(got.Body) != 0 || got.Header.Get("Content-Type") != "" {
		t.Errorf("raw mode: %s with body %q and Content-Type %q", got.Method, got.Body, got.Header.Get("Content-Type"))
	}
}

func TestJSONModeForwardsTheBodyAsIs(t *testing.T) {
	e := newEnv(t)
	body := `{"text": "Grüße \u00e9", "n": 1.50, "nested": {"a": [1, null]}}`
	e.invoke("testsvc", "post-json", `{"path_params": {"item_id": "i"}, "body": `+body+`}`)
	got := e.up.last(t)
	if string(got.Body) != body || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("body %q (%s), want %q", got.Body, got.Header.Get("Content-Type"), body)
	}
	e.invoke("testsvc", "post-json", `{"path_params": {"item_id": "i"}}`)
	if got := e.up.last(t); string(got.Body) != "{}" {
		t.Errorf("absent body sent as %q, want {}", got.Body)
	}
}

func TestMultipartModeFromJSONFilesKey(t *testing.T) {
	e := newEnv(t)
	a := base64.StdEncoding.EncodeToString([]byte("sample one"))
	b := base64.StdEncoding.EncodeToString([]byte("sample two"))
	r := e.invoke("elevenlabs", "add-voice", `{"body": {"name": "My voice", "labels": {"accent": "british"}, "remove_background_noise": false},
		"files": {"files": [{"filename": "a.mp3", "content_type": "audio/mpeg", "data": "`+a+`"},
		                    {"filename": "b.mp3", "content_type": "audio/mpeg", "data": "`+b+`"}]}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	parts := parseMultipart(t, e.up.last(t))
	want := []parsedPart{
		{"labels", "", "", `{"accent": "british"}`},
		{"name", "", "", "My voice"},
		{"remove_background_noise", "", "", "false"},
		{"files", "a.mp3", "audio/mpeg", "sample one"},
		{"files", "b.mp3", "audio/mpeg", "sample two"},
	}
	assertParts(t, parts, want)
}

func TestMultipartModeFromARealMultipartRequest(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("body", `{"name": "Voice", "description": "d"}`)
	mw.WriteField("query", `{"x": "1"}`)
	mw.WriteField("labels", `{"age": "young"}`) // a plain form field, as a browser FormData sends
	for _, f := range []string{"one", "two"} {
		w, _ := mw.CreatePart(filePartHeader("files", f+".wav", "audio/wav"))
		w.Write([]byte("bytes of " + f))
	}
	mw.Close()
	r := e.do("POST", "/api/ai-proxy/orgs/org-a/services/elevenlabs/add-voice/", "Api-Key "+e.adminA, &buf, "Content-Type", mw.FormDataContentType())
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	got := e.up.last(t)
	if got.RawQuery != "x=1" {
		t.Errorf("query %q", got.RawQuery)
	}
	assertParts(t, parseMultipart(t, got), []parsedPart{
		{"labels", "", "", `{"age": "young"}`},
		{"description", "", "", "d"},
		{"name", "", "", "Voice"},
		{"files", "one.wav", "audio/wav", "bytes of one"},
		{"files", "two.wav", "audio/wav", "bytes of two"},
	})
}

func TestMultipartEnvelopePartsAfterAFileAreRefused(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreatePart(filePartHeader("audio", "a.wav", "audio/wav"))
	w.Write([]byte("x"))
	mw.WriteField("path_params", `{}`)
	mw.Close()
	r := e.do("POST", "/api/ai-proxy/orgs/org-a/services/elevenlabs/audio-isolation/", "Api-Key "+e.adminA, &buf, "Content-Type", mw.FormDataContentType())
	assertBody(t, r, 400, `{"error": "Part 'path_params' must come before the first file part."}`)
}

func TestBinaryModeSendsOneFileAsTheBody(t *testing.T) {
	e := newEnv(t)
	png := []byte("\x89PNG\r\n\x1a\nfake image")
	r := e.invoke("heygen", "upload-asset", `{"files": {"file": {"filename": "a.png", "content_type": "image/png", "data": "`+base64.StdEncoding.EncodeToString(png)+`"}}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	got := e.up.last(t)
	if !bytes.Equal(got.Body, png) || got.Header.Get("Content-Type") != "image/png" || got.Method != "POST" || got.Path != "/v1/asset" {
		t.Errorf("upstream got %s %s %q body %q", got.Method, got.Path, got.Header.Get("Content-Type"), got.Body)
	}
	// The same as a multipart part, streamed.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreatePart(filePartHeader("file", "v.mp4", "video/mp4"))
	w.Write([]byte("mp4 bytes"))
	mw.Close()
	r = e.do("POST", "/api/ai-proxy/orgs/org-a/services/heygen/upload-asset/", "Api-Key "+e.adminA, &buf, "Content-Type", mw.FormDataContentType())
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if got := e.up.last(t); string(got.Body) != "mp4 bytes" || got.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("streamed binary: %q %q", got.Body, got.Header.Get("Content-Type"))
	}
}

func TestBinaryModeRefusesWrongFileCounts(t *testing.T) {
	e := newEnv(t)
	d := base64.StdEncoding.EncodeToString([]byte("x"))
	for _, tc := range []struct{ envelope, want string }{
		{`{}`, `{"error": "Endpoint 'upload-asset' takes exactly one file; none was given."}`},
		{`{"files": {"a": {"content_type": "image/png", "data": "` + d + `"}, "b": {"content_type": "image/png", "data": "` + d + `"}}}`,
			`{"error": "Endpoint 'upload-asset' takes exactly one file; 2 were given."}`},
		{`{"files": {"a": {"content_type": "text/html", "data": "` + d + `"}}}`,
			`{"error": "File content type 'text/html' is not accepted by endpoint 'upload-asset'; use one of: image/png, image/jpeg, video/mp4, video/webm, audio/mpeg."}`},
	} {
		assertBody(t, e.invoke("heygen", "upload-asset", tc.envelope), 400, tc.want)
	}
	assertBody(t, e.invoke("heygen", "list-avatars", `{"files": {"a": {"data": "`+d+`"}}}`), 400, `{"error": "Endpoint 'list-avatars' does not take files."}`)
	// A second file part, discovered while streaming, fails the call before any answer.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, n := range []string{"a", "b"} {
		w, _ := mw.CreatePart(filePartHeader(n, n+".png", "image/png"))
		w.Write([]byte(n))
	}
	mw.Close()
	r := e.do("POST", "/api/ai-proxy/orgs/org-a/services/heygen/upload-asset/", "Api-Key "+e.adminA, &buf, "Content-Type", mw.FormDataContentType())
	assertBody(t, r, 400, `{"error": "A binary endpoint takes exactly one file; a second file part 'b' was sent."}`)
}

func TestPassthroughKeepsTypeLengthAndDisposition(t *testing.T) {
	e := newEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", "11")
		w.Header().Set("Content-Disposition", `attachment; filename="a.mp3"`)
		w.Header().Set("Character-Cost", "11")
		w.Header().Set("Request-Id", "el-req-1")
		w.Header().Set("Set-Cookie", "session=upstream")
		w.Header().Set("Server", "uvicorn")
		w.Write([]byte("ID3 + audio"))
	})
	r := e.invoke("elevenlabs", "tts", `{"path_params": {"voice_id": "v"}, "body": {"text": "hello"}}`)
	if r.Status != 200 || string(r.Body) != "ID3 + audio" {
		t.Fatalf("%d %q", r.Status, r.Body)
	}
	for k, v := range map[string]string{"Content-Type": "audio/mpeg", "Content-Length": "11",
		"Content-Disposition": `attachment; filename="a.mp3"`, "Character-Cost": "11", "Request-Id": "el-req-1"} {
		if r.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.Header.Get(k), v)
		}
	}
	for _, k := range []string{"Set-Cookie", "Server"} {
		if r.Header.Get(k) != "" {
			t.Errorf("upstream header %s reached the client", k)
		}
	}
	if ae := e.up.last(t).Header.Get("Accept-Encoding"); ae != "identity" {
		t.Errorf("passthrough asked the upstream for Accept-Encoding %q", ae)
	}
}

func TestStreamDeliversTheFirstChunkWhileTheUpstreamHoldsOn(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write([]byte(`{"chunk": 1}` + "\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte(`{"chunk": 2}` + "\n"))
	})
	resp := e.open(context.Background(), "stream", strings.NewReader(`{}`))
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() { line, _ := br.ReadString('\n'); first <- line }()
	select {
	case line := <-first:
		if line != `{"chunk": 1}`+"\n" {
			t.Errorf("first line %q", line)
		}
	case <-time.After(900 * time.Millisecond):
		t.Fatal("the first chunk did not arrive while the upstream held the stream open")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != `{"chunk": 2}`+"\n" {
		t.Errorf("rest %q", rest)
	}
	if resp.Header.Get("Content-Type") != "application/x-ndjson" || resp.ContentLength != -1 {
		t.Errorf("stream headers: %v, length %d", resp.Header, resp.ContentLength)
	}
	if ae := e.up.last(t).Header.Get("Accept-Encoding"); ae != "identity" {
		t.Errorf("stream asked the upstream for Accept-Encoding %q", ae)
	}
}

func TestStreamSilenceLongerThanTheTimeoutAbortsTheResponse(t *testing.T) {
	e := newEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		select { // silent for longer than the 1 s timeout of testsvc
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	start := time.Now()
	resp := e.open(context.Background(), "stream", strings.NewReader(`{}`))
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("a stream cut by the gateway read as complete: %q", body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the silent stream was cut after %v, want about 1 s", d)
	}
}

func filePartHeader(field, filename, ct string) map[string][]string {
	return map[string][]string{
		"Content-Disposition": {`form-data; name="` + field + `"; filename="` + filename + `"`},
		"Content-Type":        {ct},
	}
}

func assertParts(t *testing.T, got, want []parsedPart) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("parts = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].field != want[i].field || got[i].filename != want[i].filename || got[i].data != want[i].data ||
			(want[i].contentType != "" && got[i].contentType != want[i].contentType) {
			t.Errorf("part %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
