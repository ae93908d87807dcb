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
}

func makeScrubber(secret string) scrubber {
	if len(secret) < minScrubLen {
		return scrubber{}
	}
	return scrubber{secret: []byte(secret)}
}

// mask is what replaces the secret: as many '*' as it has bytes. Made only when needed.
func (s *scrubber) mask() []byte { return bytes.Repeat([]byte("*"), len(s.secret)) }

func (s *scrubber) active() bool { return len(s.secret) > 0 }

// Bytes returns b with every occurrence of the secret masked (b itself when none).
func (s *scrubber) Bytes(b []byte) []byte {
	if !s.active() || !bytes.Contains(b, s.secret) {
		return b
	}
	return bytes.ReplaceAll(b, s.secret, s.mask())
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
