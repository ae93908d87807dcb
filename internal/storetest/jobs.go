package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func newJob(orgID int64, service, upstreamID string) *aiproxy.Job {
	return &aiproxy.Job{OrgID: orgID, Service: service, Action: "create_video", UpstreamID: upstreamID,
		Source: aiproxy.SourcePlatform, RequestID: "req-" + upstreamID, KeyPrefix: "ak_x", CreatedAt: day}
}

// testJobs: a job round-trips, is found by (service, upstream id) only, cannot be recorded
// twice, has its status saved, and OwnedJobs tells an org's own from the others'.
func testJobs(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")
	v1, v2 := newJob(a.ID, "heygen", "v1"), newJob(a.ID, "heygen", "v2")
	v3 := newJob(b.ID, "heygen", "v3")
	dub := newJob(a.ID, "elevenlabs", "v1") // the same upstream id at another service
	dub.Source = aiproxy.SourceTenant
	dub.CreatedAt = time.Time{} // set by the store
	for _, j := range []*aiproxy.Job{v1, v2, v3, dub} {
		must(t, s.CreateJob(ctx, j))
		if j.ID == 0 || j.CreatedAt.IsZero() || j.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreateJob did not set ID and a UTC CreatedAt: %+v", j)
		}
		got, err := s.JobByUpstreamID(ctx, j.Service, j.UpstreamID)
		must(t, err)
		wantEqual(t, "JobByUpstreamID "+j.Service+"/"+j.UpstreamID, got, j)
	}
	if v1.ID == v2.ID || v2.ID == v3.ID {
		t.Fatalf("jobs share ids: %d %d %d", v1.ID, v2.ID, v3.ID)
	}
	wantEqual(t, "CreatedAt given", v1.CreatedAt, day)

	// Another org, or the same, recording a job that is recorded: ECONFLICT, nothing stored.
	for _, j := range []*aiproxy.Job{newJob(b.ID, "heygen", "v1"), newJob(a.ID, "heygen", "v2")} {
		wantCode(t, s.CreateJob(ctx, j), aiproxy.ECONFLICT)
	}
	got, err := s.JobByUpstreamID(ctx, "heygen", "v1")
	must(t, err)
	wantEqual(t, "job after a conflicting CreateJob", got, v1)
	wantCode(t, second(s.JobByUpstreamID(ctx, "heygen", "nope")), aiproxy.ENOTFOUND)
	wantCode(t, second(s.JobByUpstreamID(ctx, "other", "v1")), aiproxy.ENOTFOUND)

	// Status, as the watcher sees it: the provider's JSON comes back byte for byte.
	u := *v1
	u.Status, u.ProviderStatus = "completed", "done"
	u.Result = `{"video_url": "https://cdn.example/v1.mp4",  "duration":12.5, "a":[1, 2]}`
	u.UpdatedAt = day.Add(time.Hour)
	u.Action, u.RequestID = "ignored", "ignored" // only the status fields are saved
	must(t, s.UpdateJobStatus(ctx, &u))
	want := *v1
	want.Status, want.ProviderStatus, want.Result, want.UpdatedAt = u.Status, u.ProviderStatus, u.Result, u.UpdatedAt
	got, err = s.JobByUpstreamID(ctx, "heygen", "v1")
	must(t, err)
	wantEqual(t, "job after UpdateJobStatus", got, &want)
	failed := want
	failed.Status, failed.ProviderStatus, failed.Result = "failed", "error", ""
	failed.Error = `{"code":"moderation","message":"refused \u00e9"}`
	failed.UpdatedAt = day.Add(2 * time.Hour)
	must(t, s.UpdateJobStatus(ctx, &failed))
	got, err = s.JobByUpstreamID(ctx, "heygen", "v1")
	must(t, err)
	wantEqual(t, "job after a second UpdateJobStatus", got, &failed)
	wantCode(t, s.UpdateJobStatus(ctx, &aiproxy.Job{ID: dub.ID + 1000, Status: "queued", UpdatedAt: day}), aiproxy.ENOTFOUND)

	for _, tt := range []struct {
		name    string
		org     int64
		service string
		ids     []string
		want    map[string]bool
	}{
		{"mixed", a.ID, "heygen", []string{"v1", "v3", "v2", "nope", "v1"},
			map[string]bool{"v1": true, "v2": true, "v3": false, "nope": false}},
		{"other service", a.ID, "elevenlabs", []string{"v1", "v2"}, map[string]bool{"v1": true, "v2": false}},
		{"other org", b.ID, "heygen", []string{"v1", "v2", "v3"}, map[string]bool{"v1": false, "v2": false, "v3": true}},
		{"unknown org", b.ID + 100, "heygen", []string{"v1"}, map[string]bool{"v1": false}},
		{"none", a.ID, "heygen", nil, map[string]bool{}},
		{"quotes", a.ID, "heygen", []string{`"v1"`, `v1'`, "v1"}, map[string]bool{`"v1"`: false, `v1'`: false, "v1": true}},
	} {
		t.Run("OwnedJobs "+tt.name, func(t *testing.T) {
			got, err := s.OwnedJobs(ctx, tt.org, tt.service, tt.ids)
			must(t, err)
			wantEqual(t, "OwnedJobs", got, tt.want)
		})
	}

	// Many ids at once (more than SQLite's default number of parameters once was).
	var many []string
	want2 := map[string]bool{}
	for i := range 1200 {
		id := fmt.Sprintf("m%d", i)
		many = append(many, id)
		want2[id] = false
	}
	many = append(many, "v2")
	want2["v2"] = true
	owned, err := s.OwnedJobs(ctx, a.ID, "heygen", many)
	must(t, err)
	wantEqual(t, "OwnedJobs of 1201 ids", owned, want2)
}

// testListJobs: an org's jobs newest first, by pages, filtered by service and status.
func testListJobs(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")
	var all, heygen, queued, heygenQueued []*aiproxy.Job // newest first
	for i := range 8 {
		service := "heygen"
		if i%3 == 2 {
			service = "elevenlabs"
		}
		j := newJob(a.ID, service, fmt.Sprintf("job-%d", i))
		j.CreatedAt = day.Add(time.Duration(i) * time.Minute)
		must(t, s.CreateJob(ctx, j))
		if i%2 == 0 {
			j.Status, j.UpdatedAt = "queued", day.Add(time.Hour)
			must(t, s.UpdateJobStatus(ctx, j))
		}
		all = append([]*aiproxy.Job{j}, all...)
		if service == "heygen" {
			heygen = append([]*aiproxy.Job{j}, heygen...)
		}
		if j.Status == "queued" {
			queued = append([]*aiproxy.Job{j}, queued...)
			if service == "heygen" {
				heygenQueued = append([]*aiproxy.Job{j}, heygenQueued...)
			}
		}
		must(t, s.CreateJob(ctx, newJob(b.ID, service, fmt.Sprintf("other-%d", i)))) // interleaved
	}
	for _, tt := range []struct {
		name            string
		org             int64
		service, status string
		before          int64
		limit           int
		want            []*aiproxy.Job
	}{
		{"all", a.ID, "", "", 0, 0, all},
		{"first page", a.ID, "", "", 0, 3, all[:3]},
		{"second page", a.ID, "", "", all[2].ID, 3, all[3:6]},
		{"last page", a.ID, "", "", all[5].ID, 3, all[6:]},
		{"past the end", a.ID, "", "", all[7].ID, 3, nil},
		{"service", a.ID, "heygen", "", 0, 0, heygen},
		{"service, paged", a.ID, "heygen", "", heygen[1].ID, 2, heygen[2:4]},
		{"status", a.ID, "", "queued", 0, 0, queued},
		{"service and status", a.ID, "heygen", "queued", 0, 0, heygenQueued},
		{"status nobody has", a.ID, "", "failed", 0, 0, nil},
		{"unknown service", a.ID, "nope", "", 0, 0, nil},
		{"unknown org", b.ID + 100, "", "", 0, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListJobs(ctx, tt.org, tt.service, tt.status, tt.before, tt.limit)
			must(t, err)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			wantEqual(t, "ListJobs", got, tt.want)
		})
	}
	others, err := s.ListJobs(ctx, b.ID, "", "", 0, 0)
	must(t, err)
	if len(others) != 8 {
		t.Errorf("ListJobs of the other org: %d jobs, want 8", len(others))
	}
	for _, j := range others {
		if j.OrgID != b.ID {
			t.Errorf("ListJobs of org %d returned a job of org %d", b.ID, j.OrgID)
		}
	}
}

// testJobWatches: only due, unterminated, recent jobs are claimed; a held lease keeps
// others out until it expires; the owner renews its own; next polls and releases count
// only from the owner.
func testJobWatches(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	now := day.Add(time.Hour)
	since := now.Add(-24 * time.Hour)
	fresh, done, old := newJob(a.ID, "heygen", "w1"), newJob(a.ID, "heygen", "w2"), newJob(a.ID, "heygen", "w3")
	old.CreatedAt = since.Add(-time.Minute)
	for _, j := range []*aiproxy.Job{fresh, done, old} {
		must(t, s.CreateJob(ctx, j))
	}
	d := *done
	d.Status, d.UpdatedAt = aiproxy.JobCompleted, day
	must(t, s.UpdateJobStatus(ctx, &d))
	ids := func(js []*aiproxy.Job, err error) []int64 {
		t.Helper()
		must(t, err)
		var out []int64
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	lease := now.Add(time.Minute)
	wantEqual(t, "first claim (terminal and old jobs left out)", ids(s.ClaimJobWatches(ctx, "A", now, since, lease, 10)), []int64{fresh.ID})
	wantEqual(t, "B while A's lease runs", ids(s.ClaimJobWatches(ctx, "B", now, since, lease, 10)), []int64(nil))
	// A sets the next poll: not due before it, even for A.
	must(t, s.SetJobNextPoll(ctx, fresh.ID, "A", now.Add(10*time.Second)))
	must(t, s.SetJobNextPoll(ctx, fresh.ID, "B", now)) // not B's: nothing
	wantEqual(t, "A before the next poll", ids(s.ClaimJobWatches(ctx, "A", now.Add(5*time.Second), since, lease, 10)), []int64(nil))
	wantEqual(t, "A renews at the next poll", ids(s.ClaimJobWatches(ctx, "A", now.Add(10*time.Second), since, now.Add(2*time.Minute), 10)), []int64{fresh.ID})
	wantEqual(t, "B before A's renewed lease ends", ids(s.ClaimJobWatches(ctx, "B", now.Add(90*time.Second), since, now.Add(3*time.Minute), 10)), []int64(nil))
	// A dies: its lease expires, B takes over.
	wantEqual(t, "B once A's lease expired", ids(s.ClaimJobWatches(ctx, "B", now.Add(2*time.Minute), since, now.Add(3*time.Minute), 10)), []int64{fresh.ID})
	must(t, s.ReleaseJobWatch(ctx, fresh.ID, "A")) // A is no longer the owner: nothing
	wantEqual(t, "A while B holds it", ids(s.ClaimJobWatches(ctx, "A", now.Add(2*time.Minute), since, now.Add(4*time.Minute), 10)), []int64(nil))
	must(t, s.ReleaseJobWatch(ctx, fresh.ID, "B"))
	wantEqual(t, "A after B released", ids(s.ClaimJobWatches(ctx, "A", now.Add(2*time.Minute), since, now.Add(4*time.Minute), 10)), []int64{fresh.ID})
	// Terminal: never claimed again.
	f := *fresh
	f.Status, f.UpdatedAt = aiproxy.JobFailed, day
	must(t, s.UpdateJobStatus(ctx, &f))
	wantEqual(t, "after the job failed", ids(s.ClaimJobWatches(ctx, "C", now.Add(time.Hour), since, now.Add(2*time.Hour), 10)), []int64(nil))
	wantEqual(t, "limit 0", ids(s.ClaimJobWatches(ctx, "C", now, since, lease, 0)), []int64(nil))
}

// testJobWatchRace: owners claiming at once never both get one job.
func testJobWatchRace(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	a := newOrg(t, s, "acme")
	const jobs, owners = 20, 4
	for i := range jobs {
		must(t, s.CreateJob(ctx, newJob(a.ID, "heygen", fmt.Sprintf("r%d", i))))
	}
	now := day.Add(time.Hour)
	var mu sync.Mutex
	got := map[int64]string{}
	var wg sync.WaitGroup
	for o := range owners {
		owner := fmt.Sprintf("owner-%d", o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				js, err := s.ClaimJobWatches(ctx, owner, now, now.Add(-24*time.Hour), now.Add(time.Minute), 3)
				if err != nil {
					t.Errorf("%s: %v", owner, err)
					return
				}
				for _, j := range js { // not due again: the next claims take others
					if err := s.SetJobNextPoll(ctx, j.ID, owner, now.Add(time.Hour)); err != nil {
						t.Errorf("%s: %v", owner, err)
					}
				}
				mu.Lock()
				for _, j := range js {
					if prev, ok := got[j.ID]; ok && prev != owner {
						t.Errorf("job %d claimed by %s and %s", j.ID, prev, owner)
					}
					got[j.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != jobs {
		t.Errorf("%d of %d jobs claimed", len(got), jobs)
	}
}
