package storetest

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// putHook gives the org a webhook subscribed to events.
func putHook(t *testing.T, s aiproxy.Store, orgID int64, events ...string) *aiproxy.OrgWebhook {
	t.Helper()
	w := &aiproxy.OrgWebhook{OrgID: orgID, URL: fmt.Sprintf("https://org%d.example/hooks", orgID), Events: events}
	must(t, s.PutOrgWebhook(context.Background(), w))
	return w
}

// deliveriesOf lists every delivery of the org, newest first.
func deliveriesOf(t *testing.T, s aiproxy.Store, orgID int64) []*aiproxy.WebhookDelivery {
	t.Helper()
	ds, err := s.ListWebhookDeliveries(context.Background(), orgID, 0, 0)
	must(t, err)
	return ds
}

// newDelivery records a job of the org (whose webhook must take job.completed) and
// completes it at at: the outbox's delivery, due at at, is returned.
func newDelivery(t *testing.T, s aiproxy.Store, orgID int64, upstreamID string, at time.Time) *aiproxy.WebhookDelivery {
	t.Helper()
	ctx := context.Background()
	j := newJob(orgID, "heygen", upstreamID)
	must(t, s.CreateJob(ctx, j))
	j.Status, j.UpdatedAt = aiproxy.JobCompleted, at
	must(t, s.UpdateJobStatus(ctx, j))
	ds, err := s.ListWebhookDeliveries(ctx, orgID, 0, 1)
	must(t, err)
	if len(ds) != 1 || ds[0].JobID != j.ID {
		t.Fatalf("completing job %s added no delivery: newest is %s", upstreamID, show(ds))
	}
	return ds[0]
}

// attempt makes one attempt at d as owner "worker" at at: it claims what is due (d among
// it) and records the outcome, d's fields changed as a deliverer would; d is updated.
func attempt(t *testing.T, s aiproxy.Store, d *aiproxy.WebhookDelivery, at time.Time, status int, why, state string, next time.Time) *aiproxy.WebhookAttempt {
	t.Helper()
	ctx := context.Background()
	claimed, err := s.ClaimWebhookDeliveries(ctx, "worker", at, at.Add(time.Minute), 100)
	must(t, err)
	if !hasDelivery(claimed, d.ID) {
		t.Fatalf("delivery %s not claimed at %v: got %s", d.ID, at, show(claimed))
	}
	if d.Payload == "" {
		d.Payload = `{"id":"` + d.ID + `"}`
	}
	d.Attempts++
	d.State, d.LastStatus, d.LastError, d.NextAttemptAt, d.UpdatedAt = state, status, why, next, at
	a := &aiproxy.WebhookAttempt{N: d.Attempts, At: at, Status: status, Error: why, Duration: 1234567 * time.Nanosecond}
	must(t, s.RecordWebhookAttempt(ctx, d, a, "worker"))
	if a.DeliveryID != d.ID {
		t.Fatalf("RecordWebhookAttempt set DeliveryID %q, want %q", a.DeliveryID, d.ID)
	}
	return a
}

func hasDelivery(ds []*aiproxy.WebhookDelivery, id string) bool {
	for _, d := range ds {
		if d.ID == id {
			return true
		}
	}
	return false
}

// claimIDs claims for owner, at now, until until, and returns the ids claimed.
func claimIDs(t *testing.T, s aiproxy.Store, owner string, now, until time.Time, limit int) []string {
	t.Helper()
	ds, err := s.ClaimWebhookDeliveries(context.Background(), owner, now, until, limit)
	must(t, err)
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

// testOrgWebhookReplaceKeepsCreatedAt: an org's webhook is absent until put, round-trips,
// keeps its CreatedAt when replaced, is deleted once; each change is configuration (the
// version changes).
func testOrgWebhookReplaceKeepsCreatedAt(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")
	wantCode(t, second(s.GetOrgWebhook(ctx, a.ID)), aiproxy.ENOTFOUND)
	wantCode(t, s.DeleteOrgWebhook(ctx, a.ID), aiproxy.ENOTFOUND)

	version := func() int64 {
		t.Helper()
		v, err := s.Version(ctx)
		must(t, err)
		return v
	}
	v := version()
	w := &aiproxy.OrgWebhook{OrgID: a.ID, URL: "https://acme.example/hooks", Events: []string{aiproxy.EventJobCompleted}, UpdatedAt: day}
	must(t, s.PutOrgWebhook(ctx, w))
	wantEqual(t, "CreatedAt of a new webhook", w.CreatedAt, day)
	got, err := s.GetOrgWebhook(ctx, a.ID)
	must(t, err)
	wantEqual(t, "GetOrgWebhook", got, w)
	if next := version(); next == v {
		t.Errorf("PutOrgWebhook left the version at %d", v)
	} else {
		v = next
	}

	replaced := &aiproxy.OrgWebhook{OrgID: a.ID, URL: "https://acme.example/v2", Events: aiproxy.WebhookEvents, UpdatedAt: day.Add(time.Hour)}
	must(t, s.PutOrgWebhook(ctx, replaced))
	want := &aiproxy.OrgWebhook{OrgID: a.ID, URL: "https://acme.example/v2", Events: aiproxy.WebhookEvents, CreatedAt: day, UpdatedAt: day.Add(time.Hour)}
	wantEqual(t, "replacing keeps CreatedAt", replaced, want)
	got, err = s.GetOrgWebhook(ctx, a.ID)
	must(t, err)
	wantEqual(t, "GetOrgWebhook after replacing", got, want)

	unset := &aiproxy.OrgWebhook{OrgID: b.ID, URL: "https://globex.example/hooks"}
	must(t, s.PutOrgWebhook(ctx, unset))
	if unset.UpdatedAt.IsZero() || unset.UpdatedAt.Location() != time.UTC || !unset.CreatedAt.Equal(unset.UpdatedAt) {
		t.Fatalf("PutOrgWebhook without UpdatedAt did not set UTC times: %+v", unset)
	}
	got, err = s.GetOrgWebhook(ctx, b.ID)
	must(t, err)
	wantEqual(t, "a webhook without events", got, unset)

	v = version()
	must(t, s.DeleteOrgWebhook(ctx, a.ID))
	if version() == v {
		t.Errorf("DeleteOrgWebhook left the version at %d", v)
	}
	wantCode(t, second(s.GetOrgWebhook(ctx, a.ID)), aiproxy.ENOTFOUND)
	wantCode(t, s.DeleteOrgWebhook(ctx, a.ID), aiproxy.ENOTFOUND)
	wantCode(t, second(s.GetOrgWebhook(ctx, b.ID)), "")
}

var deliveryIDPattern = regexp.MustCompile(`^msg_[a-z2-7]{26}$`)

// testTerminalTransitionAddsOneDelivery: UpdateJobStatus adds one pending delivery, due at
// once, when a job becomes terminal from not terminal or unset, and only if its org's
// webhook takes that event; any other change adds none.
func testTerminalTransitionAddsOneDelivery(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b, c := newOrg(t, s, "acme"), newOrg(t, s, "globex"), newOrg(t, s, "initech")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted, aiproxy.EventJobFailed)
	putHook(t, s, b.ID, aiproxy.EventJobCompleted) // not job.failed
	job := func(orgID int64, upstreamID string) *aiproxy.Job {
		j := newJob(orgID, "heygen", upstreamID)
		must(t, s.CreateJob(ctx, j))
		return j
	}
	a1, a2, a3, b1, b2, c1 := job(a.ID, "a1"), job(a.ID, "a2"), job(a.ID, "a3"), job(b.ID, "b1"), job(b.ID, "b2"), job(c.ID, "c1")
	ids := map[string]bool{}
	for i, tt := range []struct {
		name           string
		job            *aiproxy.Job
		status, result string
		want           string // the type of the delivery added; "" for none
	}{
		{"unset to queued adds none", a1, aiproxy.JobQueued, "", ""},
		{"queued to processing adds none", a1, aiproxy.JobProcessing, "", ""},
		{"processing to completed adds job.completed", a1, aiproxy.JobCompleted, `{"url":"v1"}`, aiproxy.EventJobCompleted},
		{"completed again with another result adds none", a1, aiproxy.JobCompleted, `{"url":"v2"}`, ""},
		{"completed to failed adds none", a1, aiproxy.JobFailed, "", ""},
		{"unset to failed adds job.failed", a2, aiproxy.JobFailed, "", aiproxy.EventJobFailed},
		{"failed again adds none", a2, aiproxy.JobFailed, "", ""},
		{"unset to completed adds job.completed", a3, aiproxy.JobCompleted, `{}`, aiproxy.EventJobCompleted},
		{"failed in an org not subscribed to job.failed adds none", b1, aiproxy.JobFailed, "", ""},
		{"completed in an org subscribed to job.completed adds it", b2, aiproxy.JobCompleted, "", aiproxy.EventJobCompleted},
		{"completed in an org without webhook adds none", c1, aiproxy.JobCompleted, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := day.Add(time.Duration(i+1) * time.Minute)
			before := deliveriesOf(t, s, tt.job.OrgID)
			v, err := s.Version(ctx)
			must(t, err)
			j := *tt.job
			j.Status, j.Result, j.UpdatedAt = tt.status, tt.result, at
			must(t, s.UpdateJobStatus(ctx, &j))
			saved, err := s.JobByUpstreamID(ctx, j.Service, j.UpstreamID)
			must(t, err)
			wantEqual(t, "saved job", saved, &j)
			if after, err := s.Version(ctx); err != nil || after != v {
				t.Errorf("version %d → %d (%v): a job's delivery is not configuration", v, after, err)
			}
			after := deliveriesOf(t, s, tt.job.OrgID)
			added := after[:len(after)-len(before)]
			if want := min(len(tt.want), 1); len(added) != want {
				t.Fatalf("%d deliveries added, want %d: %s", len(added), want, show(added))
			} else if want == 0 {
				return
			}
			d := added[0]
			if !deliveryIDPattern.MatchString(d.ID) || ids[d.ID] {
				t.Errorf("delivery id %q: want a new msg_ and 26 lowercase base32 characters", d.ID)
			}
			ids[d.ID] = true
			want := &aiproxy.WebhookDelivery{ID: d.ID, Seq: d.Seq, OrgID: j.OrgID, JobID: j.ID, Type: tt.want,
				State: aiproxy.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
			wantEqual(t, "delivery added", d, want)
			got, err := s.WebhookDelivery(ctx, j.OrgID, d.ID)
			must(t, err)
			wantEqual(t, "WebhookDelivery", got, want)
		})
	}
	wantCode(t, s.UpdateJobStatus(ctx, &aiproxy.Job{ID: 999999, Status: aiproxy.JobCompleted, UpdatedAt: day}), aiproxy.ENOTFOUND)
}

// testConcurrentCompletionsAddOneDelivery: replicas saving one job's completion at once add
// one delivery.
func testConcurrentCompletionsAddOneDelivery(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	const rounds, replicas = 4, 8
	var jobs []*aiproxy.Job
	for r := range rounds {
		j := newJob(a.ID, "heygen", fmt.Sprintf("race-%d", r))
		must(t, s.CreateJob(ctx, j))
		jobs = append(jobs, j)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *j
				c.Status, c.Result, c.UpdatedAt = aiproxy.JobCompleted, fmt.Sprintf(`{"replica":%d}`, g), day.Add(time.Duration(g)*time.Second)
				<-start
				if err := s.UpdateJobStatus(ctx, &c); err != nil {
					t.Errorf("replica %d: %v", g, err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	perJob := map[int64]int{}
	for _, d := range deliveriesOf(t, s, a.ID) {
		perJob[d.JobID]++
	}
	for _, j := range jobs {
		if perJob[j.ID] != 1 {
			t.Errorf("job %s: %d deliveries after %d concurrent completions, want 1", j.UpstreamID, perJob[j.ID], replicas)
		}
	}
}

// testWebhookLeaseKeepsOtherOwnersOut: due pending deliveries are claimed oldest first, up
// to the limit; a held lease keeps other owners out until it expires; the owner renews its
// own.
func testWebhookLeaseKeepsOtherOwnersOut(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	d1 := newDelivery(t, s, a.ID, "c1", day)
	d2 := newDelivery(t, s, a.ID, "c2", day.Add(time.Second))
	d3 := newDelivery(t, s, a.ID, "c3", day.Add(2*time.Second))
	now := day.Add(time.Hour)
	later := newDelivery(t, s, a.ID, "c4", now.Add(time.Hour)) // not due before then
	first, err := s.ClaimWebhookDeliveries(ctx, "A", now, now.Add(time.Minute), 2)
	must(t, err)
	wantEqual(t, "A claims the oldest two, as stored", first, []*aiproxy.WebhookDelivery{d1, d2})
	for _, step := range []struct {
		name  string
		owner string
		now   time.Time
		lease time.Duration
		limit int
		want  []string
	}{
		{"B gets the one A does not hold", "B", now, time.Minute, 10, []string{d3.ID}},
		{"C while A's and B's leases run", "C", now, time.Minute, 10, nil},
		{"A renews its own", "A", now.Add(30 * time.Second), 2 * time.Minute, 10, []string{d1.ID, d2.ID}},
		{"C once B's lease expired", "C", now.Add(time.Minute), time.Hour, 10, []string{d3.ID}},
		{"B before A's renewed lease expires", "B", now.Add(150*time.Second - time.Second), time.Hour, 10, nil},
		{"B once A's renewed lease expired", "B", now.Add(150 * time.Second), time.Hour, 10, []string{d1.ID, d2.ID}},
		{"D at the later delivery's time", "D", now.Add(time.Hour), time.Minute, 10, []string{later.ID}},
		{"limit 0", "E", now.Add(24 * time.Hour), time.Minute, 0, nil},
	} {
		t.Run(step.name, func(t *testing.T) {
			wantEqual(t, "claimed", claimIDs(t, s, step.owner, step.now, step.now.Add(step.lease), step.limit), step.want)
		})
	}
}

// testConcurrentClaimsNeverShareADelivery: owners claiming and recording at once never both
// get one delivery, and every delivery is claimed.
func testConcurrentClaimsNeverShareADelivery(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	const deliveries, owners = 20, 4
	for i := range deliveries {
		newDelivery(t, s, a.ID, fmt.Sprintf("r%d", i), day)
	}
	now := day.Add(time.Hour)
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	for o := range owners {
		owner := fmt.Sprintf("owner-%d", o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				ds, err := s.ClaimWebhookDeliveries(ctx, owner, now, now.Add(time.Minute), 3)
				if err != nil {
					t.Errorf("%s: %v", owner, err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					if prev, ok := got[d.ID]; ok {
						t.Errorf("delivery %s claimed by %s and %s", d.ID, prev, owner)
					}
					got[d.ID] = owner
				}
				mu.Unlock()
				for _, d := range ds { // a failed attempt: not due again for an hour
					d.Attempts, d.LastStatus, d.LastError, d.NextAttemptAt, d.UpdatedAt = 1, 503, "HTTP 503", now.Add(time.Hour), now
					if err := s.RecordWebhookAttempt(ctx, d, &aiproxy.WebhookAttempt{N: 1, At: now, Status: 503, Error: "HTTP 503"}, owner); err != nil {
						t.Errorf("%s: %v", owner, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(got) != deliveries {
		t.Errorf("%d of %d deliveries claimed", len(got), deliveries)
	}
}

// testOnlyTheLeaseOwnerRecordsAnAttempt: only the lease's owner records an attempt (anyone
// else: ECONFLICT, nothing changed); recording saves the outcome, appends the attempt and
// frees the lease; a delivered delivery is never claimed again.
func testOnlyTheLeaseOwnerRecordsAnAttempt(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	d := newDelivery(t, s, a.ID, "v1", day)
	now := day.Add(time.Hour)
	claimed, err := s.ClaimWebhookDeliveries(ctx, "A", now, now.Add(time.Minute), 1)
	must(t, err)
	wantEqual(t, "claimed", claimed, []*aiproxy.WebhookDelivery{d})

	out := *d
	out.Payload, out.Attempts, out.LastStatus, out.LastError = `{"type":"job.completed"}`, 1, 500, "HTTP 500"
	out.NextAttemptAt, out.UpdatedAt = now.Add(30*time.Second), now.Add(time.Second)
	first := &aiproxy.WebhookAttempt{N: 1, At: now, Status: 500, Error: "HTTP 500", Duration: 1500 * time.Millisecond}
	t.Run("another owner is refused and changes nothing", func(t *testing.T) {
		byB := out
		wantCode(t, s.RecordWebhookAttempt(ctx, &byB, first, "B"), aiproxy.ECONFLICT)
		got, err := s.WebhookDelivery(ctx, a.ID, d.ID)
		must(t, err)
		wantEqual(t, "delivery", got, d)
		attempts, err := s.ListWebhookAttempts(ctx, a.ID, []string{d.ID})
		must(t, err)
		wantEqual(t, "attempts", attempts, []*aiproxy.WebhookAttempt(nil))
	})

	must(t, s.RecordWebhookAttempt(ctx, &out, first, "A"))
	wantEqual(t, "attempt's DeliveryID", first.DeliveryID, d.ID)
	got, err := s.WebhookDelivery(ctx, a.ID, d.ID)
	must(t, err)
	wantEqual(t, "delivery after A's attempt", got, &out)
	again := &aiproxy.WebhookAttempt{N: 2, At: now, Status: 500}
	wantCode(t, s.RecordWebhookAttempt(ctx, &out, again, "A"), aiproxy.ECONFLICT) // the lease was freed

	wantEqual(t, "claimed before the next attempt", claimIDs(t, s, "B", now.Add(29*time.Second), now.Add(time.Hour), 10), []string(nil))
	// A's lease ran until now+1m, but recording freed it: B takes the next attempt.
	wantEqual(t, "claimed at the next attempt", claimIDs(t, s, "B", now.Add(30*time.Second), now.Add(time.Hour), 10), []string{d.ID})
	done := out
	done.State, done.Attempts, done.LastStatus, done.LastError, done.UpdatedAt = aiproxy.DeliveryDelivered, 2, 204, "", now.Add(31*time.Second)
	delivered := &aiproxy.WebhookAttempt{N: 2, At: now.Add(30 * time.Second), Status: 204, Duration: 80 * time.Millisecond}
	must(t, s.RecordWebhookAttempt(ctx, &done, delivered, "B"))
	got, err = s.WebhookDelivery(ctx, a.ID, d.ID)
	must(t, err)
	wantEqual(t, "delivery after B's attempt", got, &done)
	wantEqual(t, "claimed once delivered", claimIDs(t, s, "C", now.Add(48*time.Hour), now.Add(49*time.Hour), 10), []string(nil))
	attempts, err := s.ListWebhookAttempts(ctx, a.ID, []string{d.ID})
	must(t, err)
	wantEqual(t, "attempts", attempts, []*aiproxy.WebhookAttempt{first, delivered})
}

// testOrgSeesOnlyItsOwnDeliveries: deliveries are listed newest first by page; an org
// reaches only its own deliveries and their attempts; another org's id is ENOTFOUND.
func testOrgSeesOnlyItsOwnDeliveries(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	putHook(t, s, b.ID, aiproxy.EventJobCompleted)
	d1 := newDelivery(t, s, a.ID, "a1", day)
	other := newDelivery(t, s, b.ID, "b1", day) // interleaved
	d2 := newDelivery(t, s, a.ID, "a2", day)
	d3 := newDelivery(t, s, a.ID, "a3", day)
	now := day.Add(time.Hour)
	d1a1 := attempt(t, s, d1, now, 500, "HTTP 500", aiproxy.DeliveryPending, now.Add(time.Minute))
	d3a1 := attempt(t, s, d3, now, 200, "", aiproxy.DeliveryDelivered, now)
	attempt(t, s, other, now, 200, "", aiproxy.DeliveryDelivered, now)
	d1a2 := attempt(t, s, d1, now.Add(time.Minute), 0, "connection refused", aiproxy.DeliveryPending, now.Add(2*time.Minute))

	for _, tt := range []struct {
		name   string
		org    int64
		before int64
		limit  int
		want   []*aiproxy.WebhookDelivery
	}{
		{"all, newest first", a.ID, 0, 0, []*aiproxy.WebhookDelivery{d3, d2, d1}},
		{"first page", a.ID, 0, 2, []*aiproxy.WebhookDelivery{d3, d2}},
		{"next page", a.ID, d2.Seq, 2, []*aiproxy.WebhookDelivery{d1}},
		{"past the last", a.ID, d1.Seq, 2, nil},
		{"the other org's", b.ID, 0, 0, []*aiproxy.WebhookDelivery{other}},
	} {
		t.Run("ListWebhookDeliveries "+tt.name, func(t *testing.T) {
			got, err := s.ListWebhookDeliveries(ctx, tt.org, tt.before, tt.limit)
			must(t, err)
			wantEqual(t, "deliveries", got, tt.want)
		})
	}
	for _, tt := range []struct {
		name string
		org  int64
		ids  []string
		want []*aiproxy.WebhookAttempt
	}{
		{"newest delivery first, then by number; others' and unknown ids left out", a.ID,
			[]string{d1.ID, d3.ID, other.ID, "msg_unknown"}, []*aiproxy.WebhookAttempt{d3a1, d1a1, d1a2}},
		{"a delivery without attempts", a.ID, []string{d2.ID}, nil},
		{"another org's delivery", b.ID, []string{d1.ID, d3.ID}, nil},
		{"no ids", a.ID, nil, nil},
	} {
		t.Run("ListWebhookAttempts "+tt.name, func(t *testing.T) {
			got, err := s.ListWebhookAttempts(ctx, tt.org, tt.ids)
			must(t, err)
			wantEqual(t, "attempts", got, tt.want)
		})
	}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"WebhookDelivery of the org's", second(s.WebhookDelivery(ctx, a.ID, d1.ID)), ""},
		{"WebhookDelivery of another org's", second(s.WebhookDelivery(ctx, b.ID, d1.ID)), aiproxy.ENOTFOUND},
		{"WebhookDelivery unknown", second(s.WebhookDelivery(ctx, a.ID, "msg_unknown")), aiproxy.ENOTFOUND},
		{"RetryWebhookDelivery of another org's", s.RetryWebhookDelivery(ctx, b.ID, d3.ID, now), aiproxy.ENOTFOUND},
		{"RetryWebhookDelivery unknown", s.RetryWebhookDelivery(ctx, a.ID, "msg_unknown", now), aiproxy.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	got, err := s.WebhookDelivery(ctx, a.ID, d3.ID)
	must(t, err)
	wantEqual(t, "delivery another org tried to retry", got, d3)
}

// testRetryMakesADeliveryDueAndFreesItsLease: a retried delivery is pending and due at
// once, its lease freed, its attempts and last outcome kept.
func testRetryMakesADeliveryDueAndFreesItsLease(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	d := newDelivery(t, s, a.ID, "v1", day)
	now := day.Add(time.Hour)
	gaveUp := attempt(t, s, d, now, 0, "connection refused", aiproxy.DeliveryFailed, now)
	claim := func(owner string, at time.Time) []string {
		t.Helper()
		return claimIDs(t, s, owner, at, at.Add(time.Minute), 10)
	}
	wantEqual(t, "claimed once failed", claim("X", now.Add(time.Hour)), []string(nil))

	retry := now.Add(2 * time.Hour)
	must(t, s.RetryWebhookDelivery(ctx, a.ID, d.ID, retry))
	want := *d
	want.State, want.NextAttemptAt, want.UpdatedAt = aiproxy.DeliveryPending, retry, retry
	got, err := s.WebhookDelivery(ctx, a.ID, d.ID)
	must(t, err)
	wantEqual(t, "retried delivery (attempts and last error kept)", got, &want)
	attempts, err := s.ListWebhookAttempts(ctx, a.ID, []string{d.ID})
	must(t, err)
	wantEqual(t, "attempts kept", attempts, []*aiproxy.WebhookAttempt{gaveUp})
	wantEqual(t, "claimed before the retry's time", claim("X", retry.Add(-time.Second)), []string(nil))
	wantEqual(t, "claimed at the retry's time", claim("X", retry), []string{d.ID})
	// X holds the lease until retry+1m; a retry frees it.
	wantEqual(t, "Y while X holds it", claim("Y", retry), []string(nil))
	must(t, s.RetryWebhookDelivery(ctx, a.ID, d.ID, retry))
	wantEqual(t, "Y after a retry", claim("Y", retry), []string{d.ID})
}

// testIncomingEventIsNewOnce: an incoming event is new once per service and key, even when
// replicas record it at once.
func testIncomingEventIsNewOnce(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, service, key string
		want               bool
	}{
		{"first time", "heygen", "evt_1", false},
		{"again", "heygen", "evt_1", true},
		{"the same key at another service", "elevenlabs", "evt_1", false},
		{"another key", "heygen", "evt_2", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen, err := s.SeenWebhookEvent(ctx, tt.service, tt.key, day)
			must(t, err)
			wantEqual(t, "seen", seen, tt.want)
		})
	}
	t.Run("16 at once: one new", func(t *testing.T) {
		const replicas = 16
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			fresh int
		)
		start := make(chan struct{})
		for range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				seen, err := s.SeenWebhookEvent(ctx, "heygen", "evt_race", day)
				if err != nil {
					t.Error(err)
					return
				}
				if !seen {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if fresh != 1 {
			t.Errorf("%d of %d concurrent calls saw the event as new, want 1", fresh, replicas)
		}
	})
}

// testPurgeDeletesOldFinishedDeliveriesAndEvents: purging deletes the events seen before
// the time and the finished deliveries created before it with their attempts, counting
// events and deliveries; pending and newer deliveries stay.
func testPurgeDeletesOldFinishedDeliveriesAndEvents(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	putHook(t, s, a.ID, aiproxy.EventJobCompleted)
	cut := day.Add(24 * time.Hour)
	oldDelivered := newDelivery(t, s, a.ID, "p1", day)
	oldFailed := newDelivery(t, s, a.ID, "p2", day.Add(time.Second))
	oldPending := newDelivery(t, s, a.ID, "p3", day.Add(2*time.Second))
	attempt(t, s, oldDelivered, day.Add(time.Minute), 200, "", aiproxy.DeliveryDelivered, day.Add(time.Minute))
	attempt(t, s, oldFailed, day.Add(time.Minute), 410, "HTTP 410", aiproxy.DeliveryFailed, day.Add(time.Minute))
	attempt(t, s, oldPending, day.Add(time.Minute), 500, "HTTP 500", aiproxy.DeliveryPending, cut.Add(time.Hour))
	newDelivered := newDelivery(t, s, a.ID, "p4", cut.Add(time.Second))
	newAttempt := attempt(t, s, newDelivered, cut.Add(time.Minute), 200, "", aiproxy.DeliveryDelivered, cut.Add(time.Minute))
	for key, at := range map[string]time.Time{"old": day, "at the cut": cut} {
		if _, err := s.SeenWebhookEvent(ctx, "heygen", key, at); err != nil {
			t.Fatal(err)
		}
	}

	n, err := s.PurgeWebhooks(ctx, cut)
	must(t, err)
	wantEqual(t, "purged (2 deliveries, 1 event)", n, 3)
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"old delivered", second(s.WebhookDelivery(ctx, a.ID, oldDelivered.ID)), aiproxy.ENOTFOUND},
		{"old failed", second(s.WebhookDelivery(ctx, a.ID, oldFailed.ID)), aiproxy.ENOTFOUND},
		{"old pending", second(s.WebhookDelivery(ctx, a.ID, oldPending.ID)), ""},
		{"new delivered", second(s.WebhookDelivery(ctx, a.ID, newDelivered.ID)), ""},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	attempts, err := s.ListWebhookAttempts(ctx, a.ID, []string{oldDelivered.ID, oldFailed.ID, newDelivered.ID})
	must(t, err)
	wantEqual(t, "attempts left", attempts, []*aiproxy.WebhookAttempt{newAttempt})
	for key, want := range map[string]bool{"old": false, "at the cut": true} {
		seen, err := s.SeenWebhookEvent(ctx, "heygen", key, cut)
		must(t, err)
		wantEqual(t, "seen "+key+" after the purge", seen, want)
	}
	n, err = s.PurgeWebhooks(ctx, cut)
	must(t, err)
	wantEqual(t, "purged again", n, 0)
}

// testDeleteOrgRemovesWebhooks: deleting an org deletes its webhook and deliveries (which
// are then never claimed) with their attempts; another org's stay.
func testDeleteOrgRemovesWebhooks(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	doomed, kept := newOrg(t, s, "doomed"), newOrg(t, s, "kept")
	now := day.Add(time.Hour)
	type state struct {
		hook               *aiproxy.OrgWebhook
		delivered, pending *aiproxy.WebhookDelivery
		deliveredAttempt   *aiproxy.WebhookAttempt
	}
	orgs := map[int64]*state{}
	for _, o := range []*aiproxy.Org{doomed, kept} {
		st := &state{hook: putHook(t, s, o.ID, aiproxy.EventJobCompleted)}
		st.delivered = newDelivery(t, s, o.ID, "done-"+o.Slug, day)
		st.deliveredAttempt = attempt(t, s, st.delivered, now, 200, "", aiproxy.DeliveryDelivered, now)
		st.pending = newDelivery(t, s, o.ID, "pending-"+o.Slug, day)
		orgs[o.ID] = st
	}

	must(t, s.DeleteOrg(ctx, doomed.ID))

	ids := func(st *state) []string { return []string{st.delivered.ID, st.pending.ID} }
	wantCode(t, second(s.GetOrgWebhook(ctx, doomed.ID)), aiproxy.ENOTFOUND)
	wantCode(t, second(s.WebhookDelivery(ctx, doomed.ID, orgs[doomed.ID].pending.ID)), aiproxy.ENOTFOUND)
	wantEqual(t, "deleted org's deliveries", deliveriesOf(t, s, doomed.ID), []*aiproxy.WebhookDelivery(nil))
	attempts, err := s.ListWebhookAttempts(ctx, doomed.ID, ids(orgs[doomed.ID]))
	must(t, err)
	wantEqual(t, "deleted org's attempts", attempts, []*aiproxy.WebhookAttempt(nil))

	k := orgs[kept.ID]
	hook, err := s.GetOrgWebhook(ctx, kept.ID)
	must(t, err)
	wantEqual(t, "kept org's webhook", hook, k.hook)
	wantEqual(t, "kept org's deliveries", deliveriesOf(t, s, kept.ID), []*aiproxy.WebhookDelivery{k.pending, k.delivered})
	attempts, err = s.ListWebhookAttempts(ctx, kept.ID, ids(k))
	must(t, err)
	wantEqual(t, "kept org's attempts", attempts, []*aiproxy.WebhookAttempt{k.deliveredAttempt})
	wantEqual(t, "claimed after the delete", claimIDs(t, s, "X", now.Add(time.Hour), now.Add(2*time.Hour), 10), []string{k.pending.ID})
}

// NoOrphanWebhookAttempts checks, with orphans counting the stored attempts whose delivery
// is gone (which no Store method can see), that purging deliveries and deleting an org
// delete their attempts too; attempts counts every stored attempt.
func NoOrphanWebhookAttempts(t *testing.T, s aiproxy.Store, attempts, orphans func(t *testing.T) int) {
	ctx := context.Background()
	doomed, kept := newOrg(t, s, "doomed"), newOrg(t, s, "kept")
	for _, o := range []*aiproxy.Org{doomed, kept} {
		putHook(t, s, o.ID, aiproxy.EventJobCompleted)
		for i, state := range []string{aiproxy.DeliveryDelivered, aiproxy.DeliveryFailed, aiproxy.DeliveryPending} {
			d := newDelivery(t, s, o.ID, fmt.Sprintf("%s-%d", o.Slug, i), day)
			attempt(t, s, d, day.Add(time.Minute), 500, "HTTP 500", aiproxy.DeliveryPending, day.Add(time.Minute))
			attempt(t, s, d, day.Add(time.Minute), 500, "HTTP 500", state, day.Add(48*time.Hour))
		}
	}
	wantEqual(t, "attempts stored", attempts(t), 12)
	must(t, second(s.PurgeWebhooks(ctx, day.Add(time.Hour))))
	wantEqual(t, "attempts after the purge (the pending deliveries')", attempts(t), 4)
	wantEqual(t, "orphan attempts after the purge", orphans(t), 0)
	must(t, s.DeleteOrg(ctx, doomed.ID))
	wantEqual(t, "attempts after deleting an org (the other's)", attempts(t), 2)
	wantEqual(t, "orphan attempts after deleting an org", orphans(t), 0)
}
