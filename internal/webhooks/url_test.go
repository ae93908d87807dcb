package webhooks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func TestCheckURLAcceptsPublicHTTPS(t *testing.T) {
	for _, u := range []string{
		"https://example.com/hooks/aiproxy",
		"https://hooks.example.com:8443/x?token=abc",
		"https://93.184.216.34/hook",
		"https://[2606:4700:4700::1111]/hook",
		"HTTPS://Example.COM./hook",
	} {
		if err := CheckURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestCheckURLRefusesUnsafeURLs(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"", "is required"},
		{"https://example.com/" + strings.Repeat("a", 2100), "at most 2048"},
		{"http://example.com/hook", "must use https"},
		{"ftp://example.com/hook", "must use https"},
		{"/relative/path", "absolute URL"},
		{"example.com/hook", "absolute URL"},
		{"https:example.com", "absolute URL"},
		{"https:///hook", "name a host"},
		{"https://user:pass@example.com/", "user name or password"},
		{"https://user@example.com/", "user name or password"},
		{"https://example.com/#frag", "fragment"},
		{"https://example.com/#", "fragment"},
		{"https://127.0.0.1/", "loopback address (127.0.0.1)"},
		{"https://127.8.9.10:8443/", "loopback"},
		{"https://[::1]/", "loopback address (::1)"},
		{"https://[::ffff:127.0.0.1]/", "loopback address (127.0.0.1)"},
		{"https://[::ffff:7f00:1]/", "loopback"},
		{"https://[64:ff9b::7f00:1]/", "loopback"},
		{"https://10.1.2.3/", "private address (10.1.2.3)"},
		{"https://172.16.0.1/", "private"},
		{"https://192.168.1.1/", "private"},
		{"https://[fc00::1]/", "private"},
		{"https://[fd12:3456::1]/", "private"},
		{"https://169.254.169.254/latest/meta-data/", "link-local address (169.254.169.254)"},
		{"https://[::ffff:169.254.169.254]/", "link-local"},
		{"https://[fe80::1%25eth0]/", "link-local address (fe80::1)"},
		{"https://0.0.0.0/", "unspecified"},
		{"https://[::]/", "unspecified"},
		{"https://224.0.0.1/", "multicast"},
		{"https://[ff02::1]/", "multicast"},
		{"https://255.255.255.255/", "multicast"},
		{"https://100.64.0.1/", "carrier-grade NAT"},
		{"https://100.127.255.254/", "carrier-grade NAT"},
		{"https://localhost/", "must not point to localhost"},
		{"https://LOCALHOST./", "must not point to localhost"},
		{"https://api.localhost/", "must not point to api.localhost"},
		{"https://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"},
		{"https://127.1/", "domain name or a standard IP address"},
		{"https://2130706433/", "domain name or a standard IP address"},
		{"https://0x7f.0.0.1/", "domain name or a standard IP address"},
	} {
		err := CheckURL(c.url, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.url, err, c.want)
			continue
		}
		if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("%s: %v is not an EINVALID", c.url, err)
		}
		if msg := aiproxy.ErrorMessage(err); !strings.HasPrefix(msg, "Field 'url' ") || !strings.HasSuffix(msg, ".") {
			t.Errorf("%s: %q is not a sentence about field 'url'", c.url, msg)
		}
	}
}

func TestCheckURLWithAllowPrivateAllowsHTTPAndLocalAddresses(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/hook", "https://[::1]/", "http://localhost:3000/", "https://10.0.0.5/"} {
		if err := CheckURL(u, true); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1/", "http://u:p@127.0.0.1/", "http://127.0.0.1/#x", "/hook"} {
		if err := CheckURL(u, true); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
}

func TestDialControlRefusesPrivateAddresses(t *testing.T) {
	refuse, allow := dialControl(false), dialControl(true)
	for _, addr := range []string{
		"127.0.0.1:443", "[::1]:443", "[::ffff:127.0.0.1]:80", "169.254.169.254:80", "10.1.2.3:80",
		"192.168.0.10:443", "[fe80::1%eth0]:443", "0.0.0.0:80", "100.64.1.1:443", "[fd00::1]:443",
	} {
		err := refuse("tcp", addr, nil)
		if _, ok := errors.AsType[*PrivateAddressError](err); !ok {
			t.Errorf("%s: %v, want a PrivateAddressError", addr, err)
		}
		if err := allow("tcp", addr, nil); err != nil {
			t.Errorf("%s with allowPrivate: %v", addr, err)
		}
	}
	for _, addr := range []string{"93.184.216.34:443", "[2606:4700:4700::1111]:443", "8.8.8.8:53"} {
		if err := refuse("tcp", addr, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// countingServer is a receiver on 127.0.0.1 that counts its requests.
func countingServer(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newTestClient(t *testing.T, allowPrivate bool, timeout time.Duration) *http.Client {
	c := NewClient(allowPrivate, timeout)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestClientRefusesToDialAHostnameThatResolvesToLoopback(t *testing.T) {
	srv, n := countingServer(t, http.StatusNoContent)
	u, _ := url.Parse(srv.URL)
	byName := "http://localhost:" + u.Port() + "/hook" // localhost resolves to 127.0.0.1 (/etc/hosts)
	_, err := newTestClient(t, false, time.Second).Post(byName, "application/json", nil)
	pe, ok := errors.AsType[*PrivateAddressError](err)
	if !ok {
		t.Fatalf("Post %s: %v, want a PrivateAddressError", byName, err)
	}
	if !pe.Addr.IsLoopback() || n.Load() != 0 {
		t.Fatalf("refused %v; %d requests arrived", pe.Addr, n.Load())
	}
	resp, err := newTestClient(t, true, time.Second).Post(byName, "application/json", nil)
	if err != nil {
		t.Fatalf("with allowPrivate: %v", err)
	}
	resp.Body.Close()
	if n.Load() != 1 {
		t.Fatalf("%d requests arrived with allowPrivate", n.Load())
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	target, n := countingServer(t, http.StatusOK)
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(srv.Close)
	resp, err := newTestClient(t, true, time.Second).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || n.Load() != 0 {
		t.Fatalf("status %d, %d requests at the redirect's target", resp.StatusCode, n.Load())
	}
}

func TestRefusedAddrCoversIPv4MappedForms(t *testing.T) {
	for _, s := range []string{"::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1", "::ffff:0.0.0.0", "64:ff9b::a00:1"} {
		if refusedAddr(netip.MustParseAddr(s)) == "" {
			t.Errorf("%s is allowed", s)
		}
	}
	if c := refusedAddr(netip.MustParseAddr("::ffff:93.184.216.34")); c != "" {
		t.Errorf("a mapped public address is refused as %s", c)
	}
}
