package tenancy

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy/internal/apikeys"
)

// MaxNameLength bounds the display names of orgs and keys, in bytes.
const MaxNameLength = 200

func validName(name string) error {
	if len(name) > MaxNameLength {
		return invalid("Field 'name' must be at most %d characters.", MaxNameLength)
	}
	return nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

// ValidSlug reports whether s can name an org: lowercase letters, digits and inner
// hyphens, at most 64 characters.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

func validScopes(scopes []string) error {
	if len(scopes) > apikeys.MaxScopes {
		return invalid("Field 'scopes' may list at most %d scopes.", apikeys.MaxScopes)
	}
	for _, sc := range scopes {
		if !apikeys.ValidScope(sc) {
			return invalid("Field 'scopes' has an invalid pattern %q: use service:action, e.g. heygen:* or elevenlabs:tts*.", sc)
		}
	}
	return nil
}

// MaxRateLimitPerMinute bounds an org's rate limit (about 16,000 requests a second).
const MaxRateLimitPerMinute = 1_000_000

// RateLimitMessage is the one sentence for a bad rate limit, from the API or the CLI.
var RateLimitMessage = fmt.Sprintf("Field 'rate_limit_per_minute' must be an integer from 0 to %d.", MaxRateLimitPerMinute)

// MaxCORSOrigins bounds an org's origin list.
const MaxCORSOrigins = 100

// OriginsMessage is the sentence for a cors_origins value of the wrong type, or missing.
const OriginsMessage = "Field 'cors_origins' must be a list of origins like https://app.example.com."

// validOrigins checks an origin list and returns it without repeats, in order.
func validOrigins(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, o := range in {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	if len(out) > MaxCORSOrigins {
		return nil, invalid("Field 'cors_origins' may list at most %d origins.", MaxCORSOrigins)
	}
	for _, o := range out {
		if !ValidOrigin(o) {
			return nil, invalid("Field 'cors_origins' must list origins like https://app.example.com, not %q.", o)
		}
	}
	return out, nil
}

// ValidOrigin reports whether s is a browser origin exactly as browsers send it, since
// origins are compared byte for byte: scheme http or https, a lower-case host name (or an IP
// address), an optional port from 1 to 65535 that is not the scheme's default, and nothing
// else — no path, query, fragment, user, trailing colon, and no wildcard or other pattern
// (the matcher implements none).
func ValidOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" {
		return false
	}
	if s != u.Scheme+"://"+u.Host || strings.HasSuffix(u.Host, ":") {
		return false // a path, query, fragment, upper-case scheme, or an empty port
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || !validHost(host) {
		return false
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return false
		}
		if u.Scheme == "http" && n == 80 || u.Scheme == "https" && n == 443 {
			return false // browsers leave the default port out
		}
	}
	return true
}

// validHost accepts a lower-case DNS name or an IP address.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
