package gateway

// The hooks of an invoke (Call.Before, Call.Fingerprint, Call.Capture, Call.TransformJSON)
// and Gateway.Fingerprint. They let the layer above the gateway (ownership, idempotency,
// metering) see the request and the answer without the gateway knowing what for. Each
// costs nothing when it is nil: the hot path only tests a pointer.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// ---- Capture -------------------------------------------------------------------------

// Capture is a copy of the answer an invoke sent to its client (Call.Capture). The gateway
// fills it as the answer goes out: for a json action the final bytes (scrubbed, and
// transformed by Call.TransformJSON), for passthrough and stream the bytes as sent
// (scrubbed). Error answers are never captured: the HTTP layer renders those from the
// error Invoke returns, and the caller handles them from that error.
//
// The copy is reserved in the invoke's share of the memory budget (Config.Budget) as it
// grows; when the budget refuses, capturing stops and Truncated is set — the client's
// answer never fails for it. The reservation ends with the invoke: from then on the bytes
// are the caller's.
type Capture struct {
	// Limit is the most body bytes kept (set by the caller; 0 keeps none).
	Limit int64

	Status      int    // the status sent; 0 if no answer was sent
	ContentType string // the Content-Type sent
	Body        []byte // the first Limit bytes (at most) of the body sent
	Truncated   bool   // the body was longer than Body, or the budget refused to hold more
}

// begin records the answer's status line and resets the copy.
func (c *Capture) begin(status int, contentType string) {
	c.Status, c.ContentType, c.Body, c.Truncated = status, contentType, nil, false
}

// add appends p to the copy within the limit, reserving what it keeps in mem.
func (c *Capture) add(mem *memHold, p []byte) {
	if c.Truncated || len(p) == 0 {
		return
	}
	take := p
	if room := c.Limit - int64(len(c.Body)); int64(len(p)) > room {
		take = p[:max(room, 0)]
	}
	if need := len(c.Body) + len(take); need > cap(c.Body) {
		newCap := int(min(int64(max(need, 2*cap(c.Body))), c.Limit))
		if mem.Grow(int64(newCap-cap(c.Body))) != nil {
			c.Truncated = true
			return
		}
		c.Body = append(make([]byte, 0, newCap), c.Body...)
	}
	c.Body = append(c.Body, take...)
	if len(take) < len(p) {
		c.Truncated = true
	}
}

// captureWriter copies what it writes to the client into a Capture.
type captureWriter struct {
	w   io.Writer
	c   *Capture
	mem *memHold
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.c.add(cw.mem, p[:n])
	return n, err
}

// errTransform is the cause of the 502 of a TransformJSON whose output is not JSON.
var errTransform = errors.New("transform produced invalid JSON")

// ---- Fingerprint ---------------------------------------------------------------------
//
// A fingerprint is the request's canonical form written into the caller's hash, the same
// whatever the transport (a JSON envelope, with files in base64, or multipart), the JSON
// key order and white space, and the multipart boundary and part order:
//
//	"aiproxy-fingerprint-v1\x00"
//	'q' n { name, k { value } }        query: names sorted, each one's values in order
//	'h' n { name, k { value } }        headers: canonical names sorted, values in order
//	'p' n { name, value }              path_params: names sorted
//	'b' n { 'j' canonical-JSON 0x00 }  body: given before and (multipart) after the files
//	      | { 'r' raw }                 (a value the canonicaliser refused: as written)
//	'f' n { name, value }              plain multipart text fields, in the order sent
//	'F' n { field, filename, content_type, size, sha256(data) }
//	                                   files, by field name (stable: a field's files in order)
//
// where n, k and size are 8-byte big-endian counts and every string is its 8-byte length
// then its bytes: every field is delimited, so no two requests write the same bytes.
// Canonical JSON has no white space, object members sorted by their decoded names (a
// repeated name keeps its place among its equals), strings decoded and written with only
// '"', '\\' and control characters escaped (invalid UTF-8 as U+FFFD, as encoding/json
// reads it), and numbers and literals as written (1.0 is not 1).
//
// A file's bytes go through SHA-256 as they stream, and are never held; its digest and
// size enter the canonical form. That is what keeps the form independent of where the
// files come in the envelope: the whole form is written once every part has been read
// (a "body" may follow the files), files sorted by field.

const fingerprintMagic = "aiproxy-fingerprint-v1\x00"

// fingerprint is one invoke's Call.Fingerprint. The envelope reader, then the upstream
// body's producer, feed it (one after the other); finish writes the form into h once the
// whole envelope has been read. close, when the invoke ends, may run while a producer
// still winds down: after it, nothing more is written into h.
type fingerprint struct {
	h  hash.Hash
	st *reqState

	// the file whose data is being read
	data hash.Hash // SHA-256, made on first use
	n    int64

	dry    bool                      // Gateway.Fingerprint: no upstream; files are digested, not kept
	recs   map[*fileItem]*fileRecord // a JSON envelope's files: the digest of each one's data
	files  []*fileRecord             // the files, named, in the order they were read
	bodies [][]byte                  // "body" values read after the files
	fields [][2]string               // plain text parts read after the files

	mu     sync.Mutex
	done   bool // the form is in h
	closed bool // the invoke has ended
}

// fileRecord is one file as the fingerprint sees it.
type fileRecord struct {
	field, filename, contentType string
	n                            int64
	sum                          [sha256.Size]byte
}

// recordCost is what a file's record is counted as in the memory budget.
const recordCost = 256

func newFingerprint(h hash.Hash, st *reqState) *fingerprint {
	return &fingerprint{h: h, st: st}
}

// begin starts the digest of a file's data.
func (fp *fingerprint) begin() {
	if fp.data == nil {
		fp.data = sha256.New()
	} else {
		fp.data.Reset()
	}
	fp.n = 0
}

// Write adds the current file's bytes to its digest.
func (fp *fingerprint) Write(p []byte) (int, error) {
	fp.data.Write(p)
	fp.n += int64(len(p))
	return len(p), nil
}

// end returns the record of the file begun last; its names are set by whoever knows them.
func (fp *fingerprint) end() (*fileRecord, error) {
	if err := fp.st.mem.Grow(recordCost); err != nil {
		return nil, err
	}
	rec := &fileRecord{n: fp.n}
	fp.data.Sum(rec.sum[:0])
	return rec, nil
}

// add names a file that has been read and checked, and keeps it for the form.
func (fp *fingerprint) add(rec *fileRecord, field, filename, contentType string) {
	if rec == nil { // not digested: cannot happen; the form then matches no other
		rec = &fileRecord{n: -1}
	}
	rec.field, rec.filename, rec.contentType = field, filename, contentType
	fp.files = append(fp.files, rec)
}

// dry reports whether the invoke is Gateway.Fingerprint's, which calls no upstream.
func (st *reqState) dry() bool { return st.fp != nil && st.fp.dry }

// teeWriter writes into w, and what w took into the fingerprint's current file.
type teeWriter struct {
	w  io.Writer
	fp *fingerprint
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.fp.Write(p[:n])
	return n, err
}

// close ends the fingerprint with the invoke; it reports whether the form is in h.
func (fp *fingerprint) close() bool {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.closed = true
	return fp.done
}

// finish writes the canonical form of env into h: called once every part of the envelope
// has been read, and only once it is valid.
func (fp *fingerprint) finish(env *Envelope) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.done || fp.closed {
		return nil
	}
	if err := fp.st.mem.Grow(fpBufferSize); err != nil {
		return err
	}
	w := &fpWriter{h: fp.h, buf: make([]byte, 0, fpBufferSize)}
	w.write([]byte(fingerprintMagic))

	w.byte('q')
	w.u64(uint64(len(env.Query)))
	for _, name := range sortedKeys(env.Query) {
		w.str(name)
		w.strs(env.Query[name])
	}
	w.byte('h')
	w.u64(uint64(len(env.Headers)))
	for _, name := range sortedKeys(env.Headers) {
		w.str(name)
		w.strs(env.Headers[name])
	}
	w.byte('p')
	w.u64(uint64(len(env.PathParams)))
	for _, name := range sortedKeys(env.PathParams) {
		w.str(name)
		w.str(env.PathParams[name])
	}

	bodies := fp.bodies
	if env.Body != nil && !isNull(env.Body) {
		bodies = append([][]byte{env.Body}, bodies...)
	}
	w.byte('b')
	w.u64(uint64(len(bodies)))
	for _, b := range bodies {
		if err := writeCanonicalBody(w, b, fp.st.mem); err != nil {
			return err
		}
	}

	w.byte('f')
	w.u64(uint64(len(env.formFields) + len(fp.fields)))
	for _, f := range env.formFields {
		w.str(f[0])
		w.str(f[1])
	}
	for _, f := range fp.fields {
		w.str(f[0])
		w.str(f[1])
	}

	files := fp.files
	slices.SortStableFunc(files, func(a, b *fileRecord) int { return strings.Compare(a.field, b.field) })
	w.byte('F')
	w.u64(uint64(len(files)))
	for _, f := range files {
		w.str(f.field)
		w.str(f.filename)
		w.str(f.contentType)
		w.u64(uint64(f.n))
		w.write(f.sum[:])
	}
	w.flush()
	fp.done = true
	return nil
}

// fpBufferSize is the buffer the form is written into h through.
const fpBufferSize = 4 << 10

// fpWriter writes the canonical form into a hash through a small buffer.
type fpWriter struct {
	h   io.Writer
	buf []byte
}

func (w *fpWriter) flush() {
	if len(w.buf) > 0 {
		_, _ = w.h.Write(w.buf) // a hash.Hash never fails
		w.buf = w.buf[:0]
	}
}

func (w *fpWriter) byte(b byte) {
	if len(w.buf) == cap(w.buf) {
		w.flush()
	}
	w.buf = append(w.buf, b)
}

func (w *fpWriter) write(p []byte) {
	if len(w.buf)+len(p) > cap(w.buf) {
		w.flush()
		if len(p) >= cap(w.buf) {
			_, _ = w.h.Write(p)
			return
		}
	}
	w.buf = append(w.buf, p...)
}

func (w *fpWriter) u64(n uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	w.write(b[:])
}

func (w *fpWriter) str(s string) {
	w.u64(uint64(len(s)))
	for len(s) > 0 { // without converting s to a slice
		if len(w.buf) == cap(w.buf) {
			w.flush()
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], s)
		w.buf = w.buf[:len(w.buf)+k]
		s = s[k:]
	}
}

func (w *fpWriter) strs(v []string) {
	w.u64(uint64(len(v)))
	for _, s := range v {
		w.str(s)
	}
}

// writeCanonicalBody writes one body: its canonical JSON, or, if it is not JSON the
// canonicaliser accepts, its bytes as written.
func writeCanonicalBody(w *fpWriter, raw []byte, mem *memHold) error {
	c := &canonJSON{src: raw, w: w, mem: mem}
	end, err := c.scan(0, 0, false)
	if err == nil && skipSpace(raw, end) != len(raw) {
		err = errSyntax
	}
	if err != nil {
		if err != errSyntax {
			return err // the memory budget
		}
		w.byte('r')
		w.u64(uint64(len(raw)))
		w.write(raw)
		return nil
	}
	w.byte('j')
	if _, err := c.write(0); err != nil {
		return err
	}
	w.byte(0) // canonical JSON never holds a NUL: the value ends here
	return nil
}

// canonJSON writes the canonical form of a JSON value held in memory. A first pass (scan)
// checks the value and notes where each object member's value that is an object or an
// array ends, so that the second (write), which visits members in sorted order, jumps over
// them instead of scanning them again: linear, whatever the nesting. What it keeps (those
// ends, a stack of members, decoded names) is reserved in the memory budget.
type canonJSON struct {
	src     []byte
	w       *fpWriter
	mem     *memHold
	ends    []span
	members []member
	scratch []byte // a string value, decoded
}

type span struct{ start, end int }

type member struct {
	key        []byte // decoded
	start, end int    // its value
}

// grow makes room for one more element in s, reserving it in mem first.
func grow[T any](mem *memHold, s []T, size int) ([]T, error) {
	if len(s) < cap(s) {
		return s, nil
	}
	n := max(16, cap(s))
	if err := mem.Grow(int64(n * size)); err != nil {
		return s, err
	}
	return slices.Grow(s, n), nil
}

// scan checks the value at i and returns where it ends. isMember: the value is an object
// member's, whose end write will need.
func (c *canonJSON) scan(i, depth int, isMember bool) (int, error) {
	src := c.src
	i = skipSpace(src, i)
	if i >= len(src) {
		return 0, errSyntax
	}
	switch b := src[i]; b {
	case '{', '[':
		if depth >= maxStreamDepth {
			return 0, errSyntax
		}
		k := -1
		if isMember {
			var err error
			if c.ends, err = grow(c.mem, c.ends, 16); err != nil {
				return 0, err
			}
			k = len(c.ends)
			c.ends = append(c.ends, span{start: i})
		}
		closing := byte(']')
		if b == '{' {
			closing = '}'
		}
		i = skipSpace(src, i+1)
		if i < len(src) && src[i] == closing {
			i++
		} else {
			for {
				var err error
				if b == '{' {
					i = skipSpace(src, i)
					if i >= len(src) || src[i] != '"' {
						return 0, errSyntax
					}
					if i, err = scanStr(src, i); err != nil {
						return 0, err
					}
					if i = skipSpace(src, i); i >= len(src) || src[i] != ':' {
						return 0, errSyntax
					}
					i, err = c.scan(i+1, depth+1, true)
				} else {
					i, err = c.scan(i, depth+1, false)
				}
				if err != nil {
					return 0, err
				}
				if i = skipSpace(src, i); i >= len(src) {
					return 0, errSyntax
				}
				if src[i] == ',' {
					i++
					continue
				}
				if src[i] != closing {
					return 0, errSyntax
				}
				i++
				break
			}
		}
		if k >= 0 {
			c.ends[k].end = i
		}
		return i, nil
	case '"':
		return scanStr(src, i)
	}
	return scanScalar(src, i)
}

// scanStr and scanScalar return where the string (at its opening quote) or the number or
// literal at i ends.
func scanStr(src []byte, i int) (int, error) {
	e, ok := scanString(src, i)
	if !ok {
		return 0, errSyntax
	}
	return e, nil
}

func scanScalar(src []byte, i int) (int, error) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if hasLiteral(src, i, lit) {
			return i + len(lit), nil
		}
	}
	if c := src[i]; c != '-' && (c < '0' || c > '9') {
		return 0, errSyntax
	}
	e, ok := scanNumber(src, i)
	if !ok {
		return 0, errSyntax
	}
	return e, nil
}

// end is where the member value starting at i ends (noted by scan).
func (c *canonJSON) end(i int) (int, error) {
	k, ok := slices.BinarySearchFunc(c.ends, i, func(s span, i int) int { return s.start - i })
	if !ok {
		return 0, errSyntax
	}
	return c.ends[k].end, nil
}

// write writes the canonical form of the value at i (checked by scan) and returns where
// it ends.
func (c *canonJSON) write(i int) (int, error) {
	src, w := c.src, c.w
	i = skipSpace(src, i)
	switch src[i] {
	case '{':
		base := len(c.members)
		i = skipSpace(src, i+1)
		if src[i] == '}' {
			w.write([]byte("{}"))
			return i + 1, nil
		}
		for {
			i = skipSpace(src, i)
			ke, err := scanStr(src, i)
			if err != nil {
				return 0, err
			}
			key, err := c.key(src[i+1 : ke-1])
			if err != nil {
				return 0, err
			}
			vs := skipSpace(src, skipSpace(src, ke)+1) // after the colon
			var ve int
			if src[vs] == '{' || src[vs] == '[' {
				ve, err = c.end(vs)
			} else if src[vs] == '"' {
				ve, err = scanStr(src, vs)
			} else {
				ve, err = scanScalar(src, vs)
			}
			if err != nil {
				return 0, err
			}
			if c.members, err = grow(c.mem, c.members, 48); err != nil {
				return 0, err
			}
			c.members = append(c.members, member{key: key, start: vs, end: ve})
			i = skipSpace(src, ve)
			if src[i] == ',' {
				i++
				continue
			}
			i++ // '}'
			break
		}
		n := len(c.members) - base
		slices.SortStableFunc(c.members[base:], func(a, b member) int { return bytes.Compare(a.key, b.key) })
		w.byte('{')
		for j := range n {
			// Nested objects push above base+n and pop back: these entries stay.
			m := c.members[base+j]
			if j > 0 {
				w.byte(',')
			}
			quoteJSON(w, m.key)
			w.byte(':')
			if _, err := c.write(m.start); err != nil {
				return 0, err
			}
		}
		w.byte('}')
		clear(c.members[base:]) // drop the keys' references
		c.members = c.members[:base]
		return i, nil
	case '[':
		w.byte('[')
		i = skipSpace(src, i+1)
		if src[i] == ']' {
			w.byte(']')
			return i + 1, nil
		}
		for first := true; ; first = false {
			if !first {
				w.byte(',')
			}
			var err error
			if i, err = c.write(i); err != nil {
				return 0, err
			}
			i = skipSpace(src, i)
			if src[i] == ',' {
				i = skipSpace(src, i+1)
				continue
			}
			w.byte(']')
			return i + 1, nil
		}
	case '"':
		e, err := scanStr(src, i)
		if err != nil {
			return 0, err
		}
		raw := src[i+1 : e-1]
		if plainString(raw) {
			quoteJSON(w, raw)
			return e, nil
		}
		need := 3 * len(raw) // escapes shrink; an invalid byte grows to three (U+FFFD)
		if cap(c.scratch) < need {
			if err := c.mem.Grow(int64(need - cap(c.scratch))); err != nil {
				return 0, err
			}
		}
		c.scratch = appendUnquoted(c.scratch[:0], raw)
		quoteJSON(w, c.scratch)
		return e, nil
	}
	e, err := scanScalar(src, i)
	if err != nil {
		return 0, err
	}
	w.write(src[i:e])
	return e, nil
}

// key returns a member name decoded: the raw bytes themselves when there is nothing to
// decode.
func (c *canonJSON) key(raw []byte) ([]byte, error) {
	if plainString(raw) {
		return raw, nil
	}
	if err := c.mem.Grow(int64(3 * len(raw))); err != nil {
		return nil, err
	}
	return appendUnquoted(nil, raw), nil
}

// plainString reports whether a string's raw bytes are its value: no escape, valid UTF-8.
func plainString(raw []byte) bool {
	ascii := true
	for _, c := range raw {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(raw)
}

// appendUnquoted appends the value of a JSON string's raw bytes (between its quotes), as
// encoding/json decodes it: escapes undone, an invalid UTF-8 byte or a lone surrogate as
// U+FFFD.
func appendUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) {
			switch e := raw[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, n := decodeU(raw[i:])
				if n == 0 { // not JSON: the readers let no such string through
					dst = append(dst, c)
					i++
					continue
				}
				dst = utf8.AppendRune(dst, r)
				i += n
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, raw[i:i+size]...)
		}
		i += size
	}
	return dst
}

// quoteJSON writes a decoded string as a canonical JSON string: only '"', '\\' and
// control characters escaped, control characters always as \u00XX.
func quoteJSON(w *fpWriter, s []byte) {
	const hexDigits = "0123456789abcdef"
	w.byte('"')
	start := 0
	for i, c := range s {
		if c != '"' && c != '\\' && c >= ' ' {
			continue
		}
		w.write(s[start:i])
		switch {
		case c == '"' || c == '\\':
			w.byte('\\')
			w.byte(c)
		default:
			w.write([]byte{'\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15]})
		}
		start = i + 1
	}
	w.write(s[start:])
	w.byte('"')
}

// ---- Gateway.Fingerprint -------------------------------------------------------------

// Fingerprint reads the envelope of r and writes its canonical form into h (see
// Call.Fingerprint), exactly as Invoke would while performing the call, but calls no
// upstream: files are read, checked and digested as they stream, then dropped, so memory
// stays bounded as in an invoke (a JSON envelope's files spill to no file either). A bad
// envelope is the error Invoke would return for it (400, 413, 503 of the memory budget,
// a stalled body's error) — also for faults Invoke finds only while the upload streams
// (a part after the files that may not come there, a second file for a binary action).
// c.Service and c.Endpoint are used; c.Credential, c.Before and the other hooks are not.
//
// It is meant for a repeated idempotent request whose first run completed: the caller
// compares this fingerprint with the one that run recorded before replaying its answer.
func (g *Gateway) Fingerprint(r *http.Request, c Call, h hash.Hash) error {
	r.Body = http.MaxBytesReader(nil, r.Body, g.maxUploadBytes)
	st := newReqState(g.limits, g.budget)
	defer st.close()
	fp := newFingerprint(h, st)
	fp.dry = true
	st.fp = fp
	env, err := g.readEnvelope(r, c, st)
	if err != nil {
		return err
	}
	_, fields, err := g.check(c, env)
	if err != nil {
		return err
	}
	if !env.Streaming() {
		if err := fp.finish(env); err != nil {
			return err
		}
	}
	// The upstream body, produced as for a call, and read by nobody but us.
	call := &upstreamCall{cancel: func(error) {}, mem: st.mem}
	call.bodyErr = &call.bodyErrState
	call.watchdog = &call.watchdogState
	body, _, err := requestBody(call, c.Endpoint, env, fields)
	if err != nil {
		return err
	}
	if body != nil {
		_, err = io.Copy(io.Discard, body)
		if cl, ok := body.(io.Closer); ok {
			_ = cl.Close()
		}
		if berr := call.bodyErr.get(); berr != nil {
			return berr
		}
		if err != nil {
			return err
		}
	}
	if !fp.close() {
		return errors.New("gateway: fingerprint: the envelope was not read to its end")
	}
	return nil
}
