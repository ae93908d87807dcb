package gateway

import (
	"bytes"
	"io"
	"strings"
)

// minScrubLen is the shortest credential the gateway searches for in responses: replacing
// a two-letter test key would mangle ordinary bytes, and real provider keys are far longer.
const minScrubLen = 6

// scrubber replaces the injected provider key wherever an upstream response echoes it
// (contract §7): ElevenLabs GET /v1/user may return it as xi_api_key. The replacement has
// the key's length, so Content-Length stays true.
type scrubber struct {
	secret []byte
	rare   int // index in secret of its least common byte, the anchor of searches
}

func makeScrubber(secret string) scrubber {
	if len(secret) < minScrubLen {
		return scrubber{}
	}
	s := scrubber{secret: []byte(secret)}
	for i := range s.secret {
		if commonness[s.secret[i]] < commonness[s.secret[s.rare]] {
			s.rare = i
		}
	}
	return s
}

// commonness ranks how often a byte turns up in JSON and text, so that a search for the
// secret can anchor on its rarest byte: bytes.Index anchors on the first byte, and when that
// is an 'e' or an 's' it stops at every other word of a 20 KB voice list. IndexByte on a
// rare byte skips through such a body at memory speed.
var commonness = func() (t [256]uint8) {
	for c := range t {
		t[c] = 10 // other punctuation, bytes above ASCII
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 40
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 30
	}
	// Lower case letters by their frequency in English, least common first.
	for i, c := range "zqxjkvbpygfwmucldrhsnioate" {
		t[c] = uint8(50 + 5*i)
	}
	for _, c := range ` "{}[]:,_-.` + "\n\t" {
		t[c] = 200
	}
	return t
}()

// index returns the first index of the secret in b, or -1.
func (s *scrubber) index(b []byte) int {
	anchor, n := s.secret[s.rare], len(s.secret)
	for from := 0; ; {
		j := bytes.IndexByte(b[from:], anchor)
		if j < 0 {
			return -1
		}
		start := from + j - s.rare
		// Compare the first and last bytes before the whole key: most anchor hits in
		// binary media fail there, without a call.
		if start >= 0 && start+n <= len(b) && b[start] == s.secret[0] && b[start+n-1] == s.secret[n-1] &&
			bytes.Equal(b[start:start+n], s.secret) {
			return start
		}
		from += j + 1
	}
}

// mask is what replaces the secret: as many '*' as it has bytes. Made only when needed.
func (s *scrubber) mask() []byte { return bytes.Repeat([]byte("*"), len(s.secret)) }

func (s *scrubber) active() bool { return len(s.secret) > 0 }

// Bytes returns b with every occurrence of the secret masked (b itself when none).
func (s *scrubber) Bytes(b []byte) []byte {
	if !s.active() {
		return b
	}
	i := s.index(b)
	if i < 0 {
		return b
	}
	out := bytes.Clone(b)
	for mask := s.mask(); i >= 0; {
		copy(out[i:], mask)
		j := s.index(out[i+len(mask):])
		if j < 0 {
			break
		}
		i += len(mask) + j
	}
	return out
}

// String is Bytes for strings.
func (s *scrubber) String(v string) string {
	if !s.active() || !strings.Contains(v, string(s.secret)) {
		return v
	}
	return strings.ReplaceAll(v, string(s.secret), string(s.mask()))
}

// scrubWriter masks the secret in a stream. A secret may straddle two writes, so a write's
// tail that could begin the secret is held back, and only that: a chunk whose end cannot
// start the secret goes out whole and at once, keeping streams live.
type scrubWriter struct {
	w    io.Writer
	s    *scrubber
	held []byte
}

func (sw *scrubWriter) Write(p []byte) (int, error) {
	if !sw.s.active() {
		return sw.w.Write(p)
	}
	buf := p
	if len(sw.held) > 0 {
		buf = append(sw.held, p...)
	}
	buf = sw.s.Bytes(buf)
	keep := partialSuffix(buf, sw.s.secret)
	out := buf[:len(buf)-keep]
	sw.held = append(sw.held[:0:0], buf[len(buf)-keep:]...)
	if _, err := sw.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what is held back: at the end of the stream it cannot be part of the secret.
func (sw *scrubWriter) Close() error {
	if len(sw.held) == 0 {
		return nil
	}
	_, err := sw.w.Write(sw.held)
	sw.held = nil
	return err
}

// partialSuffix returns the length of the longest suffix of b that is a proper prefix of
// secret.
func partialSuffix(b, secret []byte) int {
	start := len(b) - len(secret) + 1
	if start < 0 {
		start = 0
	}
	for i := start; i < len(b); i++ {
		if b[i] == secret[0] && bytes.HasPrefix(secret, b[i:]) {
			return len(b) - i
		}
	}
	return 0
}
