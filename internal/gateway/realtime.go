package gateway

import (
	"net/http"
	"net/url"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// Realtime is what the WebSocket relay (internal/httpapi/realtime.go) needs of the
// gateway: where the provider is, how its key is sent, how the key is kept out of what
// the provider says.

// UpstreamURL returns the URL of a call to ep of svc with the escaped path and query: the
// deployment's override for the service or the action's real base.
func (g *Gateway) UpstreamURL(svc *catalog.Service, ep *catalog.Endpoint, escapedPath string, q url.Values) (*url.URL, error) {
	return g.upstreamURL(Call{Service: svc, Endpoint: ep}, escapedPath, q)
}

// CredentialHeader returns the upstream handshake header holding secret, as the catalog's
// auth block says (header and prefix).
func CredentialHeader(svc *catalog.Service, secret string) http.Header {
	h := http.Header{}
	h.Set(svc.AuthHeader, svc.AuthPrefix+secret)
	return h
}

// Scrubber masks a provider key in what the provider sends: every form the gateway masks
// in answers (plain, JSON-escaped, URL- and base64-encoded).
type Scrubber struct{ s scrubber }

// NewScrubber returns a Scrubber of secret; an empty secret masks nothing.
func NewScrubber(secret string) *Scrubber { return &Scrubber{s: makeScrubber(secret)} }

// Text masks the key in one text message: as JSON (keeping it valid) when it is JSON,
// else every form of it.
func (s *Scrubber) Text(b []byte) []byte {
	if !s.s.active() {
		return b
	}
	if validJSON(b) {
		if out, ok := s.s.JSON(b); ok {
			return out
		}
	}
	return s.s.Forms(b)
}

// Binary masks the plain key in one binary message (its length kept).
func (s *Scrubber) Binary(b []byte) []byte { return s.s.Bytes(b) }
