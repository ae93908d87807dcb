package webhooks

import (
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultTimeout is how long one attempt may take (connecting, sending, the answer's
// headers and its first bytes) when NewClient is given no timeout.
const DefaultTimeout = 10 * time.Second

// PrivateAddressError is the error the client of NewClient gives (inside a *url.Error)
// when an address it would dial is refused: a hostname that resolved to a loopback,
// private, link-local, … address.
type PrivateAddressError struct {
	Addr  netip.Addr
	Class string // "a loopback", "a private", …
}

func (e *PrivateAddressError) Error() string {
	return "webhooks: refusing to connect to " + e.Class + " address (" + e.Addr.String() + ")"
}

// dialControl returns the net.Dialer Control function that refuses connections to the
// addresses CheckURL refuses (unless allowPrivate). It runs after name resolution, on the
// very address dialed, so a name that resolves to a public address when the URL is checked
// and to a private one when it is dialed (DNS rebinding) is still refused.
func dialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &PrivateAddressError{Class: "an unparsable", Addr: netip.Addr{}}
		}
		if class := refusedAddr(ap.Addr()); class != "" {
			return &PrivateAddressError{Addr: ap.Addr().WithZone("").Unmap(), Class: class}
		}
		return nil
	}
}

// NewClient returns the HTTP client of webhook deliveries: its own transport (no proxy,
// so that nothing but the dialer below decides where a request goes; a small pool of idle
// connections per host), a dialer that refuses the addresses CheckURL refuses unless
// allowPrivate, no redirects followed (a 3xx is the answer), and timeout for a whole
// attempt (DefaultTimeout when timeout <= 0).
func NewClient(allowPrivate bool, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{
		Timeout:   min(timeout, 10*time.Second),
		KeepAlive: 30 * time.Second,
		Control:   dialControl(allowPrivate),
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    min(timeout, 10*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: timeout,
	}
}
