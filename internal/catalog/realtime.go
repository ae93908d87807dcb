package catalog

import "strings"

// Transport is how a client reaches an action: an HTTP invoke (POST …/{action}/) or a
// WebSocket relay (GET …/realtime/{action}/, docs/realtime.md).
type Transport string

const (
	TransportHTTP      Transport = "http"      // the default
	TransportWebSocket Transport = "websocket" // a WebSocket session the gateway relays
)

// WebSocket reports whether the action is a realtime (WebSocket) one.
func (e *Endpoint) WebSocket() bool { return e.Transport == TransportWebSocket }

// buildRealtime reads and checks transport, query and credential_fields: a websocket
// action is a GET with a raw request; query (the query parameters a client may pass on)
// and credential_fields (the members of a client's JSON message the gateway removes,
// since it sends the provider key itself) belong to websocket actions only.
func buildRealtime(e *Endpoint, ef *endpointFile, fail func(format string, args ...any)) {
	e.Transport = Transport(ef.Transport)
	if e.Transport == "" {
		e.Transport = TransportHTTP
	}
	e.Query = ef.Query
	e.CredentialFields = ef.CredentialFields
	switch e.Transport {
	case TransportHTTP:
		if len(e.Query) > 0 || len(e.CredentialFields) > 0 {
			fail("query and credential_fields need transport websocket")
		}
	case TransportWebSocket:
		if e.HTTPMethod != "" && e.HTTPMethod != "GET" {
			fail("transport websocket needs method GET, got %q", e.HTTPMethod)
		}
		if e.RequestMode != "" && e.RequestMode != RequestRaw {
			fail("transport websocket needs request_mode raw")
		}
		if e.CallbackMode != CallbackNone || len(ef.CreatesJob) > 0 || ef.JobStatus != nil {
			fail("transport websocket takes no jobs")
		}
	default:
		fail("unknown transport %q (want http or websocket)", ef.Transport)
	}
	seen := map[string]bool{}
	for _, list := range [][]string{e.Query, e.CredentialFields} {
		for _, v := range list {
			if strings.TrimSpace(v) == "" {
				fail("empty name in query or credential_fields")
			}
		}
	}
	for _, q := range e.Query {
		if seen[q] {
			fail("query names %q twice", q)
		}
		seen[q] = true
		if e.Path != nil {
			for _, p := range e.Path.Params() {
				if p == q {
					fail("query names %q, a path parameter", q)
				}
			}
		}
		if q == "token" {
			fail("query must not name \"token\": the gateway reads it (browser tokens)")
		}
	}
}

// SessionSeconds reports whether a websocket action is metered in seconds of session (each
// second begun counts): one whose meter counts nothing in the client's messages.
func (e *Endpoint) SessionSeconds() bool {
	return e.WebSocket() && e.Meter.Characters == nil
}
