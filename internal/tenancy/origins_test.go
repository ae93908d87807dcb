package tenancy_test

import (
	"testing"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

func TestOriginsMustBeExactlyWhatBrowsersSend(t *testing.T) {
	for _, ok := range []string{"https://app.example.com", "http://localhost:5173", "http://127.0.0.1:8080", "https://[::1]:8443", "https://a-b.example"} {
		if !tenancy.ValidOrigin(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{
		"https://a.example?", "https://a.example#", "https://a.example:", "https://a.example:99999", "https://a.example:0",
		"https://*.example", "HTTPS://A.EXAMPLE", "https://A.example", "https://a.example/", "https://a.example/path",
		"https://user@a.example", "ftp://a.example", "https://a.example:443", "http://a.example:80", "https://a.example:08080",
		"*", "null", "https://", "https://-a.example", "https://a..example", "https://a_b.example", "",
	} {
		if tenancy.ValidOrigin(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
