package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/membudget"
)

// fpInvoke performs one invoke with a fingerprint and returns it.
func fpInvoke(t testing.TB, g *Gateway, c Call, body []byte, contentType string) (string, Result, error) {
	t.Helper()
	h := sha256.New()
	c.Fingerprint = h
	_, res, err := invokeCall(t, g, c, bytes.NewReader(body), contentType)
	return hex.EncodeToString(h.Sum(nil)), res, err
}

// fpDry is Gateway.Fingerprint of the same request.
func fpDry(t testing.TB, g *Gateway, c Call, body []byte, contentType string) (string, error) {
	t.Helper()
	req := httptest.NewRequest("POST", "/invoke", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	h := sha256.New()
	err := g.Fingerprint(req, c, h)
	return hex.EncodeToString(h.Sum(nil)), err
}

// fpPart is one part of a multipart envelope.
type fpPart struct{ name, filename, contentType, content string }

func fpMultipart(t testing.TB, boundary string, parts ...fpPart) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.content)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// The logical request of the invariance test: a voice upload with a path parameter, a
// query, a header, a body and three files in two fields.
var (
	fpOne   = strings.Repeat("first file ", 3000) // 33 KB: more than one read or decode chunk
	fpTwo   = "two"
	fpExtra = "extra bytes"
)

func fpJSONMembers() []string {
	return []string{
		`"path_params": {"voice_id": "v1"}`,
		`"query": {"q": ["1", "2"], "n": 3}`,
		`"headers": {"x-a": "a"}`,
		`"body": {"name": "voice", "labels": {"b": 2, "a": [1.50, "x"]}}`,
		`"files": {"files": [{"filename": "one.mp3", "content_type": "audio/mpeg", "data": "` + base64Of(fpOne) + `"}, {"data": "` + base64Of(fpTwo) + `", "content_type": "audio/mpeg", "filename": "two.mp3"}], "extra": {"content_type": "text/plain", "data": "` + base64Of(fpExtra) + `", "filename": "x.txt"}}`,
		`"unknown": [1, {"data": "!!"}]`,
	}
}

// reformat changes white space, and the writing of the body's equal values.
func reformat(s string, r *rand.Rand) string {
	if r.IntN(2) == 0 {
		s = strings.ReplaceAll(s, `"name": "voice"`, `"name":"vo\u0069ce"`)
	}
	if r.IntN(2) == 0 {
		s = strings.ReplaceAll(s, `{"b": 2, "a": [1.50, "x"]}`, "{\n\t\"a\" : [ 1.50 , \"\\u0078\" ] ,\r\n \"b\":2 }")
	}
	if r.IntN(2) == 0 {
		s = strings.ReplaceAll(s, ", ", ",\n  ")
	}
	return s
}

// The same request gives the same fingerprint whatever its transport (a JSON envelope
// whose files stream or are spooled, or multipart), JSON key order and white space,
// multipart boundary and part order; Gateway.Fingerprint gives the one Invoke gives, and
// never calls the upstream.
func TestFingerprintIsTheSameForTheSameRequest(t *testing.T) {
	svc := hiCatalog(t)
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{})
	dryUp := newHiUpstream(t)
	dry := hiGateway(t, dryUp, Config{})
	c := hiCall(t, svc, "voice-upload")

	var want string
	check := func(name string, body []byte, ct string) {
		t.Helper()
		got, res, err := fpInvoke(t, g, c, body, ct)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !res.Fingerprinted {
			t.Fatalf("%s: the fingerprint is not complete", name)
		}
		gotDry, err := fpDry(t, dry, c, body, ct)
		if err != nil {
			t.Fatalf("%s: Gateway.Fingerprint: %v", name, err)
		}
		if gotDry != got {
			t.Fatalf("%s: Gateway.Fingerprint %s, Invoke %s", name, gotDry, got)
		}
		if want == "" {
			want = got
		}
		if got != want {
			t.Fatalf("%s: fingerprint %s, want %s", name, got, want)
		}
	}

	streamed, spooled := 0, 0
	for i := range 60 {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		order := fpJSONMembers()
		r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		envelope := reformat("{"+strings.Join(order, ", ")+"}", r)
		if strings.Index(envelope, `"files"`) > strings.Index(envelope, `"query"`) &&
			strings.Index(envelope, `"files"`) > strings.Index(envelope, `"headers"`) &&
			strings.Index(envelope, `"files"`) > strings.Index(envelope, `"path_params"`) {
			streamed++
		} else {
			spooled++
		}
		check(envelope, []byte(envelope), "application/json")
	}
	if streamed == 0 || spooled == 0 {
		t.Fatalf("%d envelopes streamed, %d spooled: the orders miss a path", streamed, spooled)
	}

	// Multipart: any boundary, the body before or after the files, fields in any order
	// (a field's own files in order).
	text := []fpPart{
		{name: "path_params", content: `{"voice_id": "v1"}`},
		{name: "query", content: `{"n": "3", "q": ["1", 2]}`},
		{name: "headers", content: `{"X-A": "a"}`},
	}
	body := fpPart{name: "body", content: `{"labels":{"a":[1.50,"x"],"b":2},"name":"voice"}`}
	one := fpPart{"files", "one.mp3", "audio/mpeg", fpOne}
	two := fpPart{"files", "two.mp3", "audio/mpeg", fpTwo}
	extra := fpPart{"extra", "x.txt", "text/plain", fpExtra}
	for i, parts := range [][]fpPart{
		append(slices.Clone(text), body, one, two, extra),
		append(slices.Clone(text), extra, one, two, body),
		append(slices.Clone(text), one, extra, body, two),
		append([]fpPart{body}, append(slices.Clone(text), one, two, extra)...),
	} {
		data, ct := fpMultipart(t, strings.Repeat(string(rune('a'+i)), 20+i), parts...)
		check("multipart", data, ct)
	}
	for _, r := range dryUp.settle(t) {
		t.Fatalf("Gateway.Fingerprint called the upstream: %s %s", r.method, r.path)
	}
}

// Every difference that makes another upstream request makes another fingerprint — and
// no two requests collide by moving bytes from one field into the next.
func TestFingerprintChangesWithTheRequest(t *testing.T) {
	svc := hiCatalog(t)
	g := hiGateway(t, newHiUpstream(t), Config{})
	file := func(field, name, ct, data string) string {
		return `"` + field + `": {"filename": "` + name + `", "content_type": "` + ct + `", "data": "` + base64Of(data) + `"}`
	}
	files := func(fs ...string) string { return `"files": {` + strings.Join(fs, ", ") + `}` }
	base := file("file", "a.txt", "text/plain", fpOne)
	oneByte := []byte(fpOne)
	oneByte[20000] ^= 1
	envelopes := map[string]string{
		"base":                     `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"a file byte":              `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("file", "a.txt", "text/plain", string(oneByte))) + `}`,
		"a file shorter":           `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("file", "a.txt", "text/plain", fpOne[1:])) + `}`,
		"filename":                 `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("file", "b.txt", "text/plain", fpOne)) + `}`,
		"content type":             `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("file", "a.txt", "text/html", fpOne)) + `}`,
		"field":                    `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("file2", "a.txt", "text/plain", fpOne)) + `}`,
		"no body":                  `{"query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"body number as written":   `{"body": {"a": 1.0}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"body string":              `{"body": {"a": "1"}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"query value":              `{"body": {"a": 1}, "query": {"q": "2"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"query values' order":      `{"body": {"a": 1}, "query": {"q": ["1", "2"]}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"query values' order 2":    `{"body": {"a": 1}, "query": {"q": ["2", "1"]}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"query split a|bc":         `{"body": {"a": 1}, "query": {"q": "1", "a": "bc"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"query split ab|c":         `{"body": {"a": 1}, "query": {"q": "1", "ab": "c"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"header":                   `{"body": {"a": 1}, "query": {"q": "1"}, "headers": {"X-A": "1"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"header as query":          `{"body": {"a": 1}, "query": {"q": "1", "X-A": "1"}, "path_params": {"voice_id": "v"}, ` + files(base) + `}`,
		"path param":               `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "w"}, ` + files(base) + `}`,
		"a second file":            `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(base, file("more", "m", "text/plain", "")) + `}`,
		"files split ab|c":         `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("f", "a", "text/plain", "ab"), file("g", "a", "text/plain", "c")) + `}`,
		"files split a|bc":         `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, ` + files(file("f", "a", "text/plain", "a"), file("g", "a", "text/plain", "bc")) + `}`,
		"files' order in a list":   `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, "files": {"f": [{"data": "` + base64Of("1") + `"}, {"data": "` + base64Of("2") + `"}]}}`,
		"files' order in a list 2": `{"body": {"a": 1}, "query": {"q": "1"}, "path_params": {"voice_id": "v"}, "files": {"f": [{"data": "` + base64Of("2") + `"}, {"data": "` + base64Of("1") + `"}]}}`,
	}
	seen := map[string]string{}
	for name, env := range envelopes {
		got, _, err := fpInvoke(t, g, hiCall(t, svc, "voice-upload"), []byte(env), "application/json")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%q and %q have the same fingerprint", name, other)
		}
		seen[got] = name
	}

	// Multipart: a text field's name and value are delimited too.
	mpFP := func(parts ...fpPart) string {
		data, ct := fpMultipart(t, "b", parts...)
		got, _, err := fpInvoke(t, g, hiCall(t, svc, "upload"), data, ct)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if mpFP(fpPart{name: "ab", content: "c"}) == mpFP(fpPart{name: "a", content: "bc"}) {
		t.Error("text fields ab=c and a=bc have the same fingerprint")
	}
	if mpFP(fpPart{name: "a", content: "1"}, fpPart{name: "b", content: "2"}) == mpFP(fpPart{name: "b", content: "2"}, fpPart{name: "a", content: "1"}) {
		t.Error("text fields in another order (another upstream request) have the same fingerprint")
	}
}

// Gateway.Fingerprint and Invoke agree for every kind of endpoint and envelope.
func TestGatewayFingerprintEqualsInvokes(t *testing.T) {
	svc := hiCatalog(t)
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{})
	dryUp := newHiUpstream(t)
	dry := hiGateway(t, dryUp, Config{})
	big := strings.Repeat("0123456789abcdef", 40000) // 640 KB
	mp := func(parts ...fpPart) ([]byte, string) { return fpMultipart(t, "xyz", parts...) }
	type req struct {
		name, action string
		body         []byte
		ct           string
	}
	jsonReq := func(name, action, env string) req { return req{name, action, []byte(env), "application/json"} }
	mpReq := func(name, action string, parts ...fpPart) req {
		b, ct := mp(parts...)
		return req{name, action, b, ct}
	}
	for _, tc := range []req{
		jsonReq("json, empty", "json", ``),
		jsonReq("json", "json", `{"body": [1, {"b": null, "a": "\u00e9"}], "query": {"x": true}}`),
		jsonReq("upload streamed", "upload", `{"query": null, "headers": null, "files": {"f": {"filename": "a", "content_type": "b", "data": "`+base64Of(big)+`"}}, "body": {"late": 1}}`),
		jsonReq("upload spooled", "upload", `{"files": {"f": {"data": "`+base64Of(big)+`", "filename": "a"}}, "body": {"k": "v"}}`),
		jsonReq("binary streamed", "binary", `{"query": {}, "headers": {}, "files": {"f": {"content_type": "audio/wav", "data": "`+base64Of(big)+`"}}}`),
		jsonReq("binary spooled", "binary", `{"files": {"f": {"content_type": "audio/wav", "data": "`+base64Of(big)+`"}}}`),
		mpReq("multipart upload", "upload", fpPart{name: "body", content: `{"a": 1}`}, fpPart{"f", "a", "", big},
			fpPart{name: "note", content: "late"}, fpPart{name: "body", content: `{"b": 2}`}),
		mpReq("multipart binary", "binary", fpPart{name: "query", content: `{"q": 1}`}, fpPart{"f", "a.wav", "audio/wav", big},
			fpPart{name: "note", content: "dropped upstream"}),
		mpReq("multipart, no file", "upload", fpPart{name: "body", content: `{"a": 1}`}, fpPart{name: "x", content: "y"}),
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hiCall(t, svc, tc.action)
			got, res, err := fpInvoke(t, g, c, tc.body, tc.ct)
			if err != nil || !res.Fingerprinted {
				t.Fatalf("invoke: %v (fingerprinted %v)", err, res.Fingerprinted)
			}
			gotDry, err := fpDry(t, dry, c, tc.body, tc.ct)
			if err != nil {
				t.Fatalf("Gateway.Fingerprint: %v", err)
			}
			if got != gotDry {
				t.Fatalf("Gateway.Fingerprint %s, Invoke %s", gotDry, got)
			}
		})
	}
	dryUp.notCalled(t)
}

// Gateway.Fingerprint refuses a bad envelope with the error Invoke returns for it, faults
// found only while an upload streams included.
func TestGatewayFingerprintErrorsAreInvokes(t *testing.T) {
	svc := hiCatalog(t)
	file := `{"filename": "a", "content_type": "text/plain", "data": "` + base64Of(strings.Repeat("x", 50000)) + `"}`
	head := `{"query": {}, "headers": {}, "files": {"file": ` + file
	mp := func(parts ...fpPart) ([]byte, string) { return fpMultipart(t, "qq", parts...) }
	type req struct {
		name, action string
		body         []byte
		ct           string
		cfg          Config
	}
	jsonReq := func(name, action, env string) req {
		return req{name, action, []byte(env), "application/json", Config{}}
	}
	mpReq := func(name, action string, parts ...fpPart) req {
		b, ct := mp(parts...)
		return req{name, action, b, ct, Config{}}
	}
	tooBig := jsonReq("upload limit", "upload", head+`}}`)
	tooBig.cfg = Config{MaxUploadBytes: 32 << 10}
	for _, tc := range []req{
		jsonReq("not an object", "json", `[1]`),
		jsonReq("broken", "json", `{"body": `),
		jsonReq("query not an object", "json", `{"query": 1}`),
		jsonReq("header name", "json", `{"headers": {"a b": "c"}}`),
		jsonReq("files for json", "json", `{"files": {"f": {"data": "QQ=="}}}`),
		jsonReq("missing path param", "voice-upload", `{}`),
		jsonReq("body not an object", "upload", `{"body": [1]}`),
		jsonReq("no file for binary", "binary", `{}`),
		jsonReq("two files for binary", "binary", `{"files": {"a": {"data": "QQ=="}, "b": {"data": "QQ=="}}}`),
		jsonReq("bad base64", "upload", `{"files": {"a": {"data": "!!"}}}`),
		jsonReq("streamed: bad base64", "upload", head[:len(head)-3]+`!!"}}}`),
		jsonReq("streamed: a key again", "upload", head+`}, "query": {}}`),
		jsonReq("streamed: a field again", "upload", head+`, "file": {"data": "QQ=="}}}`),
		jsonReq("streamed: binary, a second file", "binary", head+`, "other": {"data": "QQ=="}}}`),
		jsonReq("streamed: late body not an object", "upload", head+`}, "body": 3}`),
		tooBig,
		mpReq("multipart: query after the file", "upload", fpPart{"f", "a", "", "x"}, fpPart{name: "query", content: `{}`}),
		mpReq("multipart: files part", "upload", fpPart{name: "files", content: `{}`}),
		mpReq("multipart: not JSON", "upload", fpPart{name: "body", content: `{`}),
		mpReq("multipart: late body not an object", "upload", fpPart{"f", "a", "", "x"}, fpPart{name: "body", content: `[]`}),
		mpReq("multipart: binary, a second file", "binary", fpPart{"f", "a", "", "x"}, fpPart{"g", "b", "", "y"}),
		mpReq("multipart: image type", "image", fpPart{"f", "a", "text/plain", "x"}),
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hiCall(t, svc, tc.action)
			up := newHiUpstream(t)
			_, _, invokeErr := fpInvoke(t, hiGateway(t, up, tc.cfg), c, tc.body, tc.ct)
			ae := aiproxy.AsError(invokeErr)
			if ae == nil {
				t.Fatalf("Invoke: %v, want a domain error", invokeErr)
			}
			dryUp := newHiUpstream(t)
			_, err := fpDry(t, hiGateway(t, dryUp, tc.cfg), c, tc.body, tc.ct)
			got := aiproxy.AsError(err)
			if got == nil || got.Code != ae.Code || got.Message != ae.Message {
				t.Fatalf("Gateway.Fingerprint: %v; Invoke: %v", err, invokeErr)
			}
			dryUp.notCalled(t)
		})
	}
}

// Gateway.Fingerprint holds no file, in memory or on disk: a JSON envelope that an invoke
// would spool (its files come first) is digested as it is read, under a budget far
// smaller than the file.
func TestGatewayFingerprintHoldsNoFile(t *testing.T) {
	svc := hiCatalog(t)
	big := strings.Repeat("large file ", 400000) // 4.4 MB
	first := []byte(`{"files": {"f": {"filename": "a", "content_type": "text/plain", "data": "` + base64Of(big) + `"}}, "query": {}, "headers": {}}`)
	last := []byte(`{"query": {}, "headers": {}, "files": {"f": {"filename": "a", "content_type": "text/plain", "data": "` + base64Of(big) + `"}}}`)
	c := hiCall(t, svc, "upload")

	budget := membudget.New(512 << 10)
	dryUp := newHiUpstream(t)
	dry := hiGateway(t, dryUp, Config{Budget: budget, SpoolDir: "/nonexistent/aiproxy-spool"})
	got, err := fpDry(t, dry, c, first, "application/json")
	if err != nil {
		t.Fatalf("Gateway.Fingerprint: %v", err)
	}
	if used := budget.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved", used)
	}
	// The same gateway cannot invoke it: the spool it needs does not exist.
	if _, _, err := fpInvoke(t, dry, c, first, "application/json"); err == nil {
		t.Fatal("an invoke spooled without a spool directory")
	}
	// An invoke whose files stream gives the same fingerprint.
	want, _, err := fpInvoke(t, hiGateway(t, newHiUpstream(t), Config{}), c, last, "application/json")
	if err != nil || got != want {
		t.Fatalf("Gateway.Fingerprint %s, streamed invoke %s (%v)", got, want, err)
	}
}

// An invoke whose upstream answers before it has read the whole upload ends with an
// incomplete fingerprint, and says so; nothing is written into the hash after Invoke
// returns (the race detector watches).
func TestFingerprintOfAnUploadTheUpstreamDidNotRead(t *testing.T) {
	svc := hiCatalog(t)
	early := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without reading the body (and without the server's read of it before answering).
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer early.Close()
	u, _ := url.Parse(early.URL)
	g := New(Config{Upstreams: map[string]*url.URL{"hisvc": u}, SpoolDir: t.TempDir()})
	defer g.Close()

	data, ct := fpMultipart(t, "zz", fpPart{"f", "a", "", strings.Repeat("first ", 20000)})
	pr, pw := io.Pipe()
	go pw.Write(data[:len(data)/2]) // the rest never comes
	defer pw.Close()
	c := hiCall(t, svc, "upload")
	h := sha256.New()
	c.Fingerprint = h
	req := httptest.NewRequest("POST", "/invoke", pr)
	req.Header.Set("Content-Type", ct)
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = g.Invoke(httptest.NewRecorder(), req, c)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the invoke did not end")
	}
	if err != nil || res.Fingerprinted {
		t.Fatalf("error %v, fingerprinted %v: want an answer and an incomplete fingerprint", err, res.Fingerprinted)
	}
	_ = h.Sum(nil)
}

// ---- canonical JSON ------------------------------------------------------------------

func canonical(t testing.TB, doc string) string {
	t.Helper()
	var buf bytes.Buffer
	w := &fpWriter{h: &buf, buf: make([]byte, 0, 64)} // a small buffer: flushes are exercised
	if err := writeCanonicalBody(w, []byte(doc), newReqState(limits{}, nil).mem); err != nil {
		t.Fatal(err)
	}
	w.flush()
	return buf.String()
}

func TestCanonicalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b": 1, "a": [1, 2, {"y": true, "x": null}]}`, `{"a":[1,2,{"x":null,"y":true}],"b":1}`},
		{" \n{ \"a\" :\t1.50e+3 } ", `{"a":1.50e+3}`},
		{`"\u00e9\/\"\\\n\u0001"`, `"é/\"\\\u000a\u0001"`},
		{`"\ud83d\ude00 \ud83d x \udc00"`, "\"\U0001F600 \uFFFD x \uFFFD\""},
		{"\"\xff\xfe ok\"", "\"\uFFFD\uFFFD ok\""},
		{`{"é": 1, "\u00e9": 2, "e": 3}`, `{"e":3,"é":1,"é":2}`}, // equal names keep their order
		{`{"\u0062": {"d": [], "c": {}}, "a": "x"}`, `{"a":"x","b":{"c":{},"d":[]}}`},
		{`[]`, `[]`},
		{`-0.0`, `-0.0`},
		{`not json`, "r"},
	} {
		got := canonical(t, tc.in)
		switch {
		case tc.want == "r":
			if got[0] != 'r' {
				t.Errorf("%q: %q, want it as written", tc.in, got)
			}
		case got != "j"+tc.want+"\x00":
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}

	// The canonical text means what the original means, to encoding/json.
	for _, doc := range []string{
		`{"z": [1, 2.5, -3e-2, "s", {"k": [true, false, null]}], "a": {"nested": {"deep": "\u2603"}}}`,
		`[{"b": 1, "a": 2}, {"a": 2, "b": 1}, "\t tab"]`,
		`{"": 0, " ": 1, "a\u0000b": 2}`,
	} {
		out := canonical(t, doc)
		var a, b any
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out[1:len(out)-1]), &b); err != nil {
			t.Fatalf("%q: canonical %q is not JSON: %v", doc, out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q: canonical %q means %v", doc, out, b)
		}
	}

	// Deep nesting costs linear time (the second pass jumps over what the first measured).
	const depth = 9000
	deep := strings.Repeat(`{"k": [`, depth/2) + "1" + strings.Repeat("]}", depth/2)
	start := time.Now()
	if got := canonical(t, deep); !strings.HasPrefix(got, `j{"k":[{"k":[`) {
		t.Fatalf("deep: %.40q", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a %d-deep body took %v", depth, took)
	}
}
