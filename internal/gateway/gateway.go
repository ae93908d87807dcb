// Package gateway performs one invoke: it turns a client's envelope into the upstream call
// that a catalog endpoint describes, injects the provider key, and streams the upstream's
// answer back under the contract's rules. It knows nothing of orgs, keys or storage.
package gateway

import (
	"context"
	"errors"
	"hash"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/membudget"
)

// Defaults for Config's zero values.
const (
	DefaultMaxEnvelopeBytes = 64 << 20 // a JSON envelope, its files' data aside (that streams)
	DefaultMaxUploadBytes   = 5 << 30  // a multipart envelope streams; this bounds its total size
	DefaultMaxJSONResponse  = 32 << 20 // a json-mode response is validated whole
	upstreamBodyLimit       = 8 << 10  // upstream_body in errors (contract §8)
)

// Defaults for Config's zero values: what one invoke may hold in memory.
const (
	DefaultMaxEnvelopeBodyBytes = 16 << 20 // a JSON envelope's body, query, headers, path_params
	DefaultMaxTextPartBytes     = 1 << 20  // each text part of a multipart envelope
	DefaultMaxTextPartsBytes    = 8 << 20  // all of them together
)

// Gateway performs invokes. Its zero value is not usable: use New.
type Gateway struct {
	transport        http.RoundTripper
	upstreams        map[string]*url.URL
	maxEnvelopeBytes int64
	maxUploadBytes   int64
	maxJSONResponse  int64
	userAgent        string
	bases            sync.Map // catalog base URL → *url.URL
	budget           *membudget.Budget

	limits            limits          // what one invoke may hold
	credentialHeaders map[string]bool // Config.CredentialHeaders, normalized
}

// Config configures a Gateway.
type Config struct {
	// Upstreams points every endpoint of a service (by slug), whatever its host, at another
	// base URL: a simulator or a mirror.
	Upstreams        map[string]*url.URL
	MaxEnvelopeBytes int64
	MaxUploadBytes   int64
	MaxJSONResponse  int64
	// Transport is the upstream transport; nil means a tuned clone of the default.
	Transport http.RoundTripper
	UserAgent string
	// Budget bounds the bytes held in memory across requests: a json-mode answer reserves
	// what it holds as it is read, and fails with membudget.ErrExhausted (503) when the
	// budget is spent. Nil: no bound but MaxJSONResponse per answer.
	// The envelope's held values and multipart text parts reserve it too (per invoke,
	// released when the invoke ends).
	Budget *membudget.Budget

	// MaxEnvelopeBodyBytes bounds what a JSON envelope makes the gateway hold in memory:
	// the values of body, query, headers and path_params, and the files' names and types
	// (their data streams). Default DefaultMaxEnvelopeBodyBytes.
	MaxEnvelopeBodyBytes int64
	// MaxTextPartBytes bounds each text part of a multipart envelope (body, query,
	// headers, path_params and plain form fields, before or after the files), and
	// MaxTextPartsBytes all of them together. Defaults DefaultMaxTextPartBytes and
	// DefaultMaxTextPartsBytes.
	MaxTextPartBytes  int64
	MaxTextPartsBytes int64
	// CredentialHeaders are the credential headers of every service the deployment knows
	// (CredentialHeaderNames(catalog.Services())): no client envelope header of any of
	// these names, in any letter case or with '_' for '-', reaches any upstream. The
	// built-in services' are always included.
	CredentialHeaders []string
	// SpoolDir is where a JSON envelope's files wait when they cannot stream; "" means
	// os.TempDir().
	SpoolDir string
}

// New returns a Gateway.
func New(cfg Config) *Gateway {
	g := &Gateway{
		upstreams:        cfg.Upstreams,
		maxEnvelopeBytes: orDefault(cfg.MaxEnvelopeBytes, DefaultMaxEnvelopeBytes),
		maxUploadBytes:   orDefault(cfg.MaxUploadBytes, DefaultMaxUploadBytes),
		maxJSONResponse:  orDefault(cfg.MaxJSONResponse, DefaultMaxJSONResponse),
		userAgent:        cfg.UserAgent,
		budget:           cfg.Budget,
	}
	g.limits = limits{
		envelope: g.maxEnvelopeBytes,
		held:     orDefault(cfg.MaxEnvelopeBodyBytes, DefaultMaxEnvelopeBodyBytes),
		part:     orDefault(cfg.MaxTextPartBytes, DefaultMaxTextPartBytes),
		parts:    orDefault(cfg.MaxTextPartsBytes, DefaultMaxTextPartsBytes),
		upload:   g.maxUploadBytes,
		spoolDir: cfg.SpoolDir,
	}
	if g.limits.spoolDir == "" {
		g.limits.spoolDir = os.TempDir()
	}
	if len(cfg.CredentialHeaders) > 0 {
		g.credentialHeaders = normalizedSet(cfg.CredentialHeaders)
	}
	if g.userAgent == "" {
		g.userAgent = "aiproxy"
	}
	rt := cfg.Transport
	if rt == nil {
		rt = NewTransport()
	}
	// The transport is used directly, not through an http.Client: a gateway never follows
	// a redirect (the provider key would go wherever the upstream points), so the client's
	// redirect machinery — and the header copies it makes on every call — has nothing to do.
	g.transport = rt
	return g
}

// NewTransport returns the upstream transport: keep-alive pools sized for a gateway, and
// no overall client timeout (each call sets its own deadlines).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0
	t.ExpectContinueTimeout = 0
	return t
}

func orDefault(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

// MaxEnvelopeBytes is the limit on a JSON envelope, its files' data aside.
func (g *Gateway) MaxEnvelopeBytes() int64 { return g.maxEnvelopeBytes }

// MaxUploadBytes is the limit on a whole request body.
func (g *Gateway) MaxUploadBytes() int64 { return g.maxUploadBytes }

// MaxJSONResponse is the limit on a json action's answer (a Capture of this many bytes
// keeps any json answer whole).
func (g *Gateway) MaxJSONResponse() int64 { return g.maxJSONResponse }

// CredentialFunc resolves the provider key. It is called after the envelope and path are
// known to be valid, right before the upstream call.
type CredentialFunc func(ctx context.Context) (string, error)

// Call is one invoke.
//
// Its hooks let the caller apply rules of its own (job ownership, idempotency, metering)
// without the gateway knowing them. Each is optional, and a nil hook costs nothing.
type Call struct {
	Service    *catalog.Service
	Endpoint   *catalog.Endpoint
	RequestID  string
	Credential CredentialFunc

	// Before is called once the envelope's non-file parts are known and found valid for the
	// endpoint (the path renders, files only where the endpoint takes them, …), before the
	// credential is resolved and before any byte goes upstream; an error aborts the invoke
	// with that error, and nothing is sent. It runs on the request's goroutine, once.
	//
	// What env holds then:
	//   - a JSON envelope read whole (no file, or files that had to wait in the spool):
	//     everything; env.Files lists the files (their Data may be nil: they are spooled).
	//   - a JSON envelope whose files stream (env.Streaming()): query, headers and
	//     path_params (all given before "files", or the files would not stream), and body
	//     if it came before "files"; a "body" after "files" is not known (env.Body is nil),
	//     and env.Files is empty.
	//   - a multipart envelope: every text part before the first file part (body, query,
	//     headers, path_params, plain fields); when there is a file (env.Streaming()), a
	//     "body" part or plain text parts after it are not known, and no file is listed.
	// Before must not modify env or keep it after returning.
	Before func(ctx context.Context, env *Envelope) error

	// Fingerprint, when set, receives the request's canonical form (see hooks.go): query,
	// headers, path_params and body in canonical encodings, plain text fields, then each
	// file's field, filename, content type, size and SHA-256 of its bytes, digested as
	// they stream. It is the same for the same request whatever its transport (JSON with
	// base64 files or multipart), JSON key order and white space, multipart boundary and
	// part order, and it is written once the whole envelope has been read (Result.
	// Fingerprinted). Gateway.Fingerprint computes it without calling the upstream.
	Fingerprint hash.Hash

	// Capture, when set, receives a copy of the answer sent to the client (see Capture).
	Capture *Capture

	// TransformJSON, when set, rewrites a json action's 2xx answer after it was validated
	// and scrubbed, before it is sent: status is the upstream's, body the answer (valid only
	// during the call; the result may be body itself, or a slice of it). It is not called
	// for an empty answer. Its result must be JSON: anything else is the 502 of an upstream
	// failure (cause "transform produced invalid JSON"). An error fails the invoke with that
	// error, and nothing is sent. The result is the caller's memory, not reserved in the
	// memory budget.
	TransformJSON func(status int, body []byte) ([]byte, error)
}

// Result describes a finished invoke, for the request log, metrics, and the caller's
// accounting.
type Result struct {
	Status         int   // what the client got; 0 if it left before any answer
	UpstreamStatus int   // 0 if there was no upstream answer
	BytesOut       int64 // body bytes written to the client

	// Sent: some of the request may have reached the upstream (the transport had a
	// connection and began writing; it errs on the side of true). False: refused before
	// the upstream (a bad envelope, Before, the credential, a connection that could not
	// be made) — the provider cannot have run it.
	Sent bool
	// Answered: an upstream status line was received (any status). Sent && !Answered is a
	// call whose outcome is unknown (a timeout or a reset after the request went out): the
	// provider may have run it.
	Answered bool
	// Fingerprinted: Call.Fingerprint holds the canonical form of the whole request. False
	// without a Fingerprint, when the envelope was refused, or when the invoke ended before
	// the whole upload was read (an upstream that answered before taking all of it).
	Fingerprinted bool
}

// Invoke reads the envelope from r and performs the call. Errors that happen before
// anything is written (bad envelope: EINVALID; too large: ETOOLARGE; upstream failure:
// EUPSTREAM, EUPSTREAMTIMEOUT, ETHROTTLED; credential errors as returned) are returned for the HTTP layer
// to render; once the response has started, a failure aborts the connection instead, so
// the client sees a truncated body rather than a false success.
func (g *Gateway) Invoke(w http.ResponseWriter, r *http.Request, c Call) (Result, error) {
	r.Body = http.MaxBytesReader(w, r.Body, g.maxUploadBytes)
	st := newReqState(g.limits, g.budget)
	defer st.close() // the memory reservation and the spool end with the invoke
	if c.Fingerprint == nil {
		return g.invoke(w, r, c, st)
	}
	st.fp = newFingerprint(c.Fingerprint, st)
	res, err := g.invoke(w, r, c, st)
	res.Fingerprinted = st.fp.close() // nothing more goes into c.Fingerprint
	return res, err
}

func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, c Call, st *reqState) (Result, error) {
	env, err := g.readEnvelope(r, c, st)
	if err != nil {
		return Result{}, err
	}
	up, err := g.prepare(r.Context(), c, env)
	if err != nil {
		return Result{}, err
	}
	return g.roundTrip(w, r, c, up)
}

// upstreamURL builds the URL of the upstream call: the endpoint's real base, or the
// deployment's override for the service, then the rendered path and the query.
func (g *Gateway) upstreamURL(c Call, escapedPath string, q url.Values) (*url.URL, error) {
	base := g.upstreams[c.Service.Slug]
	if base == nil {
		var err error
		if base, err = g.parsedBase(c.Service.BaseURLFor(c.Endpoint)); err != nil {
			return nil, err
		}
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path, RawPath: base.RawPath}
	basePath := strings.TrimSuffix(u.EscapedPath(), "/")
	raw := basePath + escapedPath
	path, err := url.PathUnescape(raw)
	if err != nil {
		return nil, err
	}
	u.Path, u.RawPath = path, raw
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// parsedBase returns the parsed form of a catalog base URL, parsing each one once.
func (g *Gateway) parsedBase(raw string) (*url.URL, error) {
	if u, ok := g.bases.Load(raw); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	g.bases.Store(raw, u)
	return u, nil
}

// isTimeout reports whether err is a deadline, from our own timers or the network.
func isTimeout(err error) bool {
	if errors.Is(err, errTimedOut) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var errTimedOut = errors.New("upstream timed out")

// Close releases idle upstream connections.
func (g *Gateway) Close() {
	if t, ok := g.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}
