package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

type jobsPage struct {
	Results []struct {
		ID               int64  `json:"id"`
		Service          string `json:"service"`
		Action           string `json:"action"`
		UpstreamJobID    string `json:"upstream_job_id"`
		CredentialSource string `json:"credential_source"`
		RequestID        string `json:"request_id"`
	} `json:"results"`
	Next *string `json:"next"`
}

// TestJobsListShowsOnlyTheOrgsOwnJobsNewestFirstAndPages: the jobs list of an org names
// the jobs it created, never another org's, newest first, and its next link walks the
// rest with the same filters.
func TestJobsListShowsOnlyTheOrgsOwnJobsNewestFirstAndPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	for i := range 5 {
		for _, o := range []*aiproxy.Org{e.orgA, e.orgB} {
			svc := "heygen"
			if i == 4 {
				svc = "elevenlabs"
			}
			j := &aiproxy.Job{OrgID: o.ID, Service: svc, Action: "generate-video", UpstreamID: fmt.Sprintf("%s-v%d", o.Slug, i),
				Source: aiproxy.SourcePlatform, RequestID: fmt.Sprintf("req-%d", i), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
			if err := e.store.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	path := admAPI + "/orgs/org-a/jobs/?service=heygen&limit=3"
	for path != "" {
		r := e.do("GET", path, "Api-Key "+e.memberA, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		var p jobsPage
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		for _, j := range p.Results {
			if j.Service != "heygen" || j.CredentialSource != "platform" || j.Action != "generate-video" {
				t.Errorf("job %+v: want a heygen generate-video on the platform key", j)
			}
			got = append(got, j.UpstreamJobID)
		}
		path = ""
		if p.Next != nil {
			if !strings.Contains(*p.Next, "service=heygen") {
				t.Errorf("next %q drops the service filter", *p.Next)
			}
			path = *p.Next
		}
	}
	want := "org-a-v3,org-a-v2,org-a-v1,org-a-v0"
	if strings.Join(got, ",") != want {
		t.Errorf("org-a's heygen jobs: %v, want %s", got, want)
	}
}

// TestJobsListRefusesBadQueriesNamingTheParameter: limits, cursors, services and statuses
// that cannot be right are 400s that name the parameter.
func TestJobsListRefusesBadQueriesNamingTheParameter(t *testing.T) {
	e := newEnv(t)
	for q, name := range map[string]string{
		"limit=0": "limit", "limit=201": "limit", "limit=x": "limit", "cursor=-3": "cursor", "cursor=abc": "cursor",
		"service=nope": "service", "status=done": "status",
	} {
		r := e.do("GET", admAPI+"/orgs/org-a/jobs/?"+q, "Api-Key "+e.adminA, nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), "'"+name+"'") {
			t.Errorf("?%s: %d %s, want 400 naming '%s'", q, r.Status, r.Body, name)
		}
	}
}

// TestJobsListShowsAScopedKeyOnlyTheJobsItsActionsReach: a key limited to ElevenLabs
// speech does not see the org's HeyGen videos; one allowed HeyGen's video-status does.
func TestJobsListShowsAScopedKeyOnlyTheJobsItsActionsReach(t *testing.T) {
	e := newEnv(t)
	for i, svc := range []string{"heygen", "elevenlabs"} {
		action := map[string]string{"heygen": "generate-video", "elevenlabs": "create-dubbing"}[svc]
		j := &aiproxy.Job{OrgID: e.orgA.ID, Service: svc, Action: action, UpstreamID: fmt.Sprintf("job-%d", i),
			Source: aiproxy.SourceTenant, CreatedAt: time.Now()}
		if err := e.store.CreateJob(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	for scope, want := range map[string]string{"elevenlabs:tts": "", "heygen:video-status": "job-0", "heygen:*": "job-0"} {
		k := e.key(e.orgA, aiproxy.RoleMember, []string{scope})
		r := e.do("GET", admAPI+"/orgs/org-a/jobs/", "Api-Key "+k, nil)
		var p jobsPage
		if err := json.Unmarshal(r.Body, &p); err != nil || r.Status != 200 {
			t.Fatalf("%s: %d %s", scope, r.Status, r.Body)
		}
		var got []string
		for _, j := range p.Results {
			got = append(got, j.UpstreamJobID)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("key scoped %s sees %v, want [%s]", scope, got, want)
		}
	}
}

// jobView is one job as GET …/jobs/{id}/ shows it.
type jobView struct {
	ID             int64           `json:"id"`
	Service        string          `json:"service"`
	Action         string          `json:"action"`
	UpstreamJobID  string          `json:"upstream_job_id"`
	Status         *string         `json:"status"`
	ProviderStatus *string         `json:"provider_status"`
	Result         json.RawMessage `json:"result"`
	Error          json.RawMessage `json:"error"`
	CreatedAt      string          `json:"created_at"`
	UpdatedAt      string          `json:"updated_at"`
}

// TestJobDetailShowsTheOrgsOwnJobAndHidesEveryOther: GET …/jobs/{id}/ shows one of the
// org's jobs with every field of the view; another org's job, an unknown id, an id that
// is not a number and a job out of a scoped key's reach are 404 Not found.
func TestJobDetailShowsTheOrgsOwnJobAndHidesEveryOther(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mk := func(o *aiproxy.Org, svc, action, id string) *aiproxy.Job {
		j := &aiproxy.Job{OrgID: o.ID, Service: svc, Action: action, UpstreamID: id, Source: aiproxy.SourcePlatform,
			RequestID: "req-" + id, CreatedAt: time.Now()}
		if err := e.store.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	own := mk(e.orgA, "heygen", "generate-video", "video-a")
	done := mk(e.orgA, "heygen", "generate-video", "video-a-done")
	done.Status, done.ProviderStatus, done.Result, done.UpdatedAt = aiproxy.JobCompleted, "completed", `{"video_url":"https://v/a.mp4"}`, time.Now()
	if err := e.store.UpdateJobStatus(ctx, done); err != nil {
		t.Fatal(err)
	}
	asset := mk(e.orgA, "heygen", "upload-asset", "asset-a")
	other := mk(e.orgB, "heygen", "generate-video", "video-b")
	path := func(j int64) string { return fmt.Sprintf("%s/orgs/org-a/jobs/%d/", admAPI, j) }

	r := e.do("GET", path(own.ID), "Api-Key "+e.memberA, nil)
	var v jobView
	if err := json.Unmarshal(r.Body, &v); err != nil || r.Status != 200 {
		t.Fatalf("own job: %d %s", r.Status, r.Body)
	}
	for _, f := range []string{`"provider_status":null`, `"result":null`, `"error":null`, `"credential_source":"platform"`,
		`"request_id":"req-video-a"`, `"status":"queued"`, `"created_at":`, `"updated_at":`} {
		if !strings.Contains(string(r.Body), f) {
			t.Errorf("own job %s lacks %s", r.Body, f)
		}
	}
	r = e.do("GET", path(done.ID), "Api-Key "+e.memberA, nil)
	if err := json.Unmarshal(r.Body, &v); err != nil || *v.Status != "completed" || *v.ProviderStatus != "completed" ||
		string(v.Result) != `{"video_url":"https://v/a.mp4"}` {
		t.Errorf("completed job: %s", r.Body)
	}
	// An uploaded asset is no job whose state the gateway follows: no status.
	r = e.do("GET", path(asset.ID), "Api-Key "+e.memberA, nil)
	if !strings.Contains(string(r.Body), `"status":null`) {
		t.Errorf("asset: %s, want status null", r.Body)
	}
	const notFound = `{"detail": "Not found."}`
	for what, p := range map[string]string{
		"another org's job": path(other.ID), "an unknown id": path(other.ID + 100), "id 0": path(0),
		"an id that is not a number": admAPI + "/orgs/org-a/jobs/abc/",
	} {
		r := e.do("GET", p, "Api-Key "+e.adminA, nil)
		if r.Status != 404 {
			t.Errorf("%s: %d %s, want 404", what, r.Status, r.Body)
		}
		assertBody(t, r, 404, notFound)
	}
	for scope, want := range map[string]int{"elevenlabs:tts": 404, "heygen:video-status": 200, "heygen:generate-video": 200} {
		k := e.key(e.orgA, aiproxy.RoleMember, []string{scope})
		if r := e.do("GET", path(own.ID), "Api-Key "+k, nil); r.Status != want {
			t.Errorf("key scoped %s: %d %s, want %d", scope, r.Status, r.Body, want)
		}
	}
	// The list shows the same view.
	r = e.do("GET", admAPI+"/orgs/org-a/jobs/", "Api-Key "+e.memberA, nil)
	if !strings.Contains(string(r.Body), `"result":{"video_url":"https://v/a.mp4"}`) || !strings.Contains(string(r.Body), `"provider_status":null`) {
		t.Errorf("list: %s", r.Body)
	}
}

// TestJobWaitRefusesValuesOutOfRangeNamingWait: wait must be an integer from 0 to 300.
func TestJobWaitRefusesValuesOutOfRangeNamingWait(t *testing.T) {
	e := newEnv(t)
	j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: "v", Source: aiproxy.SourceTenant, CreatedAt: time.Now()}
	if err := e.store.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"wait=301", "wait=-1", "wait=x", "wait=", "wait=1.5", "wait=1&wait=2"} {
		r := e.do("GET", fmt.Sprintf("%s/orgs/org-a/jobs/%d/?%s", admAPI, j.ID, q), "Api-Key "+e.adminA, nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), "'wait'") {
			t.Errorf("?%s: %d %s, want 400 naming 'wait'", q, r.Status, r.Body)
		}
	}
	// wait=0 answers at once.
	if r := e.do("GET", fmt.Sprintf("%s/orgs/org-a/jobs/%d/?wait=0", admAPI, j.ID), "Api-Key "+e.adminA, nil); r.Status != 200 {
		t.Errorf("?wait=0: %d %s", r.Status, r.Body)
	}
}
