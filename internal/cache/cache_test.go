package cache_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/cache"
	"github.com/aiproxy/aiproxy/internal/postgres"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/sqlite"
	"github.com/aiproxy/aiproxy/internal/storetest"
)

// The cache must behave exactly like the store it fronts.
func TestCachedStoreBehavesLikeTheStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) aiproxy.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		return cache.New(s, 50*time.Millisecond, nil)
	})
}

// counting counts the reads that reach the database.
type counting struct {
	aiproxy.Store
	reads atomic.Int64
}

func (c *counting) APIKeyByHash(ctx context.Context, h string) (*aiproxy.APIKey, error) {
	c.reads.Add(1)
	return c.Store.APIKeyByHash(ctx, h)
}
func (c *counting) OrgBySlug(ctx context.Context, s string) (*aiproxy.Org, error) {
	c.reads.Add(1)
	return c.Store.OrgBySlug(ctx, s)
}
func (c *counting) ServiceSettings(ctx context.Context, s string, o int64) (*aiproxy.ServiceSettings, error) {
	c.reads.Add(1)
	return c.Store.ServiceSettings(ctx, s, o)
}
func (c *counting) GetCredential(ctx context.Context, s string, src aiproxy.Source, o int64) (*aiproxy.Credential, error) {
	c.reads.Add(1)
	return c.Store.GetCredential(ctx, s, src, o)
}

func seed(t testing.TB, s aiproxy.Store) (*aiproxy.Org, *aiproxy.APIKey) {
	ctx := context.Background()
	o := &aiproxy.Org{Slug: "acme", Name: "Acme"}
	if err := s.CreateOrg(ctx, o); err != nil {
		t.Fatal(err)
	}
	k := &aiproxy.APIKey{OrgID: o.ID, Prefix: "aip_abcdefgh", Hash: "hash-1", Role: aiproxy.RoleAdmin}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	c := &aiproxy.Credential{Service: "heygen", Source: aiproxy.SourceTenant, OrgID: o.ID,
		Sealed: aiproxy.Sealed{KEKID: "k1", WrappedDEK: []byte{1}, Ciphertext: []byte{2}}}
	if err := s.PutCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	return o, k
}

// hotPath does what one invoke reads.
func hotPath(ctx context.Context, s aiproxy.Store, orgID int64) error {
	if _, err := s.APIKeyByHash(ctx, "hash-1"); err != nil {
		return err
	}
	if _, err := s.OrgBySlug(ctx, "acme"); err != nil {
		return err
	}
	for _, id := range []int64{0, orgID} {
		if _, err := s.ServiceSettings(ctx, "heygen", id); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			return err
		}
	}
	_, err := s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, orgID)
	return err
}

func TestHotPathMakesNoDatabaseReadInSteadyState(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{Store: db}
	s := cache.New(cnt, 0, nil)
	defer s.Close()
	o, _ := seed(t, s)
	ctx := context.Background()
	if err := hotPath(ctx, s, o.ID); err != nil { // warm up
		t.Fatal(err)
	}
	before := cnt.reads.Load()
	for i := 0; i < 1000; i++ {
		if err := hotPath(ctx, s, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := cnt.reads.Load() - before; n != 0 {
		t.Errorf("1000 hot-path lookups made %d database reads, want 0", n)
	}
}

// Two replicas, each with its own cache over one database: a change made through one is in
// force on the other within one second.
func testPropagation(t *testing.T, open func(t *testing.T) (aiproxy.Store, aiproxy.Store)) {
	a, b := open(t)
	ctx := context.Background()
	o, k := seed(t, a)
	if err := hotPath(ctx, b, o.ID); err != nil { // b caches everything
		t.Fatal(err)
	}
	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen by the other replica within 1 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := a.RevokeAPIKey(ctx, k.Prefix, time.Now()); err != nil {
		t.Fatal(err)
	}
	within("key revoked", func() bool {
		got, err := b.APIKeyByHash(ctx, "hash-1")
		return err == nil && got.RevokedAt != nil
	})
	if err := a.DeleteCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID); err != nil {
		t.Fatal(err)
	}
	within("credential deleted", func() bool {
		_, err := b.GetCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID)
		return aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND
	})
	off := false
	if err := a.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen", OrgID: o.ID, Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	within("service disabled", func() bool {
		s, err := b.ServiceSettings(ctx, "heygen", o.ID)
		return err == nil && s.Enabled != nil && !*s.Enabled
	})
	c := &aiproxy.Credential{Service: "heygen", Source: aiproxy.SourceTenant, OrgID: o.ID,
		Sealed: aiproxy.Sealed{KEKID: "k2", WrappedDEK: []byte{3}, Ciphertext: []byte{4}}}
	if err := a.PutCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	within("credential set", func() bool {
		got, err := b.GetCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID)
		return err == nil && got.Sealed.KEKID == "k2"
	})
}

func TestChangesPropagateBetweenReplicasOnSQLite(t *testing.T) {
	testPropagation(t, func(t *testing.T) (aiproxy.Store, aiproxy.Store) {
		path := filepath.Join(t.TempDir(), "db")
		var out []aiproxy.Store
		for i := 0; i < 2; i++ {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			c := cache.New(s, 200*time.Millisecond, nil)
			t.Cleanup(func() { c.Close() })
			out = append(out, c)
		}
		return out[0], out[1]
	})
}

func TestChangesPropagateBetweenReplicasOnPostgres(t *testing.T) {
	dsn := pgtest.NewTestDatabase(t)
	testPropagation(t, func(t *testing.T) (aiproxy.Store, aiproxy.Store) {
		var out []aiproxy.Store
		for i := 0; i < 2; i++ {
			s, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			c := cache.New(s, 0, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Listen(ctx, c.Invalidate) }()
			t.Cleanup(func() { cancel(); <-done; c.Close() })
			out = append(out, c)
		}
		return out[0], out[1]
	})
}

// BenchmarkHotPath shows the reads one invoke makes (key, org, two settings, credential)
// served from memory: "db-reads/op" is 0 through the cache, 5 without it.
func BenchmarkHotPath(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := "uncached"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"))
			if err != nil {
				b.Fatal(err)
			}
			cnt := &counting{Store: db}
			var s aiproxy.Store = cnt
			if cached {
				c := cache.New(cnt, 0, nil)
				defer c.Close()
				s = c
			} else {
				defer db.Close()
			}
			o, _ := seed(b, s)
			ctx := context.Background()
			if err := hotPath(ctx, s, o.ID); err != nil {
				b.Fatal(err)
			}
			before := cnt.reads.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := hotPath(ctx, s, o.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cnt.reads.Load()-before)/float64(b.N), "db-reads/op")
		})
	}
}
