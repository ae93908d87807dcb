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
