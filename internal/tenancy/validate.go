package tenancy

import (
	"fmt"
	"net/url"
	"regexp"

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

// ValidOrigin reports whether s is a browser origin: scheme://host[:port], nothing more.
func ValidOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
