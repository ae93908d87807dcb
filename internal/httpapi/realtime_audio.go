package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// Seconds of audio (docs/realtime.md, "Usage and budgets"): an action whose catalog meter is
// audio_seconds (stt-realtime) is metered by the audio its client sends. Each JSON message
// may carry base64 audio at the meter's pointer, in the encoding the session's query names;
// a chunk lasts its decoded bytes / (bytes a sample × sample rate) seconds. The session
// adds the chunks up exactly (a rational number of seconds, never rounded per chunk) and
// takes from the budget each whole second as the audio begins it, before the message that
// begins it is forwarded: a session that sent 2.5 s counts 3. A message the gateway cannot
// measure is not forwarded (audio it cannot count would escape the budget): the client is
// closed with 1007 (not a JSON object, audio not a base64 string) or 1003 (a binary
// message), the provider with 1000.

// audioFormat resolves the encoding of a session of ep metered in seconds of audio, from
// its query (400 before the upgrade when it is unknown); when the client does not name
// it, the default is added to the provider's query, so that the provider hears the audio
// as the gateway counts it. nil for another action.
func audioFormat(ep *catalog.Endpoint, query url.Values) (*audioMeter, url.Values, error) {
	m := ep.Meter.AudioSeconds
	if m == nil {
		return nil, query, nil
	}
	name, f, err := m.Format(query)
	if err != nil {
		return nil, query, err
	}
	if m.FormatQuery != "" && len(query[m.FormatQuery]) == 0 {
		q := make(url.Values, len(query)+1)
		for k, v := range query {
			q[k] = v
		}
		q.Set(m.FormatQuery, name)
		query = q
	}
	return &audioMeter{m: m, format: f}, query, nil
}

// audioMeter counts the audio one session's client sent. Only the client's pump uses it.
type audioMeter struct {
	m      *catalog.AudioMeter
	format catalog.AudioFormat
	sent   big.Rat // seconds of audio forwarded
	taken  int64   // whole seconds taken: ⌈sent⌉
	buf    []byte  // decoded audio, reused
}

// audioChunk is what one message adds: the session's audio once it is forwarded, and the
// whole seconds to take first.
type audioChunk struct {
	sent    big.Rat
	seconds int64
}

func (c *audioChunk) units() aiproxy.Units {
	if c == nil || c.seconds == 0 {
		return nil
	}
	return aiproxy.Units{aiproxy.UnitSeconds: c.seconds}
}

// measure reads the audio of a client's text message; ok false when it cannot be measured
// (stop says how the session ends).
func (a *audioMeter) measure(data []byte) (c *audioChunk, stop closing, ok bool) {
	invalid := func(reason string) (*audioChunk, closing, bool) {
		return nil, closing{client: websocket.StatusInvalidFramePayloadData, clientReason: reason,
			upstream: websocket.StatusNormalClosure, upstreamReason: "invalid client message"}, false
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(data) {
		return invalid("invalid message: not a JSON object")
	}
	c = &audioChunk{}
	c.sent.Set(&a.sent)
	raw, found := a.m.Pointer.LookupRaw(data)
	if !found || string(raw) == "null" {
		return c, closing{}, true // no audio
	}
	var b64 string
	if json.Unmarshal(raw, &b64) != nil {
		return invalid("invalid message: " + a.m.Pointer.Last() + " is not a string")
	}
	if cap(a.buf) < base64.StdEncoding.DecodedLen(len(b64)) {
		a.buf = make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	}
	n, err := base64.StdEncoding.Decode(a.buf[:cap(a.buf)], []byte(b64))
	if err != nil {
		return invalid("invalid message: " + a.m.Pointer.Last() + " is not base64")
	}
	if n == 0 {
		return c, closing{}, true
	}
	rate := a.format.SampleRate
	if p := a.m.SampleRatePointer; p != nil {
		// A rate the message states, when lower, makes the chunk longer: the provider
		// may hear it so.
		var stated int64
		if r, found := p.LookupRaw(data); found && json.Unmarshal(r, &stated) == nil && stated > 0 && stated < rate {
			rate = stated
		}
	}
	c.sent.Add(&c.sent, big.NewRat(int64(n), a.format.BytesPerSample*rate))
	c.seconds = ceilRat(&c.sent) - a.taken
	return c, closing{}, true
}

// forwarded records c's audio as sent, its seconds taken (nil: nothing to record).
func (a *audioMeter) forwarded(c *audioChunk) {
	if c == nil {
		return
	}
	a.sent.Set(&c.sent)
	a.taken += c.seconds
}

// ceilRat is ⌈r⌉ for r ≥ 0.
func ceilRat(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}
