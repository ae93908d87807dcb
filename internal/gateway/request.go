package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/membudget"
)

// upstreamCall is a prepared upstream request and the machinery around it.
type upstreamCall struct {
	req      *http.Request
	watchdog *watchdog
	cancel   context.CancelCauseFunc
	bodyErr  *firstError // set by a streaming body producer that had to give up
	secret   string
	// mem is the invoke's reservation in the deployment's memory budget (Config.Budget):
	// whatever the call keeps in memory beyond fixed buffers is reserved here first
	// (mem.Grow), and all of it is returned when the invoke ends. The envelope's values and
	// multipart text parts are already in it; a json-mode answer buffered for validation
	// belongs in it too.
	mem *memHold

	capture   *Capture                                      // Call.Capture
	transform func(status int, body []byte) ([]byte, error) // Call.TransformJSON

	bodyErrState  firstError
	watchdogState watchdog
	scrub         scrubber
	trace         httptrace.ClientTrace
	conns         atomic.Int32 // connections the transport used for this call
	bodyRead      atomic.Bool  // the transport began to read the body: the headers are out
}

func (c *upstreamCall) gotConn(httptrace.GotConnInfo) { c.conns.Add(1) }

// sent reports whether any of the request may have reached the upstream (Result.Sent).
// The transport reads a request's body only once it has a connection and has written the
// headers on it; a request without a body (raw mode) counts as sent once a connection was
// got for it, its headers following at once. Both err on the side of "sent".
func (c *upstreamCall) sent() bool { return c.bodyRead.Load() || c.conns.Load() > 0 }

// refuse records a fault in the client's upload found while the upstream request is under
// way, and aborts that request: the client gets this error (transportError reads bodyErr
// first), and the upstream never sees a complete request.
func (c *upstreamCall) refuse(err error) error {
	err = c.bodyErr.set(err)
	c.cancel(err)
	return err
}

// upstreamGone wraps an error writing the upstream body: the upstream request failed or
// was cancelled, which is no fault of the client's upload.
type upstreamGone struct{ err error }

func (u upstreamGone) Error() string { return u.err.Error() }
func (u upstreamGone) Unwrap() error { return u.err }

// upstreamWriter marks its writer's errors as upstreamGone.
type upstreamWriter struct{ w io.Writer }

func (u upstreamWriter) Write(p []byte) (int, error) {
	n, err := u.w.Write(p)
	if err != nil {
		err = upstreamGone{err}
	}
	return n, err
}

// settle classifies a body producer's error: a failed upstream write stays as it is, any
// other failure is the client's upload and aborts the call (refuse).
func (c *upstreamCall) settle(err error) error {
	if err == nil {
		return nil
	}
	var gone upstreamGone
	if errors.As(err, &gone) {
		return gone.err
	}
	if c.bodyErr.get() != nil {
		return c.bodyErr.get()
	}
	return c.refuse(publicErr(err))
}

// prepare validates the envelope against the endpoint, runs Call.Before, resolves the
// credential and builds the upstream request. Nothing is sent yet.
func (g *Gateway) prepare(ctx context.Context, c Call, env *Envelope) (*upstreamCall, error) {
	ep := c.Endpoint
	u, fields, err := g.check(c, env)
	if err != nil {
		return nil, err
	}
	if fp := env.state().fp; fp != nil && !env.Streaming() {
		if err := fp.finish(env); err != nil {
			return nil, err
		}
	}
	if c.Before != nil {
		if err := c.Before(ctx, env); err != nil {
			return nil, err
		}
	}
	secret, err := c.Credential(ctx)
	if err != nil {
		return nil, err
	}

	timeout := c.Service.TimeoutFor(ep)
	ctx, cancel := context.WithCancelCause(ctx)
	// One allocation holds the call and the state its helpers share.
	call := &upstreamCall{cancel: cancel, secret: secret, scrub: makeScrubber(secret), mem: env.state().mem,
		capture: c.Capture, transform: c.TransformJSON}
	call.bodyErr = &call.bodyErrState
	call.watchdog = &call.watchdogState
	call.watchdog.start(timeout, func() { cancel(errTimedOut) })
	if ep.RequestMode == catalog.RequestRaw {
		// Count the connections the transport uses: for do's retry rule, and for
		// Result.Sent of a call without a body. Set up here, on the context the request is
		// made with, rather than by copying the request later.
		call.trace.GotConn = call.gotConn
		ctx = httptrace.WithClientTrace(ctx, &call.trace)
	}

	header := filterRequestHeaders(env.Headers, []string{c.Service.AuthHeader}, g.credentialHeaders)
	body, ct, err := requestBody(call, ep, env, fields)
	if err != nil {
		cancel(err)
		call.watchdog.stop()
		return nil, err
	}
	if ct != "" {
		header.Set("Content-Type", ct)
	}
	if body != nil {
		body = &uploadReader{r: body, call: call}
	}
	// The URL is built already: hand it over rather than print and re-parse it.
	req, err := http.NewRequestWithContext(ctx, ep.HTTPMethod, "", body)
	if err != nil {
		cancel(err)
		call.watchdog.stop()
		return nil, err
	}
	req.URL, req.Host = u, u.Host
	if br, ok := body.(*uploadReader); ok {
		switch r := br.r.(type) {
		case *bytes.Reader:
			req.ContentLength = int64(r.Len())
			req.GetBody = nil
		case *io.SectionReader: // a spooled file
			req.ContentLength = r.Size()
			req.GetBody = nil
		}
	}
	req.Header = header
	req.Header.Set(c.Service.AuthHeader, c.Service.AuthPrefix+secret)
	if c.RequestID != "" {
		req.Header.Set("X-Request-Id", c.RequestID)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", g.userAgent)
	}
	if ep.ResponseMode != catalog.ResponseJSON {
		// Bytes must reach the client as the upstream sent them: no transparent gzip.
		req.Header.Set("Accept-Encoding", "identity")
	}
	call.req = req
	return call, nil
}

// check validates the envelope against the endpoint: what prepare refuses before the
// credential is resolved. It returns the upstream URL and, for a multipart endpoint, the
// text fields the body makes.
func (g *Gateway) check(c Call, env *Envelope) (*url.URL, [][2]string, error) {
	ep := c.Endpoint
	path, err := ep.Path.Render(env.PathParams)
	if err != nil {
		return nil, nil, err
	}
	u, err := g.upstreamURL(c, path, env.Query)
	if err != nil {
		return nil, nil, err
	}
	if env.hasFiles() && ep.RequestMode != catalog.RequestMultipart && ep.RequestMode != catalog.RequestBinary {
		return nil, nil, invalid("Endpoint '%s' does not take files.", ep.Slug)
	}
	if ep.RequestMode == catalog.RequestBinary {
		if err := checkBinaryEnvelope(ep, env); err != nil {
			return nil, nil, err
		}
	}
	var fields [][2]string
	if ep.RequestMode == catalog.RequestMultipart {
		if fields, err = env.bodyFields(); err != nil {
			return nil, nil, err
		}
	}
	return u, fields, nil
}

// requestBody returns the upstream body and its Content-Type ("" for a raw call, which has
// none). A multipart body is written by a goroutine of its own as it is read.
func requestBody(call *upstreamCall, ep *catalog.Endpoint, env *Envelope, fields [][2]string) (io.Reader, string, error) {
	switch ep.RequestMode {
	case catalog.RequestJSON:
		b := []byte(env.Body)
		if b == nil {
			b = []byte("{}")
		}
		return bytes.NewReader(b), "application/json", nil
	case catalog.RequestMultipart:
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go produceMultipart(call, pw, mw, fields, env)
		return pr, mw.FormDataContentType(), nil
	case catalog.RequestBinary:
		return binaryBody(call, ep, env)
	}
	return nil, "", nil
}

// checkBinaryEnvelope: a binary endpoint takes exactly one file (contract §4).
func checkBinaryEnvelope(ep *catalog.Endpoint, env *Envelope) error {
	n := len(env.Files)
	if env.live != nil {
		n++
	}
	switch {
	case n > 1:
		return invalid("Endpoint '%s' takes exactly one file; %d were given.", ep.Slug, n)
	case n == 0 && env.firstFile == nil:
		return invalid("Endpoint '%s' takes exactly one file; none was given.", ep.Slug)
	}
	var ct string
	switch {
	case len(env.Files) == 1:
		ct = env.Files[0].ContentType
	case env.live != nil:
		ct = env.live.head.contentTypeOr()
	default:
		ct = env.firstFile.Header.Get("Content-Type")
	}
	mediaType, _, _ := strings.Cut(ct, ";")
	mediaType = strings.TrimSpace(strings.ToLower(mediaType))
	if len(ep.ContentTypes) > 0 && !slices.Contains(ep.ContentTypes, mediaType) {
		return invalid("File content type '%s' is not accepted by endpoint '%s'; use one of: %s.",
			mediaType, ep.Slug, strings.Join(ep.ContentTypes, ", "))
	}
	return nil
}

// binaryBody returns the one file's bytes as the body: from memory or the spool file when
// the JSON envelope was read whole, streamed when it came as a part or as the last key of a
// JSON envelope.
func binaryBody(call *upstreamCall, ep *catalog.Endpoint, env *Envelope) (io.Reader, string, error) {
	switch {
	case len(env.Files) == 1:
		f := &env.Files[0]
		r, err := f.open()
		return r, f.ContentType, err
	case env.live != nil:
		pr, pw := io.Pipe()
		go env.live.binary(call, ep, pw)
		return pr, env.live.head.contentTypeOr(), nil
	}
	p := env.firstFile
	ct := p.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	b := &binaryPartReader{part: p, mr: env.parts, call: call, st: env.state(), env: env}
	if fp := b.st.fp; fp != nil {
		fp.begin()
	}
	return b, ct, nil
}

// binaryPartReader streams one file part and, at its end, checks that no second file
// follows (contract §4: exactly one file).
type binaryPartReader struct {
	part *multipart.Part
	mr   *multipart.Reader
	call *upstreamCall
	st   *reqState
	env  *Envelope
	done bool
}

func (b *binaryPartReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.part.Read(p)
	fp := b.st.fp
	if fp != nil {
		fp.Write(p[:n])
	}
	if err != io.EOF {
		if err != nil {
			err = b.call.refuse(readError(err))
		}
		return n, err
	}
	b.done = true
	if fp != nil {
		rec, err := fp.end()
		if err != nil {
			return n, b.call.refuse(err)
		}
		fp.add(rec, b.part.FormName(), b.part.FileName(), partContentType(b.part))
	}
	for {
		next, nerr := b.mr.NextPart()
		if nerr == io.EOF {
			if fp != nil {
				if err := fp.finish(b.env); err != nil {
					return n, b.call.refuse(err)
				}
			}
			return n, io.EOF
		}
		if nerr != nil {
			return n, b.call.refuse(readError(nerr))
		}
		if next.FileName() != "" {
			return n, b.call.refuse(invalid("A binary endpoint takes exactly one file; a second file part '%s' was sent.", next.FormName()))
		}
		// A text part after the file: a binary body has no room for it, but it is held
		// to the same limits as any text part (and refused where a multipart body would).
		name := next.FormName()
		if isEnvelopeKey(name) && name != keyBody {
			return n, b.call.refuse(invalid("Part '%s' must come before the first file part.", name))
		}
		if fp == nil {
			if err := b.st.skipTextPart(next, name); err != nil {
				return n, b.call.refuse(err)
			}
			continue
		}
		// Fingerprinted: the part is part of the request, used upstream or not.
		data, err := b.st.readTextPart(next, name)
		if err != nil {
			return n, b.call.refuse(err)
		}
		if name == keyBody {
			fp.bodies = append(fp.bodies, data)
		} else {
			fp.fields = append(fp.fields, [2]string{name, string(data)})
		}
	}
}

// produceMultipart writes the upstream multipart body: the text fields, the JSON envelope's
// files (from memory or the spool, or streamed as they are decoded), then the client's
// file parts streamed one by one. Envelope parts that arrive after a file cannot apply any
// more (the request has started) and fail the call; so does any text part above its limit.
func produceMultipart(call *upstreamCall, pw *io.PipeWriter, mw *multipart.Writer, fields [][2]string, env *Envelope) {
	st := env.state()
	fp := st.fp
	err := func() error {
		for _, f := range fields {
			if err := writeField(mw, f[0], f[1]); err != nil {
				return err
			}
		}
		for i := range env.Files {
			f := &env.Files[i]
			h, err := filePartHeader(f.Field, f.Filename, f.ContentType)
			if err != nil {
				return err
			}
			w, err := mw.CreatePart(h)
			if err != nil {
				return upstreamGone{err}
			}
			r, err := f.open()
			if err != nil {
				return err
			}
			if _, err := io.Copy(upstreamWriter{w}, r); err != nil {
				return err
			}
		}
		if env.live != nil {
			late, err := env.live.multipart(call, mw)
			if err != nil {
				return err
			}
			for _, f := range late {
				if err := writeField(mw, f[0], f[1]); err != nil {
					return err
				}
			}
		}
		for p := env.firstFile; p != nil; {
			name := p.FormName()
			if p.FileName() == "" {
				if isEnvelopeKey(name) && name != keyBody {
					return invalid("Part '%s' must come before the first file part.", name)
				}
				if err := checkFieldName(name); err != nil {
					return err
				}
				data, err := st.readTextPart(p, name)
				if err != nil {
					return err
				}
				if name == keyBody {
					extra := &Envelope{Body: data, st: st}
					more, err := extra.bodyFields()
					if err != nil {
						return err
					}
					for _, f := range more {
						if err := writeField(mw, f[0], f[1]); err != nil {
							return err
						}
					}
					if fp != nil {
						fp.bodies = append(fp.bodies, data)
					}
				} else {
					value := string(data)
					if err := writeField(mw, name, value); err != nil {
						return err
					}
					if fp != nil {
						fp.fields = append(fp.fields, [2]string{name, value})
					}
				}
			} else {
				if err := checkFilePart(p); err != nil {
					return err
				}
				h, err := filePartHeader(name, p.FileName(), p.Header.Get("Content-Type"))
				if err != nil {
					return err
				}
				w, err := mw.CreatePart(h)
				if err != nil {
					return upstreamGone{err}
				}
				var dst io.Writer = upstreamWriter{w}
				if fp != nil {
					fp.begin()
					dst = teeWriter{dst, fp}
				}
				if _, err := io.Copy(dst, &clientReader{p}); err != nil {
					return err
				}
				if fp != nil {
					rec, err := fp.end()
					if err != nil {
						return err
					}
					fp.add(rec, name, p.FileName(), partContentType(p))
				}
			}
			next, err := env.parts.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return readError(err)
			}
			p = next
		}
		if fp != nil {
			// The whole envelope has been read and found valid.
			if err := fp.finish(env); err != nil {
				return err
			}
		}
		if err := mw.Close(); err != nil {
			return upstreamGone{err}
		}
		return nil
	}()
	pw.CloseWithError(call.settle(err)) // nil closes normally
}

// partContentType is the content type a file part is sent with.
func partContentType(p *multipart.Part) string {
	if ct := p.Header.Get("Content-Type"); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// clientReader classifies errors reading the client's body, so the caller can tell "the
// client sent too much or broke off" from "the upstream failed".
type clientReader struct{ r io.Reader }

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError(err)
	}
	return n, err
}

// writeField writes one text field of a multipart body.
func writeField(mw *multipart.Writer, name, value string) error {
	if err := checkFieldName(name); err != nil {
		return err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+escapeBackslash(name)+`"`)
	w, err := mw.CreatePart(h)
	if err != nil {
		return upstreamGone{err}
	}
	if _, err := io.WriteString(w, value); err != nil {
		return upstreamGone{err}
	}
	return nil
}

// filePartHeader is the header of a file part. Values that could end the quoted parameter
// or the header line are refused, never escaped (checkFileHeader): how mime/multipart
// escapes CR and LF has changed between Go versions, and a receiver may not undo any
// escaping but the backslash's.
func filePartHeader(field, filename, contentType string) (textproto.MIMEHeader, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if err := checkFileHeader(field, field, filename, contentType); err != nil {
		return nil, err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+escapeBackslash(field)+`"; filename="`+escapeBackslash(filename)+`"`)
	h.Set("Content-Type", contentType)
	return h, nil
}

// escapeBackslash escapes what may remain to escape in a quoted parameter once quotes and
// control characters are refused, as mime/multipart does.
func escapeBackslash(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// headerUnsafe reports whether s could break out of a quoted part-header parameter or a
// header line: a control character (CR, LF and NUL among them) or a double quote.
func headerUnsafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f || c == '"' {
			return true
		}
	}
	return false
}

// shown is a name as an error message can show it, control characters escaped.
func shown(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// checkFileHeader refuses a file whose field name, filename or content type cannot be
// written into a part header as given (contract §4). name is the file as messages call it
// (the field, or field[i] in a list).
func checkFileHeader(name, field, filename, contentType string) error {
	switch {
	case headerUnsafe(field):
		return invalid("File field name '%s' must not contain control characters or quotes.", shown(field))
	case headerUnsafe(filename):
		return invalid("File '%s': filename must not contain control characters or quotes.", name)
	case headerUnsafe(contentType):
		return invalid("File '%s': content_type must not contain control characters or quotes.", name)
	}
	return nil
}

// checkFilePart is checkFileHeader for a file part of a multipart envelope.
func checkFilePart(p *multipart.Part) error {
	return checkFileHeader(p.FormName(), p.FormName(), p.FileName(), p.Header.Get("Content-Type"))
}

// checkFieldName refuses a text field name that cannot be written into a part header.
func checkFieldName(name string) error {
	if headerUnsafe(name) {
		return invalid("Form field name '%s' must not contain control characters or quotes.", shown(name))
	}
	return nil
}

// limits bound what one invoke may hold (Config; contract §11).
type limits struct {
	envelope int64 // a JSON envelope's bytes other than file data (MaxEnvelopeBytes); 0: none
	held     int64 // a JSON envelope's values held in memory (MaxEnvelopeBodyBytes); 0: none
	part     int64 // one multipart text part (MaxTextPartBytes); 0: none
	parts    int64 // all multipart text parts together (MaxTextPartsBytes); 0: none
	upload   int64 // the whole request body (MaxUploadBytes); also bounds the spool
	spoolDir string
}

// reqState is what one invoke holds besides its envelope's parsed values: its reservation
// in the memory budget, the bytes it keeps counted against its limits, and its spool file.
// The reader fills it, then the body producer (one goroutine after the other); close, when
// the invoke ends, may run while a producer is still winding down.
type reqState struct {
	lim  limits
	mem  *memHold
	held int64        // JSON envelope values kept (lim.held)
	text int64        // multipart text parts kept (lim.parts)
	fp   *fingerprint // Call.Fingerprint or Gateway.Fingerprint; nil: none

	mu     sync.Mutex
	sp     *spool
	closed bool
}

func newReqState(lim limits, b *membudget.Budget) *reqState {
	return &reqState{lim: lim, mem: &memHold{h: b.NewHolder()}}
}

// close deletes the spool file and returns the memory reservation: the invoke has ended.
func (st *reqState) close() {
	st.mu.Lock()
	st.closed = true
	sp := st.sp
	st.mu.Unlock()
	if sp != nil {
		sp.close()
	}
	st.mem.release()
}

// holdValue counts n more bytes of JSON envelope values against the limit on them.
func (st *reqState) holdValue(n int64) error {
	st.held += n
	if st.lim.held > 0 && st.held > st.lim.held {
		return aiproxy.Errorf(aiproxy.ETOOLARGE,
			"The envelope's body, query, headers, path_params and file names are larger than the limit of %d bytes.", st.lim.held)
	}
	return nil
}

// readTextPart reads a multipart text part whole, within the limits on one part and on all
// of them (contract §11), reserving what it keeps as it grows.
func (st *reqState) readTextPart(p io.Reader, name string) ([]byte, error) {
	const first = 512
	if err := st.mem.Grow(first); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, first)
	for {
		if len(buf) == cap(buf) {
			newCap := 2 * cap(buf)
			if st.lim.part > 0 {
				newCap = int(min(int64(newCap), st.lim.part+1))
			}
			if err := st.mem.Grow(int64(newCap - cap(buf))); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, newCap), buf...)
		}
		n, err := p.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err := st.countText(name, int64(len(buf))); err != nil {
			return nil, err
		}
		if err == io.EOF {
			st.text += int64(len(buf))
			return buf, nil
		}
		if err != nil {
			return nil, readError(err)
		}
	}
}

// skipTextPart reads a text part that has no use (a binary body has no room for it) under
// the same limits, keeping nothing.
func (st *reqState) skipTextPart(p io.Reader, name string) error {
	var buf [4096]byte
	var n int64
	for {
		m, err := p.Read(buf[:])
		n += int64(m)
		if err := st.countText(name, n); err != nil {
			return err
		}
		if err == io.EOF {
			st.text += n
			return nil
		}
		if err != nil {
			return readError(err)
		}
	}
}

// countText checks a text part of n bytes so far against the limits.
func (st *reqState) countText(name string, n int64) error {
	if st.lim.part > 0 && n > st.lim.part {
		return aiproxy.Errorf(aiproxy.ETOOLARGE, "Multipart text part '%s' is larger than the limit of %d bytes.", shown(name), st.lim.part)
	}
	if st.lim.parts > 0 && st.text+n > st.lim.parts {
		return aiproxy.Errorf(aiproxy.ETOOLARGE, "Multipart text parts are larger than the limit of %d bytes in all.", st.lim.parts)
	}
	return nil
}

// memHold is one invoke's reservation in the deployment's memory budget (Config.Budget).
// Whatever the gateway keeps in memory for the call is reserved here before it is
// allocated, and all of it goes back when the invoke ends. Safe for concurrent use: the
// upstream body's producer and the answer's reader may both grow it. Once released it
// refuses to grow, so a producer still winding down cannot leak a reservation.
type memHold struct {
	mu     sync.Mutex
	h      *membudget.Holder
	closed bool
}

// Grow reserves n more bytes, or returns membudget.ErrExhausted (503 with Retry-After).
func (m *memHold) Grow(n int64) error {
	if m == nil || n <= 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return membudget.ErrExhausted
	}
	return m.h.Grow(n)
}

// Held is how many bytes are reserved.
func (m *memHold) Held() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.h.Held()
}

func (m *memHold) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.h.Release()
}

// spoolBufferSize is the write buffer of a spool file.
const spoolBufferSize = 32 << 10

// spool is a temporary file holding the decoded bytes of a JSON envelope's files that could
// not stream (their envelope went on after them, or their name or type came after their
// data). One per invoke, written from the start, never longer than the upload limit, and
// gone when the invoke ends.
type spool struct {
	f    *os.File
	name string // set while the file still has a name to remove
	w    *bufio.Writer
	n    int64
	max  int64
}

// spoolFile returns the invoke's spool, creating it on first use.
func (st *reqState) spoolFile() (*spool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sp != nil {
		return st.sp, nil
	}
	if st.closed {
		return nil, errors.New("spool: the invoke has ended")
	}
	if err := st.mem.Grow(spoolBufferSize); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(st.lim.spoolDir, "aiproxy-spool-*")
	if err != nil {
		return nil, fmt.Errorf("spooling an upload: %w", err)
	}
	sp := &spool{f: f, name: f.Name(), w: bufio.NewWriterSize(f, spoolBufferSize), max: st.lim.upload}
	// Where the system allows it, the file loses its name at once: it lives until closed
	// and cannot outlive the process.
	if os.Remove(sp.name) == nil {
		sp.name = ""
	}
	st.sp = sp
	return sp, nil
}

func (sp *spool) close() {
	_ = sp.f.Close()
	if sp.name != "" {
		_ = os.Remove(sp.name)
	}
}

// Write appends to the spool, within the upload limit.
func (sp *spool) Write(p []byte) (int, error) {
	if sp.max > 0 && sp.n+int64(len(p)) > sp.max {
		return 0, tooLarge(sp.max)
	}
	n, err := sp.w.Write(p)
	sp.n += int64(n)
	return n, err
}

// section reads back size bytes written from off.
func (sp *spool) section(off, size int64) (*io.SectionReader, error) {
	if err := sp.w.Flush(); err != nil {
		return nil, err
	}
	return io.NewSectionReader(sp.f, off, size), nil
}

// kickWriter tells the watchdog about progress while a file is spooled during a call: the
// client is sending, the upstream waits for the file's turn.
type kickWriter struct {
	w  io.Writer
	wd *watchdog
}

func (k kickWriter) Write(p []byte) (int, error) {
	k.wd.kick()
	return k.w.Write(p)
}

// firstError keeps the first error a body producer met.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
	return f.err
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// uploadReader is the upstream body as the transport reads it: it notes that the transport
// began to read it (the headers are out: Result.Sent), and tells the watchdog about
// progress, as progressReader does.
type uploadReader struct {
	r    io.Reader
	call *upstreamCall
}

func (u *uploadReader) Read(b []byte) (int, error) {
	if !u.call.bodyRead.Load() {
		u.call.bodyRead.Store(true)
	}
	n, err := u.r.Read(b)
	if n > 0 {
		u.call.watchdog.kick()
	}
	return n, err
}

// progressReader tells the watchdog about upload progress: a slow but moving upload is
// not a silent upstream.
type progressReader struct {
	r  io.Reader
	wd *watchdog
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.wd.kick()
	}
	return n, err
}

// watchdog fires when nothing has moved for its timeout (contract §6: for streams, the
// timeout bounds the wait for the first byte and each silence).
type watchdog struct {
	timeout time.Duration
	timer   *time.Timer
	mu      sync.Mutex
	last    time.Time
}

// start arms the watchdog.
func (wd *watchdog) start(timeout time.Duration, fire func()) {
	wd.timeout, wd.last = timeout, time.Now()
	if timeout <= 0 {
		return
	}
	wd.timer = time.AfterFunc(timeout, func() {
		// Reset lazily: kicks only record the time, and the timer re-arms itself here
		// for whatever remains, so the hot copy loop never touches the timer.
		wd.mu.Lock()
		remaining := wd.timeout - time.Since(wd.last)
		if remaining > 0 {
			wd.timer.Reset(remaining)
			wd.mu.Unlock()
			return
		}
		wd.mu.Unlock()
		fire()
	})
}

func (wd *watchdog) kick() {
	if wd.timer == nil {
		return
	}
	wd.mu.Lock()
	wd.last = time.Now()
	wd.mu.Unlock()
}

func (wd *watchdog) stop() {
	if wd.timer != nil {
		wd.timer.Stop()
	}
}
