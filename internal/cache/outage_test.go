package cache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/cache"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/aiproxy/aiproxy/internal/sqlite"
)

// unreachable is a store whose database can be made unavailable: every read then fails as
// the SQL stores report an outage.
type unreachable struct {
	counting
	down atomic.Bool
}

var errDown = sqlcodec.Unavailable(errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))

func (u *unreachable) APIKeyByHash(ctx context.Context, h string) (*aiproxy.APIKey, error) {
	if u.down.Load() {
		u.reads.Add(1)
		return nil, errDown
	}
	return u.counting.APIKeyByHash(ctx, h)
}
func (u *unreachable) APIKeyByID(ctx context.Context, id int64) (*aiproxy.APIKey, error) {
	if u.down.Load() {
		u.reads.Add(1)
		return nil, errDown
	}
	return u.counting.APIKeyByID(ctx, id)
}
func (u *unreachable) OrgBySlug(ctx context.Context, s string) (*aiproxy.Org, error) {
	if u.down.Load() {
		u.reads.Add(1)
		return nil, errDown
	}
	return u.counting.OrgBySlug(ctx, s)
}
func (u *unreachable) ServiceSettings(ctx context.Context, s string, o int64) (*aiproxy.ServiceSettings, error) {
	if u.down.Load() {
		u.reads.Add(1)
		return nil, errDown
	}
	return u.counting.ServiceSettings(ctx, s, o)
}
func (u *unreachable) GetCredential(ctx context.Context, s string, src aiproxy.Source, o int64) (*aiproxy.Credential, error) {
	if u.down.Load() {
		u.reads.Add(1)
		return nil, errDown
	}
	return u.counting.GetCredential(ctx, s, src, o)
}
func (u *unreachable) GetBudget(ctx context.Context, o int64, s string) (*aiproxy.Budget, error) {
	if u.down.Load() {
		u.reads.Add(1)
		return nil, errDown
	}
	return u.counting.GetBudget(ctx, o, s)
}
func (u *unreachable) Version(ctx context.Context) (int64, error) {
	if u.down.Load() {
		return 0, errDown
	}
	return u.counting.Version(ctx)
}

// syncBuffer is a log destination safe for the poller's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// While the database is unavailable the cache serves what it holds, fails what it does
// not (with the store's EUNAVAILABLE), and remembers no failure: once the database is back,
// the same lookups reach it and succeed, and changes made meanwhile are seen.
func TestOutageServesWhatIsCachedAndCachesNoFailure(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unreachable{counting: counting{Store: db}}
	var logs syncBuffer
	const poll = 10 * time.Millisecond
	o, _ := seed(t, db) // before the cache starts: no change of version it has not seen
	s := cache.New(u, poll, slog.New(slog.NewTextHandler(&logs, nil)))
	defer s.Close()
	if err := hotPath(ctx, s, o.ID, keyHash); err != nil { // warm: the key's whole path is cached
		t.Fatal(err)
	}

	u.down.Store(true)
	time.Sleep(20 * poll) // polls fail meanwhile: nothing is dropped for that
	for range 3 {
		if err := hotPath(ctx, s, o.ID, keyHash); err != nil {
			t.Fatalf("a cached key during the outage: %v", err)
		}
		// Not cached: the browser token, an org never looked up.
		if err := hotPath(ctx, s, o.ID, tokenHash); aiproxy.ErrorCode(err) != aiproxy.EUNAVAILABLE {
			t.Fatalf("an uncached key during the outage: %v, want EUNAVAILABLE", err)
		}
		if _, err := s.OrgBySlug(ctx, "other"); aiproxy.ErrorCode(err) != aiproxy.EUNAVAILABLE {
			t.Fatalf("an uncached org during the outage: %v, want EUNAVAILABLE", err)
		}
	}
	if n := u.reads.Load(); n < 6 {
		t.Errorf("%d reads reached the store during the outage: failures were answered from memory", n)
	}

	// Back: what failed is asked again (and found), and a change made elsewhere (another
	// replica) to what was cached all along is seen.
	u.down.Store(false)
	if err := hotPath(ctx, s, o.ID, tokenHash); err != nil {
		t.Errorf("the browser token after the outage: %v", err)
	}
	other := &aiproxy.Org{Slug: "other", Name: "Other"}
	if err := db.CreateOrg(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OrgBySlug(ctx, "other"); err != nil {
		t.Errorf("an org that failed during the outage, created since: %v", err)
	}
	if _, err := db.RevokeAPIKey(ctx, "aip_abcdefgh", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revocation of a key cached throughout the outage", func() bool {
		k, err := s.APIKeyByHash(ctx, keyHash)
		return err == nil && k.RevokedAt != nil
	})
	waitFor(t, "the recovery in the log", func() bool { return strings.Contains(logs.String(), "the store answers again") })
	out := logs.String()
	if n := strings.Count(out, "the store does not answer"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "the store answers again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, out)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 s", what)
		}
	}
}
