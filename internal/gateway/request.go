package gateway

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// upstreamCall is a prepared upstream request and the machinery around it.
type upstreamCall struct {
	req      *http.Request
	watchdog *watchdog
	cancel   context.CancelCauseFunc
	bodyErr  *firstError // set by a streaming body producer that had to give up
	secret   string

	bodyErrState  firstError
	watchdogState watchdog
	scrub         scrubber
	trace         httptrace.ClientTrace
	conns         atomic.Int32 // connections the transport used for this call
}

func (c *upstreamCall) gotConn(httptrace.GotConnInfo) { c.conns.Add(1) }

// prepare validates the envelope against the endpoint, resolves the credential and builds
// the upstream request. Nothing is sent yet.
func (g *Gateway) prepare(ctx context.Context, c Call, env *Envelope) (*upstreamCall, error) {
	ep := c.Endpoint
	path, err := ep.Path.Render(env.PathParams)
	if err != nil {
		return nil, err
	}
	u, err := g.upstreamURL(c, path, env.Query)
	if err != nil {
		return nil, err
	}
	if env.hasFiles() && ep.RequestMode != catalog.RequestMultipart && ep.RequestMode != catalog.RequestBinary {
		return nil, invalid("Endpoint '%s' does not take files.", ep.Slug)
	}
	if ep.RequestMode == catalog.RequestBinary {
		if err := checkBinaryEnvelope(ep, env); err != nil {
			return nil, err
		}
	}
	var fields [][2]string
	if ep.RequestMode == catalog.RequestMultipart {
		if fields, err = env.bodyFields(); err != nil {
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
	call := &upstreamCall{cancel: cancel, secret: secret, scrub: makeScrubber(secret)}
	call.bodyErr = &call.bodyErrState
	call.watchdog = &call.watchdogState
	call.watchdog.start(timeout, func() { cancel(errTimedOut) })
	if ep.RequestMode == catalog.RequestRaw && retryable(ep.HTTPMethod) {
		// Count the connections the transport uses, for do's retry rule. Set up here, on
		// the context the request is made with, rather than by copying the request later.
		call.trace.GotConn = call.gotConn
		ctx = httptrace.WithClientTrace(ctx, &call.trace)
	}

	var body io.Reader
	header := FilterRequestHeaders(env.Headers, c.Service.AuthHeader)
	switch ep.RequestMode {
	case catalog.RequestJSON:
		b := []byte(env.Body)
		if b == nil {
			b = []byte("{}")
		}
		body = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	case catalog.RequestMultipart:
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		header.Set("Content-Type", mw.FormDataContentType())
		go produceMultipart(pw, mw, fields, env, call.bodyErr)
		body = pr
	case catalog.RequestBinary:
		var ct string
		body, ct = binaryBody(env, call.bodyErr)
		header.Set("Content-Type", ct)
	}
	if body != nil {
		body = &progressReader{r: body, wd: call.watchdog}
	}
	// The URL is built already: hand it over rather than print and re-parse it.
	req, err := http.NewRequestWithContext(ctx, ep.HTTPMethod, "", body)
	if err != nil {
		cancel(err)
		call.watchdog.stop()
		return nil, err
	}
	req.URL, req.Host = u, u.Host
	if br, ok := body.(*progressReader); ok {
		if r, ok := br.r.(*bytes.Reader); ok {
			req.ContentLength = int64(r.Len())
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

// checkBinaryEnvelope: a binary endpoint takes exactly one file (contract §4).
func checkBinaryEnvelope(ep *catalog.Endpoint, env *Envelope) error {
	switch {
	case len(env.Files) > 1:
		return invalid("Endpoint '%s' takes exactly one file; %d were given.", ep.Slug, len(env.Files))
	case len(env.Files) == 0 && env.firstFile == nil:
		return invalid("Endpoint '%s' takes exactly one file; none was given.", ep.Slug)
	}
	ct := ""
	if len(env.Files) == 1 {
		ct = env.Files[0].ContentType
	} else {
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

// binaryBody returns the one file's bytes as the body, streamed when it came as a part.
func binaryBody(env *Envelope, bodyErr *firstError) (io.Reader, string) {
	if len(env.Files) == 1 {
		f := env.Files[0]
		return bytes.NewReader(f.Data), f.ContentType
	}
	p := env.firstFile
	ct := p.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &binaryPartReader{part: p, mr: env.parts, bodyErr: bodyErr}, ct
}

// binaryPartReader streams one file part and, at its end, checks that no second file
// follows (contract §4: exactly one file).
type binaryPartReader struct {
	part    *multipart.Part
	mr      *multipart.Reader
	bodyErr *firstError
	done    bool
}

func (b *binaryPartReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.part.Read(p)
	if err != io.EOF {
		if err != nil {
			err = b.bodyErr.set(readError(err))
		}
		return n, err
	}
	b.done = true
	for {
		next, nerr := b.mr.NextPart()
		if nerr == io.EOF {
			return n, io.EOF
		}
		if nerr != nil {
			return n, b.bodyErr.set(readError(nerr))
		}
		if next.FileName() != "" {
			return n, b.bodyErr.set(invalid("A binary endpoint takes exactly one file; a second file part '%s' was sent.", next.FormName()))
		}
		_, _ = io.Copy(io.Discard, next)
	}
}

// produceMultipart writes the upstream multipart body: the text fields, the JSON envelope's
// files, then the client's file parts streamed one by one. Envelope parts that arrive
// after a file cannot apply any more (the request has started) and fail the call.
func produceMultipart(pw *io.PipeWriter, mw *multipart.Writer, fields [][2]string, env *Envelope, bodyErr *firstError) {
	err := func() error {
		for _, f := range fields {
			if err := mw.WriteField(f[0], f[1]); err != nil {
				return err
			}
		}
		for _, f := range env.Files {
			w, err := mw.CreatePart(filePartHeader(f.Field, f.Filename, f.ContentType))
			if err != nil {
				return err
			}
			if _, err := w.Write(f.Data); err != nil {
				return err
			}
		}
		for p := env.firstFile; p != nil; {
			if p.FileName() == "" {
				if isEnvelopeKey(p.FormName()) && p.FormName() != keyBody {
					return bodyErr.set(invalid("Part '%s' must come before the first file part.", p.FormName()))
				}
				data, err := io.ReadAll(io.LimitReader(p, 1<<20))
				if err != nil {
					return bodyErr.set(readError(err))
				}
				if p.FormName() == keyBody {
					extra := &Envelope{Body: data}
					more, err := extra.bodyFields()
					if err != nil {
						return bodyErr.set(err)
					}
					for _, f := range more {
						if err := mw.WriteField(f[0], f[1]); err != nil {
							return err
						}
					}
				} else if err := mw.WriteField(p.FormName(), string(data)); err != nil {
					return err
				}
			} else {
				w, err := mw.CreatePart(filePartHeader(p.FormName(), p.FileName(), p.Header.Get("Content-Type")))
				if err != nil {
					return err
				}
				if _, err := io.Copy(w, &clientReader{p, bodyErr}); err != nil {
					return err
				}
			}
			next, err := env.parts.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return bodyErr.set(readError(err))
			}
			p = next
		}
		return mw.Close()
	}()
	pw.CloseWithError(err) // nil closes normally
}

// clientReader records the first error reading the client's body, so the caller can tell
// "the client sent too much or broke off" from "the upstream failed".
type clientReader struct {
	r       io.Reader
	bodyErr *firstError
}

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = c.bodyErr.set(readError(err))
	}
	return n, err
}

func filePartHeader(field, filename, contentType string) textproto.MIMEHeader {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+escapeQuotes(field)+`"; filename="`+escapeQuotes(filename)+`"`)
	h.Set("Content-Type", contentType)
	return h
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }

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
