package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// ---- 64 MiB files through JSON envelopes ----------------------------------------------

const (
	bigFile       = 64 << 20 // decoded; its base64 is 85.3 MiB
	streamHeapCap = 24 << 20 // HeapInuse, sampled during the transfer
	streamAllocs  = 32 << 20 // TotalAlloc during the transfer: half the file
)

// bigEnvelope writes prefix, the base64 of size pseudo-random bytes, and suffix to pw (never
// holding more than a buffer), and reports the file's SHA-256 and when it began to send the
// envelope's last bytes (nothing can have read them before).
func bigEnvelope(pw *io.PipeWriter, prefix, suffix string, size int64) (sum chan [32]byte, last *atomic.Int64) {
	sum, last = make(chan [32]byte, 1), &atomic.Int64{}
	go func() {
		h := sha256.New()
		bw := bufio.NewWriterSize(pw, 32<<10)
		_, err := bw.WriteString(prefix)
		if err == nil {
			enc := base64.NewEncoder(base64.StdEncoding, bw)
			src := io.LimitReader(rand.NewChaCha8([32]byte{7}), size)
			if _, err = io.Copy(io.MultiWriter(enc, h), src); err == nil {
				err = enc.Close()
			}
		}
		last.Store(time.Now().UnixNano()) // the end of the data may still wait in bw
		if err == nil {
			_, err = bw.WriteString(suffix)
		}
		if err == nil {
			err = bw.Flush()
		}
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sum <- s
		pw.CloseWithError(err)
	}()
	return sum, last
}

// heapWatch samples HeapInuse until stopped and returns the peak, with the bytes allocated
// in between.
type heapWatch struct {
	stop  chan struct{}
	peak  chan uint64
	alloc uint64
}

func watchHeapInUse() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapWatch{stop: make(chan struct{}), peak: make(chan uint64, 1), alloc: ms.TotalAlloc}
	go func() {
		var peak uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-h.stop:
				h.peak <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapWatch) Stop() (peak, allocated uint64) {
	close(h.stop)
	peak = <-h.peak
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return peak, ms.TotalAlloc - h.alloc
}

// A JSON envelope carrying a 64 MiB file reaches the upstream intact while the heap stays
// small: streamed straight into the upstream body when nothing after "files" can change
// the request, spooled to disk when "files" comes first. Bounds: HeapInuse < 24 MiB at
// every sample, TotalAlloc < 32 MiB over the transfer (the file is never allocated).
func TestJSONEnvelopeWithA64MiBFileKeepsTheHeapSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	svc := hiCatalog(t)
	const file = `"file": {"filename": "big.bin", "content_type": "application/octet-stream", "data": "`
	for _, tc := range []struct {
		name, action, prefix, suffix string
		spooled                      bool
	}{
		{"binary streamed", "binary", `{"query": null, "headers": null, "files": {` + file, `"}}}`, false},
		{"multipart streamed", "upload", `{"body": {"name": "big"}, "query": {"q": "1"}, "headers": {"X-A": "a"}, "files": {` + file, `"}}}`, false},
		{"binary files first (spooled)", "binary", `{"files": {` + file, `"}}, "query": {"q": "1"}}`, true},
		{"multipart files first (spooled)", "upload", `{"files": {` + file, `"}}, "query": {"q": "1"}, "body": {"name": "big"}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newHiUpstream(t)
			spoolDir := t.TempDir()
			g := hiGateway(t, up, Config{SpoolDir: spoolDir})
			pr, pw := io.Pipe()
			h := watchHeapInUse()
			sum, last := bigEnvelope(pw, tc.prefix, tc.suffix, bigFile)
			_, err := hiInvoke(t, g, svc, tc.action, pr, "application/json")
			peak, allocated := h.Stop()
			if err != nil {
				t.Fatal(err)
			}
			want := <-sum
			reqs := up.settle(t)
			if len(reqs) != 1 || !reqs[0].complete {
				t.Fatalf("upstream requests: %+v", reqs)
			}
			got := reqs[0]
			switch tc.action {
			case "binary":
				if got.n != bigFile || got.sum != want || got.header.Get("Content-Type") != "application/octet-stream" {
					t.Errorf("upstream got %d bytes (%x), want %d (%x)", got.n, got.sum, bigFile, want)
				}
			case "upload":
				if len(got.parts) != 2 || got.parts[0].name != "name" || got.parts[0].text != "big" ||
					got.parts[1].name != "file" || got.parts[1].filename != "big.bin" || got.parts[1].n != bigFile || got.parts[1].sum != want {
					t.Errorf("upstream got parts %+v", got.parts)
				}
			}
			if strings.Contains(tc.prefix+tc.suffix, `"q": "1"`) && got.rawQuery != "q=1" {
				t.Errorf("query %q", got.rawQuery)
			}
			// Streamed: the upstream request started while the client was still sending.
			// Spooled: only once the whole envelope was read.
			startedEarly := got.started.UnixNano() < last.Load()
			if startedEarly == tc.spooled {
				t.Errorf("upstream request started %v before the client sent its last bytes (spooled: %v)",
					time.Duration(last.Load()-got.started.UnixNano()), tc.spooled)
			}
			if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
				t.Errorf("spool files left behind: %v", left)
			}
			t.Logf("peak heap in use %.1f MiB, %.1f MiB allocated during the transfer", float64(peak)/(1<<20), float64(allocated)/(1<<20))
			if peak > streamHeapCap || allocated > streamAllocs {
				t.Errorf("peak heap %.1f MiB (want < %d MiB), allocated %.1f MiB (want < %d MiB) for a %d MiB file",
					float64(peak)/(1<<20), streamHeapCap>>20, float64(allocated)/(1<<20), streamAllocs>>20, bigFile>>20)
			}
		})
	}
}

// ---- faults found while a file streams ----------------------------------------------

// A fault found after the upstream request started (malformed base64 or JSON further on, a
// second file for a binary endpoint, a key given again, a limit passed) fails the invoke
// with the 400 or 413 naming it, and the upstream request is aborted: it never receives a
// whole request. The client sends the envelope up to the fault, waits until the upstream
// request is under way, then sends the fault.
func TestJSONEnvelopeFaultsFoundWhileStreamingAbortTheUpstream(t *testing.T) {
	svc := hiCatalog(t)
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("streamed file bytes "), 64<<10)) // 1.25 MiB
	const head = `{"query": {}, "headers": {}, "files": {"file": {"filename": "a.bin", "content_type": "text/plain", "data": "`
	const list = `{"query": {}, "headers": {}, "files": {"files": [{"filename": "a.bin", "content_type": "text/plain", "data": "`
	for _, tc := range []struct {
		name, action, sent, fault, code, want string
		cfg                                   Config
	}{
		{"bad base64", "binary", head + good, `!!!!"}}}`, aiproxy.EINVALID,
			"File 'file' has 'data' that is not valid base64.", Config{}},
		{"bad base64 in a list", "upload", list + good, `=="}]}}`, aiproxy.EINVALID,
			"File 'files' has 'data' that is not valid base64.", Config{}},
		{"broken JSON after the files", "binary", head + good, `"}}, "x": }`, aiproxy.EINVALID,
			"Request body must be a JSON object.", Config{}},
		{"data after the envelope", "upload", head + good, `"}}} {}`, aiproxy.EINVALID,
			"Request body must be a JSON object.", Config{}},
		{"body ends in the data", "binary", head + good, ``, aiproxy.EINVALID,
			"Request body must be a JSON object.", Config{}},
		{"a second file", "binary", head + good, `"}, "other": {"data": "QQ=="}}}`, aiproxy.EINVALID,
			"Endpoint 'binary' takes exactly one file; 2 were given.", Config{}},
		{"a second file with a bad name", "upload", head + good, `"}, "other": {"filename": "b\r\n", "content_type": "x", "data": "QQ=="}}}`, aiproxy.EINVALID,
			"File 'other': filename must not contain control characters or quotes.", Config{}},
		{"a key given again", "upload", head + good, `"}}, "query": {"late": "1"}}`, aiproxy.EINVALID,
			"Field 'query' must not be given more than once.", Config{}},
		{"files given again", "binary", head + good, `"}}, "files": null}`, aiproxy.EINVALID,
			"Field 'files' must not be given more than once.", Config{}},
		{"content_type given again", "binary", head + good, `", "content_type": "image/png"}}}`, aiproxy.EINVALID,
			"File 'file' must be an object with 'filename', 'content_type' and 'data'.", Config{}},
		{"a late body that is no object", "upload", head + good, `"}}, "body": [1]}`, aiproxy.EINVALID,
			"Field 'body' must be an object for a multipart endpoint.", Config{}},
		{"the upload limit", "binary", head + good[:512<<10], good[512<<10:] + `"}}}`, aiproxy.ETOOLARGE,
			"Request body is larger than the limit of 1048576 bytes.", Config{MaxUploadBytes: 1 << 20}},
		{"the envelope limit after the files", "upload", head + good, `"}}, "junk": "` + strings.Repeat("j", 8192) + `"}`, aiproxy.ETOOLARGE,
			"Request body is larger than the limit of 4096 bytes.", Config{MaxEnvelopeBytes: 4096}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newHiUpstream(t)
			g := hiGateway(t, up, tc.cfg)
			pr, pw := io.Pipe()
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				if _, err := io.WriteString(pw, tc.sent); err != nil {
					return
				}
				for deadline := time.Now().Add(5 * time.Second); up.started.Load() == 0 && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				if _, err := io.WriteString(pw, tc.fault); err == nil {
					pw.Close()
				}
			}()
			_, err := hiInvoke(t, g, svc, tc.action, pr, "application/json")
			pr.CloseWithError(io.ErrClosedPipe) // unblocks the client if the gateway stopped reading
			<-sent
			hiWantError(t, err, tc.code, tc.want)
			up.noneComplete(t)
			if up.started.Load() != 1 {
				t.Errorf("the upstream request never started (%d): the fault was not found while streaming", up.started.Load())
			}
		})
	}
}

// Files stream only when nothing after them can change the request; any other envelope is
// read whole first (spooled), whatever the order of its keys, and arrives the same.
func TestJSONEnvelopeKeyOrderDoesNotChangeTheUpstreamRequest(t *testing.T) {
	svc := hiCatalog(t)
	members := []string{
		`"path_params": {"voice_id": "v1"}`,
		`"query": {"q": "1"}`,
		`"headers": {"X-A": "a"}`,
		`"body": {"name": "voice", "n": 2}`,
		`"files": {"files": [{"filename": "one.mp3", "content_type": "audio/mpeg", "data": "b25l"}, {"data": "dHdv", "content_type": "audio/mpeg", "filename": "two.mp3"}], "extra": {"content_type": "text/plain", "data": "ZXh0cmE=", "filename": "x.txt"}}`,
		`"unknown": [1, {"data": "!!"}]`,
	}
	var want *hiRequest
	for i := 0; i < 120; i++ {
		order := slices.Clone(members)
		rand.New(rand.NewPCG(uint64(i), 1)).Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		envelope := "{" + strings.Join(order, ", ") + "}"
		up := newHiUpstream(t)
		g := hiGateway(t, up, Config{})
		if _, err := hiInvoke(t, g, svc, "voice-upload", strings.NewReader(envelope), "application/json"); err != nil {
			t.Fatalf("%s: %v", envelope, err)
		}
		reqs := up.settle(t)
		if len(reqs) != 1 || !reqs[0].complete {
			t.Fatalf("%s: upstream got %+v", envelope, reqs)
		}
		got := reqs[0]
		slices.SortStableFunc(got.parts, func(a, b hiPart) int { return strings.Compare(a.name+a.filename, b.name+b.filename) })
		if got.path != "/voices/v1/upload" || got.rawQuery != "q=1" || got.header.Get("X-A") != "a" || len(got.parts) != 5 {
			t.Fatalf("%s: upstream got %s?%s %v %+v", envelope, got.path, got.rawQuery, got.header, got.parts)
		}
		if want == nil {
			want = got
			continue
		}
		for j := range want.parts {
			a, b := want.parts[j], got.parts[j]
			if a.name != b.name || a.filename != b.filename || a.contentType != b.contentType || a.text != b.text {
				t.Fatalf("%s: part %+v, first order gave %+v", envelope, b, a)
			}
		}
	}
}

// ---- the reader agrees with encoding/json reading the whole body ---------------------

// legacyParseJSONEnvelope is how JSON envelopes were parsed when they were read whole:
// encoding/json over the body. The streaming reader must agree with it.
func legacyParseJSONEnvelope(data []byte) (*Envelope, error) {
	env := &Envelope{}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || string(trimmed) == "{}" {
		return env, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return nil, invalid("Request body must be a JSON object.")
	}
	for _, k := range []string{keyBody, keyQuery, keyHeaders, keyPathParams, keyFiles} {
		raw, ok := top[k]
		if !ok || isNull(raw) {
			continue
		}
		if k == keyFiles {
			files, err := legacyParseFiles(raw)
			if err != nil {
				return nil, err
			}
			env.Files = files
			continue
		}
		if err := env.set(k, raw); err != nil {
			return nil, err
		}
	}
	return env, nil
}

func legacyParseFiles(raw json.RawMessage) ([]File, error) {
	m, err := parseObject(raw, keyFiles)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, field := range sortedKeys(m) {
		v := m[field]
		var list []json.RawMessage
		if json.Unmarshal(v, &list) != nil {
			list = []json.RawMessage{v}
		}
		for i, item := range list {
			var f struct {
				Filename    *string `json:"filename"`
				ContentType *string `json:"content_type"`
				Data        *string `json:"data"`
			}
			name := field
			if len(list) > 1 {
				name = fmt.Sprintf("%s[%d]", field, i)
			}
			if json.Unmarshal(item, &f) != nil {
				return nil, invalid("File '%s' must be an object with 'filename', 'content_type' and 'data'.", name)
			}
			if f.Data == nil {
				return nil, invalid("File '%s' is missing 'data' (base64).", name)
			}
			data, err := base64.StdEncoding.DecodeString(*f.Data)
			if err != nil {
				return nil, invalid("File '%s' has 'data' that is not valid base64.", name)
			}
			file := File{Field: field, Data: data, ContentType: "application/octet-stream", Filename: field}
			if f.Filename != nil {
				file.Filename = *f.Filename
			}
			if f.ContentType != nil && *f.ContentType != "" {
				file.ContentType = *f.ContentType
			}
			out = append(out, file)
		}
	}
	return out, nil
}

// isHeaderCheck reports whether err is one of the part-header refusals the whole-body
// parser did not have.
func isHeaderCheck(err error) bool {
	ae := aiproxy.AsError(err)
	return ae != nil && (strings.HasPrefix(ae.Message, "File field name ") || strings.HasPrefix(ae.Message, "Form field name ") ||
		strings.HasSuffix(ae.Message, "must not contain control characters or quotes."))
}

// legacyQuirk reports whether the whole-body parser accepted data only because
// bytes.TrimSpace trims more than JSON's white space (a body of "\v", or "\u00a0{}").
func legacyQuirk(data []byte) bool {
	trimmed := bytes.TrimSpace(data)
	return (len(trimmed) == 0 || string(trimmed) == "{}") && len(bytes.Trim(data, " \t\r\n")) != 0 && string(bytes.Trim(data, " \t\r\n")) != "{}"
}

func sameFiles(a, b []File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Field != b[i].Field || a[i].Filename != b[i].Filename || a[i].ContentType != b[i].ContentType || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// compareWithLegacy checks ParseJSONEnvelope's answer for data against the whole-body
// parser's, reading data through a buffer of bufSize bytes (so every refill boundary is
// crossed somewhere).
func compareWithLegacy(t testing.TB, data []byte, bufSize int) {
	t.Helper()
	want, werr := legacyParseJSONEnvelope(data)
	got, gerr := readJSONEnvelope(bytes.NewReader(data), bufSize, nil, newReqState(limits{}, nil))
	switch {
	case gerr != nil && werr != nil:
		if isHeaderCheck(gerr) && strings.HasPrefix(aiproxy.AsError(werr).Message, "File '") {
			return // a file later in the order had an older fault
		}
		if gerr.Error() != werr.Error() {
			t.Fatalf("%q (buffer %d): error %q, the whole-body parser says %q", data, bufSize, gerr, werr)
		}
	case gerr != nil:
		if isHeaderCheck(gerr) || legacyQuirk(data) {
			return
		}
		t.Fatalf("%q (buffer %d): refused (%v), the whole-body parser accepts it", data, bufSize, gerr)
	case werr != nil:
		t.Fatalf("%q (buffer %d): accepted, the whole-body parser says %v", data, bufSize, werr)
	default:
		if !bytes.Equal(got.Body, want.Body) || !sameValues(got.Query, want.Query) || !reflect.DeepEqual(got.Headers, want.Headers) ||
			!reflect.DeepEqual(got.PathParams, want.PathParams) || !sameFiles(got.Files, want.Files) {
			t.Fatalf("%q (buffer %d):\ngot  %+v\nwant %+v", data, bufSize, got, want)
		}
	}
}

var streamCases = []string{
	``, ` `, `{}`, ` { } `, `[]`, `null`, `"x"`, `{`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{} {}`, `{}x`, "\ufeff{}", "\v", "\v{}",
	`{"body": {"a": [1, 2.5e-3, -0, true, null, "x\u00e9\n"]}, "query": {"q": ["1", 2]}, "headers": {"X-A": "b"}, "path_params": {"id": 7}}`,
	`{"body": 1, "body": null}`, `{"body": {"a": 1}, "body": [2]}`, `{"query": 1}`, `{"query": {"a": {}}}`, `{"headers": {"a b": "x"}}`,
	`{"path_params": {"a": 1.5}}`, `{"b\u006fdy": {"escaped": "key"}}`, `{"BODY": 1}`, `{"unknown": {"deep": [[[{"x": "\"\\\/"}]]]}}`,
	`{"files": null}`, `{"files": 1}`, `{"files": []}`, `{"files": {}}`, `{"files": {"f": null}}`, `{"files": {"f": 1}}`, `{"files": {"f": []}}`,
	`{"files": {"f": {"data": "aGk="}}}`, `{"files": {"f": {"DATA": "aGk=", "FileName": "x", "Content_Type": "t/p"}}}`,
	`{"files": {"f": {"data": "aGk=", "data": null}}}`, `{"files": {"f": {"data": "!!", "data": "aGk="}}}`, `{"files": {"f": {"data": 1}}}`,
	`{"files": {"f": {"filename": 1, "data": "aGk="}}}`, `{"files": {"f": {"data": "aG\nk="}}}`, `{"files": {"f": {"data": "aG\\nk="}}}`,
	`{"files": {"f": {"data": "aG\\u006b="}}}`, `{"files": {"f": {"data": "aG\\/k="}}}`, `{"files": {"f": {"data": "aGk=aGk="}}}`, `{"files": {"f": {"data": "aGk"}}}`,
	`{"files": {"f": {"data": "aGk=\\r\\n"}}}`, `{"files": {"f": {"data": "\\u00e9"}}}`, `{"files": {"f": {"data": "aGk=", "x": {"data": 1}}}}`,
	`{"files": {"f": [{"data": "aGk="}, {"data": "!!"}]}}`, `{"files": {"f": [{"data": "!!"}]}}`, `{"files": {"f": [{"data": "aGk="}, 3]}}`,
	`{"files": {"b": {"data": "aGk="}, "a": [{"data": "aGk="}, {"data": "YQ=="}]}}`, `{"files": {"a": {"data": "!!"}, "a": {"data": "aGk="}}}`,
	`{"files": {"a": {"data": "aGk="}}, "files": {"b": {"data": "YQ=="}}}`, `{"files": {"a": {"data": "aGk="}}, "files": null}`,
	`{"files": {"z": {"data": "!!"}}, "query": 1}`, `{"files": {"z": 1}, "x": }`, `{"files": {"f": {"filename": "a\"b", "data": ""}}}`,
	`{"files": {"a\rb": {"data": ""}}}`, `{"files": {"f": {"content_type": "a\u0000", "data": ""}}}`, `{"files": {"b": {"data": "!"}, "a": {"filename": "\n", "data": ""}}}`,
	`{"files": {"f": {"data": "` + strings.Repeat("QUJD", 3000) + `"}}}`,
	strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999), strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	`{"body": ` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`, `{"body": ` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"files": {"a": {} "b": {}}}`, `{"files": {"a": [{} {}]}}`, `{"files": {"a": {"data": "" "x": 1}}}`, `{"files": {"a": [] "b": null}}`,
	`{"files": {"a": null "b": 1}}`, `{"files": {"": [{} {}]}}`, `{"body": {} "files": {}}`, `{"files": {} "body": {}}`,
	`{"n": -}`, `{"n": 01}`, `{"n": 1.}`, `{"n": 1e}`, `{"n": 1e+5}`, `{"n": tru}`, `{"s": "\x01"}`, `{"s": "\u12"}`, `{"s": "\q"}`, "{\"s\": \"\xff\"}",
}

func TestParseJSONEnvelopeAgreesWithTheWholeBodyParser(t *testing.T) {
	for _, c := range streamCases {
		for _, size := range []int{1, 2, 3, 5, 7, 16, 4096} {
			compareWithLegacy(t, []byte(c), size)
		}
	}
}

// decodeData decodes what base64.StdEncoding.DecodeString decodes, split anywhere.
func TestDecodeDataAgreesWithDecodeString(t *testing.T) {
	cases := []string{"", "QQ==", "QUI=", "QUJD", "QUJDRA==", "Q", "QQ", "QQ=", "=", "====", "QQ==QQ==", "QUJD\nRA==", "Q\rQ\n=\r=",
		"QQ=\n=", "QR==", "QUJ\tD", "QU JD", "QUJD!", "QQ==\n", "\nQUJD", strings.Repeat("QUJD", 20000) + "RA==", strings.Repeat("QUJD", 9000) + "Q=="}
	for _, plain := range cases {
		want, werr := base64.StdEncoding.DecodeString(plain)
		quoted, _ := json.Marshal(plain)
		escaped := strings.NewReplacer("/", `\/`, "A", `\u0041`).Replace(string(quoted))
		for _, doc := range []string{string(quoted), escaped} {
			for _, size := range []int{1, 3, 4, 5, 4096, 64 << 10} {
				st := newReqState(limits{}, nil)
				s := &jsonStream{src: strings.NewReader(doc), buf: make([]byte, size), st: st}
				if _, err := s.wsPeek(); err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				valid, err := s.decodeData(&got)
				if err != nil {
					t.Fatalf("%.40q: %v", doc, err)
				}
				if valid != (werr == nil) || valid && !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("%.40q (buffer %d): valid %v, %d bytes; DecodeString: %v, %d bytes", doc, size, valid, got.Len(), werr, len(want))
				}
			}
		}
	}
}

// ---- fuzzing ---------------------------------------------------------------------------

// FuzzJSONEnvelopeStream: arbitrary bytes as a JSON envelope, read as a stream through a
// tiny buffer under small limits, for every kind of endpoint, then streamed into the
// upstream body: never a panic, never more held than the limits allow, and either success
// or a client error (EINVALID 400, ETOOLARGE 413). Whatever succeeds carries what the
// whole-body parser reads from the same bytes; ParseJSONEnvelope agrees with it exactly.
func FuzzJSONEnvelopeStream(f *testing.F) {
	for _, c := range streamCases {
		if len(c) < 2000 {
			f.Add([]byte(c))
		}
	}
	for _, c := range []string{
		`{"query": null, "headers": null, "files": {"f": {"filename": "a", "content_type": "text/plain", "data": "aGk="}}}`,
		`{"query": {}, "headers": {}, "body": {"n": 1}, "files": {"f": [{"filename": "a", "content_type": "t", "data": "aGk="}, {"data": "YQ==", "filename": "b", "content_type": "t"}]}, "body": {"m": 2}}`,
		`{"query": {}, "headers": {}, "files": {"f": {"content_type": "t", "data": "aGk=", "filename": "late"}}, "path_params": {"voice_id": "v"}}`,
		`{"query": {}, "headers": {}, "path_params": {"voice_id": "v"}, "files": {"f": {"content_type": "t", "filename": "a", "data": "aGk=", "data": "YQ=="}}}`,
		`{"query": {}, "headers": {}, "files": {"a": {"filename": "a", "content_type": "t", "data": "aGk="}, "a": {"filename": "b", "content_type": "t", "data": "YQ=="}}}`,
		`{"files": {"f": {"filename": "a", "content_type": "image/png", "data": "aGk="}}, "query": {"q": 1}}`,
		`{"query": {}, "headers": {}, "files": {"f": {"filename": "a", "content_type": "t", "data": "aGk="}}, "files": {}}`,
	} {
		f.Add([]byte(c))
	}
	svc := hiCatalog(f)
	g := New(Config{SpoolDir: f.TempDir()})
	f.Fuzz(func(t *testing.T, data []byte) { checkJSONEnvelopeStream(t, g, svc, data) })
}

// checkJSONEnvelopeStream is FuzzJSONEnvelopeStream's property for one input.
func checkJSONEnvelopeStream(t *testing.T, g *Gateway, svc *catalog.Service, data []byte) {
	lim := limits{envelope: 16 << 10, held: 2 << 10, part: 1 << 10, parts: 4 << 10, upload: 64 << 10, spoolDir: g.limits.spoolDir}
	compareWithLegacy(t, data, 1+len(data)%7)
	want, werr := legacyParseJSONEnvelope(data)
	for _, action := range []string{"json", "upload", "voice-upload", "binary", "image"} {
		st := newReqState(lim, nil)
		func() {
			defer st.close()
			c := hiCall(t, svc, action)
			env, err := readJSONEnvelope(bytes.NewReader(data), 1+len(data)%13, c.Endpoint, st)
			if st.held > lim.held && err == nil {
				t.Fatalf("%s: %d bytes held, limit %d", action, st.held, lim.held)
			}
			if held := st.mem.Held(); held > 3*lim.held+int64(64<<10) {
				t.Fatalf("%s: %d bytes reserved", action, held)
			}
			if err != nil {
				checkClientError(t, action+": reading", err)
				return
			}
			up, err := g.prepare(t.Context(), c, env)
			if err != nil {
				checkClientError(t, action+": prepare", err)
				return
			}
			defer up.watchdog.stop()
			defer up.cancel(nil)
			var body []byte
			if up.req.Body != nil {
				var rerr error
				body, rerr = io.ReadAll(up.req.Body)
				if rerr != nil {
					checkClientError(t, action+": streaming", up.bodyErr.get())
					return
				}
			}
			if werr != nil {
				t.Fatalf("%s: %q went upstream, the whole-body parser refuses it: %v", action, data, werr)
			}
			checkUpstreamBody(t, action, c.Endpoint, up.req.Header.Get("Content-Type"), body, want)
		}()
	}
}

// checkUpstreamBody compares what went upstream with what the whole-body parser's envelope
// holds.
func checkUpstreamBody(t *testing.T, action string, ep *catalog.Endpoint, ct string, body []byte, want *Envelope) {
	t.Helper()
	switch ep.RequestMode {
	case catalog.RequestBinary:
		if len(want.Files) != 1 || !bytes.Equal(body, want.Files[0].Data) || ct != want.Files[0].ContentType {
			t.Fatalf("%s: upstream body %q (%s), want the one file of %+v", action, body, ct, want.Files)
		}
	case catalog.RequestMultipart:
		_, params, _ := mime.ParseMediaType(ct)
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var files []File
		var fields [][2]string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: upstream body %q: %v", action, body, err)
			}
			data, _ := io.ReadAll(p)
			_, dparams, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			if fn, ok := dparams["filename"]; ok {
				files = append(files, File{Field: p.FormName(), Filename: fn, ContentType: p.Header.Get("Content-Type"), Data: data})
			} else {
				fields = append(fields, [2]string{p.FormName(), string(data)})
			}
		}
		wantFields, err := want.bodyFields()
		if err != nil {
			t.Fatalf("%s: went upstream with a body the whole-body parser refuses: %v", action, err)
		}
		less := func(a, b File) int { return strings.Compare(a.Field+"\x00"+a.Filename, b.Field+"\x00"+b.Filename) }
		wantFiles := slices.Clone(want.Files)
		for i := range wantFiles { // a header value reads back without its outer blanks
			wantFiles[i].ContentType = strings.Trim(wantFiles[i].ContentType, " \t")
		}
		slices.SortStableFunc(files, less)
		slices.SortStableFunc(wantFiles, less)
		slices.SortFunc(fields, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		slices.SortFunc(wantFields, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		if !sameFiles(files, wantFiles) || !slices.Equal(fields, wantFields) {
			t.Fatalf("%s: upstream got files %+v fields %q, want %+v %q", action, files, fields, wantFiles, wantFields)
		}
	}
}

// BenchmarkDecodeData: a file's data string, scanned and decoded from the read buffer.
func BenchmarkDecodeData(b *testing.B) {
	doc := `"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 1<<16)) + `"`
	b.SetBytes(int64(len(doc)))
	for range b.N {
		s := &jsonStream{src: strings.NewReader(doc), buf: make([]byte, jsonBufferSize), st: newReqState(limits{}, nil)}
		if _, err := s.wsPeek(); err != nil {
			b.Fatal(err)
		}
		if valid, err := s.decodeData(io.Discard); !valid || err != nil {
			b.Fatal(valid, err)
		}
	}
}

// plainRun finds the first quote, backslash or control character wherever it is.
func TestPlainRunFindsEveryStop(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for stop := 0; stop <= n; stop++ {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{'A'}, n)
				want := n
				if stop < n {
					b[stop] = byte(c)
					if c == '"' || c == '\\' || c < ' ' {
						want = stop
					}
				}
				if got := plainRun(b); got != want {
					t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
	// High bytes next to a stop, and every byte value after it.
	for c := 0; c < 256; c++ {
		b := []byte{0xff, 0x80, 0xa2, 0xdc, byte(c), 0x9f, '"', 'x', 'y'}
		want := 6
		if c == '"' || c == '\\' || c < ' ' {
			want = 4
		}
		if got := plainRun(b); got != want {
			t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
		}
	}
}

// Of several faults in one object, the same is named every time; repeated header values
// keep one order.
func TestEnvelopeFaultsAreNamedDeterministically(t *testing.T) {
	for _, tc := range []struct{ envelope, want string }{
		{`{"headers": {"z z": "x", "b": 1, "a": "ok", "c": "\n"}}`, "Header 'b' must be a string."},
		{`{"query": {"y": {}, "x": [[1]]}}`, "Query parameter 'x' must be a string, number, boolean or an array of them."},
		{`{"path_params": {"q": 1.5, "p": true}}`, "Path parameter 'p' must be a string or an integer."},
	} {
		for range 50 {
			_, err := ParseJSONEnvelope([]byte(tc.envelope))
			hiWantError(t, err, aiproxy.EINVALID, tc.want)
		}
	}
	for range 50 {
		env, err := ParseJSONEnvelope([]byte(`{"headers": {"x-a": "1", "X-A": "2", "X-a": "3"}}`))
		if err != nil || !slices.Equal(env.Headers["X-A"], []string{"2", "3", "1"}) {
			t.Fatalf("X-A = %q, %v", env.Headers["X-A"], err)
		}
	}
}
