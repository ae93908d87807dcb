package httpapi

import (
	"net/http"
	"strings"
)

// Provider subprotocols (docs/realtime.md, "Subprotocols"): the subprotocols a client
// offers, other than the gateway's own (aiproxy, aiproxy.token.<token>), are offered to the
// provider in the same order; the one the provider selects is the one the client is
// accepted with. When the provider selects none, the gateway's own rules apply
// (selectedSubprotocols).

// providerSubprotocols are the client's offered subprotocols the provider is offered: all
// but aiproxy and aiproxy.token.* (the token never leaves the gateway).
func providerSubprotocols(r *http.Request) []string {
	var out []string
	for _, p := range offeredSubprotocols(r) {
		if p == realtimeSubprotocol || strings.HasPrefix(p, realtimeTokenSubprotocolPrefix) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// acceptedSubprotocols is what the client's Accept may select: the provider's selection
// when it made one, else the gateway's own rules.
func acceptedSubprotocols(r *http.Request, provider string) []string {
	if provider != "" {
		return []string{provider}
	}
	return selectedSubprotocols(r)
}
