// Package storetest is the behaviour every aiproxy.Store must have, as one suite of
// subtests that each backend's tests run against a fresh store.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Run runs the suite. open must return a new, empty store for each subtest; Run closes it
// when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) aiproxy.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s aiproxy.Store)
	}{
		{"Orgs", testOrgs},
		{"UpdateOrg", testUpdateOrg},
		{"OrgRateLimit", testOrgRateLimit},
		{"APIKeys", testAPIKeys},
		{"APIKeyConflicts", testAPIKeyConflicts},
		{"APIKeyByID", testAPIKeyByID},
		{"RevokeAndTouchAPIKeys", testRevokeAndTouch},
		{"RevokeCascadesToTokens", testRevokeCascades},
		{"Credentials", testCredentials},
		{"RewrapCredential", testRewrapCredential},
		{"ServiceSettings", testServiceSettings},
		{"DeleteOrgCascades", testDeleteOrgCascades},
		{"Audit", testAudit},
		{"Version", testVersion},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Jobs", testJobs},
		{"ListJobs", testListJobs},
		{"JobWatches", testJobWatches},
		{"JobWatchRace", testJobWatchRace},
		{"Idempotency", testIdempotency},
		{"IdempotencyRace", testIdempotencyRace},
		{"ForgetIdempotent", testForgetIdempotent},
		{"IdempotentLeaseAndPurge", testIdempotentLeaseAndPurge},
		{"Usage", testUsage},
		{"UsageConcurrent", testUsageConcurrent},
		{"Budgets", testBudgets},
		{"ReserveBudget", testReserveBudget},
		{"ReserveBudgetNeverOvershoots", testReserveBudgetNeverOvershoots},
		{"BudgetChurn", testBudgetChurn},
		{"OrgWebhookReplaceKeepsCreatedAt", testOrgWebhookReplaceKeepsCreatedAt},
		{"TerminalTransitionAddsOneDelivery", testTerminalTransitionAddsOneDelivery},
		{"ConcurrentCompletionsAddOneDelivery", testConcurrentCompletionsAddOneDelivery},
		{"WebhookLeaseKeepsOtherOwnersOut", testWebhookLeaseKeepsOtherOwnersOut},
		{"ConcurrentClaimsNeverShareADelivery", testConcurrentClaimsNeverShareADelivery},
		{"OnlyTheLeaseOwnerRecordsAnAttempt", testOnlyTheLeaseOwnerRecordsAnAttempt},
		{"OrgSeesOnlyItsOwnDeliveries", testOrgSeesOnlyItsOwnDeliveries},
		{"RetryMakesADeliveryDueAndFreesItsLease", testRetryMakesADeliveryDueAndFreesItsLease},
		{"IncomingEventIsNewOnce", testIncomingEventIsNewOnce},
		{"PurgeDeletesOldFinishedDeliveriesAndEvents", testPurgeDeletesOldFinishedDeliveriesAndEvents},
		{"DeleteOrgRemovesWebhooks", testDeleteOrgRemovesWebhooks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.test(t, s)
		})
	}
}

// day is a fixed instant, at a precision every backend keeps.
var day = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func at(d time.Duration) *time.Time { t := day.Add(d); return &t }

func ptr[T any](v T) *T { return &v }

// wantCode fails the test unless err carries the application error code want ("" for nil).
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := aiproxy.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (err: %v)", got, want, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

// show prints pointers' targets, so a mismatch is readable.
func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		var b bytes.Buffer
		b.WriteString("[")
		for i := 0; i < rv.Len(); i++ {
			b.WriteString("\n  " + show(rv.Index(i).Interface()))
		}
		b.WriteString("]")
		return b.String()
	}
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return fmt.Sprintf("&%+v", rv.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v)
}

func newOrg(t *testing.T, s aiproxy.Store, slug string) *aiproxy.Org {
	t.Helper()
	o := &aiproxy.Org{Slug: slug, Name: "Org " + slug}
	must(t, s.CreateOrg(context.Background(), o))
	return o
}

func newKey(t *testing.T, s aiproxy.Store, orgID int64, prefix string) *aiproxy.APIKey {
	t.Helper()
	k := &aiproxy.APIKey{OrgID: orgID, Prefix: prefix, Hash: "hash-" + prefix, Name: "key " + prefix, Role: aiproxy.RoleMember}
	must(t, s.CreateAPIKey(context.Background(), k))
	return k
}

func newCredential(service string, source aiproxy.Source, orgID int64, kek string) *aiproxy.Credential {
	return &aiproxy.Credential{
		Service: service, Source: source, OrgID: orgID,
		Sealed:      aiproxy.Sealed{KEKID: kek, WrappedDEK: []byte("dek-" + kek), Ciphertext: []byte("secret-" + service)},
		Fingerprint: "fp-" + service, Last4: "abcd",
	}
}

func testOrgs(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	acme := &aiproxy.Org{Slug: "acme", Name: "Acme", CORSOrigins: []string{"https://acme.example"}}
	must(t, s.CreateOrg(ctx, acme))
	if acme.ID == 0 || acme.CreatedAt.IsZero() || acme.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateOrg did not set ID and a UTC CreatedAt: %+v", acme)
	}
	globex := newOrg(t, s, "globex")
	if globex.ID == acme.ID {
		t.Fatalf("two orgs share id %d", acme.ID)
	}

	got, err := s.OrgBySlug(ctx, "acme")
	must(t, err)
	wantEqual(t, "OrgBySlug", got, acme)
	got, err = s.OrgByID(ctx, globex.ID)
	must(t, err)
	wantEqual(t, "OrgByID", got, globex)
	all, err := s.ListOrgs(ctx)
	must(t, err)
	wantEqual(t, "ListOrgs", all, []*aiproxy.Org{acme, globex})

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"duplicate slug", s.CreateOrg(ctx, &aiproxy.Org{Slug: "acme", Name: "Other"}), aiproxy.ECONFLICT},
		{"unknown slug", second(s.OrgBySlug(ctx, "nope")), aiproxy.ENOTFOUND},
		{"unknown id", second(s.OrgByID(ctx, globex.ID+100)), aiproxy.ENOTFOUND},
		{"update unknown", s.UpdateOrg(ctx, &aiproxy.Org{ID: globex.ID + 100, Name: "x"}), aiproxy.ENOTFOUND},
		{"delete unknown", s.DeleteOrg(ctx, globex.ID+100), aiproxy.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
}

func second[T any](_ T, err error) error { return err }

// tokensOf is how many tokens a revocation revoked with the key.
func tokensOf(rv aiproxy.Revocation, err error) (int, error) { return rv.Tokens, err }

func testUpdateOrg(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	for _, origins := range [][]string{
		{"https://a.example", "http://localhost:3000"},
		{"https://b.example"},
		nil,
	} {
		u := *o
		u.Name = fmt.Sprintf("Acme %d", len(origins))
		u.CORSOrigins = origins
		u.Slug = "ignored" // only Name and CORSOrigins are saved
		must(t, s.UpdateOrg(ctx, &u))
		got, err := s.OrgByID(ctx, o.ID)
		must(t, err)
		want := *o
		want.Name, want.CORSOrigins = u.Name, origins
		wantEqual(t, "org after UpdateOrg", got, &want)
	}
}

// testOrgRateLimit: the per-org rate limit is stored at creation, defaults to 0, survives
// UpdateOrg of the other fields, and reads back the same through every lookup.
func testOrgRateLimit(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	limited := &aiproxy.Org{Slug: "limited", Name: "Limited", RateLimitPerMinute: 120}
	must(t, s.CreateOrg(ctx, limited))
	plain := newOrg(t, s, "plain")
	got, err := s.OrgBySlug(ctx, "limited")
	must(t, err)
	wantEqual(t, "rate limit after CreateOrg", got.RateLimitPerMinute, 120)
	got, err = s.OrgByID(ctx, plain.ID)
	must(t, err)
	wantEqual(t, "rate limit of an org created without one", got.RateLimitPerMinute, 0)

	for _, n := range []int{1, 1_000_000, 0, 7} {
		u := *plain
		u.RateLimitPerMinute = n
		must(t, s.UpdateOrg(ctx, &u))
		got, err := s.OrgBySlug(ctx, "plain")
		must(t, err)
		wantEqual(t, "org after UpdateOrg", got, &u)
	}
	all, err := s.ListOrgs(ctx)
	must(t, err)
	wantEqual(t, "ListOrgs rate limits", []int{all[0].RateLimitPerMinute, all[1].RateLimitPerMinute}, []int{120, 7})

	// Changing the origins keeps the limit.
	u := *limited
	u.CORSOrigins = []string{"https://limited.example"}
	must(t, s.UpdateOrg(ctx, &u))
	got, err = s.OrgByID(ctx, limited.ID)
	must(t, err)
	wantEqual(t, "org after updating its origins", got, &u)
}

func testAPIKeys(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	keys := []*aiproxy.APIKey{
		{OrgID: o.ID, Prefix: "ak_admin", Hash: "h1", Name: "admin", Role: aiproxy.RoleAdmin},
		{OrgID: o.ID, Prefix: "ak_scoped", Hash: "h2", Name: "scoped", Role: aiproxy.RoleMember,
			Scopes: []string{"heygen:*", "elevenlabs:tts"}, ExpiresAt: at(24 * time.Hour)},
		{OrgID: o.ID, Prefix: "ak_child", Hash: "h3", Name: "browser", Role: aiproxy.RoleMember,
			Scopes: []string{"heygen:list_avatars"}, ExpiresAt: at(time.Minute)},
		{OrgID: 0, Prefix: "ak_op", Hash: "h4", Name: "operator", Role: aiproxy.RoleOperator},
	}
	for _, k := range keys {
		if k.Prefix == "ak_child" {
			k.ParentID = keys[1].ID // a browser token minted by the scoped key
		}
		must(t, s.CreateAPIKey(ctx, k))
		if k.ID == 0 || k.CreatedAt.IsZero() {
			t.Fatalf("CreateAPIKey did not set ID and CreatedAt: %+v", k)
		}
	}

	for _, k := range keys {
		got, err := s.APIKeyByHash(ctx, k.Hash)
		must(t, err)
		wantEqual(t, "APIKeyByHash "+k.Prefix, got, k)
		got, err = s.APIKeyByPrefix(ctx, k.Prefix)
		must(t, err)
		wantEqual(t, "APIKeyByPrefix "+k.Prefix, got, k)
		got, err = s.APIKeyByID(ctx, k.ID)
		must(t, err)
		wantEqual(t, "APIKeyByID "+k.Prefix, got, k)
	}
	got, err := s.APIKeyByPrefix(ctx, "ak_scoped")
	must(t, err)
	if !got.Active(day) || got.Active(day.Add(25*time.Hour)) {
		t.Errorf("expiry did not round-trip: ExpiresAt = %v", got.ExpiresAt)
	}

	list, err := s.ListAPIKeys(ctx, o.ID)
	must(t, err)
	if len(list) != 3 {
		t.Fatalf("ListAPIKeys(org) returned %d keys, want 3", len(list))
	}
	for i := 1; i < len(list); i++ {
		if list[i].CreatedAt.After(list[i-1].CreatedAt) || list[i].CreatedAt.Equal(list[i-1].CreatedAt) && list[i].ID > list[i-1].ID {
			t.Errorf("ListAPIKeys not newest first: %s before %s", list[i-1].Prefix, list[i].Prefix)
		}
	}
	ops, err := s.ListAPIKeys(ctx, 0)
	must(t, err)
	wantEqual(t, "ListAPIKeys(0)", ops, []*aiproxy.APIKey{keys[3]})
	none, err := s.ListAPIKeys(ctx, o.ID+100)
	must(t, err)
	if len(none) != 0 {
		t.Errorf("ListAPIKeys(unknown org) = %d keys, want none", len(none))
	}

	wantCode(t, second(s.APIKeyByHash(ctx, "nope")), aiproxy.ENOTFOUND)
	wantCode(t, second(s.APIKeyByPrefix(ctx, "nope")), aiproxy.ENOTFOUND)
}

func testAPIKeyConflicts(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	k := newKey(t, s, 0, "ak_one")
	for _, tt := range []struct {
		name string
		key  aiproxy.APIKey
	}{
		{"duplicate prefix", aiproxy.APIKey{Prefix: k.Prefix, Hash: "other", Role: aiproxy.RoleOperator}},
		{"duplicate hash", aiproxy.APIKey{Prefix: "ak_two", Hash: k.Hash, Role: aiproxy.RoleOperator}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.CreateAPIKey(ctx, &tt.key), aiproxy.ECONFLICT)
		})
	}
	list, err := s.ListAPIKeys(ctx, 0)
	must(t, err)
	if len(list) != 1 {
		t.Errorf("after conflicts: %d keys, want 1", len(list))
	}
}

func testRevokeAndTouch(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newKey(t, s, 0, "ak_a"), newKey(t, s, 0, "ak_b")

	n, err := tokensOf(s.RevokeAPIKey(ctx, a.Prefix, day))
	must(t, err)
	wantEqual(t, "tokens revoked with a key that minted none", n, 0)
	wantCode(t, second(tokensOf(s.RevokeAPIKey(ctx, "ak_nope", day))), aiproxy.ENOTFOUND)
	got, err := s.APIKeyByHash(ctx, a.Hash) // revoked keys are still returned
	must(t, err)
	wantEqual(t, "RevokedAt", got.RevokedAt, at(0))
	if got.Active(day.Add(-time.Hour)) {
		t.Error("revoked key is active")
	}

	must(t, s.TouchAPIKeys(ctx, map[int64]time.Time{a.ID: day.Add(time.Hour), b.ID: day.Add(2 * time.Hour), b.ID + 1000: day}))
	must(t, s.TouchAPIKeys(ctx, nil))
	for _, tt := range []struct {
		key  *aiproxy.APIKey
		want *time.Time
	}{{a, at(time.Hour)}, {b, at(2 * time.Hour)}} {
		got, err := s.APIKeyByPrefix(ctx, tt.key.Prefix)
		must(t, err)
		wantEqual(t, "LastUsedAt of "+tt.key.Prefix, got.LastUsedAt, tt.want)
	}
}

// testAPIKeyByID: a key is found by its id, revoked or not, until its org is deleted; an id
// looked up before it existed is found once it does.
func testAPIKeyByID(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	parent := newKey(t, s, o.ID, "ak_parent")
	token := &aiproxy.APIKey{OrgID: o.ID, Prefix: "ak_token", Hash: "hash-token", Name: "browser", Role: aiproxy.RoleMember,
		Scopes: []string{"heygen:list_avatars"}, ParentID: parent.ID, ExpiresAt: at(time.Minute)}
	must(t, s.CreateAPIKey(ctx, token))
	for _, k := range []*aiproxy.APIKey{parent, token} {
		got, err := s.APIKeyByID(ctx, k.ID)
		must(t, err)
		wantEqual(t, "APIKeyByID "+k.Prefix, got, k)
	}

	probe := token.ID + 1 // likely the next key's id
	for _, id := range []int64{0, -1, probe, token.ID + 1000} {
		wantCode(t, second(s.APIKeyByID(ctx, id)), aiproxy.ENOTFOUND)
	}
	next := newKey(t, s, o.ID, "ak_next")
	got, err := s.APIKeyByID(ctx, next.ID)
	must(t, err)
	wantEqual(t, "APIKeyByID of a key created after a miss", got, next)

	n, err := tokensOf(s.RevokeAPIKey(ctx, token.Prefix, day))
	must(t, err)
	wantEqual(t, "tokens revoked with a token", n, 0)
	got, err = s.APIKeyByID(ctx, token.ID) // revoked keys are still returned
	must(t, err)
	want := *token
	want.RevokedAt = at(0)
	wantEqual(t, "APIKeyByID of a revoked key", got, &want)

	must(t, s.DeleteOrg(ctx, o.ID))
	for _, k := range []*aiproxy.APIKey{parent, token, next} {
		wantCode(t, second(s.APIKeyByID(ctx, k.ID)), aiproxy.ENOTFOUND)
	}
}

// testRevokeCascades: revoking a key revokes, in the same call, every token it minted that
// was not revoked yet (expired ones included), and says how many; revoking it again keeps
// every first revocation time and revokes only tokens minted since. Other keys' tokens are
// untouched. Every lookup sees it, also one that answered before the revocation.
func testRevokeCascades(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	parent, other := newKey(t, s, o.ID, "ak_parent"), newKey(t, s, o.ID, "ak_other")
	mint := func(prefix string, by *aiproxy.APIKey, expires, revoked *time.Time) *aiproxy.APIKey {
		t.Helper()
		k := &aiproxy.APIKey{OrgID: o.ID, Prefix: prefix, Hash: "hash-" + prefix, Name: "browser " + prefix,
			Role: aiproxy.RoleMember, ParentID: by.ID, ExpiresAt: expires, RevokedAt: revoked}
		must(t, s.CreateAPIKey(ctx, k))
		return k
	}
	var (
		t1      = mint("ak_t1", parent, at(time.Hour), nil)
		t2      = mint("ak_t2", parent, at(time.Hour), nil)
		expired = mint("ak_expired", parent, at(-time.Hour), nil)
		early   = mint("ak_early", parent, at(time.Hour), at(-time.Minute)) // revoked before its parent
		foreign = mint("ak_foreign", other, at(time.Hour), nil)
	)
	// wantRevoked checks every way of looking each key up.
	wantRevoked := func(when string, want map[*aiproxy.APIKey]*time.Time) {
		t.Helper()
		for k, revoked := range want {
			for _, look := range []struct {
				name string
				get  func() (*aiproxy.APIKey, error)
			}{
				{"APIKeyByHash", func() (*aiproxy.APIKey, error) { return s.APIKeyByHash(ctx, k.Hash) }},
				{"APIKeyByID", func() (*aiproxy.APIKey, error) { return s.APIKeyByID(ctx, k.ID) }},
				{"APIKeyByPrefix", func() (*aiproxy.APIKey, error) { return s.APIKeyByPrefix(ctx, k.Prefix) }},
			} {
				got, err := look.get()
				must(t, err)
				wantEqual(t, fmt.Sprintf("%s: %s(%s).RevokedAt", when, look.name, k.Prefix), got.RevokedAt, revoked)
			}
		}
	}
	wantRevoked("before", map[*aiproxy.APIKey]*time.Time{
		parent: nil, t1: nil, t2: nil, expired: nil, early: at(-time.Minute), other: nil, foreign: nil,
	})

	rv, err := s.RevokeAPIKey(ctx, parent.Prefix, day)
	must(t, err)
	wantEqual(t, "revocation of an active key", rv, aiproxy.Revocation{Key: true, Tokens: 3})
	after := map[*aiproxy.APIKey]*time.Time{
		parent: at(0), t1: at(0), t2: at(0), expired: at(0), early: at(-time.Minute), other: nil, foreign: nil,
	}
	wantRevoked("after revoking the parent", after)

	rv, err = s.RevokeAPIKey(ctx, parent.Prefix, day.Add(time.Hour))
	must(t, err)
	wantEqual(t, "a second revocation", rv, aiproxy.Revocation{})
	wantRevoked("after revoking the parent again", after)

	// A token minted by a revoked key (the store does not refuse it) is revoked by the next
	// revocation of that key, which still keeps the key's first revocation time.
	late := mint("ak_late", parent, at(time.Hour), nil)
	rv, err = s.RevokeAPIKey(ctx, parent.Prefix, day.Add(2*time.Hour))
	must(t, err)
	wantEqual(t, "a third revocation", rv, aiproxy.Revocation{Tokens: 1})
	after[late] = at(2 * time.Hour)
	wantRevoked("after a third revocation", after)

	n, err := tokensOf(s.RevokeAPIKey(ctx, "ak_nope", day))
	wantCode(t, err, aiproxy.ENOTFOUND)
	wantEqual(t, "tokens revoked for an unknown prefix", n, 0)
	wantRevoked("after revoking an unknown prefix", after)

	// Revocations of one key racing each other revoke each token once between them.
	busy := newKey(t, s, o.ID, "ak_busy")
	const minted, revokers = 5, 4
	for i := range minted {
		mint(fmt.Sprintf("ak_busy_%d", i), busy, at(time.Hour), nil)
	}
	var (
		wg          sync.WaitGroup
		total, keys atomic.Int64
		errs        = make(chan error, revokers)
	)
	for range revokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rv, err := s.RevokeAPIKey(ctx, busy.Prefix, day)
			if err != nil {
				errs <- err
			}
			total.Add(int64(rv.Tokens))
			if rv.Key {
				keys.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent RevokeAPIKey: %v", err)
	}
	wantEqual(t, "tokens revoked by concurrent revocations, in all", total.Load(), int64(minted))
	wantEqual(t, "concurrent revocations that say they revoked the key", keys.Load(), int64(1))
}

// RevokeIsAtomic checks that RevokeAPIKey changes nothing when revoking the tokens fails:
// the key stays active, its tokens too, and Version does not move. failTokens, given by
// the backend's own tests, must make every later update of a token's row (parent_id not 0)
// fail, e.g. with a trigger.
func RevokeIsAtomic(t *testing.T, s aiproxy.Store, failTokens func(t *testing.T)) {
	ctx := context.Background()
	parent := newKey(t, s, 0, "ak_parent")
	token := &aiproxy.APIKey{Prefix: "ak_token", Hash: "hash-token", Role: aiproxy.RoleOperator, ParentID: parent.ID}
	must(t, s.CreateAPIKey(ctx, token))
	v0, err := s.Version(ctx)
	must(t, err)

	failTokens(t)
	n, err := tokensOf(s.RevokeAPIKey(ctx, parent.Prefix, day))
	if err == nil {
		t.Fatalf("RevokeAPIKey = %d, nil; want the injected failure", n)
	}
	for _, k := range []*aiproxy.APIKey{parent, token} {
		got, err := s.APIKeyByID(ctx, k.ID)
		must(t, err)
		if got.RevokedAt != nil {
			t.Errorf("%s revoked at %v by a revocation that failed", k.Prefix, got.RevokedAt)
		}
	}
	v1, err := s.Version(ctx)
	must(t, err)
	if v1 != v0 {
		t.Errorf("Version moved from %d to %d with a revocation that failed", v0, v1)
	}
}

func testCredentials(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	tenant := newCredential("heygen", aiproxy.SourceTenant, o.ID, "kek1")
	platform := newCredential("heygen", aiproxy.SourcePlatform, 0, "kek1")
	other := newCredential("elevenlabs", aiproxy.SourceTenant, o.ID, "kek1")
	for _, c := range []*aiproxy.Credential{tenant, platform, other} {
		must(t, s.PutCredential(ctx, c))
		if c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
			t.Fatalf("PutCredential (create) set CreatedAt %v, UpdatedAt %v", c.CreatedAt, c.UpdatedAt)
		}
		got, err := s.GetCredential(ctx, c.Service, c.Source, c.OrgID)
		must(t, err)
		wantEqual(t, "GetCredential", got, c)
	}

	time.Sleep(2 * time.Millisecond) // so UpdatedAt moves
	replaced := newCredential("heygen", aiproxy.SourceTenant, o.ID, "kek2")
	replaced.Sealed.Ciphertext = []byte("new secret")
	replaced.Last4 = "wxyz"
	must(t, s.PutCredential(ctx, replaced))
	if !replaced.CreatedAt.Equal(tenant.CreatedAt) || !replaced.UpdatedAt.After(tenant.UpdatedAt) {
		t.Errorf("PutCredential (replace): CreatedAt %v (want %v kept), UpdatedAt %v (want after %v)",
			replaced.CreatedAt, tenant.CreatedAt, replaced.UpdatedAt, tenant.UpdatedAt)
	}
	got, err := s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID)
	must(t, err)
	wantEqual(t, "replaced credential", got, replaced)

	all, err := s.ListCredentials(ctx)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("ListCredentials returned %d, want 3", len(all))
	}
	for _, tt := range []struct {
		service string
		want    int
	}{{"heygen", 2}, {"elevenlabs", 1}, {"nosuch", 0}} {
		got, err := s.ServiceCredentials(ctx, tt.service)
		must(t, err)
		if len(got) != tt.want {
			t.Errorf("ServiceCredentials(%q) returned %d, want %d", tt.service, len(got), tt.want)
		}
		for _, c := range got {
			if c.Service != tt.service {
				t.Errorf("ServiceCredentials(%q) returned a %s credential", tt.service, c.Service)
			}
		}
	}

	must(t, s.DeleteCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID))
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"get deleted", second(s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID)), aiproxy.ENOTFOUND},
		{"delete deleted", s.DeleteCredential(ctx, "heygen", aiproxy.SourceTenant, o.ID), aiproxy.ENOTFOUND},
		{"platform kept", second(s.GetCredential(ctx, "heygen", aiproxy.SourcePlatform, 0)), ""},
		{"wrong org", second(s.GetCredential(ctx, "elevenlabs", aiproxy.SourceTenant, o.ID+1)), aiproxy.ENOTFOUND},
		{"wrong source", second(s.GetCredential(ctx, "elevenlabs", aiproxy.SourcePlatform, o.ID)), aiproxy.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	all, err = s.ListCredentials(ctx)
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("ListCredentials after delete returned %d, want 2", len(all))
	}
}

func testRewrapCredential(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	c := newCredential("heygen", aiproxy.SourcePlatform, 0, "kek1")
	must(t, s.PutCredential(ctx, c))

	rewrapped := *c
	rewrapped.Sealed = aiproxy.Sealed{KEKID: "kek2", WrappedDEK: []byte("dek-under-kek2"), Ciphertext: c.Sealed.Ciphertext}
	for _, tt := range []struct {
		name    string
		cred    aiproxy.Credential
		oldKEK  string
		swapped bool
		want    *aiproxy.Credential
	}{
		{"stale old KEK", rewrapped, "kek0", false, c},
		{"current old KEK", rewrapped, "kek1", true, &rewrapped},
		{"already rewrapped", rewrapped, "kek1", false, &rewrapped},
		{"missing credential", *newCredential("elevenlabs", aiproxy.SourcePlatform, 0, "kek2"), "kek1", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.RewrapCredential(ctx, &tt.cred, tt.oldKEK)
			must(t, err)
			if ok != tt.swapped {
				t.Fatalf("RewrapCredential = %v, want %v", ok, tt.swapped)
			}
			if tt.want == nil {
				return
			}
			got, err := s.GetCredential(ctx, c.Service, c.Source, c.OrgID)
			must(t, err)
			wantEqual(t, "credential", got, tt.want)
		})
	}
}

func testServiceSettings(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	o := newOrg(t, s, "acme")
	policy := aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourcePlatform, FallbackToPlatformKey: true}
	for _, tt := range []struct {
		name string
		in   aiproxy.ServiceSettings
	}{
		{"global, nothing set", aiproxy.ServiceSettings{Service: "heygen"}},
		{"global, disabled", aiproxy.ServiceSettings{Service: "heygen", Enabled: ptr(false)}},
		{"org, policy only", aiproxy.ServiceSettings{Service: "heygen", OrgID: o.ID, Policy: &policy}},
		{"org, both", aiproxy.ServiceSettings{Service: "elevenlabs", OrgID: o.ID, Enabled: ptr(true), Policy: &aiproxy.TenantOnly}},
		{"org, account actions", aiproxy.ServiceSettings{Service: "elevenlabs", OrgID: o.ID, AccountActions: ptr("allow")}},
		{"org, idempotency key required", aiproxy.ServiceSettings{Service: "elevenlabs", OrgID: o.ID, Enabled: ptr(true),
			AccountActions: ptr("refuse"), RequireIdempotencyKey: ptr(true)}},
		{"org, idempotency key not required", aiproxy.ServiceSettings{Service: "elevenlabs", OrgID: o.ID, RequireIdempotencyKey: ptr(false)}},
		{"global, everything", aiproxy.ServiceSettings{Service: "heygen", Enabled: ptr(true), Policy: &policy,
			AccountActions: ptr("allow"), RequireIdempotencyKey: ptr(true)}},
		{"org, back to nil", aiproxy.ServiceSettings{Service: "elevenlabs", OrgID: o.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ss := tt.in
			must(t, s.PutServiceSettings(ctx, &ss))
			if ss.UpdatedAt.IsZero() {
				t.Fatal("PutServiceSettings did not set UpdatedAt")
			}
			got, err := s.ServiceSettings(ctx, ss.Service, ss.OrgID)
			must(t, err)
			wantEqual(t, "ServiceSettings", got, &ss)
		})
	}
	wantCode(t, second(s.ServiceSettings(ctx, "elevenlabs", 0)), aiproxy.ENOTFOUND)
	wantCode(t, second(s.ServiceSettings(ctx, "heygen", o.ID+1)), aiproxy.ENOTFOUND)
	all, err := s.ListServiceSettings(ctx)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("ListServiceSettings returned %d rows, want 3", len(all))
	}
}

func testDeleteOrgCascades(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	doomed, kept := newOrg(t, s, "doomed"), newOrg(t, s, "kept")
	for _, o := range []*aiproxy.Org{doomed, kept} {
		newKey(t, s, o.ID, "ak_"+o.Slug)
		must(t, s.PutCredential(ctx, newCredential("heygen", aiproxy.SourceTenant, o.ID, "kek1")))
		must(t, s.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen", OrgID: o.ID, Enabled: ptr(true)}))
		must(t, s.AppendAudit(ctx, &aiproxy.AuditEntry{OrgID: o.ID, Actor: "cli", Action: "org.create", Target: o.Slug}))
		must(t, s.PutBudget(ctx, &aiproxy.Budget{OrgID: o.ID, Service: "heygen", Period: "day", Limits: aiproxy.Units{aiproxy.UnitRequests: 1}}))
		must(t, s.CreateJob(ctx, newJob(o.ID, "heygen", "job-"+o.Slug)))
	}
	newKey(t, s, 0, "ak_operator")
	must(t, s.PutCredential(ctx, newCredential("heygen", aiproxy.SourcePlatform, 0, "kek1")))
	must(t, s.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen", Enabled: ptr(true)}))

	must(t, s.DeleteOrg(ctx, doomed.ID))

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"org by id", second(s.OrgByID(ctx, doomed.ID)), aiproxy.ENOTFOUND},
		{"org by slug", second(s.OrgBySlug(ctx, doomed.Slug)), aiproxy.ENOTFOUND},
		{"key", second(s.APIKeyByPrefix(ctx, "ak_doomed")), aiproxy.ENOTFOUND},
		{"credential", second(s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, doomed.ID)), aiproxy.ENOTFOUND},
		{"settings", second(s.ServiceSettings(ctx, "heygen", doomed.ID)), aiproxy.ENOTFOUND},
		{"budget", second(s.GetBudget(ctx, doomed.ID, "heygen")), aiproxy.ENOTFOUND},
		{"job (history, like audit)", second(s.JobByUpstreamID(ctx, "heygen", "job-doomed")), ""},
		{"delete again", s.DeleteOrg(ctx, doomed.ID), aiproxy.ENOTFOUND},
		{"other org", second(s.OrgByID(ctx, kept.ID)), ""},
		{"other org's key", second(s.APIKeyByPrefix(ctx, "ak_kept")), ""},
		{"other org's credential", second(s.GetCredential(ctx, "heygen", aiproxy.SourceTenant, kept.ID)), ""},
		{"other org's settings", second(s.ServiceSettings(ctx, "heygen", kept.ID)), ""},
		{"other org's budget", second(s.GetBudget(ctx, kept.ID, "heygen")), ""},
		{"operator key", second(s.APIKeyByPrefix(ctx, "ak_operator")), ""},
		{"platform credential", second(s.GetCredential(ctx, "heygen", aiproxy.SourcePlatform, 0)), ""},
		{"global settings", second(s.ServiceSettings(ctx, "heygen", 0)), ""},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	audit, err := s.ListAudit(ctx, doomed.ID, 0, 0)
	must(t, err)
	if len(audit) != 1 {
		t.Errorf("audit of deleted org: %d entries, want 1 (audit outlives its org)", len(audit))
	}
	// A new org never takes a deleted org's id, whose audit would become its own.
	if reborn := newOrg(t, s, "reborn"); reborn.ID == doomed.ID {
		t.Errorf("new org reused deleted org id %d", doomed.ID)
	}
}

func testAudit(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	const orgID = 7 // audit does not require the org to exist
	var org, platform []*aiproxy.AuditEntry
	for i := range 7 {
		e := &aiproxy.AuditEntry{OrgID: orgID, Actor: "ak_x", Action: "credential.set", Target: fmt.Sprint("svc", i),
			Before: `{}`, After: fmt.Sprintf(`{"n":%d}`, i)}
		must(t, s.AppendAudit(ctx, e))
		if e.ID == 0 || e.CreatedAt.IsZero() {
			t.Fatalf("AppendAudit did not set ID and CreatedAt: %+v", e)
		}
		org = append([]*aiproxy.AuditEntry{e}, org...) // newest first
		if i%3 == 0 {
			p := &aiproxy.AuditEntry{Actor: "cli", Action: "settings.set", Target: "heygen"}
			must(t, s.AppendAudit(ctx, p))
			platform = append([]*aiproxy.AuditEntry{p}, platform...)
		}
	}

	for _, tt := range []struct {
		name   string
		orgID  int64
		before int64
		limit  int
		want   []*aiproxy.AuditEntry
	}{
		{"all", orgID, 0, 0, org},
		{"first page", orgID, 0, 3, org[:3]},
		{"second page", orgID, org[2].ID, 3, org[3:6]},
		{"last page", orgID, org[5].ID, 3, org[6:]},
		{"past the end", orgID, org[6].ID, 3, nil},
		{"large limit", orgID, org[0].ID, 100, org[1:]},
		{"platform", 0, 0, 10, platform},
		{"platform before", 0, platform[0].ID, 10, platform[1:]},
		{"other org", orgID + 1, 0, 10, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.orgID, tt.before, tt.limit)
			must(t, err)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			wantEqual(t, "ListAudit", got, tt.want)
		})
	}
}

func testVersion(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	var (
		org    = &aiproxy.Org{Slug: "acme", Name: "Acme"}
		key    = &aiproxy.APIKey{Prefix: "ak_v", Hash: "hv", Role: aiproxy.RoleOperator}
		cr     = newCredential("heygen", aiproxy.SourcePlatform, 0, "kek1")
		job    = newJob(1, "heygen", "v1")
		idem   = newIdem(1, "key", "fp", 0)
		budget = &aiproxy.Budget{OrgID: 1, Service: "heygen", Period: "month", Limits: aiproxy.Units{aiproxy.UnitRequests: 10}}
		resv   = reserve(aiproxy.Units{aiproxy.UnitRequests: 1}, time.Hour)
	)
	rewrapped := *cr
	rewrapped.Sealed.KEKID = "kek2"
	steps := []struct {
		name    string
		do      func() error
		changes bool
	}{
		{"CreateOrg", func() error { return s.CreateOrg(ctx, org) }, true},
		{"CreateOrg conflict", func() error { return ignore(s.CreateOrg(ctx, &aiproxy.Org{Slug: "acme"}), aiproxy.ECONFLICT) }, false},
		{"UpdateOrg", func() error { org.CORSOrigins = []string{"https://a.example"}; return s.UpdateOrg(ctx, org) }, true},
		{"CreateAPIKey", func() error { return s.CreateAPIKey(ctx, key) }, true},
		{"TouchAPIKeys", func() error { return s.TouchAPIKeys(ctx, map[int64]time.Time{key.ID: day}) }, false},
		{"RevokeAPIKey unknown", func() error {
			return ignore(second(tokensOf(s.RevokeAPIKey(ctx, "ak_nope", day))), aiproxy.ENOTFOUND)
		}, false},
		{"RevokeAPIKey", func() error { return second(tokensOf(s.RevokeAPIKey(ctx, key.Prefix, day))) }, true},
		{"PutCredential", func() error { return s.PutCredential(ctx, cr) }, true},
		{"RewrapCredential stale", func() error { _, err := s.RewrapCredential(ctx, &rewrapped, "kek0"); return err }, false},
		{"RewrapCredential", func() error { _, err := s.RewrapCredential(ctx, &rewrapped, "kek1"); return err }, true},
		{"DeleteCredential", func() error { return s.DeleteCredential(ctx, cr.Service, cr.Source, cr.OrgID) }, true},
		{"PutServiceSettings", func() error {
			return s.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen", Enabled: ptr(false)})
		}, true},
		{"PutServiceSettings new fields", func() error {
			return s.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen", AccountActions: ptr("allow"), RequireIdempotencyKey: ptr(true)})
		}, true},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, &aiproxy.AuditEntry{Actor: "cli", Action: "x"}) }, false},
		{"CreateJob", func() error { return s.CreateJob(ctx, job) }, false},
		{"UpdateJobStatus", func() error { job.Status = "completed"; return s.UpdateJobStatus(ctx, job) }, false},
		{"BeginIdempotent", func() error { return second(s.BeginIdempotent(ctx, idem)) }, false},
		{"FinishIdempotent", func() error { idem.State = aiproxy.IdemDone; return s.FinishIdempotent(ctx, idem) }, false},
		{"AddUsage", func() error {
			return s.AddUsage(ctx, []aiproxy.UsageDelta{{OrgID: 1, Service: "heygen", Action: "x", Day: "2026-12-01", Calls: 1}})
		}, false},
		{"PutBudget", func() error { return s.PutBudget(ctx, budget) }, true},
		{"ReserveBudget", func() error { _, _, err := s.ReserveBudget(ctx, resv, budget.Limits); return err }, false},
		{"CommitBudget", func() error { return s.CommitBudget(ctx, resv.ID) }, false},
		{"ReleaseBudget", func() error { return s.ReleaseBudget(ctx, resv.ID) }, false},
		{"ExpireBudgetReservations", func() error { return second(s.ExpireBudgetReservations(ctx, day)) }, false},
		{"DeleteBudget unknown", func() error { return ignore(s.DeleteBudget(ctx, 99, "heygen"), aiproxy.ENOTFOUND) }, false},
		{"DeleteBudget", func() error { return s.DeleteBudget(ctx, budget.OrgID, budget.Service) }, true},
		{"reads", func() error {
			_, err := s.ListOrgs(ctx)
			return err
		}, false},
		{"DeleteOrg", func() error { return s.DeleteOrg(ctx, org.ID) }, true},
	}
	prev, err := s.Version(ctx)
	must(t, err)
	for _, step := range steps {
		must(t, step.do())
		v, err := s.Version(ctx)
		must(t, err)
		if changed := v != prev; changed != step.changes {
			t.Errorf("after %s: version %d → %d, want changed = %v", step.name, prev, v, step.changes)
		}
		prev = v
	}
}

// ignore returns nil if err has the code want, and err otherwise.
func ignore(err error, want string) error {
	if aiproxy.ErrorCode(err) == want {
		return nil
	}
	return fmt.Errorf("want %s error, got %v", want, err)
}

func testConcurrentWriters(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	const writers, each = 8, 5
	v0, err := s.Version(ctx)
	must(t, err)
	var (
		wg   sync.WaitGroup
		errs = make(chan error, writers*each)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := &aiproxy.APIKey{Prefix: fmt.Sprintf("ak_%d_%d", w, i), Hash: fmt.Sprintf("h%d_%d", w, i), Role: aiproxy.RoleOperator}
				if err := s.CreateAPIKey(ctx, k); err != nil {
					errs <- fmt.Errorf("writer %d key %d: %w", w, i, err)
				}
				if err := s.TouchAPIKeys(ctx, map[int64]time.Time{k.ID: day}); err != nil {
					errs <- fmt.Errorf("writer %d touch %d: %w", w, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys, err := s.ListAPIKeys(ctx, 0)
	must(t, err)
	if len(keys) != writers*each {
		t.Errorf("%d keys stored, want %d", len(keys), writers*each)
	}
	v1, err := s.Version(ctx)
	must(t, err)
	if v1 == v0 {
		t.Error("version did not change")
	}
}
