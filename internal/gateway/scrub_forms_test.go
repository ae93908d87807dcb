package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// The forms of a key, derived here independently of scrub.go (from encoding/base64), so
// that the tests check the scrubber against what a client could decode.

// oracleCores returns, for each alignment of the key in a text, the base64 characters any
// encoding of such a text contains, in the standard and in the URL alphabet.
func oracleCores(key string) []string {
	if c, ok := coreCache.Load(key); ok {
		return c.([]string)
	}
	var cores []string
	n := len(key)
	for a := range 3 {
		text := strings.Repeat("\x00", a) + key + "\x00\x00\x00"
		enc := base64.StdEncoding.EncodeToString([]byte(text))
		core := enc[(8*a+5)/6 : (8*a+8*n)/6]
		cores = append(cores, core, strings.NewReplacer("+", "-", "/", "_").Replace(core))
	}
	if coreCacheSize.Add(1) > 4096 { // a fuzzer's keys are all different: stay small
		coreCache.Clear()
		coreCacheSize.Store(0)
	}
	coreCache.Store(key, cores)
	return cores
}

var coreCacheSize atomic.Int64

var coreCache sync.Map // key → oracleCores(key)

// recoverable reports which form of key text still shows, or "".
func recoverable(text, key string) string {
	lower := asciiLower(text)
	k := asciiLower(key)
	if strings.Contains(lower, k) {
		return "the key (any case)"
	}
	if strings.Contains(k, "/") && strings.Contains(lower, strings.ReplaceAll(k, "/", `\/`)) {
		return `the key with \/`
	}
	for _, c := range oracleCores(key) {
		if strings.Contains(text, c) {
			return "a base64 core " + c
		}
		if strings.Contains(c, "/") && strings.Contains(text, strings.ReplaceAll(c, "/", `\/`)) {
			return `a base64 core with \/`
		}
	}
	return ""
}

// asciiLower lowers A-Z and leaves every other byte as it is (strings.ToLower would turn
// invalid UTF-8 into U+FFFD, making different bytes equal).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// jsonRecoverable decodes a JSON text and reports a form of key in any of its strings
// (member names included) or numbers, or "".
func jsonRecoverable(t testing.TB, data []byte, key string) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			t.Fatalf("output is not JSON: %v\n%q", err, data)
		}
		var s string
		switch v := tok.(type) {
		case string:
			s = v
		case json.Number:
			s = string(v)
		default:
			continue
		}
		if r := recoverable(s, key); r != "" {
			return fmt.Sprintf("%s in %q", r, s)
		}
	}
}

const hexKey = "sk_3f9a2b7c1d0e4f5a6b7c8d9e0f1a2b3c"

func TestB64CoreIsInEveryEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := minScrubLen; n <= 200; n += 1 + n/48*50 {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		for a := range 3 {
			want := oracleCores(string(key))[2*a]
			if got := string(b64Core(nil, key, a)); got != want {
				t.Fatalf("n=%d a=%d: core %q, encoding/base64 says %q", n, a, got, want)
			}
		}
		for pre := range 7 {
			for post := range 4 {
				text := make([]byte, pre+n+post)
				for i := range text {
					text[i] = byte(r.Uint32())
				}
				copy(text[pre:], key)
				core := oracleCores(string(key))[2*(pre%3)]
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
					e := enc.EncodeToString(text)
					c := core
					if enc == base64.URLEncoding || enc == base64.RawURLEncoding {
						c = strings.NewReplacer("+", "-", "/", "_").Replace(core)
					}
					if !strings.Contains(e, c) {
						t.Fatalf("core %q not in %q", c, e)
					}
					s := makeScrubber(string(key))
					if got := string(s.Forms([]byte(e))); strings.Contains(got, c) {
						t.Fatalf("core %q survives in %q", c, got)
					}
				}
			}
		}
	}
}

func TestFormsMaskEveryStreamForm(t *testing.T) {
	slashKey := "hg/Zx9+Qa8/kLm3Np2Rt"
	cases := []struct{ key, body string }{
		{hexKey, "key " + hexKey + " end"},
		{hexKey, "key " + strings.ToUpper(hexKey) + " end"},
		{hexKey, "key " + strings.ToUpper(hexKey[:10]) + hexKey[10:] + " end"},
		{"0123456789abcdef0123", "hex in upper case: 0123456789ABCDEF0123."},
		{slashKey, `{"key": "` + strings.ReplaceAll(slashKey, "/", `\/`) + `"}`},
		{slashKey, `{"key": "` + strings.ToLower(slashKey) + `"}`},
	}
	for _, key := range []string{hexKey, slashKey, "el-bench-key"} {
		for pre := range 3 {
			text := strings.Repeat("x", pre) + key + "tail"
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				e := enc.EncodeToString([]byte(text))
				cases = append(cases, struct{ key, body string }{key, `{"b64": "` + e + `"}`},
					struct{ key, body string }{key, `{"b64": "` + strings.ReplaceAll(e, "/", `\/`) + `"}`})
			}
		}
	}
	for _, c := range cases {
		s := makeScrubber(c.key)
		got := string(s.Forms([]byte(c.body)))
		if r := recoverable(got, c.key); r != "" {
			t.Errorf("key %q in %q: %s survives: %q", c.key, c.body, r, got)
		}
		if len(got) != len(c.body) {
			t.Errorf("length changed: %q → %q", c.body, got)
		}
		if got == c.body {
			t.Errorf("nothing masked in %q", c.body)
		}
		if s.String(c.body) != got {
			t.Errorf("String and Forms differ on %q", c.body)
		}
		// The same through a stream cut at every byte.
		for cut := 0; cut <= len(c.body); cut++ {
			var out bytes.Buffer
			w := &scrubWriter{w: &out, s: &s}
			w.Write([]byte(c.body[:cut]))
			w.Write([]byte(c.body[cut:]))
			w.Close()
			if out.String() != got {
				t.Fatalf("cut at %d: %q, whole: %q", cut, out.String(), got)
			}
		}
	}
	// An answer without the key is left alone, and goes through a stream at once.
	s := makeScrubber(hexKey)
	body := `{"voices": [{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel"}]}` + "\n"
	if got := s.Forms([]byte(body)); string(got) != body {
		t.Errorf("changed an answer without the key: %q", got)
	}
	var out bytes.Buffer
	w := &scrubWriter{w: &out, s: &s}
	w.Write([]byte(body))
	if out.String() != body {
		t.Errorf("held back a chunk that cannot begin the key: %q", out.String())
	}
}

// jsonForms writes the key the ways a JSON text may carry it in a string.
func jsonForms(key string) []string {
	var forms []string
	uAll := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			fmt.Fprintf(&b, `\u%04x`, c)
		}
		return b.String()
	}
	forms = append(forms, key, uAll(key), strings.ToUpper(key), uAll(strings.ToUpper(key)))
	// Every other character escaped, in upper-case hex digits.
	var b strings.Builder
	for i, c := range []byte(key) {
		if i%2 == 0 {
			fmt.Fprintf(&b, `\u%04X`, c)
		} else {
			b.WriteByte(c)
		}
	}
	forms = append(forms, b.String(), strings.ReplaceAll(key, "/", `\/`))
	for pre := range 3 {
		text := strings.Repeat("é", pre) + key + "~"
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			e := enc.EncodeToString([]byte(text))
			forms = append(forms, e, strings.ReplaceAll(e, "/", `\/`), uAll(e))
		}
	}
	return forms
}

func TestJSONMasksTheKeyAsAParserRecoversIt(t *testing.T) {
	for _, key := range []string{hexKey, "hg/Zx9+Qa8/kLm3Np2Rt", "AbCdEfGh12"} {
		s := makeScrubber(key)
		for _, f := range jsonForms(key) {
			for _, doc := range []string{
				`{"xi_api_key": "` + f + `", "other": "Rach\u0065l \"x\" \/ y", "n": [1, 2.5, true, null]}`,
				`["before\n` + f + `after\t", "plain"]`,
				`{"` + f + `": 1}`,
				`"` + f + `"`,
			} {
				out, ok := s.JSON([]byte(doc))
				if !ok {
					t.Fatalf("key %q: %s: not JSON after masking: %q", key, doc, out)
				}
				if r := jsonRecoverable(t, out, key); r != "" {
					t.Errorf("key %q: %s\n  %s survives: %s", key, doc, r, out)
				}
				// What had no key is byte for byte the same.
				if strings.Contains(doc, `"other"`) && !bytes.Contains(out, []byte(`"other": "Rach\u0065l \"x\" \/ y", "n": [1, 2.5, true, null]}`)) {
					t.Errorf("a string without the key changed: %s", out)
				}
			}
		}
		// The key's decoded length in '*', as a parser reads it.
		out, _ := s.JSON([]byte(`{"k": "` + jsonForms(key)[1] + `"}`))
		var v map[string]string
		if err := json.Unmarshal(out, &v); err != nil || v["k"] != strings.Repeat("*", len(key)) {
			t.Errorf("escaped key masked as %q (%v), want %d '*'", v["k"], err, len(key))
		}
	}
	// Nothing to mask: the same slice back.
	s := makeScrubber(hexKey)
	doc := []byte(`{"a": "caf\u00e9 \ud83d\ude00 \/ \"q\"", "b": "sk_3f9a2b7c1d0e4f5a6b7c8d9e0f1a2b3"}`)
	if out, ok := s.JSON(doc); !ok || !bytes.Equal(out, doc) {
		t.Errorf("changed a JSON text without the key: %s", out)
	}
}

// A key that only matches outside strings (digits inside a number) cannot be masked and
// leave JSON: JSON says so, and the gateway answers 502 rather than either.
func TestJSONKeyOutsideStringsIsRefused(t *testing.T) {
	s := makeScrubber("12345678")
	if _, ok := s.JSON([]byte(`{"n": 9123456789}`)); ok {
		t.Error("masked a number and called it JSON")
	}
}

// The cut of upstream_body (8 KiB): the key at every offset around the limit, in every
// form, never leaves a recognisable part of it. The rule: the read goes cutSlack past the
// limit, the whole read is scrubbed, the text is cut, and a tail of what is kept that
// could begin a form (any length) is masked.
func TestUpstreamBodyCutNeverLeavesPartOfTheKey(t *testing.T) {
	for _, key := range []string{hexKey, "hg/Zx9+Qa8/kLm3Np2Rt"} {
		s := makeScrubber(key)
		var forms []string
		for i, f := range jsonForms(key) {
			// The key's own forms, and each base64 as written (its escaped variants are
			// the JSON tests' business).
			if i < 6 || (i-6)%3 == 0 {
				forms = append(forms, f)
			}
		}
		for fi, f := range forms {
			for off := upstreamBodyLimit - len(f) - 2; off <= upstreamBodyLimit+2; off++ {
				// As text: filler, the form at off, more filler; and inside a JSON string.
				for _, asJSON := range []bool{false, true} {
					var body []byte
					if asJSON {
						body = []byte(`{"e": "` + strings.Repeat("y", off-7) + f + strings.Repeat("z", 600) + `"}`)
					} else {
						body = []byte(strings.Repeat("y", off) + f + strings.Repeat("z", 600))
					}
					read := body[:min(len(body), upstreamBodyLimit+s.cutSlack()+1)]
					v := upstreamBody(&s, bytes.Clone(read), true)
					text, _ := v.(string)
					checkCut(t, fmt.Sprintf("key %q form %d at %d json %v", key, fi, off, asJSON), text, key, f)
				}
			}
		}
		// A read that broke off inside the key: the tail is masked whatever its length.
		for n := 1; n < len(key); n++ {
			v := upstreamBody(&s, []byte("error: "+key[:n]), false)
			checkCut(t, fmt.Sprintf("broken read, %d bytes of the key", n), v.(string), key, key)
		}
	}
}

func checkCut(t *testing.T, what, text, key, form string) {
	t.Helper()
	if len(text) > upstreamBodyLimit || !utf8.ValidString(text) {
		t.Fatalf("%s: %d bytes, valid UTF-8 %v", what, len(text), utf8.ValidString(text))
	}
	if r := recoverable(text, key); r != "" {
		t.Fatalf("%s: %s survives", what, r)
	}
	lower := asciiLower(text)
	for n := 1; n < len(key); n++ {
		if strings.HasSuffix(lower, asciiLower(key[:n])) {
			t.Fatalf("%s: the text ends with %d bytes of the key: …%q", what, n, text[max(0, len(text)-40):])
		}
	}
	for _, c := range oracleCores(key) {
		for n := 4; n < len(c); n++ {
			if strings.HasSuffix(text, c[:n]) {
				t.Fatalf("%s: the text ends with %d bytes of a base64 core", what, n)
			}
		}
	}
}

// splitWrites feeds data through a scrubWriter in chunks whose sizes come from splits.
func splitWrites(s *scrubber, data, splits []byte) []byte {
	var out bytes.Buffer
	w := &scrubWriter{w: &out, s: s}
	allZero := true
	for _, b := range splits {
		allZero = allZero && b == 0
	}
	for i, k := 0, 0; i < len(data); k++ {
		n := len(data) - i
		if len(splits) > 0 && !allZero {
			n = min(n, int(splits[k%len(splits)]))
		}
		w.Write(data[i : i+n])
		i += n
	}
	w.Close()
	return out.Bytes()
}

func scrubSplitSeeds() [][3][]byte {
	key := []byte(hexKey)
	var seeds [][3][]byte
	for _, f := range jsonForms(hexKey) {
		seeds = append(seeds, [3][]byte{[]byte(`data: {"k": "` + f + `"}` + "\n\n"), key, {1, 7, 3}})
	}
	seeds = append(seeds,
		[3][]byte{[]byte("aaaaaaaaaaaaaaaaaaaa"), []byte("aaaaaaaa"), {3}},
		[3][]byte{[]byte("abcabcabdabcabdabcab"), []byte("abcabdab"), {1, 2}},
		[3][]byte{[]byte(`x\\/y` + `\/` + "hg/Zx9+Qa8/kLm3Np2Rt"), []byte("hg/Zx9+Qa8/kLm3Np2Rt"), {5, 0, 2}},
	)
	return seeds
}

func TestScrubberSplitSeeds(t *testing.T) {
	for _, sd := range scrubSplitSeeds() {
		s := makeScrubber(string(sd[1]))
		whole := s.Forms(sd[0])
		for sz := 1; sz <= len(sd[0]); sz++ {
			if got := splitWrites(&s, sd[0], []byte{byte(sz)}); !bytes.Equal(got, whole) {
				t.Fatalf("chunks of %d: %q, whole: %q", sz, got, whole)
			}
		}
	}
}

// FuzzScrubberSplits: a stream scrubbed in chunks of any sizes is exactly the whole
// scrubbed at once, for any key and data (no constraint on the key's self-overlap:
// decisions look only forward, see scrubber); and for keys of at least 8 bytes without
// a '*' (the mask's own byte), no form of the key survives.
func FuzzScrubberSplits(f *testing.F) {
	for _, sd := range scrubSplitSeeds() {
		f.Add(sd[0], sd[1], sd[2])
	}
	f.Fuzz(func(t *testing.T, data, key, splits []byte) {
		if len(key) < minScrubLen || len(data) > 64<<10 {
			return
		}
		s := makeScrubber(string(key))
		whole := s.Forms(data)
		if len(whole) != len(data) {
			t.Fatalf("length changed: %d → %d", len(data), len(whole))
		}
		got := splitWrites(&s, data, splits)
		if !bytes.Equal(got, whole) {
			t.Fatalf("split %v: %q\nwhole: %q", splits, got, whole)
		}
		if len(key) >= 8 && !bytes.Contains(key, []byte("*")) {
			if r := recoverable(string(got), string(key)); r != "" {
				t.Fatalf("%s survives in %q", r, got)
			}
		}
	})
}

// FuzzScrubJSON: for any JSON text and key (printable ASCII of at least 8 bytes without
// '"', '\\' or '*'), the scrubbed text is JSON, no string or number of it holds a form of
// the key as encoding/json decodes it, and a text without the key is returned unchanged.
func FuzzScrubJSON(f *testing.F) {
	for _, fm := range jsonForms(hexKey) {
		f.Add([]byte(`{"k": "`+fm+`", "n": 1}`), hexKey)
	}
	f.Add([]byte(`["\u0041bcdefgh", "\nAbcdefgh"]`), "abcdefgh")
	f.Add([]byte(`{"a\\/b": "a\/bcdefgh"}`), "a/bcdefgh")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		if len(key) < 8 || !validJSON(data) {
			return
		}
		for i := 0; i < len(key); i++ {
			if c := key[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '*' {
				return
			}
		}
		s := makeScrubber(key)
		out, ok := s.JSON(data)
		if !ok {
			if validJSON(out) {
				t.Fatalf("ok false but the text is JSON: %q", out)
			}
			return
		}
		if r := jsonRecoverable(t, out, key); r != "" {
			t.Fatalf("%s survives in %q", r, out)
		}
		if !bytes.Equal(out, data) && jsonRecoverable(t, data, key) == "" && recoverable(string(data), key) == "" {
			t.Fatalf("changed a text without the key:\n%q\n%q", data, out)
		}
	})
}

// BenchmarkScrubForms: the json-mode pass (every form, decoded strings) and the stream
// pass over a 20 KB voice list, beside the plain key's search.
func BenchmarkScrubForms(b *testing.B) {
	body := []byte(strings.Repeat(`{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "description": "a settled, easy voice", "labels": {"accent": "american"}}, `, 160))
	// What encoders write: non-ASCII and HTML characters as \u escapes, '/' as \/.
	escaped := []byte(strings.Repeat(`{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Ren\u00e9e \u003cb\u003e", "url": "https:\/\/x.test\/a", "description": "a \"settled\" voice"}, `, 160))
	// \u escapes of ASCII letters: every string holding one is decoded and searched.
	letters := []byte(strings.Repeat(`{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rach\u0065l Rach\u0065l Rach\u0065l Rach\u0065l", "description": "a \"settled\" voice"}, `, 160))
	s := makeScrubber("sk_3f9a2b7c1d0e4f5a6b7c8d9e0f1a2b3c")
	for _, c := range []struct {
		name string
		run  func([]byte)
	}{
		{"plain-Bytes", func(d []byte) { s.Bytes(d) }},
		{"Forms", func(d []byte) { s.Forms(d) }},
		{"JSON", func(d []byte) { s.JSON(d) }},
	} {
		for _, d := range []struct {
			name string
			data []byte
		}{{"list", body}, {"escaped-list", escaped}, {"letter-escapes", letters}} {
			b.Run(c.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(d.data)))
				b.ReportAllocs()
				for range b.N {
					c.run(d.data)
				}
			})
		}
	}
	// Streams of media: what one or two anchor passes cost (see scrubber.mediaPlan).
	audio := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range audio {
		audio[i] = byte(r.Uint32())
	}
	for _, key := range []string{"el-bench-key", "sk_3f9a2b7c1d0e4f5a6b7c8d9e0f1a2b3c", "bench-provider-key-0123456789"} {
		s := makeScrubber(key)
		b.Run("stream-audio/"+key, func(b *testing.B) {
			w := &scrubWriter{w: io.Discard, s: &s}
			b.SetBytes(int64(len(audio)))
			b.ReportAllocs()
			for range b.N {
				for i := 0; i < len(audio); i += 32 << 10 {
					w.Write(audio[i : i+32<<10])
				}
			}
		})
	}
	b.Run("makeScrubber", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			makeScrubber("sk_3f9a2b7c1d0e4f5a6b7c8d9e0f1a2b3c")
		}
	})
}

// Through the gateway: every form in every mode (arbitrary `\u` escapes in json mode
// only), and upstream_body cut at 8 KiB with the key across the cut.
func TestGatewayScrubsEveryForm(t *testing.T) {
	var body atomic.Value
	var status atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		w.Write(body.Load().([]byte))
	}))
	defer up.Close()
	g := modesGateway(t, up.URL, Config{})
	svc := modesCatalog(t)
	status.Store(200)
	for fi, f := range jsonForms(hexKey) {
		doc := []byte(`{"xi_api_key": "` + f + `", "voices": [{"name": "Rachel \u00e9"}]}`)
		body.Store(doc)
		for _, mode := range []string{"json", "passthrough", "stream"} {
			iv := invokeMode(t, g, svc, mode, hexKey)
			if iv.err != nil {
				t.Fatalf("form %d %s: %v", fi, mode, iv.err)
			}
			got := iv.rec.Body.Bytes()
			if mode == "json" {
				if r := jsonRecoverable(t, got, hexKey); r != "" {
					t.Errorf("form %d json: %s reached the client: %s", fi, r, got)
				}
				if cl := iv.rec.Result().Header.Get("Content-Length"); cl != strconv.Itoa(len(got)) {
					t.Errorf("form %d json: Content-Length %s for %d bytes", fi, cl, len(got))
				}
				continue
			}
			if strings.Contains(f, `\u`) {
				continue // arbitrary escapes are matched in json mode only
			}
			if r := recoverable(string(got), hexKey); r != "" {
				t.Errorf("form %d %s: %s reached the client: %s", fi, mode, r, got)
			}
			if len(got) != len(doc) {
				t.Errorf("form %d %s: %d bytes, want %d", fi, mode, len(got), len(doc))
			}
		}
	}

	status.Store(500)
	for _, f := range []string{hexKey, jsonForms(hexKey)[1], strings.ToUpper(hexKey)} {
		for off := upstreamBodyLimit - len(f) - 2; off <= upstreamBodyLimit+2; off++ {
			body.Store([]byte(`{"error": "` + strings.Repeat("y", off-11) + f + strings.Repeat("z", 100) + `"}`))
			iv := invokeMode(t, g, svc, "json", hexKey)
			_, ub := upstreamFields(t, iv.err)
			text, ok := ub.(string)
			if !ok {
				t.Fatalf("upstream_body is %T, want the cut text", ub)
			}
			checkCut(t, fmt.Sprintf("upstream_body, form at %d", off), text, hexKey, f)
		}
	}
}

// The JSON pass is linear in the text whatever its escapes: a megabyte of escapes in one
// string, of revealing escapes, of tiny strings.
func TestScrubJSONIsLinear(t *testing.T) {
	s := makeScrubber(hexKey)
	for name, doc := range map[string]string{
		"one string of short escapes":  `"` + strings.Repeat(`\n`, 1<<20) + `"`,
		"one string of \\u escapes":    `"` + strings.Repeat(`\u0041`, 1<<18) + `"`,
		"escaped quotes":               `"` + strings.Repeat(`\"`, 1<<20) + `"`,
		"tiny strings":                 `[` + strings.Repeat(`"\u0041",`, 1<<17) + `"x"]`,
		"the key, escaped, many times": `[` + strings.Repeat(`"`+jsonForms(hexKey)[1]+`",`, 1<<12) + `"x"]`,
	} {
		start := time.Now()
		out, ok := s.JSON([]byte(doc))
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: %v", name, took)
		}
		if !ok || jsonRecoverable(t, out, hexKey) != "" {
			t.Errorf("%s: ok %v", name, ok)
		}
	}
}
