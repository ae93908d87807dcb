package catalog

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

func TestLoadRealtimeEndpoint(t *testing.T) {
	c, err := Load(files("acme.yaml", header+okEndpoint+`  - slug: live
    method: GET
    path: /v1/live/{room_id}
    transport: websocket
    request_mode: raw
    response_mode: passthrough
    query: [model_id, format]
    credential_fields: [api_key]
    meter: {characters: /text}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Service("acme").Endpoint("live")
	if !e.WebSocket() || !slices.Equal(e.Query, []string{"model_id", "format"}) || !slices.Equal(e.CredentialFields, []string{"api_key"}) {
		t.Errorf("endpoint = %+v", e)
	}
	if got := c.Service("acme").Endpoint("get-thing").Transport; got != TransportHTTP {
		t.Errorf("default transport = %q", got)
	}
}

func TestLoadRealtimeRefusals(t *testing.T) {
	for _, tc := range []struct{ name, ep, want string }{
		{"unknown transport", "transport: pigeon\n    query: [a]", `unknown transport "pigeon"`},
		{"query on http", "query: [a]", "query and credential_fields need transport websocket"},
		{"credential_fields on http", "credential_fields: [a]", "query and credential_fields need transport websocket"},
		{"not GET", "transport: websocket\n    method: POST", "transport websocket needs method GET"},
		{"a body", "transport: websocket\n    request_mode: json", "transport websocket needs request_mode raw"},
		{"query names a path parameter", "transport: websocket\n    query: [room_id]", `query names "room_id", a path parameter`},
		{"query names token", "transport: websocket\n    query: [token]", `query must not name "token"`},
		{"query twice", "transport: websocket\n    query: [a, a]", `query names "a" twice`},
		{"empty name", "transport: websocket\n    credential_fields: [\" \"]", "empty name in query or credential_fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Later keys of a YAML mapping may not repeat: the case's lines replace the defaults.
			fields := map[string]string{"method": "GET", "request_mode": "raw"}
			var extra []string
			for _, line := range strings.Split(tc.ep, "\n") {
				line = strings.TrimSpace(line)
				k, v, _ := strings.Cut(line, ": ")
				if _, ok := fields[k]; ok {
					fields[k] = v
				} else {
					extra = append(extra, "    "+line)
				}
			}
			ep := "  - slug: live\n    method: " + fields["method"] + "\n    path: /v1/live/{room_id}\n    request_mode: " +
				fields["request_mode"] + "\n    response_mode: passthrough\n" + strings.Join(extra, "\n") + "\n"
			_, err := Load(files("acme.yaml", header+ep))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// audioEndpoint is a websocket action metered in seconds of audio, with meter lines
// replaced by the case's.
func audioEndpoint(transport, query, audio string) string {
	return "  - slug: listen\n    method: GET\n    path: /v1/listen\n" + transport +
		"    request_mode: raw\n    response_mode: passthrough\n" + query +
		"    meter:\n      audio_seconds:\n" + audio
}

const okAudioMeter = `        pointer: /audio_base_64
        sample_rate_pointer: /sample_rate
        format_query: audio_format
        default_format: pcm_16000
        formats:
          pcm_16000: {sample_rate: 16000, bytes_per_sample: 2}
          pcm_8000: {sample_rate: 8000, bytes_per_sample: 2}
          ulaw_8000: {sample_rate: 8000, bytes_per_sample: 1}
`

func TestLoadRealtimeAudioMeter(t *testing.T) {
	c, err := Load(files("acme.yaml", header+
		audioEndpoint("    transport: websocket\n", "    query: [audio_format]\n", okAudioMeter)))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Service("acme").Endpoint("listen")
	m := e.Meter.AudioSeconds
	if m == nil || m.Pointer.String() != "/audio_base_64" || m.SampleRatePointer.String() != "/sample_rate" ||
		m.FormatQuery != "audio_format" || m.DefaultFormat != "pcm_16000" ||
		m.Formats["ulaw_8000"] != (AudioFormat{SampleRate: 8000, BytesPerSample: 1}) {
		t.Fatalf("meter = %+v", m)
	}
	if e.SessionSeconds() {
		t.Error("a session metered in seconds of audio is not metered in session seconds")
	}
	if got := m.FormatNames(); !slices.Equal(got, []string{"pcm_8000", "pcm_16000", "ulaw_8000"}) {
		t.Errorf("FormatNames = %v", got)
	}
	for _, tc := range []struct {
		query, want, err string
	}{
		{"", "pcm_16000", ""},
		{"audio_format=ulaw_8000", "ulaw_8000", ""},
		{"audio_format=mp3", "", "Unknown value 'mp3' of query parameter 'audio_format'; accepted values: pcm_8000, pcm_16000, ulaw_8000."},
		{"audio_format=pcm_8000&audio_format=pcm_16000", "", "Query parameter 'audio_format' must be given once."},
	} {
		q, _ := url.ParseQuery(tc.query)
		name, _, err := m.Format(q)
		if name != tc.want || (err == nil) != (tc.err == "") ||
			err != nil && (aiproxy.ErrorCode(err) != aiproxy.EINVALID || !strings.Contains(err.Error(), "message="+tc.err)) {
			t.Errorf("Format(%s) = %q, %v; want %q, %q", tc.query, name, err, tc.want, tc.err)
		}
	}
}

func TestLoadRealtimeAudioMeterRefusals(t *testing.T) {
	const ws, q = "    transport: websocket\n", "    query: [audio_format]\n"
	replace := func(old, new string) string { return strings.Replace(okAudioMeter, old, new, 1) }
	for _, tc := range []struct{ name, ep, want string }{
		{"on an http action", audioEndpoint("", "", okAudioMeter), "meter: audio_seconds: needs transport websocket"},
		{"no pointer", audioEndpoint(ws, q, replace("        pointer: /audio_base_64\n", "")), "meter: audio_seconds: missing pointer"},
		{"the whole message", audioEndpoint(ws, q, replace("pointer: /audio_base_64", `pointer: ""`)), `meter: audio_seconds: missing pointer`},
		{"a bad pointer", audioEndpoint(ws, q, replace("pointer: /audio_base_64", "pointer: audio")), "meter: audio_seconds: pointer:"},
		{"a bad rate pointer", audioEndpoint(ws, q, replace("sample_rate_pointer: /sample_rate", "sample_rate_pointer: /a/*")), `meter: audio_seconds: sample_rate_pointer: "/a/*"`},
		{"format_query not allowed", audioEndpoint(ws, "    query: [model_id]\n", okAudioMeter), `meter: audio_seconds: format_query "audio_format" is not in query`},
		{"unknown default", audioEndpoint(ws, q, replace("default_format: pcm_16000", "default_format: mp3")), `meter: audio_seconds: default_format "mp3" is not in formats`},
		{"no way to choose", audioEndpoint(ws, q, replace("        format_query: audio_format\n        default_format: pcm_16000\n", "")), "meter: audio_seconds: needs format_query"},
		{"no formats", audioEndpoint(ws, q, strings.Split(okAudioMeter, "        formats:")[0]), "meter: audio_seconds: missing formats"},
		{"a zero rate", audioEndpoint(ws, q, replace("sample_rate: 8000, bytes_per_sample: 1", "sample_rate: 0, bytes_per_sample: 1")), "meter: audio_seconds: formats: ulaw_8000: sample_rate and bytes_per_sample must be above 0"},
		{"an unknown field", audioEndpoint(ws, q, replace("pointer: /audio_base_64", "pointer: /audio_base_64\n        field: /x")), "field field not found"},
		{"with characters", audioEndpoint(ws, q, okAudioMeter) + "      characters: /text\n", "meter: audio_seconds: is a session's only meter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(files("acme.yaml", header+tc.ep))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), `endpoint "listen"`) && !strings.Contains(tc.want, "not found") {
				t.Errorf("error %v does not name the action", err)
			}
		})
	}
}
