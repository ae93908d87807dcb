package gateway

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the hop-by-hop headers of RFC 9110 §7.6.1 (and the older ones
// httputil.ReverseProxy also removes): they describe one connection, never the message.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// forbiddenRequestHeaders may not be set by a client's envelope "headers" (contract §6):
// the gateway owns identity, framing, encoding and routing of the upstream call.
var forbiddenRequestHeaders = map[string]bool{
	"Authorization":    true,
	"Host":             true,
	"Content-Length":   true,
	"Content-Type":     true, // set by the request mode
	"Accept-Encoding":  true, // set by the response mode
	"Cookie":           true,
	"Forwarded":        true,
	"X-Request-Id":     true, // the gateway propagates its own
	"Expect":           true,
	"Content-Encoding": true,
}

func init() {
	for _, h := range hopByHop {
		forbiddenRequestHeaders[h] = true
	}
}

// FilterRequestHeaders returns the client's envelope headers that may reach the upstream:
// everything except the forbidden and hop-by-hop headers, anything starting with Proxy- or
// X-Forwarded-, and the service's credential header in any case.
func FilterRequestHeaders(in http.Header, credentialHeader string) http.Header {
	out := make(http.Header, len(in))
	cred := textproto.CanonicalMIMEHeaderKey(credentialHeader)
	for name, values := range in {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if forbiddenRequestHeaders[canon] || canon == cred ||
			strings.HasPrefix(canon, "Proxy-") || strings.HasPrefix(canon, "X-Forwarded-") {
			continue
		}
		out[canon] = append(out[canon], values...)
	}
	return out
}

// forwardedResponseHeaders are the upstream response headers a client gets: the body's
// framing and type, caching and range validators, rate limits, and the providers' request
// ids and cost headers (contract §8). Everything else stays behind the gateway.
var forwardedResponseHeaders = []string{
	"Content-Type", "Content-Disposition", "Content-Range", "Accept-Ranges",
	"Content-Language", "Etag", "Last-Modified", "Cache-Control", "Expires", "Retry-After",
	"Request-Id", "History-Item-Id", "Character-Cost", "X-Character-Count", "X-Trace-Id",
	"Current-Concurrent-Requests", "Maximum-Concurrent-Requests",
	"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset",
}

// copyResponseHeaders copies the forwarded headers, scrubbing the credential from values.
// A header the proxy has already set on dst is its own answer and is kept: the upstream's
// value of the same name is dropped (the proxy's X-Ratelimit-* when an org limit applies).
func copyResponseHeaders(dst, src http.Header, s *scrubber) {
	for _, name := range forwardedResponseHeaders {
		if _, own := dst[name]; own {
			continue
		}
		for _, v := range src[name] {
			dst.Add(name, s.String(v))
		}
	}
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '!' || c >= '#' && c <= '\'' || c == '*' || c == '+' || c == '-' || c == '.' ||
			c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= '^' && c <= 'z' || c == '|' || c == '~') {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
