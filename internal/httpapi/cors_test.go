package httpapi_test

import (
	"context"
	"github.com/aiproxy/aiproxy/internal/tenancy"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/httpapi"
)

const (
	corsOrgOrigin     = "https://app-a.example"
	corsDefaultOrigin = "https://console.example"
	corsEvilOrigin    = "https://evil.example"
)

// corsEnv is newEnv's store behind a server with a deployment-wide origin, and org A
// allowing an origin of its own.
func corsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	if _, err := e.mgr.UpdateOrg(context.Background(), tenancy.CLI, e.orgA, tenancy.OrgChange{CORSOrigins: &[]string{corsOrgOrigin}}); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{
		Store: e.store, Catalog: e.mgr.Catalog, Vault: e.mgr.Vault, Gateway: gateway.New(gateway.Config{}),
		Logger: slog.New(slog.DiscardHandler), CORSOrigins: []string{corsDefaultOrigin},
	})
	t.Cleanup(api.Close)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e.srv = srv
	return e
}

func preflight(e *env, path, origin string) response {
	e.t.Helper()
	return e.do("OPTIONS", admAPI+path, "", nil, "Origin", origin,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
}

func assertNoCORS(t *testing.T, r response) {
	t.Helper()
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			t.Errorf("CORS header %s: %q on a response to an origin not allowed", name, r.Header.Get(name))
		}
	}
}

func TestCORSPreflightFromAllowedOriginsIsAnsweredWithoutAuthentication(t *testing.T) {
	e := corsEnv(t)
	for _, tc := range []struct{ name, path, origin string }{
		{"org's own origin on invoke", "/orgs/org-a/services/heygen/list-avatars/", corsOrgOrigin},
		{"org's own origin on an admin route", "/orgs/org-a/tokens/", corsOrgOrigin},
		{"deployment-wide origin on any org", "/orgs/org-b/services/", corsDefaultOrigin},
		{"deployment-wide origin outside orgs", "/orgs/", corsDefaultOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := preflight(e, tc.path, tc.origin)
			if r.Status != 204 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			for h, want := range map[string]string{
				"Access-Control-Allow-Origin":  tc.origin,
				"Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
				"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-Id, Idempotency-Key",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestCORSRefusesOriginsNotAllowed(t *testing.T) {
	e := corsEnv(t)
	for _, tc := range []struct{ name, path, origin string }{
		{"unknown origin", "/orgs/org-a/services/heygen/list-avatars/", corsEvilOrigin},
		{"another org's origin", "/orgs/org-b/services/heygen/list-avatars/", corsOrgOrigin},
		{"org origin outside the org's paths", "/orgs/", corsOrgOrigin},
		{"unknown org", "/orgs/nope/services/", corsOrgOrigin},
		{"null origin", "/orgs/org-a/services/", "null"},
		{"origin differing by scheme", "/orgs/org-a/services/", "http://app-a.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := preflight(e, tc.path, tc.origin)
			if r.Status != 403 {
				t.Errorf("preflight status %d, want 403", r.Status)
			}
			assertNoCORS(t, r)
			r = e.do("GET", admAPI+tc.path, "Api-Key "+e.adminA, nil, "Origin", tc.origin)
			assertNoCORS(t, r)
		})
	}
}

func TestCORSActualResponsesExposeHeadersToAllowedOrigins(t *testing.T) {
	e := corsEnv(t)
	for _, origin := range []string{corsOrgOrigin, corsDefaultOrigin} {
		// Errors too carry the headers, so a browser client can read them.
		for _, c := range []struct {
			method, path, authz string
			status              int
		}{
			{"GET", "/orgs/org-a/services/", "Api-Key " + e.adminA, 200},
			{"POST", "/orgs/org-a/tokens/", "Api-Key " + e.memberA, 201},
			{"GET", "/orgs/org-a/services/", "", 401},
		} {
			r := e.do(c.method, admAPI+c.path, c.authz, strings.NewReader("{}"), "Origin", origin)
			if r.Status != c.status {
				t.Errorf("%s %s from %s: status %d, want %d", c.method, c.path, origin, r.Status, c.status)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("%s %s: Allow-Origin %q, want %q", c.method, c.path, got, origin)
			}
			if got := r.Header.Get("Access-Control-Expose-Headers"); got != "Content-Type, Content-Length, Content-Disposition, Retry-After, X-Request-Id, X-Ratelimit-Limit, X-Ratelimit-Remaining, Idempotent-Replayed, X-Budget-Remaining-Requests, X-Budget-Remaining-Characters, X-Budget-Remaining-Seconds, X-Budget-Resets-At, Deprecation, Sunset, Link" {
				t.Errorf("Expose-Headers %q", got)
			}
			if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q lacks Origin", r.Header.Values("Vary"))
			}
		}
	}
}

func TestCORSLeavesRequestsWithoutOriginAlone(t *testing.T) {
	e := corsEnv(t)
	r := e.do("GET", admAPI+"/orgs/org-a/services/", "Api-Key "+e.adminA, nil)
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	assertNoCORS(t, r)
	// OPTIONS that is not a preflight is an ordinary request: authenticated, then 405.
	assertBody(t, e.do("OPTIONS", admAPI+"/orgs/org-a/services/", "Api-Key "+e.adminA, nil, "Origin", corsOrgOrigin), 405,
		`{"detail": "Method \"OPTIONS\" not allowed."}`)
}

func TestCORSNeverAnswersAWildcard(t *testing.T) {
	e := corsEnv(t)
	for _, origin := range []string{corsOrgOrigin, corsDefaultOrigin, corsEvilOrigin, "*", "null"} {
		for _, r := range []response{
			preflight(e, "/orgs/org-a/services/", origin),
			e.do("GET", admAPI+"/orgs/org-a/services/", "Api-Key "+e.adminA, nil, "Origin", origin),
		} {
			if got := r.Header.Get("Access-Control-Allow-Origin"); got == "*" || got != "" && got != origin {
				t.Errorf("origin %q: Allow-Origin %q", origin, got)
			}
			if r.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("origin %q: Allow-Credentials set", origin)
			}
		}
	}
}

// TestCORSNativeRouteAllowsTheHeadersAProviderSDKSends: a provider's SDK in a browser sends
// its own headers (its credential header, telemetry); the native route's preflight allows
// each valid name asked for, a malformed one is left out, and its answers expose every
// header; other routes keep their fixed lists. An origin the org does not allow gets
// nothing.
func TestCORSNativeRouteAllowsTheHeadersAProviderSDKSends(t *testing.T) {
	e := corsEnv(t)
	native := "/orgs/org-a/native/elevenlabs/v1/text-to-speech/v1"
	r := e.do("OPTIONS", admAPI+native, "", nil, "Origin", corsOrgOrigin, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "xi-api-key, x-fern-language, X-Fern-SDK-Version, content-type, bad header, authorization")
	if r.Status != 204 {
		t.Fatalf("preflight: %d %s", r.Status, r.Body)
	}
	got := r.Header.Get("Access-Control-Allow-Headers")
	for _, want := range []string{"Authorization", "Content-Type", "xi-api-key", "x-fern-language", "X-Fern-SDK-Version"} {
		if !strings.Contains(got, want) {
			t.Errorf("Allow-Headers %q lacks %s", got, want)
		}
	}
	if strings.Contains(got, "bad header") || strings.Count(strings.ToLower(got), "authorization") != 1 {
		t.Errorf("Allow-Headers %q: a malformed name, or a name twice", got)
	}
	r = e.do("GET", admAPI+"/orgs/org-a/native/elevenlabs/v1/models", "", nil, "Origin", corsOrgOrigin)
	if r.Header.Get("Access-Control-Expose-Headers") != "*" {
		t.Errorf("native answer exposes %q, want *", r.Header.Get("Access-Control-Expose-Headers"))
	}
	if r := preflight(e, "/orgs/org-a/services/heygen/list-avatars/", corsOrgOrigin); r.Header.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, X-Request-Id, Idempotency-Key" {
		t.Errorf("invoke preflight allows %q", r.Header.Get("Access-Control-Allow-Headers"))
	}
	assertNoCORS(t, e.do("OPTIONS", admAPI+native, "", nil, "Origin", corsEvilOrigin, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "xi-api-key"))
}
