package elevenlabs

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

const testKey = "sk_test_alice_0123456789"

// newTestServer starts the simulator behind httptest at a high speed.
func newTestServer(t *testing.T, opts simcore.Options) (*Server, *httptest.Server) {
	t.Helper()
	return simtest.Start(t, opts, New)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body is not JSON: %v: %.200s", r.status, err, r.body)
	}
}

// call sends one request; body may be nil, a []byte, a *multipartBody or any JSON value.
func call(t *testing.T, ts *httptest.Server, method, path, key string, body any, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	case *multipartBody:
		rd, ct = bytes.NewReader(b.buf.Bytes()), b.contentType
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	var pairs []string
	if ct != "" {
		pairs = append(pairs, "Content-Type", ct)
	}
	if key != "" {
		pairs = append(pairs, "xi-api-key", key)
	}
	resp, b := simtest.Do(t, ts.Client(), method, ts.URL+path, rd, append(pairs, hdr...)...)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

type multipartBody struct {
	buf         bytes.Buffer
	contentType string
}

type part struct {
	field, fileName, contentType string
	data                         []byte
}

// multipartForm builds a multipart body; parts with a fileName are files.
func multipartForm(t *testing.T, parts ...part) *multipartBody {
	t.Helper()
	m := &multipartBody{}
	w := multipart.NewWriter(&m.buf)
	for _, p := range parts {
		if p.fileName == "" {
			if err := w.WriteField(p.field, string(p.data)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="` + p.field + `"; filename="` + p.fileName + `"`}
		h["Content-Type"] = []string{p.contentType}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(p.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m.contentType = w.FormDataContentType()
	return m
}

// detail is the business-error body.
type detail struct {
	Detail struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"detail"`
}

func wantDetail(t *testing.T, r reply, status int, code string) detail {
	t.Helper()
	var d detail
	r.json(t, &d)
	if r.status != status || d.Detail.Status != code || d.Detail.Message == "" {
		t.Fatalf("got %d %s, want %d with detail.status %q", r.status, r.body, status, code)
	}
	return d
}
