package gateway

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/membudget"
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
		return Result{Sent: up.sent()}, g.transportError(r, up, err)
	}
	defer resp.Body.Close()
	up.watchdog.kick()
	res := Result{UpstreamStatus: resp.StatusCode, Sent: true, Answered: true}
	scrub := &up.scrub

	if resp.StatusCode < 200 {
		// net/http hands over a 1xx as the answer only for 101 Switching Protocols (it
		// reads past 100 Continue, 103 Early Hints and the others, none of which kicks the
		// watchdog: they count against the timeout like silence). A 101's body is the raw
		// connection, which neither the watchdog nor a cancel can interrupt, so it is
		// never read: an upstream that switches protocols on a plain request has failed.
		resp.Body.Close()
		return res, upstreamAnswered(resp.StatusCode, "", "")
	}
	if resp.StatusCode > 299 {
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
	retryAfter := ""
	if resp.StatusCode == http.StatusTooManyRequests {
		retryAfter = scrub.String(resp.Header.Get("Retry-After"))
	}
	// A body in a coding the gateway cannot undo is left out: its bytes would hide the key
	// from the scrubber.
	var data []byte
	complete := true
	if body, _, err := answerBody(resp, resp.Body, nil); err == nil {
		// Read past the limit by what an occurrence of the key may take, escaped: one
		// that straddles the cut is then masked whole before the text is cut.
		var rerr error
		data, rerr = io.ReadAll(io.LimitReader(body, int64(upstreamBodyLimit+scrub.cutSlack()+1)))
		if rerr != nil {
			if len(data) == 0 && r.Context().Err() != nil {
				return r.Context().Err()
			}
			complete = false
		}
	}
	return upstreamAnswered(resp.StatusCode, upstreamBody(scrub, data, complete), retryAfter)
}

// upstreamBody is the provider's error as a client sees it: parsed JSON when it is JSON of
// at most 8 KiB, else text cut to 8 KiB (contract §8); the key masked either way.
//
// The rule at a cut: the whole read (the limit and cutSlack more) is scrubbed first, so
// an occurrence of the key across the cut is masked entirely; then the text is cut (at a
// UTF-8 boundary), and a tail of what is kept that could begin a form of the key (the key
// in any case, its `\/` form, a base64 core: see scrubber) is masked too, whatever its
// length. The same tail rule applies when the read broke off early (complete false): the
// rest of the key may have been in what never came.
func upstreamBody(s *scrubber, data []byte, complete bool) any {
	if complete && len(data) <= upstreamBodyLimit && validJSON(data) {
		if out, ok := s.JSON(data); ok {
			return json.RawMessage(out)
		}
	}
	out, _ := s.json(data) // forms, and strings decoded, leniently
	if len(out) > upstreamBodyLimit || !complete {
		out = trimPartialRune(out[:min(len(out), upstreamBodyLimit)])
		s.tailMask(out)
	}
	if len(out) == 0 {
		return ""
	}
	return string(bytes.ToValidUTF8(out, []byte("\uFFFD")))
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b (a cut inside a
// character).
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// writeJSON validates and forwards a json-mode answer unchanged but for the scrubbed key.
// The answer is bounded after any content coding is undone (a small gzip body may stand
// for gigabytes), and the bytes held reserve the deployment's memory budget as they come.
func (g *Gateway) writeJSON(w http.ResponseWriter, r *http.Request, up *upstreamCall, resp *http.Response, scrub *scrubber, res Result) (Result, error) {
	body, _, err := answerBody(resp, &progressReader{r: resp.Body, wd: up.watchdog}, nil)
	if err != nil {
		return res, g.transportError(r, up, err)
	}
	src := io.LimitReader(body, g.maxJSONResponse+1)
	var mem grower
	if g.budget != nil {
		// The answer joins the invoke's reservation (up.mem, with the envelope's values),
		// returned when the invoke ends.
		mem = up.mem
		if up.mem == nil {
			hold := g.budget.NewHolder()
			defer hold.Release()
			mem = hold
		}
		src = &budgetReader{r: src, mem: mem}
	}
	// No Grow from resp.ContentLength: that is only what the upstream claims.
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	data, err := readHeld(buf, src, mem)
	if err != nil {
		if errors.Is(err, membudget.ErrExhausted) {
			return res, membudget.ErrExhausted
		}
		return res, g.transportError(r, up, err)
	}
	if int64(len(data)) > g.maxJSONResponse {
		return res, upstreamFailed(errors.New("json response above the size limit"))
	}
	if len(data) == 0 {
		// No content (204, or an empty 200 to a DELETE): nothing to validate.
		copyResponseHeaders(w.Header(), resp.Header, scrub)
		if up.capture != nil {
			up.capture.begin(resp.StatusCode, w.Header().Get("Content-Type"))
		}
		w.WriteHeader(resp.StatusCode)
		res.Status = resp.StatusCode
		return res, nil
	}
	if !validJSON(data) {
		return res, upstreamFailed(errors.New("invalid JSON from upstream"))
	}
	data, ok := scrub.JSON(data)
	if !ok {
		return res, upstreamFailed(errors.New("the provider key matched outside a JSON string: the answer cannot be scrubbed and stay JSON"))
	}
	if up.transform != nil {
		out, err := up.transform(resp.StatusCode, data)
		if err != nil {
			return res, err
		}
		if !validJSON(out) {
			return res, upstreamFailed(errTransform)
		}
		data = out
	}
	h := w.Header()
	copyResponseHeaders(h, resp.Header, scrub)
	if !isJSONType(resp.Header.Get("Content-Type")) {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if up.capture != nil {
		up.capture.begin(resp.StatusCode, h.Get("Content-Type"))
		up.capture.add(up.mem, data)
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := w.Write(data)
	res.Status, res.BytesOut = resp.StatusCode, int64(n)
	return res, nil
}

// smallJSON is how much of a json answer is read into a pooled buffer: the common small
// answer costs no allocation.
const smallJSON = 1 << 20

// readHeld reads src whole into one slice. The first smallJSON bytes go into buf (pooled);
// a larger answer is read on in chunks and copied once into a slice of its exact size,
// reserved in mem first — never the doubling of a growing buffer, which would hold up to
// three times the answer at once and grow the process far past what the limit suggests.
func readHeld(buf *bytes.Buffer, src io.Reader, mem grower) ([]byte, error) {
	n, err := buf.ReadFrom(io.LimitReader(src, smallJSON))
	if err != nil {
		return nil, err
	}
	if n < smallJSON {
		return buf.Bytes(), nil
	}
	chunks := [][]byte{buf.Bytes()}
	total := int(n)
	for {
		c := make([]byte, smallJSON)
		k, err := io.ReadFull(src, c)
		if k > 0 {
			chunks = append(chunks, c[:k])
			total += k
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if mem != nil {
		if err := mem.Grow(int64(total)); err != nil { // the copy below, beside the chunks
			return nil, err
		}
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// budgetReader reserves in the deployment's memory budget the bytes it lets through,
// before reading them, at most budgetStep ahead.
type budgetReader struct {
	r        io.Reader
	mem      grower
	n        int64 // bytes read
	reserved int64
}

// grower is a reservation in the memory budget: *memHold, *membudget.Holder.
type grower interface{ Grow(n int64) error }

const budgetStep = 32 << 10

func (b *budgetReader) Read(p []byte) (int, error) {
	if len(p) > budgetStep {
		p = p[:budgetStep]
	}
	if need := b.n + int64(len(p)) - b.reserved; need > 0 {
		if err := b.mem.Grow(need); err != nil {
			return 0, err
		}
		b.reserved += need
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// maxCodings bounds the content codings an answer may stack.
const maxCodings = 2

// errContentCoding is an answer whose content coding cannot be undone (contract §6: the
// gateway asks for identity, or for gzip in json mode). Forwarding its bytes without
// their Content-Encoding would both corrupt them and hide the key from the scrubber.
var errContentCoding = errors.New("upstream answer in a content coding the gateway cannot decode")

// answerBody returns the body to forward with any content codings undone (gzip and
// deflate; any other coding is errContentCoding), and whether the answer had any: then
// the upstream's Content-Length is that of the coded bytes and must not be forwarded.
// net/http's transport has already undone a gzip it asked for itself (json mode), and
// removed the header. With wd set, reading the coded bytes kicks it: a coded stream that
// moves is not silent because a block takes a while to decode.
func answerBody(resp *http.Response, raw io.Reader, wd *watchdog) (io.Reader, bool, error) {
	values, coded := resp.Header["Content-Encoding"]
	if !coded {
		return raw, false, nil
	}
	if resp.Body == http.NoBody {
		return http.NoBody, true, nil // a HEAD or empty answer: no bytes to undo
	}
	var codings []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			switch c = strings.ToLower(strings.TrimSpace(c)); c {
			case "", "identity":
			case "gzip", "x-gzip", "deflate":
				codings = append(codings, c)
			default:
				return nil, true, fmt.Errorf("%w: %q", errContentCoding, c)
			}
		}
	}
	if len(codings) > maxCodings {
		return nil, true, fmt.Errorf("%w: %d codings stacked", errContentCoding, len(codings))
	}
	if wd != nil && len(codings) > 0 {
		raw = &progressReader{r: raw, wd: wd}
	}
	body, err := decodeBody(raw, codings)
	return body, len(codings) > 0, err
}

// decodeBody undoes codings, applied in order, last first. Each decoder starts at once,
// so that a body that is not what its Content-Encoding says fails before the answer is
// sent; an empty body decodes to an empty one.
func decodeBody(body io.Reader, codings []string) (io.Reader, error) {
	for i := len(codings) - 1; i >= 0; i-- {
		br := bufio.NewReader(body)
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				return http.NoBody, nil
			}
			return nil, err
		}
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("%w: gzip: %w", errContentCoding, err)
			}
			body = zr
		case "deflate":
			// HTTP's deflate is zlib (RFC 9110 §8.4.1.2); some servers send raw deflate,
			// which a zlib header tells apart.
			if h, _ := br.Peek(2); len(h) == 2 && h[0]&0x0f == 8 && h[0]>>4 <= 7 && (uint(h[0])<<8|uint(h[1]))%31 == 0 {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, fmt.Errorf("%w: deflate: %w", errContentCoding, err)
				}
				body = zr
			} else {
				body = flate.NewReader(br)
			}
		}
	}
	return body, nil
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
//
// A coded answer (the gateway asked for identity, but an upstream may send gzip anyway) is
// decoded, and the decoded bytes are scrubbed and sent without the upstream's
// Content-Length; one in a coding the gateway cannot undo is a 502.
func (g *Gateway) writeStream(w http.ResponseWriter, r *http.Request, flush bool, up *upstreamCall, resp *http.Response, scrub *scrubber, res Result) (Result, error) {
	body, decoded, err := answerBody(resp, resp.Body, up.watchdog)
	if err != nil {
		return res, g.transportError(r, up, err)
	}
	h := w.Header()
	copyResponseHeaders(h, resp.Header, scrub)
	if resp.ContentLength >= 0 && !flush && !decoded {
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
	var dst io.Writer = w
	if up.capture != nil {
		up.capture.begin(resp.StatusCode, h.Get("Content-Type"))
		dst = &captureWriter{w: w, c: up.capture, mem: up.mem}
	}
	out := &scrubWriter{w: dst, s: scrub}
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	for {
		n, rerr := body.Read(buf)
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
