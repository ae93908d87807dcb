package webhooks

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// maxURLLen bounds a webhook URL.
const maxURLLen = 2048

// Address ranges beyond those netip.Addr's predicates name.
var (
	cgnat      = netip.MustParsePrefix("100.64.0.0/10")  // carrier-grade NAT (RFC 6598)
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")      // "this network": 0.x reaches the host itself
	broadcast  = netip.MustParseAddr("255.255.255.255")  // limited broadcast
	siteLocal  = netip.MustParsePrefix("fec0::/10")      // deprecated IPv6 site-local
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // NAT64: an IPv4 address inside
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // local-use NAT64 (RFC 8215)
)

// refusedAddr names the class of ip when webhooks may not go there ("" when they may):
// loopback, private, link-local (cloud metadata services), unspecified, multicast, CGNAT,
// and these classes written as IPv4-mapped IPv6 or behind the NAT64 prefix.
func refusedAddr(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) { // 64:ff9b::a.b.c.d reaches a.b.c.d through a NAT64 gateway
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case !ip.IsValid():
		return "an invalid"
	case ip.IsUnspecified() || thisNet.Contains(ip):
		return "an unspecified"
	case ip.IsLoopback():
		return "a loopback"
	case ip.IsPrivate() || siteLocal.Contains(ip) || nat64Local.Contains(ip):
		return "a private"
	case ip.IsLinkLocalUnicast():
		return "a link-local"
	case ip.IsMulticast() || ip == broadcast:
		return "a multicast"
	case cgnat.Contains(ip):
		return "a carrier-grade NAT"
	}
	return ""
}

// refusedHost reports whether webhooks may not go to a host name (lower case, without a
// trailing dot) whatever it resolves to.
func refusedHost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		host == "metadata.google.internal"
}

// numericHost reports whether host looks like an IPv4 address in a form netip does not
// parse but some resolvers accept ("127.1", "0x7f.0.0.1", "2130706433"): a host whose last
// label is all digits, or any label in hex notation. No top-level domain is numeric.
func numericHost(host string) bool {
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	for _, l := range labels {
		if len(l) > 2 && (l[:2] == "0x") && strings.Trim(l[2:], "0123456789abcdef") == "" {
			return true
		}
	}
	return false
}

// CheckURL checks a webhook URL: absolute, https (http too with allowPrivate), a host, no
// user name or password, no fragment; and, unless allowPrivate, a host that is neither a
// loopback, private, link-local, unspecified, multicast or carrier-grade NAT IP address
// (also as IPv4-mapped IPv6) nor localhost, *.localhost or metadata.google.internal. A
// host name is not resolved here: the client of NewClient checks the address it dials.
// The error is an aiproxy.EINVALID whose text is a sentence naming the problem, to show
// the client as is.
func CheckURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' is required.")
	}
	if len(raw) > maxURLLen {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must be at most %d characters.", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' is not a valid URL.")
	}
	if !u.IsAbs() || u.Opaque != "" {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must be an absolute URL (https://…).")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowPrivate {
			return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must use https.")
		}
	default:
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must use https.")
	}
	if u.User != nil {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must not contain a user name or password.")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must not contain a fragment (#…).")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must name a host.")
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if class := refusedAddr(ip); class != "" {
			return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must not point to %s address (%s).", class, ip.WithZone("").Unmap())
		}
		return nil
	}
	if strings.ContainsAny(host, "[]:%") || numericHost(host) {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must name a host by a domain name or a standard IP address.")
	}
	if refusedHost(host) {
		return aiproxy.Errorf(aiproxy.EINVALID, "Field 'url' must not point to %s.", host)
	}
	return nil
}
