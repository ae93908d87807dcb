package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// Envelope is an invoke request (contract §4): what the client asks the upstream call to be.
type Envelope struct {
	Body       json.RawMessage // nil when absent or null
	Query      url.Values
	Headers    http.Header
	PathParams map[string]string
	Files      []File // from the JSON "files" key, in field order

	// parts is set for multipart envelopes: the reader stands at the first file part
	// (firstFile), whose bytes have not been read. Files are streamed from it.
	parts      *multipart.Reader
	firstFile  *multipart.Part
	formFields [][2]string // plain text parts of a multipart envelope

	// live is set for a JSON envelope whose files stream: the reader stands in the data of
	// the first file, and the upstream body reads the rest of the envelope.
	live *liveFiles
	// st is what the invoke holds: its limits, memory reservation and spool.
	st *reqState
}

// File is one upload given inline in a JSON envelope.
type File struct {
	Field       string
	Filename    string
	ContentType string
	Data        []byte // the decoded bytes, unless they wait in the spool file

	spool     *spool
	off, size int64
}

// open returns the file's bytes.
func (f *File) open() (io.Reader, error) {
	if f.spool != nil {
		return f.spool.section(f.off, f.size)
	}
	return bytes.NewReader(f.Data), nil
}

// state returns the envelope's request state (a default one for an envelope built by hand).
func (env *Envelope) state() *reqState {
	if env.st == nil {
		env.st = newReqState(limits{}, nil)
	}
	return env.st
}

// the envelope's keys, and the multipart parts that carry them as JSON text
const (
	keyBody       = "body"
	keyQuery      = "query"
	keyHeaders    = "headers"
	keyPathParams = "path_params"
	keyFiles      = "files"
)

// envelopeKeys in the order their errors are reported; the held ones (read whole) first.
var envelopeKeys = [...]string{keyBody, keyQuery, keyHeaders, keyPathParams, keyFiles}

const (
	idxQuery      = 1
	idxHeaders    = 2
	idxPathParams = 3
	idxFiles      = 4
)

func invalid(format string, args ...any) error {
	return aiproxy.Errorf(aiproxy.EINVALID, format, args...)
}

// errSyntax is a body that is not one JSON object; publicErr gives it its sentence.
var errSyntax = errors.New("not a JSON object")

func publicErr(err error) error {
	if err == errSyntax {
		return invalid("Request body must be a JSON object.")
	}
	return err
}

// ReadEnvelope reads the envelope from r: a JSON object (an empty body means {}), or
// multipart/form-data whose parts body, query, headers and path_params hold JSON text and
// whose other parts are files. A multipart envelope is read only up to its first file part,
// so that uploads stream; its text parts must come before its files. maxJSON bounds a JSON
// envelope, read whole, and each text part. (Invoke reads JSON envelopes as a stream,
// under the gateway's limits.)
func ReadEnvelope(r *http.Request, maxJSON int64) (*Envelope, error) {
	st := newReqState(limits{part: maxJSON, parts: max(maxJSON, DefaultMaxTextPartsBytes)}, nil)
	if ct := r.Header.Get("Content-Type"); isMultipart(ct) {
		mr, err := multipartReader(ct, r.Body)
		if err != nil {
			return nil, err
		}
		return readMultipartEnvelope(mr, st)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSON+1))
	if err != nil {
		return nil, readError(err)
	}
	if int64(len(data)) > maxJSON {
		return nil, tooLarge(maxJSON)
	}
	return ParseJSONEnvelope(data)
}

// readEnvelope is ReadEnvelope for an invoke: a JSON envelope is read as a stream, its
// files' data decoded on the way (see readJSONEnvelope), under the gateway's limits.
func (g *Gateway) readEnvelope(r *http.Request, c Call, st *reqState) (*Envelope, error) {
	if ct := r.Header.Get("Content-Type"); isMultipart(ct) {
		// mime/multipart reads through a buffer of its own.
		if err := st.mem.Grow(8 << 10); err != nil {
			return nil, err
		}
		mr, err := multipartReader(ct, r.Body)
		if err != nil {
			return nil, err
		}
		return readMultipartEnvelope(mr, st)
	}
	size := jsonBufferSize
	if n := r.ContentLength; n >= 0 && n < jsonBufferSize {
		size = int(n) + 1
	}
	return readJSONEnvelope(r.Body, size, c.Endpoint, st)
}

func isMultipart(ct string) bool { return len(ct) >= 9 && strings.EqualFold(ct[:9], "multipart") }

func multipartReader(ct string, body io.Reader) (*multipart.Reader, error) {
	mt, params, _ := mime.ParseMediaType(ct)
	if mt != "multipart/form-data" {
		return nil, invalid("Request body must be JSON or multipart/form-data, not %s.", mt)
	}
	if params["boundary"] == "" {
		return nil, invalid("Multipart request body has no boundary.")
	}
	return multipart.NewReader(body, params["boundary"]), nil
}

// ParseJSONEnvelope parses a JSON envelope held in memory, its files decoded into memory.
func ParseJSONEnvelope(data []byte) (*Envelope, error) {
	return readJSONEnvelope(bytes.NewReader(data), min(len(data)+1, jsonBufferSize), nil, newReqState(limits{}, nil))
}

// set parses one envelope key from its JSON value.
func (env *Envelope) set(key string, raw json.RawMessage) error {
	switch key {
	case keyBody:
		env.Body = raw
	case keyQuery:
		q, err := parseQuery(raw)
		if err != nil {
			return err
		}
		env.Query = q
	case keyHeaders:
		h, err := parseHeaders(raw)
		if err != nil {
			return err
		}
		env.Headers = h
	case keyPathParams:
		p, err := parsePathParams(raw)
		if err != nil {
			return err
		}
		env.PathParams = p
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// strictUnmarshal decodes one JSON value; json.Unmarshal already refuses trailing data.
func strictUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func parseObject(raw json.RawMessage, field string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := strictUnmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid("Field '%s' must be an object.", field)
	}
	return m, nil
}

// scalarText turns a JSON string, number or boolean into its query/form text: a number
// as written (1.50 stays 1.50), a boolean as true/false.
func scalarText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == 't' || c == 'f':
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", false
		}
		return strconv.FormatBool(b), true
	case c == '-' || c >= '0' && c <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

func parseQuery(raw json.RawMessage) (url.Values, error) {
	m, err := parseObject(raw, keyQuery)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, name := range sortedKeys(m) { // in order: the first fault named is always the same
		v := m[name]
		if isNull(v) {
			continue
		}
		if s, ok := scalarText(v); ok {
			q.Add(name, s)
			continue
		}
		var list []json.RawMessage
		if strictUnmarshal(v, &list) != nil {
			return nil, invalid("Query parameter '%s' must be a string, number, boolean or an array of them.", name)
		}
		for _, item := range list {
			s, ok := scalarText(item)
			if !ok {
				return nil, invalid("Query parameter '%s' must be a string, number, boolean or an array of them.", name)
			}
			q.Add(name, s)
		}
	}
	return q, nil
}

func parseHeaders(raw json.RawMessage) (http.Header, error) {
	m, err := parseObject(raw, keyHeaders)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, name := range sortedKeys(m) { // in order: the same fault named, the same value order
		v := m[name]
		var s string
		if strictUnmarshal(v, &s) != nil {
			return nil, invalid("Header '%s' must be a string.", name)
		}
		if !validHeaderName(name) {
			return nil, invalid("Header name '%s' is not a valid HTTP header name.", name)
		}
		if !validHeaderValue(s) {
			return nil, invalid("Header '%s' has a value with control characters.", name)
		}
		h.Add(name, s)
	}
	return h, nil
}

func parsePathParams(raw json.RawMessage) (map[string]string, error) {
	m, err := parseObject(raw, keyPathParams)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for _, name := range sortedKeys(m) { // in order: the first fault named is always the same
		v := m[name]
		var s string
		if strictUnmarshal(v, &s) == nil {
			out[name] = s
			continue
		}
		var n json.Number
		if strictUnmarshal(v, &n) == nil {
			if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				out[name] = n.String()
				continue
			}
		}
		return nil, invalid("Path parameter '%s' must be a string or an integer.", name)
	}
	return out, nil
}

// readMultipartEnvelope reads the text parts up to the first file part, each within the
// limits on text parts, and checks that the first file part can be passed on.
func readMultipartEnvelope(mr *multipart.Reader, st *reqState) (*Envelope, error) {
	env := &Envelope{parts: mr, st: st}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return env, nil
		}
		if err != nil {
			return nil, readError(err)
		}
		name := p.FormName()
		if p.FileName() != "" {
			if err := checkFilePart(p); err != nil {
				return nil, err
			}
			env.firstFile = p
			return env, nil
		}
		if err := checkFieldName(name); err != nil {
			return nil, err
		}
		data, err := st.readTextPart(p, name)
		if err != nil {
			return nil, err
		}
		if !isEnvelopeKey(name) {
			// A plain text field that is not an envelope key (what a browser's FormData
			// sends): forwarded as a text field of a multipart upstream request.
			env.formFields = append(env.formFields, [2]string{name, string(data)})
			continue
		}
		if name == keyFiles {
			return nil, invalid("Part 'files' is not allowed in a multipart request: send each file as its own part.")
		}
		if !json.Valid(data) {
			return nil, invalid("Part '%s' must hold JSON text.", name)
		}
		if !isNull(data) {
			if err := st.mem.Grow(int64(len(data))); err != nil { // the parsed copy
				return nil, err
			}
			if err := env.set(name, data); err != nil {
				return nil, err
			}
		}
	}
}

func isEnvelopeKey(k string) bool {
	switch k {
	case keyBody, keyQuery, keyHeaders, keyPathParams, keyFiles:
		return true
	}
	return false
}

// Streaming reports whether the envelope's files stream: then they, and whatever the client
// sent after them, are read only as the upstream request is sent, after Call.Before has
// returned. What Before cannot see then: for a multipart envelope, every part from the
// first file part on (a "body" part or plain text parts placed after the files); for a
// JSON envelope, the files (Files is empty) and any key after "files" (a "body" given
// after the files; query, headers and path_params always come before the files when they
// stream). When Streaming is false the envelope has been read to its end: Body, Query,
// Headers, PathParams and Files are all there is (a file's Data may be nil: its bytes
// wait in a spool file).
func (env *Envelope) Streaming() bool { return env.firstFile != nil || env.live != nil }

// hasFiles reports whether the envelope carries any file.
func (env *Envelope) hasFiles() bool {
	return len(env.Files) > 0 || env.firstFile != nil || env.live != nil
}

// bodyFields returns the keys of a JSON-object body as form fields: strings as they are,
// other values as their JSON text (contract §4).
func (env *Envelope) bodyFields() ([][2]string, error) {
	if env.Body == nil {
		return env.formFields, nil
	}
	if err := env.state().mem.Grow(int64(len(env.Body))); err != nil { // the fields' copy
		return nil, err
	}
	var m map[string]json.RawMessage
	if strictUnmarshal(env.Body, &m) != nil || m == nil {
		return nil, invalid("Field 'body' must be an object for a multipart endpoint.")
	}
	out := make([][2]string, 0, len(m)+len(env.formFields))
	out = append(out, env.formFields...)
	for _, k := range sortedKeys(m) {
		v := m[k]
		if isNull(v) {
			continue
		}
		if err := checkFieldName(k); err != nil {
			return nil, err
		}
		var s string
		if strictUnmarshal(v, &s) == nil {
			out = append(out, [2]string{k, s})
			continue
		}
		out = append(out, [2]string{k, strings.TrimSpace(string(v))})
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ---- JSON envelopes, read as a stream ------------------------------------------------
//
// A JSON envelope may carry files as base64 (contract §4), so it can be as large as an
// upload. It is tokenized as it arrives: the values of body, query, headers and path_params
// are kept (they are small, and bounded by Config.MaxEnvelopeBodyBytes), unknown keys are
// checked and dropped, and each file's data is decoded as it is read, into wherever its
// bytes go:
//
//   - straight into the upstream body, when nothing that follows could change the upstream
//     request: query, headers and (for a path with placeholders) path_params came before
//     "files" (null counts), and the file's filename and content_type came before its data
//     (for a binary endpoint, its content_type). The request is prepared at the first
//     file's data, and the upstream body reads the rest of the envelope (liveFiles). The
//     body's last byte is sent only once the whole envelope is known to be valid: a fault
//     found on the way aborts the upstream request, and the client gets the 400 or 413.
//   - into the invoke's spool file otherwise ("files" before a key that shapes the
//     request, or a file's data before its name): the upstream request is prepared once
//     the envelope has been read, and its body is read back from the spool.
//
// Memory stays bounded whatever the key order: the read buffer, the decoding buffer and
// the kept values. The checks and their sentences are those of encoding/json reading the
// whole body (ParseJSONEnvelope uses the same reader, its files kept in memory).

const (
	jsonBufferSize = 32 << 10 // the read buffer
	decodeSize     = 24 << 10 // decoded bytes per base64 chunk (32 KiB of text)
	keyCap         = 128      // longest raw member name compared with a known one
	maxStreamDepth = 10000    // encoding/json's nesting limit
	itemCost       = 256      // what a file entry costs to track, counted as held
)

// jsonStream tokenizes one JSON document from a reader, checking its syntax exactly as
// encoding/json does, holding only its buffer and what a caller captures.
type jsonStream struct {
	src      io.Reader
	buf      []byte
	r, w     int   // unread bytes are buf[r:w]
	srcErr   error // sticky: io.EOF or the classified read error
	base     int64 // bytes consumed before buf[0]
	data     int64 // bytes inside files' data strings
	maxOther int64 // limit on the other bytes; 0: none
	depth    int
	st       *reqState

	cap      *heldBuf // the value being captured, from buf[capFrom:]
	capFrom  int
	inData   bool // in a data string, from buf[dataFrom:]
	dataFrom int
	keyBuf   heldBuf
	out      []byte // base64 decoding scratch, allocated on first use
}

// fill refills the buffer once it is consumed. It returns io.EOF at the end of the body,
// a classified read error (413 above the upload limit), or the 413 of MaxEnvelopeBytes
// once the bytes other than file data pass it.
func (s *jsonStream) fill() error {
	if s.cap != nil {
		if err := s.cap.add(s.buf[s.capFrom:s.r]); err != nil {
			return err
		}
		s.capFrom = 0
	}
	if s.inData {
		s.data += int64(s.r - s.dataFrom)
		s.dataFrom = 0
	}
	s.base += int64(s.r)
	s.r, s.w = 0, 0
	if s.maxOther > 0 && s.base-s.data > s.maxOther {
		return tooLarge(s.maxOther)
	}
	if s.srcErr != nil {
		return s.srcErr
	}
	for range 100 {
		n, err := s.src.Read(s.buf)
		s.w = n
		if err != nil {
			if err != io.EOF {
				err = readError(err)
			}
			s.srcErr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	s.srcErr = readError(io.ErrNoProgress)
	return s.srcErr
}

// more is fill inside a value, where the end of the body is a syntax error.
func (s *jsonStream) more() error {
	if err := s.fill(); err != io.EOF {
		return err
	}
	return errSyntax
}

func (s *jsonStream) peek() (byte, error) {
	if s.r == s.w {
		if err := s.more(); err != nil {
			return 0, err
		}
	}
	return s.buf[s.r], nil
}

func (s *jsonStream) next() (byte, error) {
	c, err := s.peek()
	if err == nil {
		s.r++
	}
	return c, err
}

// wsPeek skips white space and returns the next byte, unread.
func (s *jsonStream) wsPeek() (byte, error) {
	for {
		if s.r == s.w {
			if err := s.more(); err != nil {
				return 0, err
			}
		}
		switch c := s.buf[s.r]; c {
		case ' ', '\t', '\n', '\r':
			s.r++
		default:
			return c, nil
		}
	}
}

// start skips leading white space: io.EOF if that is all there is.
func (s *jsonStream) start() (byte, error) {
	for {
		if s.r == s.w {
			if err := s.fill(); err != nil {
				return 0, err
			}
		}
		switch c := s.buf[s.r]; c {
		case ' ', '\t', '\n', '\r':
			s.r++
		default:
			return c, nil
		}
	}
}

// end checks that only white space follows the document.
func (s *jsonStream) end() error {
	for {
		if s.r == s.w {
			if err := s.fill(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		switch s.buf[s.r] {
		case ' ', '\t', '\n', '\r':
			s.r++
		default:
			return errSyntax
		}
	}
}

func (s *jsonStream) push() error {
	s.depth++
	if s.depth > maxStreamDepth {
		return errSyntax
	}
	return nil
}

// memberOrEnd reads what comes next in an object or array: its end (true), or the comma
// before a member that is not the first.
func (s *jsonStream) memberOrEnd(first *bool, end byte) (bool, error) {
	c, err := s.wsPeek()
	if err != nil {
		return false, err
	}
	if c == end {
		s.r++
		s.depth--
		return true, nil
	}
	if !*first {
		if c != ',' {
			return false, errSyntax
		}
		s.r++
	}
	*first = false
	return false, nil
}

func (s *jsonStream) colon() error {
	c, err := s.wsPeek()
	if err != nil {
		return err
	}
	if c != ':' {
		return errSyntax
	}
	s.r++
	return nil
}

// key reads a member's name and the colon after it. A name too long to be one the gateway
// looks for is not kept: it comes back as "".
func (s *jsonStream) key() (string, error) {
	c, err := s.wsPeek()
	if err != nil {
		return "", err
	}
	if c != '"' {
		return "", errSyntax
	}
	s.keyBuf.b, s.keyBuf.over = s.keyBuf.b[:0], false
	if err := s.capture(&s.keyBuf, s.str); err != nil {
		return "", err
	}
	if err := s.colon(); err != nil {
		return "", err
	}
	if s.keyBuf.over {
		return "", nil
	}
	var k string
	if json.Unmarshal(s.keyBuf.b, &k) != nil {
		return "", errSyntax
	}
	return k, nil
}

// heldString reads a string value the envelope keeps (a file's field name, filename or
// content type), counted against the held limit.
func (s *jsonStream) heldString() (string, error) {
	h := &heldBuf{st: s.st}
	if err := s.capture(h, s.str); err != nil {
		return "", err
	}
	var v string
	if json.Unmarshal(h.b, &v) != nil {
		return "", errSyntax
	}
	if err := s.st.mem.Grow(int64(len(v))); err != nil {
		return "", err
	}
	return v, nil
}

// capture runs read (which reads one value) and keeps the value's bytes in h.
func (s *jsonStream) capture(h *heldBuf, read func() error) error {
	if _, err := s.wsPeek(); err != nil {
		return err
	}
	s.cap, s.capFrom = h, s.r
	err := read()
	if err == nil {
		err = h.add(s.buf[s.capFrom:s.r])
	}
	s.cap = nil
	return err
}

// value reads one value, checking its syntax.
func (s *jsonStream) value() error {
	var stack []bool // for each open container: whether it is an object
	for {
		c, err := s.wsPeek()
		if err != nil {
			return err
		}
		switch {
		case c == '{' || c == '[':
			s.r++
			if err := s.push(); err != nil {
				return err
			}
			end := byte(']')
			if c == '{' {
				end = '}'
			}
			c2, err := s.wsPeek()
			if err != nil {
				return err
			}
			if c2 != end {
				stack = append(stack, c == '{')
				if c == '{' {
					if err := s.memberName(); err != nil {
						return err
					}
				}
				continue // the first member's value
			}
			s.r++
			s.depth--
		case c == '"':
			if err := s.str(); err != nil {
				return err
			}
		case c == '-' || c >= '0' && c <= '9':
			if err := s.number(); err != nil {
				return err
			}
		case c == 't':
			err = s.lit("true")
		case c == 'f':
			err = s.lit("false")
		case c == 'n':
			err = s.lit("null")
		default:
			return errSyntax
		}
		if err != nil {
			return err
		}
		// After a value: close what ends here, up to the next member.
		for {
			if len(stack) == 0 {
				return nil
			}
			c, err := s.wsPeek()
			if err != nil {
				return err
			}
			s.r++
			obj := stack[len(stack)-1]
			if c == ',' {
				if obj {
					if err := s.memberName(); err != nil {
						return err
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				stack = stack[:len(stack)-1]
				s.depth--
				continue
			}
			return errSyntax
		}
	}
}

// memberName reads an object member's name and colon, unkept.
func (s *jsonStream) memberName() error {
	c, err := s.wsPeek()
	if err != nil {
		return err
	}
	if c != '"' {
		return errSyntax
	}
	if err := s.str(); err != nil {
		return err
	}
	return s.colon()
}

// str reads a string; the stream stands at its opening quote.
func (s *jsonStream) str() error {
	s.r++
	for {
		if s.r == s.w {
			if err := s.more(); err != nil {
				return err
			}
		}
		b := s.buf[s.r:s.w]
		i := plainRun(b)
		s.r += i
		if i == len(b) {
			continue
		}
		c := b[i]
		s.r++
		switch {
		case c == '"':
			return nil
		case c < ' ':
			return errSyntax
		}
		if _, err := s.escape(); err != nil {
			return err
		}
	}
}

// plainRun is the length of b's prefix that a string holds as it is: no quote, backslash
// or control character. Eight bytes at a time, then byte by byte in the word that has one.
func plainRun(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(ones*'"'), x^(ones*'\\')
		// A byte of x below 0x20, or a zero byte of q or bs (Bit Twiddling Hacks' hasless
		// and haszero: exact as tests for any such byte).
		if (x-ones*' ')&^x&highs != 0 || (q-ones)&^q&highs != 0 || (bs-ones)&^bs&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < ' ' {
			return i
		}
	}
	return len(b)
}

// escape reads an escape sequence after its backslash and returns the character it
// stands for when that is ASCII, -1 otherwise.
func (s *jsonStream) escape() (int, error) {
	c, err := s.next()
	if err != nil {
		return 0, err
	}
	switch c {
	case '"', '\\', '/':
		return int(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		v := 0
		for range 4 {
			h, err := s.next()
			if err != nil {
				return 0, err
			}
			switch {
			case h >= '0' && h <= '9':
				v = v<<4 | int(h-'0')
			case h >= 'a' && h <= 'f':
				v = v<<4 | int(h-'a'+10)
			case h >= 'A' && h <= 'F':
				v = v<<4 | int(h-'A'+10)
			default:
				return 0, errSyntax
			}
		}
		if v < 0x80 {
			return v, nil
		}
		return -1, nil
	}
	return 0, errSyntax
}

func (s *jsonStream) number() error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c == '-' {
		if c, err = s.next(); err != nil {
			return err
		}
	}
	switch {
	case c == '0':
	case c >= '1' && c <= '9':
		if err := s.digits(false); err != nil {
			return err
		}
	default:
		return errSyntax
	}
	if c, err = s.peek(); err != nil {
		return err
	}
	if c == '.' {
		s.r++
		if err := s.digits(true); err != nil {
			return err
		}
		if c, err = s.peek(); err != nil {
			return err
		}
	}
	if c == 'e' || c == 'E' {
		s.r++
		if c, err = s.peek(); err != nil {
			return err
		}
		if c == '+' || c == '-' {
			s.r++
		}
		return s.digits(true)
	}
	return nil
}

// digits reads a run of digits (at least one if one is needed).
func (s *jsonStream) digits(needOne bool) error {
	for {
		c, err := s.peek()
		if err != nil {
			return err
		}
		if c < '0' || c > '9' {
			if needOne {
				return errSyntax
			}
			return nil
		}
		s.r++
		needOne = false
	}
}

func (s *jsonStream) lit(word string) error {
	for i := 0; i < len(word); i++ {
		c, err := s.next()
		if err != nil {
			return err
		}
		if c != word[i] {
			return errSyntax
		}
	}
	return nil
}

// decodeData reads a file's "data" string (the stream stands at its opening quote) and
// writes what its base64 decodes to into dst as it goes. valid is false when the string is
// not standard base64 as encoding/base64's DecodeString reads it (CR and LF ignored): from
// there on nothing more is written, and the rest of the string is only checked.
func (s *jsonStream) decodeData(dst io.Writer) (valid bool, err error) {
	if s.out == nil {
		if err := s.st.mem.Grow(decodeSize); err != nil {
			return false, err
		}
		s.out = make([]byte, decodeSize)
	}
	d := b64{out: s.out, dst: dst}
	valid = true
	s.r++ // the opening quote
	s.inData, s.dataFrom = true, s.r
	defer func() {
		s.data += int64(s.r - s.dataFrom)
		s.inData = false
	}()
	for {
		if s.r == s.w {
			if err := s.more(); err != nil {
				return false, err
			}
		}
		b := s.buf[s.r:s.w]
		i := plainRun(b)
		if valid && i > 0 {
			if valid, err = d.feed(b[:i]); err != nil {
				return false, err
			}
		}
		s.r += i
		if i == len(b) {
			continue
		}
		c := b[i]
		s.r++
		switch {
		case c == '"':
			return valid && d.nq == 0, nil
		case c < ' ':
			return false, errSyntax
		}
		e, err := s.escape()
		if err != nil {
			return false, err
		}
		switch {
		case !valid || e == '\n' || e == '\r':
		case e < 0:
			valid = false
		default:
			if valid, err = d.feed([]byte{byte(e)}); err != nil {
				return false, err
			}
		}
	}
}

// b64 decodes standard base64 fed in pieces, as DecodeString would decode it whole.
type b64 struct {
	q   [4]byte // a quantum split between pieces
	nq  int
	pad bool // a quantum with padding was decoded: nothing may follow
	out []byte
	dst io.Writer
}

// feed decodes p (free of CR and LF) and writes the bytes out; false when the text is not
// base64.
func (d *b64) feed(p []byte) (bool, error) {
	for len(p) > 0 {
		if d.pad {
			return false, nil
		}
		if d.nq > 0 || len(p) < 4 {
			k := copy(d.q[d.nq:], p)
			d.nq += k
			p = p[k:]
			if d.nq < 4 {
				return true, nil
			}
			d.nq = 0
			if ok, err := d.decode(d.q[:]); !ok || err != nil {
				return ok, err
			}
			continue
		}
		n := min(len(p)&^3, len(d.out)/3*4)
		if ok, err := d.decode(p[:n]); !ok || err != nil {
			return ok, err
		}
		p = p[n:]
	}
	return true, nil
}

func (d *b64) decode(chunk []byte) (bool, error) {
	n, err := base64.StdEncoding.Decode(d.out, chunk)
	if err != nil {
		return false, nil
	}
	d.pad = chunk[len(chunk)-1] == '='
	if _, err := d.dst.Write(d.out[:n]); err != nil {
		return false, err
	}
	return true, nil
}

// heldBuf is a value the envelope keeps: its bytes count against the held limit and are
// reserved in the memory budget before they are stored. Without st it is a member name,
// kept only up to keyCap bytes.
type heldBuf struct {
	b    []byte
	st   *reqState
	over bool
}

func (h *heldBuf) add(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if h.st == nil {
		if h.over || len(h.b)+len(p) > keyCap {
			h.over = true
			return nil
		}
		h.b = append(h.b, p...)
		return nil
	}
	if err := h.st.holdValue(int64(len(p))); err != nil {
		return err
	}
	if need := len(h.b) + len(p); need > cap(h.b) {
		newCap := max(need, 2*cap(h.b), 64)
		if l := h.st.lim.held; l > 0 {
			newCap = max(need, min(newCap, int(l)))
		}
		if err := h.st.mem.Grow(int64(newCap - cap(h.b))); err != nil {
			return err
		}
		h.b = append(make([]byte, 0, newCap), h.b...)
	}
	h.b = append(h.b, p...)
	return nil
}

// fileItem is one file of a JSON envelope's "files", as far as it has been read.
type fileItem struct {
	field                 string
	index                 int // its place in its field's list; -1 when the field holds one file
	filename, contentType *string
	typeErr               bool // not an object, or a known key with a value of the wrong type
	dataKeys              int  // "data" keys given
	hasData               bool // the last "data" was a string
	badData               bool // ... that is not base64
	nameAfter, typeAfter  bool // filename or content_type given after data

	live      bool   // its data went straight into the upstream body
	mem       []byte // its data, in memory (ParseJSONEnvelope)
	sp        *spool // its data, in the spool
	off, size int64
}

func (it *fileItem) filenameOr() string {
	if it.filename != nil {
		return *it.filename
	}
	return it.field
}

func (it *fileItem) contentTypeOr() string {
	if it.contentType != nil && *it.contentType != "" {
		return *it.contentType
	}
	return "application/octet-stream"
}

// name is the file as messages call it, in a field holding n files.
func (it *fileItem) name(n int) string {
	if it.index >= 0 && n > 1 {
		return fmt.Sprintf("%s[%d]", it.field, it.index)
	}
	return it.field
}

// problem is what is wrong with the file (contract §4), in a field holding n files.
func (it *fileItem) problem(n int) error {
	name := it.name(n)
	switch {
	case it.typeErr:
		return invalid("File '%s' must be an object with 'filename', 'content_type' and 'data'.", name)
	case !it.hasData:
		return invalid("File '%s' is missing 'data' (base64).", name)
	case it.badData:
		return invalid("File '%s' has 'data' that is not valid base64.", name)
	}
	return checkFileHeader(name, it.field, it.filenameOr(), it.contentTypeOr())
}

func (it *fileItem) file() File {
	return File{Field: it.field, Filename: it.filenameOr(), ContentType: it.contentTypeOr(),
		Data: it.mem, spool: it.sp, off: it.off, size: it.size}
}

type evKind uint8

const (
	evData  evKind = iota + 1 // the stream stands at item's "data" string: decodeData it before next
	evItem                    // item has been read
	evField                   // field's value has been read: items
	evDone                    // the "files" value has been read
)

type fileEvent struct {
	kind  evKind
	item  *fileItem
	field string
	items []*fileItem
}

type walkState uint8

const (
	wStart walkState = iota
	wMember
	wElem
	wItem
	wObj
	wAfterItem
	wDone
)

// filesWalker reads a "files" value a step at a time, so that whoever consumes it decides,
// file by file, where each file's data goes.
type filesWalker struct {
	s         *jsonStream
	state     walkState
	first     [3]bool // no member read yet: in the files object, the field's list, the file object
	field     string
	inArray   bool
	items     []*fileItem
	cur       *fileItem
	notObject bool // the value is not an object
}

func (w *filesWalker) next() (fileEvent, error) {
	s := w.s
	for {
		switch w.state {
		case wStart:
			c, err := s.wsPeek()
			if err != nil {
				return fileEvent{}, err
			}
			if c != '{' {
				w.notObject, w.state = true, wDone
				if err := s.value(); err != nil {
					return fileEvent{}, err
				}
				continue
			}
			s.r++
			if err := s.push(); err != nil {
				return fileEvent{}, err
			}
			w.state, w.first[0] = wMember, true
		case wMember:
			end, err := s.memberOrEnd(&w.first[0], '}')
			if err != nil {
				return fileEvent{}, err
			}
			if end {
				w.state = wDone
				continue
			}
			if c, err := s.wsPeek(); err != nil {
				return fileEvent{}, err
			} else if c != '"' {
				return fileEvent{}, errSyntax
			}
			field, err := s.heldString()
			if err != nil {
				return fileEvent{}, err
			}
			if err := s.colon(); err != nil {
				return fileEvent{}, err
			}
			w.field, w.items = field, nil
			c, err := s.wsPeek()
			if err != nil {
				return fileEvent{}, err
			}
			switch c {
			case '[':
				s.r++
				if err := s.push(); err != nil {
					return fileEvent{}, err
				}
				w.inArray, w.first[1], w.state = true, true, wElem
				continue
			case 'n': // a null list: no file (encoding/json decodes it into a nil slice)
				if err := s.lit("null"); err != nil {
					return fileEvent{}, err
				}
				return w.fieldEnd(), nil
			}
			w.inArray = false
			if err := w.begin(); err != nil {
				return fileEvent{}, err
			}
		case wElem:
			end, err := s.memberOrEnd(&w.first[1], ']')
			if err != nil {
				return fileEvent{}, err
			}
			if end {
				return w.fieldEnd(), nil
			}
			if err := w.begin(); err != nil {
				return fileEvent{}, err
			}
		case wItem:
			c, err := s.wsPeek()
			if err != nil {
				return fileEvent{}, err
			}
			switch c {
			case '{':
				s.r++
				if err := s.push(); err != nil {
					return fileEvent{}, err
				}
				w.first[2], w.state = true, wObj
				continue
			case 'n':
				err = s.lit("null")
			default:
				w.cur.typeErr = true
				err = s.value()
			}
			if err != nil {
				return fileEvent{}, err
			}
			w.state = wAfterItem
			return fileEvent{kind: evItem, item: w.cur}, nil
		case wObj:
			end, err := s.memberOrEnd(&w.first[2], '}')
			if err != nil {
				return fileEvent{}, err
			}
			if end {
				w.state = wAfterItem
				return fileEvent{kind: evItem, item: w.cur}, nil
			}
			k, err := s.key()
			if err != nil {
				return fileEvent{}, err
			}
			if ev, ok, err := w.member(k); err != nil || ok {
				return ev, err
			}
		case wAfterItem:
			if w.inArray {
				w.state = wElem
				continue
			}
			return w.fieldEnd(), nil
		case wDone:
			return fileEvent{kind: evDone}, nil
		}
	}
}

// member reads a file object's member whose name is k (encoding/json matches the names of
// a struct's fields in any letter case).
func (w *filesWalker) member(k string) (fileEvent, bool, error) {
	s, it := w.s, w.cur
	c, err := s.wsPeek()
	if err != nil {
		return fileEvent{}, false, err
	}
	switch {
	case strings.EqualFold(k, "data"):
		it.dataKeys++
		switch c {
		case '"':
			it.hasData, it.badData = true, false
			return fileEvent{kind: evData, item: it}, true, nil
		case 'n':
			it.hasData, it.badData = false, false
			return fileEvent{}, false, s.lit("null")
		}
		it.typeErr = true
		return fileEvent{}, false, s.value()
	case strings.EqualFold(k, "filename"), strings.EqualFold(k, "content_type"):
		dst := &it.contentType
		if strings.EqualFold(k, "filename") {
			dst = &it.filename
			it.nameAfter = it.nameAfter || it.dataKeys > 0
		} else {
			it.typeAfter = it.typeAfter || it.dataKeys > 0
		}
		switch c {
		case '"':
			v, err := s.heldString()
			*dst = &v
			return fileEvent{}, false, err
		case 'n':
			*dst = nil
			return fileEvent{}, false, s.lit("null")
		}
		it.typeErr = true
	}
	return fileEvent{}, false, s.value()
}

func (w *filesWalker) begin() error {
	if err := w.s.st.holdValue(itemCost); err != nil {
		return err
	}
	if err := w.s.st.mem.Grow(itemCost); err != nil {
		return err
	}
	w.cur = &fileItem{field: w.field, index: -1}
	if w.inArray {
		w.cur.index = len(w.items)
	}
	w.items = append(w.items, w.cur)
	w.state = wItem
	return nil
}

func (w *filesWalker) fieldEnd() fileEvent {
	w.state = wMember
	return fileEvent{kind: evField, field: w.field, items: w.items}
}

// where a JSON envelope's file data goes when it does not stream upstream
type sinkKind uint8

const (
	sinkMemory  sinkKind = iota // ParseJSONEnvelope
	sinkSpool                   // an invoke of a multipart or binary endpoint
	sinkDiscard                 // an invoke of an endpoint that takes no files: checked, then refused
)

// envReader reads a JSON envelope (see the section's comment).
type envReader struct {
	s     *jsonStream
	st    *reqState
	ep    *catalog.Endpoint // nil for ParseJSONEnvelope
	sink  sinkKind
	env   *Envelope
	first bool

	raw       [4]json.RawMessage // the last value of body, query, headers, path_params
	count     [5]int             // how often each envelope key was given
	liveCount [5]int             // ... when the files began to stream
	files     *filesValue        // the last "files" value, read whole; nil: absent
}

// filesValue is a "files" value read whole: each field's files (the last of a repeated
// field, as encoding/json keeps it).
type filesValue struct {
	fields    map[string][]*fileItem
	notObject bool
}

// readJSONEnvelope reads a JSON envelope from src. ep is the endpoint of the invoke, which
// decides whether and how files stream; nil keeps them in memory (ParseJSONEnvelope).
func readJSONEnvelope(src io.Reader, bufSize int, ep *catalog.Endpoint, st *reqState) (*Envelope, error) {
	if err := st.mem.Grow(int64(bufSize)); err != nil {
		return nil, err
	}
	s := &jsonStream{src: src, buf: make([]byte, bufSize), maxOther: st.lim.envelope, st: st}
	er := &envReader{s: s, st: st, ep: ep, env: &Envelope{st: st}}
	switch {
	case ep == nil:
		er.sink = sinkMemory
	case ep.RequestMode == catalog.RequestMultipart || ep.RequestMode == catalog.RequestBinary:
		er.sink = sinkSpool
	default:
		er.sink = sinkDiscard
	}
	if err := er.read(); err != nil {
		return nil, publicErr(err)
	}
	return er.env, nil
}

func (er *envReader) read() error {
	s := er.s
	c, err := s.start()
	if err == io.EOF {
		return nil // an empty body is {}
	}
	if err != nil {
		return err
	}
	if c != '{' {
		return errSyntax
	}
	s.r++
	s.depth = 1
	er.first = true
	for {
		atFiles, err := er.members()
		if err != nil {
			return err
		}
		if !atFiles {
			break
		}
		if live, err := er.filesValue(); err != nil || live {
			return err
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	if err := er.finishHeld(); err != nil {
		return err
	}
	if er.files != nil {
		files, err := er.files.list()
		if err != nil {
			return err
		}
		er.env.Files = files
		if fp := er.st.fp; fp != nil {
			for _, f := range sortedKeys(er.files.fields) { // the order of list
				for _, it := range er.files.fields[f] {
					fp.add(fp.recs[it], it.field, it.filenameOr(), it.contentTypeOr())
				}
			}
		}
	}
	return nil
}

// members reads the envelope's members up to its end, or up to a "files" key (true: the
// stream stands at its value).
func (er *envReader) members() (bool, error) {
	s := er.s
	for {
		end, err := s.memberOrEnd(&er.first, '}')
		if err != nil || end {
			return false, err
		}
		k, err := s.key()
		if err != nil {
			return false, err
		}
		switch i := slices.Index(envelopeKeys[:], k); {
		case i == idxFiles:
			er.count[i]++
			return true, nil
		case i >= 0:
			h := &heldBuf{st: er.st}
			if err := s.capture(h, s.value); err != nil {
				return false, err
			}
			er.raw[i] = h.b
			er.count[i]++
		default:
			if err := s.value(); err != nil {
				return false, err
			}
		}
	}
}

// finishHeld parses the kept values into the envelope, in the contract's order.
func (er *envReader) finishHeld() error {
	for i, raw := range er.raw {
		if raw == nil || isNull(raw) {
			continue
		}
		if i > 0 {
			if err := er.st.mem.Grow(int64(len(raw))); err != nil { // the parsed copy
				return err
			}
		}
		if err := er.env.set(envelopeKeys[i], raw); err != nil {
			return err
		}
	}
	return nil
}

// mayStream reports whether nothing that follows a "files" key could change the upstream
// request, so that its files may go straight into the body.
func (er *envReader) mayStream() bool {
	ep := er.ep
	if er.sink != sinkSpool || er.count[idxFiles] != 1 || er.count[idxQuery] == 0 || er.count[idxHeaders] == 0 {
		return false
	}
	return er.count[idxPathParams] > 0 || len(ep.Path.Params()) == 0
}

// streams reports whether the file whose data begins can go straight into the body: what
// its part header (or, for a binary endpoint, the request's Content-Type) needs is known
// and fit for it.
func (er *envReader) streams(it *fileItem) bool {
	if it.typeErr || it.contentType == nil ||
		er.ep.RequestMode == catalog.RequestMultipart && it.filename == nil {
		return false
	}
	return checkFileHeader(it.field, it.field, it.filenameOr(), it.contentTypeOr()) == nil
}

// filesValue reads a "files" value: either its first file's data starts streaming (true:
// the envelope is ready for prepare, the body reads the rest), or it is read whole.
func (er *envReader) filesValue() (bool, error) {
	s := er.s
	c, err := s.wsPeek()
	if err != nil {
		return false, err
	}
	if c == 'n' {
		er.files = nil
		return false, s.lit("null")
	}
	w := &filesWalker{s: s}
	fv := &filesValue{fields: map[string][]*fileItem{}}
	if er.mayStream() {
		ev, err := w.next()
		if err != nil {
			return false, err
		}
		if ev.kind == evData && er.streams(ev.item) {
			if err := er.finishHeld(); err != nil {
				return false, err
			}
			er.liveCount = er.count
			er.files = nil
			er.env.live = &liveFiles{er: er, w: w, head: ev.item}
			return true, nil
		}
		if err := er.take(fv, ev); err != nil {
			return false, err
		}
		if ev.kind == evDone {
			fv.notObject = w.notObject
			er.files = fv
			return false, nil
		}
	}
	for {
		ev, err := w.next()
		if err != nil {
			return false, err
		}
		if err := er.take(fv, ev); err != nil {
			return false, err
		}
		if ev.kind == evDone {
			fv.notObject = w.notObject
			er.files = fv
			return false, nil
		}
	}
}

// take keeps what an event of a "files" value read whole brings.
func (er *envReader) take(fv *filesValue, ev fileEvent) error {
	switch ev.kind {
	case evData:
		it := ev.item
		var valid bool
		var err error
		switch er.sink {
		case sinkMemory:
			m := &memWriter{mem: er.st.mem}
			valid, err = er.decode(it, m)
			it.mem, it.sp = m.b, nil
		case sinkSpool:
			if er.st.dry() { // Gateway.Fingerprint: checked and digested, then dropped
				valid, err = er.decode(it, io.Discard)
				break
			}
			sp, serr := er.st.spoolFile()
			if serr != nil {
				return serr
			}
			off := sp.n
			valid, err = er.decode(it, sp)
			it.mem, it.sp, it.off, it.size = nil, sp, off, sp.n-off
		default:
			valid, err = er.decode(it, io.Discard)
		}
		it.badData = !valid
		return err
	case evField:
		fv.fields[ev.field] = ev.items
	}
	return nil
}

// decode decodes the data of file it into dst (decodeData); when the invoke is
// fingerprinted, the decoded bytes are digested on the way.
func (er *envReader) decode(it *fileItem, dst io.Writer) (bool, error) {
	fp := er.st.fp
	if fp == nil {
		return er.s.decodeData(dst)
	}
	fp.begin()
	valid, err := er.s.decodeData(teeWriter{dst, fp})
	if err != nil {
		return valid, err
	}
	rec, err := fp.end()
	if err != nil {
		return valid, err
	}
	if fp.recs == nil {
		fp.recs = map[*fileItem]*fileRecord{}
	}
	fp.recs[it] = rec // a "data" given again replaces it, as its bytes do
	return valid, nil
}

// list checks the files, in the order of their field names, and returns them so.
func (fv *filesValue) list() ([]File, error) {
	if fv.notObject {
		return nil, invalid("Field 'files' must be an object.")
	}
	fields := sortedKeys(fv.fields)
	n := 0
	for _, f := range fields {
		items := fv.fields[f]
		for _, it := range items {
			if err := it.problem(len(items)); err != nil {
				return nil, err
			}
		}
		n += len(items)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]File, 0, n)
	for _, f := range fields {
		for _, it := range fv.fields[f] {
			out = append(out, it.file())
		}
	}
	return out, nil
}

// memWriter keeps a file's data in memory, reserved as it grows.
type memWriter struct {
	b   []byte
	mem *memHold
}

func (m *memWriter) Write(p []byte) (int, error) {
	if need := len(m.b) + len(p); need > cap(m.b) {
		newCap := max(need, 2*cap(m.b), 512)
		if err := m.mem.Grow(int64(newCap - cap(m.b))); err != nil {
			return 0, err
		}
		m.b = append(make([]byte, 0, newCap), m.b...)
	}
	m.b = append(m.b, p...)
	return len(p), nil
}

// liveFiles is a JSON envelope whose files stream: the upstream body's producer reads the
// rest of "files", then the rest of the envelope, and ends the body only if all of it is
// valid.
type liveFiles struct {
	er   *envReader
	w    *filesWalker
	head *fileItem // the first file; the stream stands at its data
}

// problem is the file's fault, if any, once it has been read. A file in a list of one is
// named by its field alone: whether another follows is the next byte's to say.
func (lv *liveFiles) problem(it *fileItem, multipart bool) error {
	n := 1
	switch {
	case it.index > 0:
		n = it.index + 1
	case it.index == 0:
		c, err := lv.er.s.wsPeek()
		if err != nil {
			return err
		}
		if c == ',' {
			n = 2
		}
	}
	if err := it.problem(n); err != nil {
		return err
	}
	// What went upstream was the data and header given first: a later value cannot apply.
	if it.live && (it.dataKeys > 1 || it.typeAfter || multipart && it.nameAfter) {
		return invalid("File '%s' must be an object with 'filename', 'content_type' and 'data'.", it.name(n))
	}
	return nil
}

// multipart writes the files into a multipart body: a file whose name and type came
// before its data as its data is decoded, any other from the spool once it has been read.
// It returns the fields of a "body" given after the files.
func (lv *liveFiles) multipart(call *upstreamCall, mw *multipart.Writer) ([][2]string, error) {
	s := lv.er.s
	send := func(it *fileItem) error {
		h, err := filePartHeader(it.field, it.filenameOr(), it.contentTypeOr())
		if err != nil {
			return err
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			return upstreamGone{err}
		}
		valid, err := lv.er.decode(it, upstreamWriter{w})
		it.live, it.badData = true, !valid
		return err
	}
	if err := send(lv.head); err != nil {
		return nil, err
	}
	fields := map[string]bool{}
	for {
		ev, err := lv.w.next()
		if err != nil {
			return nil, err
		}
		switch ev.kind {
		case evData:
			it := ev.item
			switch {
			case it.live || it.typeErr:
				// Its data was sent already, or it is refused anyway.
				_, err = s.decodeData(io.Discard)
			case it.dataKeys == 1 && lv.er.streams(it):
				err = send(it)
			case lv.er.st.dry(): // Gateway.Fingerprint: checked and digested, then dropped
				var valid bool
				valid, err = lv.er.decode(it, io.Discard)
				it.badData = !valid
			default:
				var sp *spool
				if sp, err = lv.er.st.spoolFile(); err == nil {
					off := sp.n
					var valid bool
					valid, err = lv.er.decode(it, kickWriter{sp, call.watchdog})
					it.sp, it.off, it.size, it.badData = sp, off, sp.n-off, !valid
				}
			}
			if err != nil {
				return nil, err
			}
		case evItem:
			it := ev.item
			if err := lv.problem(it, true); err != nil {
				return nil, err
			}
			if fp := lv.er.st.fp; fp != nil {
				fp.add(fp.recs[it], it.field, it.filenameOr(), it.contentTypeOr())
			}
			if it.live {
				continue
			}
			h, err := filePartHeader(it.field, it.filenameOr(), it.contentTypeOr())
			if err != nil {
				return nil, err
			}
			w, err := mw.CreatePart(h)
			if err != nil {
				return nil, upstreamGone{err}
			}
			if it.sp == nil { // Gateway.Fingerprint: the bytes were dropped
				continue
			}
			r, err := it.sp.section(it.off, it.size)
			if err != nil {
				return nil, err
			}
			if _, err := io.Copy(upstreamWriter{w}, r); err != nil {
				return nil, err
			}
		case evField:
			if fields[ev.field] {
				return nil, invalid("File field '%s' must not be given more than once.", ev.field)
			}
			fields[ev.field] = true
		case evDone:
			late, err := lv.er.rest()
			if err != nil || late == nil {
				return nil, err
			}
			if fp := lv.er.st.fp; fp != nil {
				fp.bodies = append(fp.bodies, late)
			}
			return (&Envelope{Body: late, st: lv.er.st}).bodyFields()
		}
	}
}

// binary writes the one file into a binary body and checks that no other follows.
func (lv *liveFiles) binary(call *upstreamCall, ep *catalog.Endpoint, pw *io.PipeWriter) {
	err := func() error {
		s := lv.er.s
		fp := lv.er.st.fp
		valid, err := lv.er.decode(lv.head, upstreamWriter{pw})
		lv.head.live, lv.head.badData = true, !valid
		if err != nil {
			return err
		}
		count := 1
		var other error // the first fault of another file: it comes before the count
		fields := map[string]bool{}
		for {
			ev, err := lv.w.next()
			if err != nil {
				return err
			}
			switch ev.kind {
			case evData:
				valid, err := s.decodeData(io.Discard)
				if err != nil {
					return err
				}
				ev.item.badData = !valid
			case evItem:
				if ev.item == lv.head {
					if err := lv.problem(ev.item, false); err != nil {
						return err
					}
					if fp != nil {
						fp.add(fp.recs[lv.head], lv.head.field, lv.head.filenameOr(), lv.head.contentTypeOr())
					}
					continue
				}
				count++
				if other == nil {
					other = lv.problem(ev.item, false)
				}
			case evField:
				if fields[ev.field] {
					return invalid("File field '%s' must not be given more than once.", ev.field)
				}
				fields[ev.field] = true
			case evDone:
				if other != nil {
					return other
				}
				if count > 1 {
					return invalid("Endpoint '%s' takes exactly one file; %d were given.", ep.Slug, count)
				}
				late, err := lv.er.rest()
				if err != nil || fp == nil {
					return err
				}
				if late != nil {
					fp.bodies = append(fp.bodies, late)
				}
				return fp.finish(lv.er.env)
			}
		}
	}()
	pw.CloseWithError(call.settle(err))
}

// rest reads the envelope after its streamed "files": keys that change nothing sent may
// still come (a body, or path_params an endpoint without placeholders ignores); a key
// given a second time may not, its first value being in use already.
func (er *envReader) rest() (json.RawMessage, error) {
	atFiles, err := er.members()
	if err != nil {
		return nil, err
	}
	if atFiles {
		return nil, invalid("Field 'files' must not be given more than once.")
	}
	if err := er.s.end(); err != nil {
		return nil, err
	}
	var late json.RawMessage
	for i, raw := range er.raw {
		if er.count[i] == er.liveCount[i] {
			continue
		}
		if er.liveCount[i] > 0 {
			return nil, invalid("Field '%s' must not be given more than once.", envelopeKeys[i])
		}
		if isNull(raw) {
			continue
		}
		switch envelopeKeys[i] {
		case keyBody:
			late = raw
		case keyPathParams:
			if _, err := parsePathParams(raw); err != nil {
				return nil, err
			}
		}
	}
	return late, nil
}
