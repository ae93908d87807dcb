package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The WebSocket relay (docs/realtime.md): GET …/services/{service}/realtime/{action}/
// checks what an invoke checks, dials the provider with the org's key, then upgrades the
// client's connection and relays messages both ways, in order, until either side closes
// or a limit ends the session.

const realtimeRoute = "orgs/{org}/services/{service}/realtime/{action}"

// Realtime limits' defaults.
const (
	DefaultRealtimeMaxMessageBytes = 1 << 20
	DefaultRealtimeSessionsPerOrg  = 100
	DefaultRealtimeIdleTimeout     = 60 * time.Second
	DefaultRealtimeMaxDuration     = time.Hour
	realtimeSubprotocol            = "aiproxy"
	realtimeTokenSubprotocolPrefix = "aiproxy.token."
	realtimeTokenQuery             = "token"
)

// Close codes the gateway itself sends a client (docs/realtime.md).
const (
	CloseIdleTimeout   websocket.StatusCode = 4000 // no message either way for the idle timeout
	CloseMaxDuration   websocket.StatusCode = 4001 // the session lasted its maximum duration
	CloseUpstreamGone  websocket.StatusCode = 4002 // the provider's connection broke without a close
	CloseBudgetSpent   websocket.StatusCode = 4003 // the org's budget has no more of the session's unit (realtime_budget.go)
	CloseServerStopped websocket.StatusCode = 1001 // the gateway is shutting down (going away)
)

// RealtimeLimits bound the WebSocket relay; zero values take the defaults.
type RealtimeLimits struct {
	MaxMessageBytes   int64         // one message either way; larger closes with 1009
	MaxSessionsPerOrg int           // sessions in progress per org (across replicas with Sessions); more: 429 before the upgrade
	IdleTimeout       time.Duration // no message either way for this long closes with 4000
	MaxDuration       time.Duration // a session is closed with 4001 after this long

	// Sessions counts sessions across replicas (realtime_limit.go); nil: the server's
	// Limiter when it implements RealtimeSessions (redislimit's does), else this replica
	// alone.
	Sessions     RealtimeSessions
	SessionLease time.Duration // how long a shared count holds a session its replica stopped renewing
}

// newDialClient is the HTTP client the relay dials providers with. A WebSocket connection
// is never reused, and the WebSocket library reads and writes through buffers of its own:
// the transport's are kept small, as each session holds them for its lifetime.
func newDialClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   true,
		ReadBufferSize:      512,
		WriteBufferSize:     512,
	}}
}

// realtimeHub counts the sessions in progress per org and ends them all on Close.
type realtimeHub struct {
	dialClient *http.Client // dials the providers (newDialClient)
	limits     RealtimeLimits
	ctx        context.Context
	cancel     context.CancelFunc
	mu         sync.Mutex
	perOrg     map[int64]int
	wg         sync.WaitGroup
}

func newRealtimeHub(l RealtimeLimits) *realtimeHub {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultRealtimeMaxMessageBytes
	}
	if l.MaxSessionsPerOrg <= 0 {
		l.MaxSessionsPerOrg = DefaultRealtimeSessionsPerOrg
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultRealtimeIdleTimeout
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultRealtimeMaxDuration
	}
	if l.SessionLease <= 0 {
		l.SessionLease = DefaultRealtimeSessionLease
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &realtimeHub{limits: l, ctx: ctx, cancel: cancel, perOrg: map[int64]int{}, dialClient: newDialClient()}
}

var errRealtimeSessions = &aiproxy.Error{Code: aiproxy.ETHROTTLED, RetryAfter: "1",
	Message: "Too many realtime sessions in progress for this organization."}

// enter takes one of org's sessions, or refuses when all are in progress on this replica
// (when check: a count shared across replicas checks instead, realtime_limit.go).
func (h *realtimeHub) enter(org int64, check bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return aiproxy.Errorf(aiproxy.EUNAVAILABLE, "The gateway is shutting down.")
	}
	if check && h.perOrg[org] >= h.limits.MaxSessionsPerOrg {
		return errRealtimeSessions
	}
	h.perOrg[org]++
	h.wg.Add(1)
	return nil
}

func (h *realtimeHub) leave(org int64) {
	h.mu.Lock()
	if h.perOrg[org]--; h.perOrg[org] <= 0 {
		delete(h.perOrg, org)
	}
	h.mu.Unlock()
	h.wg.Done()
}

// closeAll ends every session (1001) and waits for them to settle their usage.
func (h *realtimeHub) closeAll() {
	h.mu.Lock()
	h.cancel()
	h.mu.Unlock()
	h.wg.Wait()
}

// isRealtime reports whether r is a request of the realtime route, whose browser token may
// come as a subprotocol or a query parameter.
func (s *Server) isRealtime(r *http.Request) bool {
	p := strings.TrimSuffix(r.Pattern, "/{$}")
	return p == s.prefix+"/"+realtimeRoute
}

// realtimeAuthorization is the Authorization value of a browser's token: the subprotocol
// aiproxy.token.<token>, else the token query parameter; "" when neither is given.
func realtimeAuthorization(r *http.Request) string {
	if t := tokenSubprotocol(r); t != "" {
		return "Bearer " + strings.TrimPrefix(t, realtimeTokenSubprotocolPrefix)
	}
	if t := r.URL.Query().Get(realtimeTokenQuery); t != "" {
		return "Bearer " + t
	}
	return ""
}

// offeredSubprotocols are the client's Sec-WebSocket-Protocol tokens, in order.
func offeredSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// tokenSubprotocol is the first aiproxy.token.<token> the client offers, or "".
func tokenSubprotocol(r *http.Request) string {
	for _, p := range offeredSubprotocols(r) {
		if strings.HasPrefix(p, realtimeTokenSubprotocolPrefix) && len(p) > len(realtimeTokenSubprotocolPrefix) {
			return p
		}
	}
	return ""
}

// selectedSubprotocols is what Accept may select: aiproxy when offered; the token
// subprotocol only when it is the only one offered (a browser fails a handshake that
// selects none of those it offered).
func selectedSubprotocols(r *http.Request) []string {
	offered := offeredSubprotocols(r)
	if slices.Contains(offered, realtimeSubprotocol) {
		return []string{realtimeSubprotocol}
	}
	if len(offered) == 1 && strings.HasPrefix(offered[0], realtimeTokenSubprotocolPrefix) {
		return offered
	}
	return nil
}

// realtimeParams splits the query into the path's parameters and those the action allows,
// refusing any other (the token excepted) and a missing path parameter.
func realtimeParams(ep *catalog.Endpoint, q url.Values) (path map[string]string, pass url.Values, err error) {
	path = map[string]string{}
	pathNames := ep.Path.Params()
	pass, err = allowedQuery(ep, q, func(name string, vs []string) (bool, error) {
		if !slices.Contains(pathNames, name) {
			return false, nil
		}
		if len(vs) != 1 {
			return true, aiproxy.Errorf(aiproxy.EINVALID, "Query parameter '%s' must be given once.", name)
		}
		path[name] = vs[0]
		return true, nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, name := range pathNames {
		if path[name] == "" {
			return nil, nil, aiproxy.Errorf(aiproxy.EINVALID, "Missing path parameter '%s' (give it in the query string).", name)
		}
	}
	return path, pass, nil
}

// allowedQuery is the query a session passes on to the provider: the parameters the action
// allows, without the browser token (the gateway's), any other refused by name. take, when
// set, sees each other parameter first and keeps it from the query when it says so.
func allowedQuery(ep *catalog.Endpoint, q url.Values, take func(name string, vs []string) (bool, error)) (url.Values, error) {
	pass := url.Values{}
	var unknown []string
	for name, vs := range q {
		if name == realtimeTokenQuery {
			continue
		}
		if take != nil {
			if taken, err := take(name, vs); err != nil {
				return nil, err
			} else if taken {
				continue
			}
		}
		if slices.Contains(ep.Query, name) {
			pass[name] = vs
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "Unknown query parameters for action '%s': %s.", ep.Slug, strings.Join(unknown, ", "))
	}
	return pass, nil
}

// errNotRealtime and errRealtimeOnly tell a client it used the wrong route for an action.
func errNotRealtime(action string) error {
	return aiproxy.Errorf(aiproxy.EINVALID, "Action '%s' is not a realtime action; invoke it with POST.", action)
}

func errRealtimeOnly(prefix, org, service, action string) error {
	return aiproxy.Errorf(aiproxy.EINVALID, "Action '%s' is a WebSocket action: connect to GET %s/orgs/%s/services/%s/realtime/%s/.",
		action, prefix, org, service, action)
}

// realtime serves GET …/realtime/{action}/: every refusal is the usual JSON error, before
// the upgrade.
func (s *Server) realtime(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	st, ep, err := s.action(r, org, r.PathValue("service"), r.PathValue("action"))
	if err != nil {
		return err
	}
	slug, action := st.Service.Slug, ep.Slug
	if !ep.WebSocket() {
		return errNotRealtime(action)
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return aiproxy.Errorf(aiproxy.EINVALID, "This route takes a WebSocket upgrade request.")
	}
	pathParams, query, err := realtimeParams(ep, r.URL.Query())
	if err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	return s.serveRealtime(w, r, org, st, ep, pathParams, query)
}

// serveRealtime holds one session of ep (a WebSocket action the caller may use, its path
// parameters and allowed query known): the org's limits and budget, the provider's
// handshake, then the relay. It serves the realtime route and the native route alike.
func (s *Server) serveRealtime(w http.ResponseWriter, r *http.Request, org *aiproxy.Org, st tenancy.ServiceState, ep *catalog.Endpoint,
	pathParams map[string]string, query url.Values) error {
	slug, action := st.Service.Slug, ep.Slug
	li := logInfoFrom(r.Context())
	escaped, err := ep.Path.Render(pathParams)
	if err != nil {
		s.tenancy.Refused(org, slug, action)
		return aiproxy.Errorf(aiproxy.EINVALID, "%v", err)
	}
	audio, query, err := audioFormat(ep, query)
	if err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	deprecationHeaders(w.Header(), r.URL.Path, ep)
	if err := s.throttle(w, r, org); err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	leave, err := s.joinRealtime(r.Context(), org.ID)
	if err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	handedOff := false
	defer func() {
		if !handedOff {
			leave()
		}
	}()

	inv := s.tenancy.NewInvocation(actorFrom(r), org, st, ep, requestID(r.Context()))
	key, source, err := s.vault.Resolve(r.Context(), st.Service.Slug, org.ID, st.Policy)
	if err != nil {
		s.tenancy.Refused(org, slug, action)
		return err
	}
	if !s.noAccounting {
		err = inv.Admit(r.Context(), source, tenancy.Request{Query: query, PathParams: pathParams})
		budgetHeaders(w.Header(), inv)
		if err != nil {
			inv.Finish(context.WithoutCancel(r.Context()), tenancy.Outcome{Err: err})
			return err
		}
	}
	sess := &realtimeSession{s: s, ep: ep, limits: s.rt.limits, scrub: gateway.NewScrubber(key), audio: audio}
	if !s.noAccounting {
		sess.take = inv.Take // units as they are spent: budget and usage (realtime_budget.go)
	}
	detached := context.WithoutCancel(r.Context())
	finish := func(status int, err error) {
		if s.noAccounting {
			return
		}
		outcome := tenancy.Outcome{Sent: status != 0, Answered: status != 0, Status: status, Err: err}
		if status == http.StatusSwitchingProtocols {
			outcome.Status = http.StatusOK // a session held: an accepted call
		}
		inv.Finish(detached, outcome)
	}
	client, up, status, err := sess.connect(w, r, st.Service, escaped, query, key)
	li.upstreamStatus = status
	if client == nil {
		finish(status, err)
		return err
	}
	// The session outlives its request: the handler returns, and with it the request's
	// state and stack; the session holds two goroutines, one per direction (relay), until
	// it ends, then settles its usage and leaves the org's count. The hub waits for it on
	// shutdown.
	handedOff = true
	reqID := requestID(r.Context())
	go func() {
		defer leave()
		c := sess.relay(client, up)
		finish(status, nil)
		// The request's log line told of the upgrade; this one tells how the session went.
		s.logger.Info("realtime session ended", slog.String("request_id", reqID), slog.String("org", org.Slug),
			slog.String("service", slug), slog.String("action", action),
			slog.Duration("duration", time.Since(sess.started).Round(time.Millisecond)),
			slog.Int("client_close", int(c.client)), slog.String("client_reason", c.clientReason),
			slog.Int("provider_close", int(c.upstream)))
	}()
	return nil
}

// realtimeSession is one relayed session.
type realtimeSession struct {
	s      *Server
	ep     *catalog.Endpoint
	limits RealtimeLimits
	scrub  *gateway.Scrubber

	// take adds units spent to the call, from the org's budget (tenancy.Invocation.Take);
	// nil without accounting.
	take func(context.Context, aiproxy.Units) error
	// audio counts the seconds of audio the client sent, for an action metered so
	// (realtime_audio.go); nil for another.
	audio *audioMeter

	last    atomic.Int64 // unix nanoseconds of the last message either way
	started time.Time
}

// connect dials the provider and upgrades the client: both connections once the session
// holds (the caller relays them), else nil. status is the provider's handshake status (101
// once connected, 0 when it was not reached); an error is returned only before the upgrade
// (a client whose upgrade failed was answered by Accept).
func (ss *realtimeSession) connect(w http.ResponseWriter, r *http.Request, svc *catalog.Service, escaped string, q url.Values, key string) (client, up *websocket.Conn, status int, err error) {
	u, err := ss.s.gateway.UpstreamURL(svc, ss.ep, escaped, q)
	if err != nil {
		return nil, nil, 0, err
	}
	dialCtx, cancelDial := context.WithTimeout(r.Context(), svc.TimeoutFor(ss.ep))
	defer cancelDial()
	up, resp, err := websocket.Dial(dialCtx, u.String(), &websocket.DialOptions{
		HTTPClient:      ss.s.rt.dialClient,
		HTTPHeader:      gateway.CredentialHeader(svc, key),
		CompressionMode: websocket.CompressionDisabled,
		Subprotocols:    providerSubprotocols(r),
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, nil, resp.StatusCode, &aiproxy.Error{Code: aiproxy.EUPSTREAM,
				Message: fmt.Sprintf("The provider refused the WebSocket session (status %d).", resp.StatusCode),
				Fields:  map[string]any{"upstream_status": resp.StatusCode}, Err: err}
		}
		if dialCtx.Err() != nil {
			return nil, nil, 0, &aiproxy.Error{Code: aiproxy.EUPSTREAMTIMEOUT, Message: "The provider did not answer in time.", Err: err}
		}
		return nil, nil, 0, &aiproxy.Error{Code: aiproxy.EUPSTREAM, Message: "The provider could not be reached.", Err: err}
	}
	up.SetReadLimit(ss.limits.MaxMessageBytes)

	// A hijacked connection keeps the deadlines the server set on it.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	client, err = websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		Subprotocols: acceptedSubprotocols(r, up.Subprotocol()),
		// Authentication is by key or token, never by cookie: a page of another origin
		// gains nothing a script with the token could not do (docs/realtime.md).
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		up.Close(websocket.StatusGoingAway, "client handshake failed")
		return nil, nil, http.StatusSwitchingProtocols, nil // Accept answered the client
	}
	client.SetReadLimit(ss.limits.MaxMessageBytes)
	return client, up, http.StatusSwitchingProtocols, nil
}

// smallBuffers hands the WebSocket library the client's connection with 1 KiB buffers
// instead of net/http's 4 KiB ones, which a session would hold for its lifetime: the
// library reads frame headers through the buffer and writes frames through it, and a larger
// message bypasses a buffer that is empty.
type smallBuffers struct{ http.ResponseWriter }

const sessionBufferSize = 1 << 10

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	if n := brw.Reader.Buffered(); n > 0 {
		// What the client sent after its upgrade request, already read, comes first: from
		// the connection itself, as the library reads the connection past the buffer.
		b, _ := brw.Reader.Peek(n)
		c = &prefixedConn{Conn: c, r: io.MultiReader(bytes.NewReader(bytes.Clone(b)), c)}
	}
	return c, bufio.NewReadWriter(bufio.NewReaderSize(c, sessionBufferSize), bufio.NewWriterSize(c, sessionBufferSize)), nil
}

// prefixedConn is a connection whose reads begin with bytes read from it before.
type prefixedConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// closing is how one side ended: the code and reason to send each side.
type closing struct {
	client, upstream websocket.StatusCode
	clientReason     string
	upstreamReason   string
}

// relay pumps both ways until one side ends or a limit fires, then closes both. It runs
// the client's direction itself and the provider's in one goroutine; the limits are timers
// that fire on their own (no goroutine waits for them), so that an idle session costs two
// parked goroutines and its connections' buffers.
func (ss *realtimeSession) relay(client, up *websocket.Conn) (ended closing) {
	defer client.CloseNow()
	defer up.CloseNow()
	ss.started = time.Now()
	ss.last.Store(ss.started.UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// end closes both sides once, as the first of the pumps and limits to finish says; the
	// closes run at once, each waiting for its peer's answer (at most 5 s).
	var once sync.Once
	closed := make(chan struct{})
	end := func(c closing) {
		once.Do(func() {
			ended = c
			go func() {
				defer close(closed)
				var wg sync.WaitGroup
				wg.Add(1)
				go func() { defer wg.Done(); _ = up.Close(c.upstream, c.upstreamReason) }()
				_ = client.Close(c.client, c.clientReason)
				wg.Wait()
			}()
		})
	}

	var idle *time.Timer
	idle = time.AfterFunc(ss.limits.IdleTimeout, func() {
		if since := time.Since(time.Unix(0, ss.last.Load())); since < ss.limits.IdleTimeout {
			idle.Reset(ss.limits.IdleTimeout - since)
			return
		}
		end(closing{client: CloseIdleTimeout, clientReason: "idle timeout",
			upstream: websocket.StatusNormalClosure, upstreamReason: "idle timeout"})
	})
	defer idle.Stop()
	maxDur := time.AfterFunc(ss.limits.MaxDuration, func() {
		end(closing{client: CloseMaxDuration, clientReason: "session duration limit",
			upstream: websocket.StatusNormalClosure, upstreamReason: "session duration limit"})
	})
	defer maxDur.Stop()
	stopShutdown := context.AfterFunc(ss.s.rt.ctx, func() {
		end(closing{client: CloseServerStopped, clientReason: "gateway shutting down",
			upstream: websocket.StatusGoingAway, upstreamReason: "gateway shutting down"})
	})
	defer stopShutdown()
	secs := ss.startSecondsClock(end)
	defer secs.stop()

	fromProvider := make(chan struct{})
	go func() {
		defer close(fromProvider)
		end(ss.pump(ctx, up, client, false))
	}()
	end(ss.pump(ctx, client, up, true))
	<-closed
	cancel()
	<-fromProvider
	return ended // written before closed was closed
}

// pump copies messages from one side to the other in order. fromClient: credential fields
// are removed from JSON text and metered text counted; else the key is scrubbed.
func (ss *realtimeSession) pump(ctx context.Context, from, to *websocket.Conn, fromClient bool) closing {
	for {
		typ, msg, err := readMessage(ctx, from)
		if err != nil {
			return ss.closingOf(err, fromClient)
		}
		c, ok := ss.forward(ctx, typ, msg.Bytes(), to, fromClient)
		putMessage(msg)
		if !ok {
			return c
		}
	}
}

// messagePool holds message buffers between messages: a session waiting for its next
// message holds none.
var messagePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledMessage bounds the buffers kept for reuse; a larger one is left to the GC.
const maxPooledMessage = 64 << 10

// readMessage reads one whole message into a pooled buffer (putMessage returns it).
func readMessage(ctx context.Context, c *websocket.Conn) (websocket.MessageType, *bytes.Buffer, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	b := messagePool.Get().(*bytes.Buffer)
	b.Reset()
	if _, err := b.ReadFrom(r); err != nil {
		putMessage(b)
		return 0, nil, err
	}
	return typ, b, nil
}

func putMessage(b *bytes.Buffer) {
	if b.Cap() <= maxPooledMessage {
		messagePool.Put(b)
	}
}

// forward passes one message on, as pump says; false: the session ends as c says.
func (ss *realtimeSession) forward(ctx context.Context, typ websocket.MessageType, data []byte, to *websocket.Conn, fromClient bool) (closing, bool) {
	ss.last.Store(time.Now().UnixNano())
	if fromClient {
		if typ == websocket.MessageText {
			var units aiproxy.Units
			data, units = ss.clientText(data)
			var chunk *audioChunk
			if ss.audio != nil {
				var stop closing
				var ok bool
				if chunk, stop, ok = ss.audio.measure(data); !ok {
					return stop, false
				}
				units = chunk.units()
			}
			// Taken before the message goes on: one over the budget never does.
			if stop, ok := ss.charge(units); !ok {
				return stop, false
			}
			if ss.audio != nil {
				ss.audio.forwarded(chunk)
			}
		} else if ss.audio != nil {
			// Audio the gateway cannot count must not reach the provider.
			return closing{client: websocket.StatusUnsupportedData, clientReason: "binary messages are not accepted",
				upstream: websocket.StatusNormalClosure, upstreamReason: "invalid client message"}, false
		}
	} else if typ == websocket.MessageText {
		data = ss.scrub.Text(data)
	} else {
		data = ss.scrub.Binary(data)
	}
	if err := to.Write(ctx, typ, data); err != nil {
		// The other side is gone: its own read says how; close this one as going away.
		if fromClient {
			return closing{client: CloseUpstreamGone, clientReason: "provider connection lost",
				upstream: websocket.StatusGoingAway}, false
		}
		return closing{client: websocket.StatusGoingAway, upstream: websocket.StatusGoingAway, upstreamReason: "client gone"}, false
	}
	return closing{}, true
}

// closingOf turns the error that ended a read into the closes of both sides: a close frame is
// passed on (its code and reason), a message over the limit closes with 1009.
func (ss *realtimeSession) closingOf(err error, fromClient bool) closing {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		if fromClient {
			return closing{client: websocket.StatusMessageTooBig, clientReason: "message too big",
				upstream: websocket.StatusGoingAway, upstreamReason: "client closed"}
		}
		return closing{client: websocket.StatusMessageTooBig, clientReason: "provider message too big",
			upstream: websocket.StatusMessageTooBig, upstreamReason: "message too big"}
	}
	code, reason := websocket.CloseStatus(err), ""
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	switch code {
	case -1: // no close frame: the connection broke
		if fromClient {
			return closing{client: websocket.StatusGoingAway, upstream: websocket.StatusGoingAway, upstreamReason: "client gone"}
		}
		return closing{client: CloseUpstreamGone, clientReason: "provider connection lost", upstream: websocket.StatusGoingAway}
	case websocket.StatusNoStatusRcvd:
		code = websocket.StatusNormalClosure
	case websocket.StatusAbnormalClosure, websocket.StatusTLSHandshake:
		code = websocket.StatusGoingAway
	}
	if !fromClient {
		reason = string(ss.scrub.Text([]byte(reason)))
	}
	return closing{client: code, clientReason: reason, upstream: code, upstreamReason: reason}
}

// clientText removes the credential fields from a client's JSON object message and returns
// the units it meters (realtime_budget.go); other text passes unchanged.
func (ss *realtimeSession) clientText(data []byte) ([]byte, aiproxy.Units) {
	if len(ss.ep.CredentialFields) == 0 && ss.ep.Meter.Characters == nil {
		return data, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data, nil // not a JSON object: nothing to remove or count
	}
	units := ss.messageUnits(data)
	removed := false
	for name := range m {
		for _, f := range ss.ep.CredentialFields {
			if strings.EqualFold(name, f) {
				delete(m, name)
				removed = true
			}
		}
	}
	if !removed {
		return data, units
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data, units
	}
	return out, units
}
