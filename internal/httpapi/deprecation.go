package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy/internal/catalog"
)

// deprecationHeaders marks every answer to a deprecated action (docs/contract.md §3,
// "Deprecated actions"), success or error, whether it came from the provider or from a
// replay:
//
//   - Deprecation (RFC 9745): "@<unix seconds>" of the day the action is deprecated: the
//     catalog's deprecated_since, else its sunset date (deprecated at the latest when it
//     goes away). Left out when the catalog gives neither date.
//   - Sunset (RFC 8594): the sunset date as an HTTP-date, midnight UTC.
//   - Link rel="successor-version": the invoke URL of the successor action, as a path on
//     this gateway (relative to the request's URL).
//
// The proxy's own values win over the provider's (HeyGen sends "Deprecation: true", which
// is not RFC 9745); the gateway forwards neither of the provider's.
func deprecationHeaders(h http.Header, reqPath string, ep *catalog.Endpoint) {
	if ep == nil || !ep.Deprecated {
		return
	}
	if d := ep.DeprecationDate(); !d.IsZero() {
		h.Set("Deprecation", "@"+strconv.FormatInt(d.Unix(), 10))
	}
	if !ep.Sunset.IsZero() {
		h.Set("Sunset", ep.Sunset.UTC().Format(http.TimeFormat))
	}
	if ep.Successor != "" {
		if u := successorPath(reqPath, ep.Successor); u != "" {
			h.Add("Link", "<"+u+`>; rel="successor-version"`)
		}
	}
}

// successorPath is reqPath (…/services/{service}/{action}/) with its action replaced.
func successorPath(reqPath, successor string) string {
	trimmed := strings.TrimSuffix(reqPath, "/")
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 {
		return ""
	}
	return trimmed[:i+1] + successor + "/"
}
