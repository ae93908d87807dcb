package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/budgets"
	"github.com/aiproxy/aiproxy/internal/cache"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/prom"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The hot path, piece by piece and whole, each beside the same work done by the floor: a
// bare httputil.ReverseProxy that injects the credential header and nothing else.

const benchCred = "bench-provider-key-0123456789"

// benchList is a 20 KB JSON list, the shape of a voices listing.
var benchList = func() []byte {
	var b strings.Builder
	b.WriteString(`{"voices": [`)
	for i := 0; b.Len() < 20<<10; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"voice_id": "v` + strings.Repeat("x", 18) + `", "name": "Voice", "category": "premade", "labels": {"accent": "american"}}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}()

type benchSetup struct {
	api     http.Handler
	apiOff  http.Handler // the same with NoAccounting
	floor   http.Handler
	key     string
	store   aiproxy.Store
	vault   *providerkeys.Vault
	cat     *catalog.Catalog
	orgID   int64
	cleanup func()
}

func newBenchSetup(b *testing.B) *benchSetup {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("xi-api-key") != benchCred {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(benchList)
	}))
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	store := cache.New(db, 0, nil)
	cat, _ := catalog.Builtin()
	kr, _ := masterkeys.NewKeyring(bytes.Repeat([]byte{7}, 32))
	vault := &providerkeys.Vault{Store: store, Keyring: kr}
	m := &tenancy.Manager{Store: store, Vault: vault, Catalog: cat}
	org, _ := m.CreateOrg(ctx, tenancy.CLI, "bench", "")
	_, key, _ := m.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Org: org, Role: aiproxy.RoleMember})
	m.SetCredential(ctx, tenancy.CLI, cat.Service("elevenlabs"), org, benchCred)
	u, _ := url.Parse(up.URL)
	gw := gateway.New(gateway.Config{Upstreams: map[string]*url.URL{"elevenlabs": u}})
	// The org has a budget far from its limit, as the benchmark program's accounting
	// comparison sets: every invoke is metered and counted in it.
	per, limit := "month", int64(1_000_000_000_000)
	if _, err := m.PutBudget(ctx, tenancy.CLI, org, "elevenlabs", tenancy.BudgetChange{Period: &per, Limits: map[string]*int64{"requests": &limit}}); err != nil {
		b.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Store: store, Catalog: cat, Gateway: gw, Vault: vault,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: prom.New(),
		Budgets: budgets.NewBlocks(budgets.NewStoreLedger(store, budgets.Options{}))})
	apiOff := httpapi.New(httpapi.Config{Store: store, Catalog: cat, Gateway: gw, Vault: vault,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: prom.New(), NoAccounting: true})
	floor := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Header.Set("xi-api-key", benchCred)
		},
		Transport: gateway.NewTransport(),
	}
	return &benchSetup{api: api, apiOff: apiOff, floor: floor, key: key, store: store, vault: vault, cat: cat, orgID: org.ID,
		cleanup: func() { api.Close(); apiOff.Close(); gw.Close(); up.Close(); store.Close() }}
}

func serveOnce(b *testing.B, h http.Handler, req func() *http.Request) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req())
	if w.Code != 200 || w.Body.Len() != len(benchList) {
		b.Fatalf("status %d, %d bytes: %s", w.Code, w.Body.Len(), w.Body.String()[:min(200, w.Body.Len())])
	}
}

// BenchmarkInvoke is one whole invoke of a JSON list action (auth, catalog, policy,
// credential, upstream call, response, request log and metrics) beside the floor proxying
// the same upstream call.
func BenchmarkInvoke(b *testing.B) {
	s := newBenchSetup(b)
	defer s.cleanup()
	req := func() *http.Request {
		r := httptest.NewRequest("POST", "/api/ai-proxy/orgs/bench/services/elevenlabs/list-voices/", strings.NewReader(`{}`))
		r.Header.Set("Authorization", "Api-Key "+s.key)
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	// aiproxy as shipped (usage metered, the budget counted); aiproxy-no-accounting with
	// serve --accounting=false: the difference is what accounting costs an invoke.
	for name, h := range map[string]http.Handler{"aiproxy": s.api, "aiproxy-no-accounting": s.apiOff} {
		b.Run(name, func(b *testing.B) {
			serveOnce(b, h, req)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				serveOnce(b, h, req)
			}
		})
	}
	b.Run("floor", func(b *testing.B) {
		req := func() *http.Request { return httptest.NewRequest("GET", "/v1/voices", nil) }
		serveOnce(b, s.floor, req)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			serveOnce(b, s.floor, req)
		}
	})
}

// BenchmarkHotPathPieces measures each step of the hot path on its own.
func BenchmarkHotPathPieces(b *testing.B) {
	s := newBenchSetup(b)
	defer s.cleanup()
	ctx := context.Background()
	b.Run("key-lookup", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			raw, _ := apikeys.ParseAuthorization("Api-Key " + s.key)
			if _, err := s.store.APIKeyByHash(ctx, apikeys.Hash(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("catalog-resolution", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if s.cat.Service("elevenlabs").Endpoint("get-voice") == nil {
				b.Fatal("no endpoint")
			}
		}
	})
	tmpl := s.cat.Service("elevenlabs").Endpoint("get-dubbed-audio").Path
	params := map[string]string{"dubbing_id": "21m00Tcm4TlvDq8ikWAM", "language_code": "es"}
	b.Run("template-rendering", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := tmpl.Render(params); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("credential-resolution", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, _, err := s.vault.Resolve(ctx, "elevenlabs", s.orgID, aiproxy.TenantOnly); err != nil {
				b.Fatal(err)
			}
		}
	})
	in := http.Header{"Accept-Language": {"en"}, "X-Custom": {"1"}, "Authorization": {"x"}, "Cookie": {"c"}, "Xi-Api-Key": {"k"}}
	b.Run("header-filtering", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			gateway.FilterRequestHeaders(in, "xi-api-key")
		}
	})
	// The floor's equivalent of all of the above: setting one header on a cloned request.
	b.Run("floor-rewrite", func(b *testing.B) {
		b.ReportAllocs()
		r := httptest.NewRequest("GET", "/v1/voices", nil)
		for range b.N {
			out := r.Clone(ctx)
			out.Header.Set("xi-api-key", benchCred)
		}
	})
}
