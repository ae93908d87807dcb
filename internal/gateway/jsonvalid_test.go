package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

var jsonCases = []string{
	``, ` `, `{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{a:1}`,
	`"x"`, `"\u00e9\n\t\"\\\/"`, `"\u00g0"`, `"\x"`, "\"a\x01\"", "\"\xff\xfe\"", `"unterminated`,
	`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e10`, `1E+2`, `1e`, `1e+`, `-1.25E-3`, `123abc`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `true false`, `1 2`, `{}{}`, `[] `,
	`{"a":[1,2,{"b":null}],"c":"d"}`, `[[[[]]]]`, `[[[]]`, `{"a":{"b":{}}}}`, `{"a" : 1 , "b" : [ true , false ] }`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
	strings.Repeat("[", 9999) + "{}" + strings.Repeat("]", 9999),
	strings.Repeat("[", 10000) + "{}" + strings.Repeat("]", 10000),
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range jsonCases {
		if len(c) < 200 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Errorf("validJSON(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"voices": [`)
	for i := 0; sb.Len() < 20<<10; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "settings": {"stability": 0.5, "speed": 1}, "labels": {"accent": "american"}, "ok": true}`)
	}
	sb.WriteString(`]}`)
	data := []byte(sb.String())
	b.Run("gateway", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			if !validJSON(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}
