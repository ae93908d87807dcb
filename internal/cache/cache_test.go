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
func (c *counting) APIKeyByID(ctx context.Context, id int64) (*aiproxy.APIKey, error) {
	c.reads.Add(1)
	return c.Store.APIKeyByID(ctx, id)
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
func (c *counting) GetBudget(ctx context.Context, o int64, s string) (*aiproxy.Budget, error) {
	c.reads.Add(1)
	return c.Store.GetBudget(ctx, o, s)
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
	tok := &aiproxy.APIKey{OrgID: o.ID, Prefix: "aip_tokenabc", Hash: "hash-token", Role: aiproxy.RoleMember, ParentID: k.ID}
	if err := s.CreateAPIKey(ctx, tok); err != nil {
		t.Fatal(err)
	}
	c := &aiproxy.Credential{Service: "heygen", Source: aiproxy.SourceTenant, OrgID: o.ID,
		Sealed: aiproxy.Sealed{KEKID: "k1", WrappedDEK: []byte{1}, Ciphertext: []byte{2}}}
	if err := s.PutCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	return o, k
}

// The hashes of the seeded keys: an API key, and a browser token it minted.
const (
	keyHash   = "hash-1"
	tokenHash = "hash-token"
)

// hotPath does what one invoke with the key of that hash reads: with a browser token, the
// key that minted it too. The org has no budget (a remembered absence).
func hotPath(ctx context.Context, s aiproxy.Store, orgID int64, hash string) error {
	k, err := s.APIKeyByHash(ctx, hash)
	if err != nil {
		return err
	}
	if k.ParentID != 0 {
		if _, err := s.APIKeyByID(ctx, k.ParentID); err != nil {
			return err
		}
	}
	if _, err := s.OrgBySlug(ctx, "acme"); err != nil {
		return err
	}
	for _, id := range []int64{0, orgID} {
		if _, err := s.ServiceSettings(ctx, "heygen", id); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			return err
		}
	}
	if _, err := s.GetBudget(ctx, orgID, "heygen"); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		return err
	}
	_, err = s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, orgID)
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
	for _, hash := range []string{keyHash, tokenHash} {
		if err := hotPath(ctx, s, o.ID, hash); err != nil { // warm up
			t.Fatal(err)
		}
		before := cnt.reads.Load()
		for i := 0; i < 1000; i++ {
			if err := hotPath(ctx, s, o.ID, hash); err != nil {
				t.Fatal(err)
			}
		}
		if n := cnt.reads.Load() - before; n != 0 {
			t.Errorf("1000 hot-path lookups with %s made %d database reads, want 0", hash, n)
		}
	}
}

// Revoking a key through the cache drops what was cached of it and of the browser tokens it
// minted, by hash and by id, at once (no poll, no listener).
func TestRevokeThroughTheCacheDropsTheKeyAndItsTokens(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	s := cache.New(db, 0, nil)
	defer s.Close()
	o, k := seed(t, s)
	ctx := context.Background()
	for _, hash := range []string{keyHash, tokenHash} {
		if err := hotPath(ctx, s, o.ID, hash); err != nil { // cached, all active
			t.Fatal(err)
		}
	}
	n, err := tokensOf(s.RevokeAPIKey(ctx, k.Prefix, time.Now()))
	if err != nil || n != 1 {
		t.Fatalf("RevokeAPIKey = %d, %v; want 1 token revoked", n, err)
	}
	for _, look := range []struct {
		name string
		get  func() (*aiproxy.APIKey, error)
	}{
		{"key by hash", func() (*aiproxy.APIKey, error) { return s.APIKeyByHash(ctx, keyHash) }},
		{"key by id", func() (*aiproxy.APIKey, error) { return s.APIKeyByID(ctx, k.ID) }},
		{"token by hash", func() (*aiproxy.APIKey, error) { return s.APIKeyByHash(ctx, tokenHash) }},
	} {
		got, err := look.get()
		if err != nil {
			t.Fatalf("%s: %v", look.name, err)
		}
		if got.RevokedAt == nil {
			t.Errorf("%s: still active after the revocation", look.name)
		}
	}
}

// A budget, and its absence, is served from memory until a budget is put or deleted
// through the cache, which drops it at once; what changes with every invoke (counters,
// reservations, usage, jobs, idempotency records) is never cached.
func TestBudgetIsCachedAndDroppedOnWrite(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{Store: db}
	s := cache.New(cnt, 0, nil)
	defer s.Close()
	ctx := context.Background()
	const org = 7
	reads := func(what string, want int64, do func()) {
		t.Helper()
		before := cnt.reads.Load()
		do()
		if n := cnt.reads.Load() - before; n != want {
			t.Errorf("%s: %d reads reached the store, want %d", what, n, want)
		}
	}
	getBudget := func(want int64, wantCode string) {
		t.Helper()
		b, err := s.GetBudget(ctx, org, "heygen")
		if aiproxy.ErrorCode(err) != wantCode {
			t.Fatalf("GetBudget: %v, want code %q", err, wantCode)
		}
		if err == nil && b.Limits[aiproxy.UnitCharacters] != want {
			t.Fatalf("GetBudget: limit %d, want %d", b.Limits[aiproxy.UnitCharacters], want)
		}
	}
	reads("absent budget, first lookup", 1, func() { getBudget(0, aiproxy.ENOTFOUND) })
	reads("absent budget, again", 0, func() { getBudget(0, aiproxy.ENOTFOUND) })
	for _, limit := range []int64{100, 200} {
		if err := s.PutBudget(ctx, &aiproxy.Budget{OrgID: org, Service: "heygen", Period: "month",
			Limits: aiproxy.Units{aiproxy.UnitCharacters: limit}}); err != nil {
			t.Fatal(err)
		}
		reads("budget after PutBudget", 1, func() { getBudget(limit, "") })
		reads("budget, again", 0, func() { getBudget(limit, "") })
	}
	// Reservations go to the store every time and leave the cached budget alone.
	for i := range 3 {
		r := &aiproxy.BudgetReservation{OrgID: org, Service: "heygen", Window: "2026-12",
			Units: aiproxy.Units{aiproxy.UnitCharacters: 50}, ExpiresAt: time.Now().Add(time.Minute)}
		ok, used, err := s.ReserveBudget(ctx, r, aiproxy.Units{aiproxy.UnitCharacters: 120})
		if err != nil || ok != (i < 2) || used[aiproxy.UnitCharacters] != min(int64(i+1), 2)*50 {
			t.Fatalf("reservation %d through the cache: %v, %v, %v", i, ok, used, err)
		}
	}
	reads("budget after reservations", 0, func() { getBudget(200, "") })
	if err := s.DeleteBudget(ctx, org, "heygen"); err != nil {
		t.Fatal(err)
	}
	reads("budget after DeleteBudget", 1, func() { getBudget(0, aiproxy.ENOTFOUND) })
}

// Two replicas, each with its own cache over one database: a change made through one is in
// force on the other within one second.
func testPropagation(t *testing.T, open func(t *testing.T) (aiproxy.Store, aiproxy.Store)) {
	a, b := open(t)
	ctx := context.Background()
	o, k := seed(t, a)
	for _, hash := range []string{keyHash, tokenHash} {
		if err := hotPath(ctx, b, o.ID, hash); err != nil { // b caches everything
			t.Fatal(err)
		}
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
	if _, err := tokensOf(a.RevokeAPIKey(ctx, k.Prefix, time.Now())); err != nil {
		t.Fatal(err)
	}
	within("key revoked", func() bool {
		got, err := b.APIKeyByHash(ctx, keyHash)
		return err == nil && got.RevokedAt != nil
	})
	within("key revoked, by id", func() bool {
		got, err := b.APIKeyByID(ctx, k.ID)
		return err == nil && got.RevokedAt != nil
	})
	within("its browser token revoked", func() bool {
		got, err := b.APIKeyByHash(ctx, tokenHash)
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
	if err := a.PutBudget(ctx, &aiproxy.Budget{OrgID: o.ID, Service: "heygen", Period: "day",
		Limits: aiproxy.Units{aiproxy.UnitRequests: 3}}); err != nil {
		t.Fatal(err)
	}
	within("budget set", func() bool {
		got, err := b.GetBudget(ctx, o.ID, "heygen")
		return err == nil && got.Limits[aiproxy.UnitRequests] == 3
	})
	if err := a.DeleteBudget(ctx, o.ID, "heygen"); err != nil {
		t.Fatal(err)
	}
	within("budget deleted", func() bool {
		_, err := b.GetBudget(ctx, o.ID, "heygen")
		return aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND
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

// BenchmarkHotPath shows the reads one invoke makes (key, org, two settings, budget,
// credential) served from memory: "db-reads/op" is 0 through the cache, 6 without it. With
// a browser token ("-browser-token"), the key that minted it is read too: 0 and 7.
func BenchmarkHotPath(b *testing.B) {
	for _, tt := range []struct {
		name   string
		cached bool
		hash   string
	}{
		{"cached", true, keyHash},
		{"uncached", false, keyHash},
		{"cached-browser-token", true, tokenHash},
		{"uncached-browser-token", false, tokenHash},
	} {
		cached, hash := tt.cached, tt.hash
		b.Run(tt.name, func(b *testing.B) {
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
			if err := hotPath(ctx, s, o.ID, hash); err != nil {
				b.Fatal(err)
			}
			before := cnt.reads.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := hotPath(ctx, s, o.ID, hash); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cnt.reads.Load()-before)/float64(b.N), "db-reads/op")
		})
	}
}

// tokensOf is how many tokens a revocation revoked with the key.
func tokensOf(rv aiproxy.Revocation, err error) (int, error) { return rv.Tokens, err }
