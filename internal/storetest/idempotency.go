package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// newIdem is a record begun at day+at, kept 24 hours, leased for a minute.
func newIdem(orgID int64, key, fingerprint string, at time.Duration) *aiproxy.IdempotencyRecord {
	created := day.Add(at)
	return &aiproxy.IdempotencyRecord{OrgID: orgID, Key: key, Fingerprint: fingerprint, RequestID: "req-" + fingerprint,
		CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour), LeaseUntil: created.Add(time.Minute)}
}

// testIdempotency: the first request with a key stores its record, later ones get it back
// (per org) until it expires, when the next one replaces it; its answer, up to megabytes,
// round-trips.
func testIdempotency(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")

	first := newIdem(a.ID, "key-1", "fp-1", 0)
	first.State = "ignored" // stored in progress whatever it says
	existing, err := s.BeginIdempotent(ctx, first)
	must(t, err)
	if existing != nil {
		t.Fatalf("BeginIdempotent of a new key returned %+v, want nil", existing)
	}
	wantEqual(t, "state of a begun record", first.State, aiproxy.IdemInProgress)

	again := newIdem(a.ID, "key-1", "fp-other", time.Hour)
	existing, err = s.BeginIdempotent(ctx, again)
	must(t, err)
	wantEqual(t, "BeginIdempotent of a live key", existing, first)

	// Keys are per org.
	otherOrg := newIdem(b.ID, "key-1", "fp-b", time.Hour)
	existing, err = s.BeginIdempotent(ctx, otherOrg)
	must(t, err)
	if existing != nil {
		t.Fatalf("BeginIdempotent of another org's key returned %+v, want nil", existing)
	}

	// Finished: the answer, 1 MiB of it, comes back to the next request with the key.
	body := make([]byte, 1<<20)
	rand.Read(body)
	done := *first
	done.State, done.Status, done.ContentType, done.Body, done.BodyKept = aiproxy.IdemDone, 201, "application/json", body, true
	must(t, s.FinishIdempotent(ctx, &done))
	existing, err = s.BeginIdempotent(ctx, newIdem(a.ID, "key-1", "fp-1", 2*time.Hour))
	must(t, err)
	if existing == nil || !bytes.Equal(existing.Body, body) {
		t.Fatalf("the finished record's body did not round-trip (%d bytes back)", len(existing.Body))
	}
	wantEqual(t, "the finished record", existing, &done)

	// Finished without its body (too large to keep), or unknown.
	unkept := newIdem(a.ID, "key-2", "fp-2", 0)
	must(t, second(s.BeginIdempotent(ctx, unkept)))
	unkept.State, unkept.Status, unkept.ContentType, unkept.BodyKept = aiproxy.IdemDone, 200, "audio/mpeg", false
	must(t, s.FinishIdempotent(ctx, unkept))
	existing, err = s.BeginIdempotent(ctx, newIdem(a.ID, "key-2", "fp-2", time.Minute))
	must(t, err)
	wantEqual(t, "a record whose body was not kept", existing, unkept)
	unknown := newIdem(a.ID, "key-3", "fp-3", 0)
	unknown.State = aiproxy.IdemUnknown
	wantCode(t, s.FinishIdempotent(ctx, unknown), aiproxy.ENOTFOUND)
	wantCode(t, s.FinishIdempotent(ctx, &aiproxy.IdempotencyRecord{OrgID: b.ID + 100, Key: "key-1", State: aiproxy.IdemDone}), aiproxy.ENOTFOUND)

	// The fingerprint may be known only once the request was sent (the gateway hashes the
	// envelope as it streams it): FinishIdempotent saves it, unless it is "".
	late := newIdem(a.ID, "key-late", "", 0)
	must(t, second(s.BeginIdempotent(ctx, late)))
	late.Fingerprint, late.State, late.Status, late.BodyKept, late.Body = "fp-late", aiproxy.IdemDone, 200, true, []byte(`{}`)
	must(t, s.FinishIdempotent(ctx, late))
	existing, err = s.BeginIdempotent(ctx, newIdem(a.ID, "key-late", "", time.Minute))
	must(t, err)
	wantEqual(t, "a record whose fingerprint came at the finish", existing, late)
	kept := *late
	kept.Fingerprint, kept.Status = "", 202
	must(t, s.FinishIdempotent(ctx, &kept))
	existing, err = s.BeginIdempotent(ctx, newIdem(a.ID, "key-late", "", time.Minute))
	must(t, err)
	kept.Fingerprint = "fp-late"
	wantEqual(t, "a record finished again without a fingerprint", existing, &kept)

	// At its ExpiresAt the record still holds; past it, the next request replaces it.
	atExpiry := newIdem(a.ID, "key-1", "fp-new", 0)
	atExpiry.CreatedAt = first.ExpiresAt
	existing, err = s.BeginIdempotent(ctx, atExpiry)
	must(t, err)
	wantEqual(t, "BeginIdempotent at the record's ExpiresAt", existing, &done)
	replacing := newIdem(a.ID, "key-1", "fp-new", 24*time.Hour+time.Microsecond)
	existing, err = s.BeginIdempotent(ctx, replacing)
	must(t, err)
	if existing != nil {
		t.Fatalf("BeginIdempotent past ExpiresAt returned %+v, want nil (replaced)", existing)
	}
	existing, err = s.BeginIdempotent(ctx, newIdem(a.ID, "key-1", "fp-1", 25*time.Hour))
	must(t, err)
	wantEqual(t, "the replacing record (nothing of the old answer kept)", existing, replacing)
	existing, err = s.BeginIdempotent(ctx, newIdem(b.ID, "key-1", "fp-b2", 2*time.Hour))
	must(t, err)
	wantEqual(t, "the other org's record, untouched", existing, otherOrg)
}

// testIdempotencyRace: of concurrent first requests with one key, exactly one stores its
// record and every other gets that record back — for a new key and for an expired one.
func testIdempotencyRace(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	expired := newIdem(o.ID, "expired", "fp-old", -48*time.Hour)
	must(t, second(s.BeginIdempotent(ctx, expired)))
	for _, key := range []string{"new", "expired"} {
		t.Run(key, func(t *testing.T) {
			const n = 32
			var (
				wg    sync.WaitGroup
				recs  = make([]*aiproxy.IdempotencyRecord, n)
				got   = make([]*aiproxy.IdempotencyRecord, n)
				errs  = make([]error, n)
				start = make(chan struct{})
			)
			for i := range n {
				recs[i] = newIdem(o.ID, key, fmt.Sprintf("fp-%d", i), 0)
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got[i], errs[i] = s.BeginIdempotent(ctx, recs[i])
				}()
			}
			close(start)
			wg.Wait()
			winner := -1
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("BeginIdempotent %d: %v", i, errs[i])
				}
				if got[i] == nil {
					if winner >= 0 {
						t.Fatalf("BeginIdempotent %d and %d both stored their record", winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatal("no BeginIdempotent stored its record")
			}
			for i := range n {
				if i != winner {
					wantEqual(t, fmt.Sprintf("record returned to request %d", i), got[i], recs[winner])
				}
			}
		})
	}
}

// testForgetIdempotent: an in-progress record is removed, freeing its key; a finished one
// stays; an unknown key is a no-op.
func testForgetIdempotent(t *testing.T, s aiproxy.Store) {
	f := s
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	running := newIdem(o.ID, "running", "fp-1", 0)
	finished := newIdem(o.ID, "finished", "fp-2", 0)
	for _, r := range []*aiproxy.IdempotencyRecord{running, finished} {
		must(t, second(s.BeginIdempotent(ctx, r)))
	}
	finished.State, finished.Status, finished.BodyKept = aiproxy.IdemDone, 200, true
	must(t, s.FinishIdempotent(ctx, finished))
	for _, key := range []string{"running", "finished", "unknown"} {
		must(t, f.ForgetIdempotent(ctx, o.ID, key))
	}
	must(t, f.ForgetIdempotent(ctx, o.ID+100, "finished"))
	again := newIdem(o.ID, "running", "fp-3", time.Minute)
	existing, err := s.BeginIdempotent(ctx, again)
	must(t, err)
	if existing != nil {
		t.Errorf("the key of a forgotten record is still taken by %+v", existing)
	}
	existing, err = s.BeginIdempotent(ctx, newIdem(o.ID, "finished", "fp-4", time.Minute))
	must(t, err)
	wantEqual(t, "a finished record after ForgetIdempotent", existing, finished)
}

// testIdempotentLeaseAndPurge: a running record's lease moves (a finished one's does not);
// records past their expiry are purged, the others stay.
func testIdempotentLeaseAndPurge(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	running := newIdem(o.ID, "running", "fp-1", 0)
	finished := newIdem(o.ID, "finished", "fp-2", 0)
	later := newIdem(o.ID, "later", "fp-3", 2*time.Hour)
	for _, r := range []*aiproxy.IdempotencyRecord{running, finished, later} {
		must(t, second(s.BeginIdempotent(ctx, r)))
	}
	finished.State, finished.Status, finished.BodyKept = aiproxy.IdemDone, 200, true
	must(t, s.FinishIdempotent(ctx, finished))
	until := day.Add(time.Hour)
	must(t, s.ExtendIdempotentLease(ctx, o.ID, "running", until))
	must(t, s.ExtendIdempotentLease(ctx, o.ID, "finished", until))
	must(t, s.ExtendIdempotentLease(ctx, o.ID, "unknown", until))
	got, err := s.BeginIdempotent(ctx, newIdem(o.ID, "running", "fp-x", time.Minute))
	must(t, err)
	if got == nil || !got.LeaseUntil.Equal(until) {
		t.Errorf("running record after ExtendIdempotentLease: %+v, want its lease at %v", got, until)
	}
	got, err = s.BeginIdempotent(ctx, newIdem(o.ID, "finished", "fp-x", time.Minute))
	must(t, err)
	if got == nil || !got.LeaseUntil.Equal(finished.LeaseUntil) {
		t.Errorf("finished record's lease moved: %+v", got)
	}
	// day+24h+1h: the first two expired, the later one (created at day+2h) has not.
	n, err := s.PurgeIdempotency(ctx, day.Add(25*time.Hour))
	must(t, err)
	if n != 2 {
		t.Errorf("PurgeIdempotency removed %d records, want 2", n)
	}
	got, err = s.BeginIdempotent(ctx, newIdem(o.ID, "later", "fp-x", 3*time.Hour))
	must(t, err)
	if got == nil || got.Fingerprint != "fp-3" {
		t.Errorf("a live record was purged: %+v", got)
	}
	got, err = s.BeginIdempotent(ctx, newIdem(o.ID, "running", "fp-y", 3*time.Hour))
	must(t, err)
	if got != nil {
		t.Errorf("a purged key is still taken by %+v", got)
	}
}
