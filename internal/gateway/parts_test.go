package gateway

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

var headerBreakers = []string{"\r", "\n", "\x00", `"`, "\r\nX-Injected: 1"}

// A file's field name, filename or content type that could end its part header's quoted
// parameter or line is refused with a 400 naming the file: never escaped, never written.
func TestJSONFileHeadersWithControlCharactersOrQuotesAre400(t *testing.T) {
	svc := hiCatalog(t)
	for _, action := range []string{"upload", "binary"} {
		for _, bad := range headerBreakers {
			for _, tc := range []struct{ what, envelope, want string }{
				{"filename", `{"files": {"audio": {"filename": ` + hiJSONString("a"+bad+"b.mp3") + `, "content_type": "audio/mpeg", "data": "SUQz"}}}`,
					"File 'audio': filename must not contain control characters or quotes."},
				{"content_type", `{"files": {"audio": {"filename": "a.mp3", "content_type": ` + hiJSONString("audio/mpeg"+bad) + `, "data": "SUQz"}}}`,
					"File 'audio': content_type must not contain control characters or quotes."},
				{"field", `{"files": {` + hiJSONString("au"+bad+"dio") + `: {"filename": "a.mp3", "content_type": "audio/mpeg", "data": "SUQz"}}}`,
					"File field name 'au" + shown(bad) + "dio' must not contain control characters or quotes."},
				{"list", `{"files": {"audio": [{"data": "SUQz"}, {"filename": ` + hiJSONString(bad) + `, "data": "SUQz"}]}}`,
					"File 'audio[1]': filename must not contain control characters or quotes."},
				// Streamed: query and headers come first, so the upstream request would start
				// at the file's data; the header is checked before.
				{"streamed", `{"query": {}, "headers": {}, "files": {"audio": {"filename": ` + hiJSONString("a"+bad) + `, "content_type": "audio/mpeg", "data": "SUQz"}}}`,
					"File 'audio': filename must not contain control characters or quotes."},
			} {
				t.Run(action+"/"+tc.what+"/"+shown(bad), func(t *testing.T) {
					up := newHiUpstream(t)
					g := hiGateway(t, up, Config{})
					_, err := hiInvoke(t, g, svc, action, strings.NewReader(tc.envelope), "application/json")
					hiWantError(t, err, aiproxy.EINVALID, tc.want)
					up.notCalled(t)
					// ParseJSONEnvelope refuses it too.
					_, err = ParseJSONEnvelope([]byte(tc.envelope))
					hiWantError(t, err, aiproxy.EINVALID, tc.want)
				})
			}
		}
	}
}

// The same for the parts of a multipart envelope, whose names reach the gateway decoded
// (a quoted-pair, or RFC 2231's percent-encoding, can carry any byte).
func TestMultipartFileHeadersWithControlCharactersOrQuotesAre400(t *testing.T) {
	svc := hiCatalog(t)
	for _, action := range []string{"upload", "binary"} {
		for _, tc := range []struct{ name, disposition, contentType, want string }{
			{"filename CR LF", `form-data; name="audio"; filename*=UTF-8''a%0D%0AX-Injected%3A%201.mp3`, "audio/mpeg",
				"File 'audio': filename must not contain control characters or quotes."},
			{"filename NUL", `form-data; name="audio"; filename*=UTF-8''a%00.mp3`, "audio/mpeg",
				"File 'audio': filename must not contain control characters or quotes."},
			{"filename quote", `form-data; name="audio"; filename="a\".mp3"`, "audio/mpeg",
				"File 'audio': filename must not contain control characters or quotes."},
			{"field quote", `form-data; name="au\"dio"; filename="a.mp3"`, "audio/mpeg",
				`File field name 'au\"dio' must not contain control characters or quotes.`},
			{"field LF", `form-data; name*=UTF-8''au%0Adio; filename="a.mp3"`, "audio/mpeg",
				`File field name 'au\ndio' must not contain control characters or quotes.`},
			{"content type quote", `form-data; name="audio"; filename="a.mp3"`, `audio/mpeg; x="y"`,
				"File 'audio': content_type must not contain control characters or quotes."},
		} {
			t.Run(action+"/"+tc.name, func(t *testing.T) {
				up := newHiUpstream(t)
				g := hiGateway(t, up, Config{})
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				w, _ := mw.CreatePart(map[string][]string{"Content-Disposition": {tc.disposition}, "Content-Type": {tc.contentType}})
				_, _ = io.WriteString(w, "ID3")
				_ = mw.Close()
				_, err := hiInvoke(t, g, svc, action, &buf, mw.FormDataContentType())
				hiWantError(t, err, aiproxy.EINVALID, tc.want)
				up.notCalled(t)
			})
		}
	}
	// A second file part, found while the upload streams: 400, and the upstream request
	// under way is aborted.
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreatePart(map[string][]string{"Content-Disposition": {`form-data; name="files"; filename="one.mp3"`}})
	_, _ = io.WriteString(w, strings.Repeat("1", 64<<10))
	w, _ = mw.CreatePart(map[string][]string{"Content-Disposition": {`form-data; name="files"; filename*=UTF-8''two%0D.mp3`}})
	_, _ = io.WriteString(w, "2")
	_ = mw.Close()
	_, err := hiInvoke(t, g, svc, "upload", &buf, mw.FormDataContentType())
	hiWantError(t, err, aiproxy.EINVALID, "File 'files': filename must not contain control characters or quotes.")
	up.noneComplete(t)
}

// Text fields become part headers too: a body key, or a multipart text part's name.
func TestTextFieldNamesWithControlCharactersOrQuotesAre400(t *testing.T) {
	svc := hiCatalog(t)
	for _, bad := range headerBreakers {
		up := newHiUpstream(t)
		g := hiGateway(t, up, Config{})
		want := "Form field name 'na" + shown(bad) + "me' must not contain control characters or quotes."
		_, err := hiInvoke(t, g, svc, "upload", strings.NewReader(`{"body": {`+hiJSONString("na"+bad+"me")+`: "x"}}`), "application/json")
		hiWantError(t, err, aiproxy.EINVALID, want)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, _ := mw.CreatePart(map[string][]string{"Content-Disposition": {`form-data; name*=UTF-8''` + strings.NewReplacer("\r", "%0D", "\n", "%0A", "\x00", "%00", `"`, "%22", " ", "%20", ":", "%3A").Replace("na"+bad+"me")}})
		_, _ = io.WriteString(w, "x")
		_ = mw.Close()
		_, err = hiInvoke(t, g, svc, "upload", &buf, mw.FormDataContentType())
		hiWantError(t, err, aiproxy.EINVALID, want)
		up.notCalled(t)
	}
}

// filePartHeader never writes a value that breaks out of its quotes; what it writes reads
// back as given.
func TestPartHeadersReadBackAsGiven(t *testing.T) {
	for _, bad := range headerBreakers {
		if _, err := filePartHeader("f"+bad, "a", ""); err == nil {
			t.Errorf("field %q accepted", bad)
		}
		if _, err := filePartHeader("f", "a"+bad, ""); err == nil {
			t.Errorf("filename %q accepted", bad)
		}
		if _, err := filePartHeader("f", "a", "text/plain"+bad); err == nil {
			t.Errorf("content type %q accepted", bad)
		}
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	cases := [][3]string{{"files", `C:\dir\a b.mp3`, "audio/mpeg"}, {"日本", "名前.wav", "audio/wav"}, {"x", "", "application/octet-stream"}}
	for _, c := range cases {
		h, err := filePartHeader(c[0], c[1], c[2])
		if err != nil {
			t.Fatal(err)
		}
		w, _ := mw.CreatePart(h)
		_, _ = io.WriteString(w, "data")
	}
	if err := writeField(mw, `back\slash`, "v"); err != nil {
		t.Fatal(err)
	}
	_ = mw.Close()
	mr := multipart.NewReader(&buf, mw.Boundary())
	for _, c := range cases {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		// (Part.FileName keeps the base name: compare with the raw parameter.)
		_, params, _ := strings.Cut(p.Header.Get("Content-Disposition"), ";")
		if p.FormName() != c[0] || !strings.Contains(params, `filename="`+strings.ReplaceAll(c[1], `\`, `\\`)+`"`) || p.Header.Get("Content-Type") != c[2] {
			t.Errorf("part %q %q %q read back as %q %q", c[0], c[1], c[2], p.FormName(), p.Header)
		}
	}
	if p, err := mr.NextPart(); err != nil || p.FormName() != `back\slash` {
		t.Fatalf("text field read back as %v %v", p, err)
	}
}
