package catalog

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPointerLookupAllWildcard(t *testing.T) {
	doc := decode(t, `{
		"video_inputs": [
			{"voice": {"audio_asset_id": "a1"}, "background": {"image_asset_id": "i1"}},
			{"voice": {"type": "text"}},
			{"voice": {"audio_asset_id": null}},
			"not a scene",
			{"voice": {"audio_asset_id": "a2"}}
		],
		"variables": {"b": {"properties": {"asset_id": "vb"}}, "a": {"properties": {"asset_id": "va"}}, "c": 7},
		"grid": [[1, 2], [3]],
		"*": "star",
		"empty": []
	}`)
	tests := []struct {
		pointer string
		want    []any
	}{
		// Every element of an array, in order; elements without the member add nothing, a null one is found.
		{"/video_inputs/*/voice/audio_asset_id", []any{"a1", nil, "a2"}},
		{"/video_inputs/*/background/image_asset_id", []any{"i1"}},
		// Every member of an object, in key order.
		{"/variables/*/properties/asset_id", []any{"va", "vb"}},
		// Wildcards nest.
		{"/grid/*/*", []any{1.0, 2.0, 3.0}},
		{"/grid/*", []any{[]any{1.0, 2.0}, []any{3.0}}},
		// An empty array, a scalar or a missing member under "*" finds nothing.
		{"/empty/*", nil},
		{"/variables/c/*", nil},
		{"/missing/*/id", nil},
		// Without "*", what Lookup finds, or nothing.
		{"/video_inputs/0/voice/audio_asset_id", []any{"a1"}},
		{"/video_inputs/9/voice", nil},
		{"", []any{doc}},
		// At the root, "*" is every member, the member named "*" too, in key order.
		{"/*/*/properties/asset_id", []any{"va", "vb"}},
		{"/*", []any{"star", []any{}, doc.(map[string]any)["grid"], doc.(map[string]any)["variables"], doc.(map[string]any)["video_inputs"]}},
	}
	for _, tt := range tests {
		got := mustPointer(t, tt.pointer).LookupAll(doc)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LookupAll(%q) = %#v, want %#v", tt.pointer, got, tt.want)
		}
	}
	// Lookup keeps RFC 6901's reading: "*" is a member's name.
	if v, ok := mustPointer(t, "/*").Lookup(doc); !ok || v != "star" {
		t.Errorf(`Lookup("/*") = %v, %v; want the member named "*"`, v, ok)
	}
	if _, ok := mustPointer(t, "/video_inputs/*").Lookup(doc); ok {
		t.Error(`Lookup("/video_inputs/*") found something in an array`)
	}
	for p, want := range map[string]bool{"/a/*/b": true, "/*": true, "/a~1*": false, "/a*": false, "": false} {
		if got := mustPointer(t, p).HasWildcard(); got != want {
			t.Errorf("HasWildcard(%q) = %v", p, got)
		}
	}
}

func TestJobRefIDs(t *testing.T) {
	body := decode(t, `{"video_id": "v1", "ids": ["a", 7, "", null, {"x": 1}, true, ["nested"]], "n": 12345678901,
		"scenes": [{"asset_id": "s1"}, {"asset_id": ["s2", "s3"]}], "none": null, "obj": {"id": "x"},
		"image_key": "image/abc123/original", "other_key": "video/abc123/original"}`)
	query := url.Values{"video_id": {"q1", "", "q2"}}
	path := map[string]string{"voice_id": "p1", "empty": ""}
	ref := func(in, where string, pattern ...string) *JobRef {
		r := &JobRef{In: in, Name: where}
		if in == JobRefBody {
			r.Name, r.Pointer = "", mustPointer(t, where)
		}
		if len(pattern) > 0 {
			r.Prefix, r.Suffix, _ = strings.Cut(pattern[0], "{id}")
		}
		return r
	}
	tests := []struct {
		name string
		ref  *JobRef
		want []string
	}{
		{"every non-empty query value", ref(JobRefQuery, "video_id"), []string{"q1", "q2"}},
		{"absent query parameter", ref(JobRefQuery, "other"), nil},
		{"path placeholder", ref(JobRefPath, "voice_id"), []string{"p1"}},
		{"empty path placeholder", ref(JobRefPath, "empty"), nil},
		{"body string", ref(JobRefBody, "/video_id"), []string{"v1"}},
		{"body number as decimal text", ref(JobRefBody, "/n"), []string{"12345678901"}},
		{"body array: ids element by element, the rest nothing", ref(JobRefBody, "/ids"), []string{"a", "7"}},
		{"wildcard, and an array found under it", ref(JobRefBody, "/scenes/*/asset_id"), []string{"s1", "s2", "s3"}},
		{"null", ref(JobRefBody, "/none"), nil},
		{"object", ref(JobRefBody, "/obj"), nil},
		{"absent", ref(JobRefBody, "/missing"), nil},
		{"pattern: the id inside", ref(JobRefBody, "/image_key", "image/{id}/original"), []string{"abc123"}},
		{"pattern: another form is taken whole", ref(JobRefBody, "/other_key", "image/{id}/original"), []string{"video/abc123/original"}},
		{"pattern: the bare form names no empty id", &JobRef{In: JobRefQuery, Name: "k", Prefix: "image/", Suffix: "/original"}, []string{"image//original"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query
			if tt.ref.Name == "k" {
				q = url.Values{"k": {"image//original"}}
			}
			if got := tt.ref.IDs(q, path, body); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("IDs = %q, want %q", got, tt.want)
			}
		})
	}
	if got := ref(JobRefBody, "/video_id").IDs(nil, nil, nil); got != nil {
		t.Errorf("no body: %q", got)
	}
	// json.Number (a decoder with UseNumber) keeps the number's text.
	if got := ref(JobRefBody, "/id").IDs(nil, nil, map[string]any{"id": json.Number("9007199254740993")}); !slices.Equal(got, []string{"9007199254740993"}) {
		t.Errorf("json.Number: %q", got)
	}
}

func TestMeterCompleted(t *testing.T) {
	if !(Meter{}).Completed(decode(t, `{"status": "dubbing"}`)) {
		t.Error("a meter without completed_when: every answer is completed")
	}
	m := Meter{CompletedWhen: &Condition{Pointer: mustPointer(t, "/data/status"), Equals: []string{"completed", "success"}}}
	for answer, want := range map[string]bool{
		`{"data": {"status": "completed", "duration": 12.5}}`:  true,
		`{"data": {"status": "success"}}`:                      true,
		`{"data": {"status": "processing", "duration": 12.5}}`: false,
		`{"data": {"status": "failed", "duration": 12.5}}`:     false,
		`{"data": {"status": "Completed"}}`:                    false,
		`{"data": {"status": null}}`:                           false,
		`{"data": {"status": ["completed"]}}`:                  false,
		`{"data": {}}`:                                         false,
		`{"status": "completed"}`:                              false,
		`[]`:                                                   false,
	} {
		if got := m.Completed(decode(t, answer)); got != want {
			t.Errorf("Completed(%s) = %v, want %v", answer, got, want)
		}
	}
	// Numbers and booleans match by their JSON text.
	n := Meter{CompletedWhen: &Condition{Pointer: mustPointer(t, "/done"), Equals: []string{"true", "2"}}}
	for answer, want := range map[string]bool{`{"done": true}`: true, `{"done": false}`: false, `{"done": 2}`: true, `{"done": 2.5}`: false} {
		if got := n.Completed(decode(t, answer)); got != want {
			t.Errorf("Completed(%s) = %v, want %v", answer, got, want)
		}
	}
	if !n.Completed(map[string]any{"done": json.Number("2")}) {
		t.Error("json.Number 2 does not match \"2\"")
	}
}

// TestBuiltinDubbingIsMeteredOnlyOnceDubbed: ElevenLabs states a dubbing's media length while
// it is still dubbing and when it failed; only a dubbed one's is counted.
func TestBuiltinDubbingIsMeteredOnlyOnceDubbed(t *testing.T) {
	m := mustBuiltin(t).Service("elevenlabs").Endpoint("create-dubbing").Meter
	for status, want := range map[string]bool{"dubbing": false, "failed": false, "dubbed": true} {
		answer := decode(t, `{"dubbing_id": "d1", "status": "`+status+`", "media_metadata": {"content_type": "audio/mpeg", "duration": 60}}`)
		if got := m.Completed(answer); got != want {
			t.Errorf("status %s: Completed = %v, want %v", status, got, want)
		}
	}
}
