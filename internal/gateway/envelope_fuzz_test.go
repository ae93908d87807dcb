package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"testing"

	"github.com/aiproxy/aiproxy"
)

// FuzzParseJSONEnvelope: any input is either a valid envelope whose parts hold what the
// contract allows, or an EINVALID error (rendered 400 {"error": ...}); never a panic, never
// another kind of error.
func FuzzParseJSONEnvelope(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `  `, `null`, `[]`, `{"body": {"a": 1}}`, `{"body": null, "query": null}`,
		`{"query": {"a": "1", "b": [1, true, "x"], "c": null}}`, `{"query": {"a": {"b": 1}}}`,
		`{"headers": {"X-A": "1", "x-fuzz-key": "k"}}`, `{"headers": {"bad name": "x"}}`,
		`{"path_params": {"voice_id": "..", "n": 12}}`, `{"path_params": {"n": 1.5}}`,
		`{"files": {"f": {"filename": "a.txt", "content_type": "text/plain", "data": "aGk="}}}`,
		`{"files": {"f": [{"data": "aGk="}, {"data": "!"}]}}`, `{"body": 1} trailing`, `{"a":1}{"b":2}`,
		"{\"headers\": {\"X\": \"a\\r\\nInjected: 1\"}}", `{"query": {"a": [[1]]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseJSONEnvelope(data)
		if err != nil {
			checkInvalid(t, "ParseJSONEnvelope", err)
			return
		}
		if len(bytes.TrimSpace(data)) > 0 && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
			t.Fatalf("accepted a body that is not a JSON object: %q", data)
		}
		checkEnvelope(t, env)
	})
}

// checkEnvelope asserts what an accepted envelope may hold.
func checkEnvelope(t *testing.T, env *Envelope) {
	t.Helper()
	for name, vs := range env.Headers {
		if !validHeaderName(name) || name != textproto.CanonicalMIMEHeaderKey(name) {
			t.Fatalf("accepted header name %q", name)
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				t.Fatalf("accepted header %s value %q", name, v)
			}
		}
	}
	if env.Query != nil {
		back, err := url.ParseQuery(env.Query.Encode())
		if err != nil || !sameValues(back, env.Query) {
			t.Fatalf("query %v does not survive encoding: %v, %v", env.Query, back, err)
		}
	}
	if env.Body != nil && !jsonValid(env.Body) {
		t.Fatalf("accepted a body that is not JSON: %q", env.Body)
	}
	for _, f := range env.Files {
		// (An empty field name is accepted and sent as name="": the provider refuses it.)
		if f.ContentType == "" {
			t.Fatalf("accepted file %+v", f)
		}
	}
}

const fuzzBoundary = "fuzzB0undary"

// FuzzReadMultipartEnvelope: a multipart envelope is read up to its first file; whatever the
// bytes, the result is an envelope, an EINVALID error or a 413, and streaming the rest of it
// into an upstream multipart body ends with the body complete or with one of those errors.
func FuzzReadMultipartEnvelope(f *testing.F) {
	part := func(name, filename, ct, content string) string {
		h := "--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\""
		if filename != "" {
			h += "; filename=\"" + filename + "\""
		}
		if ct != "" {
			h += "\r\nContent-Type: " + ct
		}
		return h + "\r\n\r\n" + content + "\r\n"
	}
	end := "--" + fuzzBoundary + "--\r\n"
	for _, s := range []string{
		end,
		part("body", "", "", `{"model_id": "m"}`) + part("query", "", "", `{"a": "b"}`) + part("files", "a.bin", "application/octet-stream", "xyz") + end,
		part("path_params", "", "", `{"voice_id": "v"}`) + part("audio", "a.mp3", "audio/mpeg", "ID3") + end,
		part("name", "", "", "plain text field") + part("files", "1.mp3", "", "a") + part("files", "2.mp3", "", "b") + end,
		part("headers", "", "", `{"X-A": 1}`) + end,
		part("query", "", "", `not json`) + end,
		part("files", "", "", `{"f": {"data": ""}}`) + end,
		part("f", "a.bin", "", "x") + part("query", "", "", `{"late": 1}`) + end,
		part("body", "", "", `[1]`) + part("f", "a", "", "") + end,
		"--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n{\"unterminated\": ",
		"garbage without a boundary",
	} {
		f.Add([]byte(s))
	}
	svc := fuzzCatalog(f)
	g := New(Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, action := range []string{"upload", "binary"} {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(data))
			r.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary)
			env, err := ReadEnvelope(r, 256)
			if err != nil {
				checkClientError(t, "ReadEnvelope", err)
				return
			}
			checkEnvelope(t, env)
			if env.firstFile != nil && env.firstFile.FileName() == "" {
				t.Fatalf("first file part %q has no filename", env.firstFile.FormName())
			}
			up, err := g.prepare(t.Context(), fuzzCall(svc, action), env)
			if err != nil {
				checkClientError(t, "prepare "+action, err)
				continue
			}
			_, rerr := io.Copy(io.Discard, up.req.Body)
			up.cancel(nil)
			up.watchdog.stop()
			if rerr != nil {
				checkClientError(t, "streaming the "+action+" body", up.bodyErr.get())
			}
		}
	})
}

// checkClientError: the error is the client's fault and renders 400 {"error"} or 413.
func checkClientError(t *testing.T, what string, err error) {
	t.Helper()
	if aiproxy.ErrorCode(err) == aiproxy.ETOOLARGE {
		return
	}
	var ae *aiproxy.Error
	if !errors.As(err, &ae) || ae.Code != aiproxy.EINVALID || ae.Message == "" {
		t.Fatalf("%s: error %T %v, want EINVALID or too large", what, err, err)
	}
}

func jsonValid(b []byte) bool {
	var v any
	return strictUnmarshal(b, &v) == nil
}
