package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// ErrAborted is returned when the response had already started and the upstream failed:
// the HTTP layer must abort the connection (panic(http.ErrAbortHandler)) so the client's
// read fails instead of seeing a short body as complete.
var ErrAborted = errors.New("upstream failed after the response started")

// roundTrip sends the prepared request and answers the client (contract §8).
func (g *Gateway) roundTrip(w http.ResponseWriter, r *http.Request, c Call, up *upstreamCall) (Result, error) {
	defer up.cancel(context.Canceled)
	defer up.watchdog.stop()

	resp, err := g.do(up)
	if err != nil {
		return Result{}, g.transportError(r, up, err)
	}
	defer resp.Body.Close()
	up.watchdog.kick()
	res := Result{UpstreamStatus: resp.StatusCode}
	scrub := &up.scrub

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return res, g.upstreamStatusError(r, up, resp, scrub)
	}
	if c.Endpoint.ResponseMode == catalog.ResponseJSON {
		return g.writeJSON(w, r, up, resp, scrub, res)
	}
	return g.writeStream(w, r, c.Endpoint.ResponseMode == catalog.ResponseStream, up, resp, scrub, res)
}

// do sends the request. An idempotent call without a body (GET, HEAD) that fails to
// connect is tried once more; billable calls (POST) never are.
func (g *Gateway) do(up *upstreamCall) (*http.Response, error) {
	if up.req.Body != nil || !retryable(up.req.Method) {
		return g.transport.RoundTrip(up.req)
	}
	// net/http's transport itself resends an idempotent request whose pooled connection
	// turned out dead: prepare counts the connections it used (up.conns), so that the call
	// goes out twice at most in all.
	req := up.req
	resp, err := g.transport.RoundTrip(req)
	if err == nil || up.conns.Load() > 1 || req.Context().Err() != nil || isTimeout(err) {
		return resp, err
	}
	return g.transport.RoundTrip(req.Clone(req.Context()))
}

func retryable(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// transportError classifies a failure with no upstream answer.
func (g *Gateway) transportError(r *http.Request, up *upstreamCall, err error) error {
	if berr := up.bodyErr.get(); berr != nil {
		return berr
	}
	if r.Context().Err() != nil {
		return r.Context().Err() // the client left; nobody to answer
	}
	if isTimeout(err) || errors.Is(context.Cause(up.req.Context()), errTimedOut) {
		return upstreamTimeout(err)
	}
	return upstreamFailed(err)
}

// upstreamStatusError maps a non-2xx upstream answer: 429 stays 429 with Retry-After,
// anything else is 502, both carrying the provider's error (scrubbed, at most 8 KiB).
func (g *Gateway) upstreamStatusError(r *http.Request, up *upstreamCall, resp *http.Response, scrub *scrubber) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, upstreamBodyLimit+1))
	if err != nil && len(data) == 0 && r.Context().Err() != nil {
		return r.Context().Err()
	}
	retryAfter := ""
	if resp.StatusCode == http.StatusTooManyRequests {
		retryAfter = scrub.String(resp.Header.Get("Retry-After"))
	}
	return upstreamAnswered(resp.StatusCode, upstreamBody(scrub.Bytes(data)), retryAfter)
}

// upstreamBody is the provider's error as a client sees it: parsed JSON when it is JSON,
// else text cut to 8 KiB (contract §8).
func upstreamBody(data []byte) any {
	if len(data) <= upstreamBodyLimit && json.Valid(data) {
		return json.RawMessage(data)
	}
	if len(data) > upstreamBodyLimit {
		data = data[:upstreamBodyLimit]
		for len(data) > 0 && !utf8.Valid(data) {
			data = data[:len(data)-1]
		}
	}
	if len(data) == 0 {
		return ""
	}
	return string(bytes.ToValidUTF8(data, []byte("\uFFFD")))
}

// writeJSON validates and forwards a json-mode answer unchanged but for the scrubbed key.
func (g *Gateway) writeJSON(w http.ResponseWriter, r *http.Request, up *upstreamCall, resp *http.Response, scrub *scrubber, res Result) (Result, error) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	if n := resp.ContentLength; n > 0 && n <= g.maxJSONResponse {
		buf.Grow(int(n) + 1) // +1: the read that sees EOF needs room
	}
	_, err := buf.ReadFrom(io.LimitReader(&progressReader{r: resp.Body, wd: up.watchdog}, g.maxJSONResponse+1))
	if err != nil {
		return res, g.transportError(r, up, err)
	}
	data := buf.Bytes()
	if int64(len(data)) > g.maxJSONResponse {
		return res, upstreamFailed(errors.New("json response above the size limit"))
	}
	if len(data) == 0 {
		// No content (204, or an empty 200 to a DELETE): nothing to validate.
		copyResponseHeaders(w.Header(), resp.Header, scrub)
		w.WriteHeader(resp.StatusCode)
		res.Status = resp.StatusCode
		return res, nil
	}
	if !validJSON(data) {
		return res, upstreamFailed(errors.New("invalid JSON from upstream"))
	}
	data = scrub.Bytes(data)
	h := w.Header()
	copyResponseHeaders(h, resp.Header, scrub)
	if !isJSONType(resp.Header.Get("Content-Type")) {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(resp.StatusCode)
	n, _ := w.Write(data)
	res.Status, res.BytesOut = resp.StatusCode, int64(n)
	return res, nil
}

// isJSONType reports whether a Content-Type is application/json, with or without parameters.
func isJSONType(ct string) bool {
	const jt = "application/json"
	return len(ct) >= len(jt) && strings.EqualFold(ct[:len(jt)], jt) && (len(ct) == len(jt) || ct[len(jt)] == ';' || ct[len(jt)] == ' ')
}

// copyBufferSize is the copy loop's buffer: large enough for throughput, small enough that
// ten thousand open streams stay cheap.
const copyBufferSize = 32 << 10

// writeStream forwards a passthrough or stream answer as it arrives. In stream mode each
// chunk is flushed at once (contract §8); passthrough leaves flushing to net/http's buffer.
func (g *Gateway) writeStream(w http.ResponseWriter, r *http.Request, flush bool, up *upstreamCall, resp *http.Response, scrub *scrubber, res Result) (Result, error) {
	h := w.Header()
	copyResponseHeaders(h, resp.Header, scrub)
	if resp.ContentLength >= 0 && !flush {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	if flush {
		h.Set("X-Accel-Buffering", "no") // tell buffering reverse proxies in front of us
	}
	w.WriteHeader(resp.StatusCode)
	res.Status = resp.StatusCode
	rc := http.NewResponseController(w)
	if flush {
		_ = rc.Flush()
	}
	out := &scrubWriter{w: w, s: scrub}
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			up.watchdog.kick()
			if _, werr := out.Write(buf[:n]); werr != nil {
				return res, r.Context().Err() // the client left; the deferred cancel stops the upstream
			}
			res.BytesOut += int64(n)
			if flush {
				if err := rc.Flush(); err != nil {
					return res, context.Canceled
				}
			}
		}
		if rerr == io.EOF {
			if err := out.Close(); err != nil {
				return res, context.Canceled
			}
			return res, nil
		}
		if rerr != nil {
			if r.Context().Err() != nil {
				return res, r.Context().Err()
			}
			return res, ErrAborted
		}
	}
}
