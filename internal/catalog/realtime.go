package catalog

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// Transport is how a client reaches an action: an HTTP invoke (POST …/{action}/) or a
// WebSocket relay (GET …/realtime/{action}/, docs/realtime.md).
type Transport string

const (
	TransportHTTP      Transport = "http"      // the default
	TransportWebSocket Transport = "websocket" // a WebSocket session the gateway relays
)

// WebSocket reports whether the action is a realtime (WebSocket) one.
func (e *Endpoint) WebSocket() bool { return e.Transport == TransportWebSocket }

// buildRealtime reads and checks transport, query and credential_fields: a websocket
// action is a GET with a raw request; query (the query parameters a client may pass on)
// and credential_fields (the members of a client's JSON message the gateway removes,
// since it sends the provider key itself) belong to websocket actions only.
func buildRealtime(e *Endpoint, ef *endpointFile, fail func(format string, args ...any)) {
	e.Transport = Transport(ef.Transport)
	if e.Transport == "" {
		e.Transport = TransportHTTP
	}
	e.Query = ef.Query
	e.CredentialFields = ef.CredentialFields
	switch e.Transport {
	case TransportHTTP:
		if len(e.Query) > 0 || len(e.CredentialFields) > 0 {
			fail("query and credential_fields need transport websocket")
		}
	case TransportWebSocket:
		if e.HTTPMethod != "" && e.HTTPMethod != "GET" {
			fail("transport websocket needs method GET, got %q", e.HTTPMethod)
		}
		if e.RequestMode != "" && e.RequestMode != RequestRaw {
			fail("transport websocket needs request_mode raw")
		}
		if e.CallbackMode != CallbackNone || len(ef.CreatesJob) > 0 || ef.JobStatus != nil {
			fail("transport websocket takes no jobs")
		}
	default:
		fail("unknown transport %q (want http or websocket)", ef.Transport)
	}
	seen := map[string]bool{}
	for _, list := range [][]string{e.Query, e.CredentialFields} {
		for _, v := range list {
			if strings.TrimSpace(v) == "" {
				fail("empty name in query or credential_fields")
			}
		}
	}
	for _, q := range e.Query {
		if seen[q] {
			fail("query names %q twice", q)
		}
		seen[q] = true
		if e.Path != nil {
			for _, p := range e.Path.Params() {
				if p == q {
					fail("query names %q, a path parameter", q)
				}
			}
		}
		if q == "token" {
			fail("query must not name \"token\": the gateway reads it (browser tokens)")
		}
	}
	if ef.Meter != nil && ef.Meter.AudioSeconds != nil {
		e.Meter.AudioSeconds = buildAudioMeter(e, ef.Meter, fail)
	}
}

// SessionSeconds reports whether a websocket action is metered in seconds of session (each
// second begun counts): one whose meter counts nothing in the client's messages.
func (e *Endpoint) SessionSeconds() bool {
	return e.WebSocket() && e.Meter.Characters == nil && e.Meter.AudioSeconds == nil
}

// AudioMeter meters a websocket action by the seconds of audio its client sends
// (docs/realtime.md, "Usage and budgets"): every JSON message may carry base64 audio at
// Pointer, in the encoding the session's FormatQuery parameter names (DefaultFormat when
// the client does not name one). A chunk lasts its decoded bytes / (BytesPerSample ×
// SampleRate) seconds.
type AudioMeter struct {
	Pointer *Pointer // the base64 audio in a client's JSON message
	// SampleRatePointer, when set, is where a message may state a sample rate of its own: a
	// rate below its format's is taken for that message (the longer duration, since the
	// provider may believe either).
	SampleRatePointer *Pointer
	FormatQuery       string // the query parameter naming the encoding; "": always DefaultFormat
	DefaultFormat     string // the encoding when the query does not name one; "": the query must
	Formats           map[string]AudioFormat
}

// AudioFormat is one encoding an AudioMeter knows: PCM-like, a fixed size a sample.
type AudioFormat struct {
	SampleRate     int64 // samples a second
	BytesPerSample int64
}

// FormatNames returns the encodings' names by their text before the last "_", then by the
// number after it (pcm_8000 before pcm_16000, ulaw_8000 after pcm_48000).
func (m *AudioMeter) FormatNames() []string {
	names := make([]string, 0, len(m.Formats))
	for n := range m.Formats {
		names = append(names, n)
	}
	split := func(n string) (string, int64, bool) {
		i := strings.LastIndexByte(n, '_')
		if i < 0 {
			return n, 0, false
		}
		v, err := strconv.ParseInt(n[i+1:], 10, 64)
		return n[:i], v, err == nil
	}
	slices.SortFunc(names, func(a, b string) int {
		pa, va, oka := split(a)
		pb, vb, okb := split(b)
		if pa != pb || !oka || !okb {
			return strings.Compare(a, b)
		}
		return cmp.Compare(va, vb)
	})
	return names
}

// Format returns the encoding a session's query names: refused (400) when the query
// names it twice, names one the meter does not know, or names none and there is no
// default.
func (m *AudioMeter) Format(q url.Values) (string, AudioFormat, error) {
	name := m.DefaultFormat
	if m.FormatQuery != "" {
		switch vs := q[m.FormatQuery]; {
		case len(vs) > 1:
			return "", AudioFormat{}, aiproxy.Errorf(aiproxy.EINVALID, "Query parameter '%s' must be given once.", m.FormatQuery)
		case len(vs) == 1:
			name = vs[0]
		}
	}
	f, ok := m.Formats[name]
	switch {
	case ok:
		return name, f, nil
	case name == "":
		return "", AudioFormat{}, aiproxy.Errorf(aiproxy.EINVALID, "Query parameter '%s' is required; accepted values: %s.",
			m.FormatQuery, strings.Join(m.FormatNames(), ", "))
	}
	return "", AudioFormat{}, aiproxy.Errorf(aiproxy.EINVALID, "Unknown value '%s' of query parameter '%s'; accepted values: %s.",
		name, m.FormatQuery, strings.Join(m.FormatNames(), ", "))
}

// audioMeterFile is meter.audio_seconds as a catalog file writes it.
type audioMeterFile struct {
	Pointer           string                     `yaml:"pointer"`
	SampleRatePointer string                     `yaml:"sample_rate_pointer"`
	FormatQuery       string                     `yaml:"format_query"`
	DefaultFormat     string                     `yaml:"default_format"`
	Formats           map[string]audioFormatFile `yaml:"formats"`
}

type audioFormatFile struct {
	SampleRate     int64 `yaml:"sample_rate"`
	BytesPerSample int64 `yaml:"bytes_per_sample"`
}

// buildAudioMeter converts and checks meter.audio_seconds (e's transport and query set):
// a websocket action's only meter, a pointer to the audio, known formats, and a way to
// choose one.
func buildAudioMeter(e *Endpoint, mf *meterFile, fail func(format string, args ...any)) *AudioMeter {
	const block = "meter: audio_seconds"
	af := mf.AudioSeconds
	ok := true
	bad := func(format string, args ...any) {
		ok = false
		fail(block+": "+format, args...)
	}
	badPointer := func(format string, args ...any) { ok = false; fail(format, args...) } // valuePointer names the block
	if !e.WebSocket() {
		bad("needs transport websocket: it reads the audio in a session's client messages")
	}
	if mf.Characters != nil || mf.Seconds != nil || mf.OutputSeconds != nil || mf.CompletedWhen != nil {
		bad("is a session's only meter: not with characters, seconds or output_seconds")
	}
	m := &AudioMeter{FormatQuery: af.FormatQuery, DefaultFormat: af.DefaultFormat, Formats: map[string]AudioFormat{}}
	if af.Pointer == "" {
		bad("missing pointer (where a client message carries its base64 audio)")
	} else if m.Pointer = valuePointer(block, "pointer", af.Pointer, badPointer); m.Pointer == nil {
		ok = false
	}
	if af.SampleRatePointer != "" {
		if m.SampleRatePointer = valuePointer(block, "sample_rate_pointer", af.SampleRatePointer, badPointer); m.SampleRatePointer == nil {
			ok = false
		}
	}
	if len(af.Formats) == 0 {
		bad("missing formats (each encoding's sample_rate and bytes_per_sample)")
	}
	for name, f := range af.Formats {
		switch {
		case strings.TrimSpace(name) == "":
			bad("formats: an empty name")
		case f.SampleRate <= 0 || f.BytesPerSample <= 0:
			bad("formats: %s: sample_rate and bytes_per_sample must be above 0", name)
		default:
			m.Formats[name] = AudioFormat(f)
		}
	}
	switch {
	case af.FormatQuery == "" && af.DefaultFormat == "":
		bad("needs format_query (the query parameter naming the encoding) or default_format")
	case af.FormatQuery != "" && !slices.Contains(e.Query, af.FormatQuery):
		bad("format_query %q is not in query (the parameters a client may pass on)", af.FormatQuery)
	}
	if _, known := af.Formats[af.DefaultFormat]; af.DefaultFormat != "" && !known {
		bad("default_format %q is not in formats", af.DefaultFormat)
	}
	if !ok {
		return nil
	}
	return m
}
