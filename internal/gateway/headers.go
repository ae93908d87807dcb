package gateway

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// hopByHop are the hop-by-hop headers of RFC 9110 §7.6.1 (and the older ones
// httputil.ReverseProxy also removes): they describe one connection, never the message.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// gatewayOwnedHeaders may not be set by a client's envelope "headers" (contract §6): the
// gateway owns identity, framing and encoding of the upstream call.
var gatewayOwnedHeaders = []string{
	"Authorization", "Host", "Content-Length",
	"Content-Type",    // set by the request mode
	"Accept-Encoding", // set by the response mode
	"Cookie",
	"X-Request-Id", // the gateway propagates its own
	"Expect", "Content-Encoding",
}

// routingRequestHeaders are the client headers that would steer the upstream call instead
// of describing it, so they never come from a client's envelope "headers":
//
//   - method overrides: frameworks that honour them (Rails, Laravel, Express's
//     method-override, many API gateways) would turn the catalog's method into another —
//     a billable POST into a DELETE, or the reverse;
//   - URL rewrites: IIS, Symfony and some proxies route by them instead of the request line,
//     reaching paths the catalog does not expose;
//   - client address and forwarding: what upstreams and their CDNs trust for allow-lists,
//     rate limits, fraud checks and audit (RFC 7239 Forwarded, RFC 9110 Via, the de facto
//     X-Forwarded-* family — which is also dropped by prefix — and vendor variants);
//   - host overrides: what a virtual-hosting proxy or framework may route by.
//
// A name ending in '*' stands for every header it starts (its best-known members are also
// listed, for forbiddenRequestHeaders). Every name matches in any letter case and with '_'
// for '-' (normalizeHeaderName): CGI, WSGI and PHP servers, and nginx with
// underscores_in_headers, turn both into the same variable (HTTP_X_FORWARDED_FOR), so
// X_Forwarded_For would reach the provider's application as X-Forwarded-For.
var routingRequestHeaders = []string{
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
	"X-Original-Url", "X-Rewrite-Url",
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "X-Cluster-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
	"Forwarded", "Via", "X-Forwarded-*", "Proxy-*",
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix",
	"X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Uri",
	"X-Host", "X-Forwarded-Host", "X-Original-Host",
}

// builtinCredentialHeaders are the credential headers of the built-in catalog's services
// (internal/catalog/services; a test keeps the two in step). A client's envelope headers
// never carry any of them, whichever service is called: a client that could send one
// provider's credential header to another, or its own key under a look-alike spelling,
// could make the gateway forward a key it does not own. Config.CredentialHeaders adds the
// deployment's own services'.
var builtinCredentialHeaders = []string{"X-Api-Key", "Xi-Api-Key"}

// forbiddenRequestHeaders holds every header name above in canonical form, in each of its
// '_' and '-' spellings (X-Forwarded-Host, X_forwarded_host, X-Forwarded_host, …).
var forbiddenRequestHeaders = map[string]bool{}

// droppedHeaders is the same set, normalized (normalizeHeaderName), and droppedPrefixes
// the prefixes of routingRequestHeaders: what the filter uses.
var (
	droppedHeaders  = map[string]bool{}
	droppedPrefixes []string
)

func init() {
	for _, list := range [][]string{hopByHop, gatewayOwnedHeaders, routingRequestHeaders, builtinCredentialHeaders} {
		for _, h := range list {
			if prefix, ok := strings.CutSuffix(h, "*"); ok {
				droppedPrefixes = append(droppedPrefixes, normalizeHeaderName(prefix))
				continue
			}
			droppedHeaders[normalizeHeaderName(h)] = true
			for _, spelling := range separatorSpellings(h) {
				forbiddenRequestHeaders[textproto.CanonicalMIMEHeaderKey(spelling)] = true
			}
		}
	}
}

// separatorSpellings returns name with each of its dashes as '-' or '_', in every
// combination.
func separatorSpellings(name string) []string {
	out := []string{name}
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		for _, s := range out {
			out = append(out, s[:i]+"_"+s[i+1:])
		}
	}
	return out
}

// normalizeHeaderName is how names are compared: ASCII letters in lower case, '_' as '-'.
func normalizeHeaderName(name string) string {
	b := []byte(name)
	for i, c := range b {
		b[i] = normalizedByte(c)
	}
	return string(b)
}

func normalizedByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}

// sameHeaderName reports whether a and b are the same name once normalized.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if normalizedByte(a[i]) != normalizedByte(b[i]) {
			return false
		}
	}
	return true
}

// CredentialHeaderNames returns the credential headers of services (their catalog auth
// headers), for Config.CredentialHeaders.
func CredentialHeaderNames(services []*catalog.Service) []string {
	var out []string
	for _, s := range services {
		if s.AuthHeader != "" {
			out = append(out, s.AuthHeader)
		}
	}
	return out
}

// normalizedSet returns names normalized, as a set.
func normalizedSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[normalizeHeaderName(n)] = true
	}
	return set
}

// FilterRequestHeaders returns the client's envelope headers that may reach the upstream:
// everything except the gateway-owned, hop-by-hop and routing headers, anything starting
// with Proxy- or X-Forwarded-, the built-in services' credential headers, and the
// credential headers given (the called service's, and any other known one) — every name in
// any letter case and with '_' for '-'. Names come out canonical.
func FilterRequestHeaders(in http.Header, credentialHeaders ...string) http.Header {
	return filterRequestHeaders(in, credentialHeaders, nil)
}

// filterRequestHeaders is FilterRequestHeaders with a normalized set of further credential
// headers (the gateway's).
func filterRequestHeaders(in http.Header, credentialHeaders []string, known map[string]bool) http.Header {
	out := make(http.Header, len(in))
	for name, values := range in {
		if droppedRequestHeader(name, credentialHeaders, known) {
			continue
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		out[canon] = append(out[canon], values...)
	}
	return out
}

func droppedRequestHeader(name string, credentialHeaders []string, known map[string]bool) bool {
	var small [64]byte
	var b []byte
	if len(name) <= len(small) {
		b = small[:len(name)]
	} else {
		b = make([]byte, len(name))
	}
	for i := 0; i < len(name); i++ {
		b[i] = normalizedByte(name[i])
	}
	if droppedHeaders[string(b)] || known[string(b)] {
		return true
	}
	for _, p := range droppedPrefixes {
		if len(b) >= len(p) && string(b[:len(p)]) == p {
			return true
		}
	}
	for _, c := range credentialHeaders {
		if sameHeaderName(name, c) {
			return true
		}
	}
	return false
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

// ValidHeaderName reports whether name is an HTTP field name (an RFC 9110 token).
func ValidHeaderName(name string) bool { return validHeaderName(name) }

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
