package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/aiproxy/aiproxy/internal/storetest"
)

// Another process holding the write lock beyond the busy timeout ("database is locked")
// makes writes EUNAVAILABLE, not internal errors; reads go on (WAL), and writes work again
// once the lock is released.
func TestLockedBeyondTheBusyTimeoutIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "aiproxy.db")
	s, other := open(t, path), open(t, path)
	defer s.Close()
	defer other.Close()
	must(t, s.CreateOrg(ctx, &aiproxy.Org{Slug: "acme", Name: "Acme"}))

	tx, err := other.DB().BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock, held
	must(t, err)
	var writes []storetest.Call
	for _, c := range storetest.Calls(s) {
		if c.Write {
			writes = append(writes, c)
		}
	}
	const busyTimeout = 5 * time.Second
	start := time.Now()
	name, took := storetest.Unavailable(t, writes, sqlcodec.WorkTimeout) // the writes' own deadline: a slow machine may oversleep the busy waits
	t.Logf("write lock held elsewhere: every write EUNAVAILABLE after the busy timeout, the slowest (%s) in %v", name, took.Round(time.Millisecond))
	if took < busyTimeout-500*time.Millisecond {
		t.Errorf("writes gave up after %v, before the busy timeout of %v", took, busyTimeout)
	}
	if _, err := s.OrgBySlug(ctx, "acme"); err != nil {
		t.Errorf("a read while another process writes: %v", err)
	}
	must(t, tx.Rollback())
	if err := s.CreateOrg(ctx, &aiproxy.Org{Slug: "later", Name: "Later"}); err != nil {
		t.Errorf("a write once the lock is released: %v", err)
	}
	t.Logf("test took %v", time.Since(start).Round(time.Millisecond))
}
