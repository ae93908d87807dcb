package catalog

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustPointer(t testing.TB, s string) *Pointer {
	t.Helper()
	p, err := ParsePointer(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rfc6901Doc is the example document of RFC 6901 §5.
const rfc6901Doc = `{"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4,
	"i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8}`

func TestPointerLookupRFC6901Examples(t *testing.T) {
	doc := decode(t, rfc6901Doc)
	tests := []struct {
		pointer string
		want    any
	}{
		{"", doc},
		{"/foo", []any{"bar", "baz"}},
		{"/foo/0", "bar"},
		{"/", 0.0},
		{"/a~1b", 1.0},
		{"/c%d", 2.0},
		{"/e^f", 3.0},
		{"/g|h", 4.0},
		{`/i\j`, 5.0},
		{`/k"l`, 6.0},
		{"/ ", 7.0},
		{"/m~0n", 8.0},
	}
	for _, tt := range tests {
		got, ok := mustPointer(t, tt.pointer).Lookup(doc)
		if !ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q) = %v, %v; want %v", tt.pointer, got, ok, tt.want)
		}
	}
}

func TestPointerLookup(t *testing.T) {
	doc := decode(t, `{"data": {"videos": [{"video_id": "v1"}, {"video_id": "v2"}], "token": null,
		"total": 2, "n": 3.5, "~1": "tilde-one", "/": "slash"}, "ids": ["a", "b"], "list": []}`)
	tests := []struct {
		name, pointer string
		want          any
		found         bool
	}{
		{"nested member", "/data/videos/1/video_id", "v2", true},
		{"first element", "/ids/0", "a", true},
		{"null member is found", "/data/token", nil, true},
		{"number", "/data/total", 2.0, true},
		{"~01 is ~1, not /", "/data/~01", "tilde-one", true},
		{"~1 is /", "/data/~1", "slash", true},
		{"missing member", "/data/videoz", nil, false},
		{"missing deep member", "/data/videos/0/title", nil, false},
		{"index past the end", "/ids/2", nil, false},
		{"index into an empty array", "/list/0", nil, false},
		{"dash is past the end", "/ids/-", nil, false},
		{"leading zero", "/ids/01", nil, false},
		{"negative index", "/ids/-1", nil, false},
		{"index with a sign", "/ids/+1", nil, false},
		{"index too large for int", "/ids/99999999999999999999999", nil, false},
		{"member name on an array", "/ids/first", nil, false},
		{"empty token on an array", "/ids/", nil, false},
		{"through a string", "/ids/0/x", nil, false},
		{"through a number", "/data/total/x", nil, false},
		{"through null", "/data/token/x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := mustPointer(t, tt.pointer).Lookup(doc)
			if ok != tt.found || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.pointer, got, ok, tt.want, tt.found)
			}
		})
	}
}

func TestPointerLookupOnScalarsAndNil(t *testing.T) {
	for _, v := range []any{nil, "s", 1.0, true} {
		if got, ok := mustPointer(t, "/a").Lookup(v); ok {
			t.Errorf("Lookup(/a) in %#v = %v, found", v, got)
		}
		if got, ok := mustPointer(t, "").Lookup(v); !ok || got != v {
			t.Errorf(`Lookup("") in %#v = %v, %v`, v, got, ok)
		}
	}
}

func TestParsePointerRejects(t *testing.T) {
	tests := []struct{ pointer, want string }{
		{"data/video_id", "must be empty or start with /"},
		{"#/data", "must be empty or start with /"},
		{"/data/a~", "~ must be followed by 0 or 1"},
		{"/data/~2", "~ must be followed by 0 or 1"},
		{"/~/x", "~ must be followed by 0 or 1"},
	}
	for _, tt := range tests {
		p, err := ParsePointer(tt.pointer)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePointer(%q) = %v, %v; want an error containing %q", tt.pointer, p, err, tt.want)
		}
	}
}

func TestPointerStringAndIsRoot(t *testing.T) {
	for _, s := range []string{"", "/", "/data/video_id", "/a~1b/m~0n/0"} {
		p := mustPointer(t, s)
		if p.String() != s {
			t.Errorf("String() = %q, want %q", p.String(), s)
		}
		if p.IsRoot() != (s == "") {
			t.Errorf("%q: IsRoot() = %v", s, p.IsRoot())
		}
	}
}

func TestPointerDelete(t *testing.T) {
	tests := []struct {
		name, pointer string
		deleted       bool
		after         string
	}{
		{"member", "/data/token", true, `{"data": {"videos": [{"id": "a"}], "total": 1}, "has_more": true}`},
		{"top-level member", "/has_more", true, `{"data": {"videos": [{"id": "a"}], "token": "t", "total": 1}}`},
		{"member inside an array element", "/data/videos/0/id", true, `{"data": {"videos": [{}], "token": "t", "total": 1}, "has_more": true}`},
		{"missing member", "/data/next", false, ""},
		{"missing parent", "/meta/token", false, ""},
		{"array element", "/data/videos/0", false, ""},
		{"whole document", "", false, ""},
	}
	const before = `{"data": {"videos": [{"id": "a"}], "token": "t", "total": 1}, "has_more": true}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decode(t, before)
			if got := mustPointer(t, tt.pointer).Delete(doc); got != tt.deleted {
				t.Fatalf("Delete(%q) = %v, want %v", tt.pointer, got, tt.deleted)
			}
			want := decode(t, before)
			if tt.deleted {
				want = decode(t, tt.after)
			}
			if !reflect.DeepEqual(doc, want) {
				t.Errorf("after Delete(%q): %v, want %v", tt.pointer, doc, want)
			}
		})
	}
}

func TestCreatedJobIDs(t *testing.T) {
	endpoint := func(pointers ...string) *Endpoint {
		e := &Endpoint{Slug: "create-thing"}
		for _, s := range pointers {
			e.CreatesJob = append(e.CreatesJob, mustPointer(t, s))
		}
		return e
	}
	tests := []struct {
		name     string
		pointers []string
		answer   string
		want     []string
		err      string
	}{
		{"string", []string{"/data/video_id"}, `{"data": {"video_id": "abc"}}`, []string{"abc"}, ""},
		{"integer as decimal text", []string{"/id"}, `{"id": 12345678901}`, []string{"12345678901"}, ""},
		{"array of ids", []string{"/data/ids"}, `{"data": {"ids": ["a", "b", 7]}}`, []string{"a", "b", "7"}, ""},
		{"several pointers, in order", []string{"/b", "/a"}, `{"a": "1", "b": "2"}`, []string{"2", "1"}, ""},
		{"missing adds nothing", []string{"/data/video_id", "/id"}, `{"id": "x"}`, []string{"x"}, ""},
		{"null adds nothing", []string{"/data/group/id", "/data/group"}, `{"data": {"group": null}}`, nil, ""},
		{"object is an error", []string{"/data"}, `{"data": {"id": "x"}}`, nil, `creates_job "/data": map[string]interface {} is not an id`},
		{"boolean is an error", []string{"/ok"}, `{"ok": true}`, nil, "bool is not an id"},
		{"empty string is an error", []string{"/id"}, `{"id": ""}`, nil, "string is not an id"},
		{"array holding an object is an error", []string{"/ids"}, `{"ids": ["a", {}]}`, []string{"a"}, "is not an id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := endpoint(tt.pointers...).CreatedJobIDs(decode(t, tt.answer))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error = %v, want %q", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %q, want %q", got, tt.want)
			}
		})
	}

	// json.Number (a decoder with UseNumber) keeps the number's text.
	got, err := endpoint("/id").CreatedJobIDs(map[string]any{"id": json.Number("9007199254740993")})
	if err != nil || len(got) != 1 || got[0] != "9007199254740993" {
		t.Errorf("json.Number: %q, %v", got, err)
	}
}

func TestPointerSetReplacesAnExistingMemberOrElementOnly(t *testing.T) {
	doc := map[string]any{"data": map[string]any{"videos": []any{"a", "b"}}, "n": 1.0}
	mustParse := func(s string) *Pointer {
		p, err := ParsePointer(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if !mustParse("/data/videos").Set(doc, []any{"b"}) {
		t.Fatal("Set /data/videos failed")
	}
	if v, _ := mustParse("/data/videos/0").Lookup(doc); v != "b" {
		t.Fatalf("after Set: %v", v)
	}
	if !mustParse("/data/videos/0").Set(doc, "c") {
		t.Fatal("Set of an array element failed")
	}
	for _, p := range []string{"", "/missing", "/data/videos/5", "/n/x"} {
		if mustParse(p).Set(doc, 0) {
			t.Errorf("Set %q reported success", p)
		}
	}
}

// TestPointerLookupRawFindsWhatLookupFinds: on raw JSON, LookupRaw names the same value
// as Lookup on the decoded document, and nothing where Lookup finds nothing.
func TestPointerLookupRawFindsWhatLookupFinds(t *testing.T) {
	doc := []byte(` {"text": "héllo", "a": {"b": [10, {"c~d": null}, "x/y"]}, "e": {"": 1}, "dup": 1, "dup": 2}`)
	var decoded any
	if err := json.Unmarshal(doc, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, ptr := range []string{"", "/text", "/a", "/a/b", "/a/b/0", "/a/b/1/c~0d", "/a/b/2", "/e/", "/dup",
		"/missing", "/a/b/3", "/a/b/-", "/a/b/01", "/text/0", "/a/b/1/c~1d"} {
		p, err := ParsePointer(ptr)
		if err != nil {
			t.Fatalf("%q: %v", ptr, err)
		}
		want, wantOK := p.Lookup(decoded)
		raw, ok := p.LookupRaw(doc)
		if ok != wantOK {
			t.Errorf("%q: LookupRaw found %v, Lookup %v", ptr, ok, wantOK)
			continue
		}
		if !ok {
			continue
		}
		var got any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Errorf("%q: %v", ptr, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: LookupRaw %s, Lookup %v", ptr, raw, want)
		}
	}
}

// FuzzPointerLookupRaw: on any valid JSON document, LookupRaw finds what Lookup finds on
// the decoded document, and on anything else it does not panic.
func FuzzPointerLookupRaw(f *testing.F) {
	f.Add(`{"text": "hé\"llo", "a": [1, {"b": null}]}`, "/text")
	f.Add(`{"a": [1, {"b": null}], "a": {"x": "y"}}`, "/a/x")
	f.Add(`[[], {}, "x", -1.5e3, true]`, "/3")
	f.Add(`{"k\u0065y": {"~/": 1}}`, "/key/~0~1")
	f.Fuzz(func(t *testing.T, doc, ptr string) {
		p, err := ParsePointer(ptr)
		if err != nil {
			return
		}
		raw, ok := p.LookupRaw([]byte(doc))
		var decoded any
		if json.Unmarshal([]byte(doc), &decoded) != nil {
			return
		}
		want, wantOK := p.Lookup(decoded)
		if ok != wantOK {
			t.Fatalf("%q in %q: LookupRaw found %v, Lookup %v", ptr, doc, ok, wantOK)
		}
		if !ok {
			return
		}
		var got any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%q in %q: LookupRaw gave %q: %v", ptr, doc, raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q in %q: LookupRaw %s, Lookup %v", ptr, doc, raw, want)
		}
	})
}
