package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// waitEnv is an acctEnv whose simulators run at speed (simulated seconds per real second),
// and whose jobs are read every interval while a client waits.
func waitEnv(t *testing.T, speed float64, interval time.Duration) *acctEnv {
	e := newAcctEnv(t, acctOptions{}.withSim())
	s, _ := simtest.Start(t, simcore.Options{Seed: 7, Speed: speed}, sim.New)
	e.up.set(s.ServeHTTP)
	e.api.SetJobPollInterval(interval)
	return e
}

// statusCalls counts the HeyGen v1 status reads that reached the upstream.
func (e *acctEnv) statusCalls() int {
	e.up.mu.Lock()
	defer e.up.mu.Unlock()
	n := 0
	for _, r := range e.up.reqs {
		if r.Path == "/v1/video_status.get" {
			n++
		}
	}
	return n
}

// getJob GETs a job of org A (safe from any goroutine).
func (e *acctEnv) getJob(ctx context.Context, key string, id int64, query string) (int, jobView, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s%s/orgs/org-a/jobs/%d/?%s", e.srv.URL, admAPI, id, query), nil)
	if err != nil {
		return 0, jobView{}, "", err
	}
	req.Header.Set("Authorization", "Api-Key "+key)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, jobView{}, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var v jobView
	if err == nil && resp.StatusCode == 200 {
		err = json.Unmarshal(b, &v)
	}
	return resp.StatusCode, v, string(b), err
}

// TestJobWaitReturnsTheCompletedVideoWithItsResultInAboutTheSimulatedTime: ?wait on a
// video the simulator renders answers once the gateway's own reads see it completed, with
// the provider's result fields, in about the time the render takes; the seconds it lasts
// are metered once.
func TestJobWaitReturnsTheCompletedVideoWithItsResultInAboutTheSimulatedTime(t *testing.T) {
	e := waitEnv(t, 5, 50*time.Millisecond) // a test video: 2 simulated seconds, 0.4 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	start := time.Now()
	status, v, body, err := e.getJob(context.Background(), e.memberA, j.ID, "wait=30")
	took := time.Since(start)
	if err != nil || status != 200 {
		t.Fatalf("wait: %d %s %v", status, body, err)
	}
	if v.Status == nil || *v.Status != "completed" || v.ProviderStatus == nil || *v.ProviderStatus != "completed" {
		t.Fatalf("wait answered %s, want completed", body)
	}
	var result map[string]any
	if err := json.Unmarshal(v.Result, &result); err != nil || result["video_url"] == nil || result["thumbnail_url"] == nil || result["duration"] == nil {
		t.Errorf("result %s lacks video_url, thumbnail_url or duration", v.Result)
	}
	if string(v.Error) != "null" && v.Error != nil {
		t.Errorf("error %s, want null", v.Error)
	}
	if took > 3*time.Second {
		t.Errorf("the wait took %v for a 0.4 s render", took)
	}
	// The gateway's reads were the org's calls of video-status, its output metered once.
	e.api.Close()
	e.expectUsageHas(t, "video-status", "generate-video")
}

// expectUsageHas checks org A's usage has rows for each action.
func (e *acctEnv) expectUsageHas(t *testing.T, actions ...string) {
	t.Helper()
	rows, r := e.usage(e.adminA, "/orgs/org-a/usage/?group_by=action")
	for _, a := range actions {
		found := false
		for _, row := range rows {
			if row.Action == a {
				found = true
			}
		}
		if !found {
			t.Errorf("usage has no row for %s: %s", a, r.Body)
		}
	}
}

// TestJobWaitersShareOnePollerThatReadsOncePerInterval: twenty clients waiting on one job
// cause one upstream status read per poll interval, not twenty, and all get the completed
// job.
func TestJobWaitersShareOnePollerThatReadsOncePerInterval(t *testing.T) {
	const interval = 150 * time.Millisecond
	e := waitEnv(t, 2, interval) // a test video: 2 simulated seconds, 1 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	before := e.statusCalls()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := e.memberA
			if i%2 == 1 {
				key = e.adminA
			}
			status, v, body, err := e.getJob(context.Background(), key, j.ID, "wait=30")
			if err != nil || status != 200 || v.Status == nil || *v.Status != "completed" {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("waiter %d: %d %s %v", i, status, body, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, f := range failures {
		t.Error(f)
	}
	calls := e.statusCalls() - before
	if most := int(took/interval) + 2; calls > most {
		t.Errorf("20 waiters over %v caused %d status reads; at most %d (one per %v) expected", took, calls, most, interval)
	}
	if calls == 0 {
		t.Error("no status read reached the upstream")
	}
	if n := e.api.JobPollers(); n != 0 {
		t.Errorf("%d pollers still run after the job completed", n)
	}
}

// TestJobWaitStopsPollingWhenTheClientLeaves: once the only waiter has gone, the gateway
// no longer reads the job's status.
func TestJobWaitStopsPollingWhenTheClientLeaves(t *testing.T) {
	const interval = 50 * time.Millisecond
	e := waitEnv(t, 0.1, interval) // a test video: 2 simulated seconds, 20 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, _, _, err := e.getJob(ctx, e.memberA, j.ID, "wait=60"); err == nil {
		t.Fatal("the wait answered before the client left")
	}
	if e.statusCalls() == 0 {
		t.Fatal("nothing was read while the client waited")
	}
	simtest.WaitFor(t, "the poller to stop", 2*time.Second, 10*time.Millisecond, func() bool { return e.api.JobPollers() == 0 })
	n := e.statusCalls()
	time.Sleep(6 * interval)
	// The job is still watched (one watcher per job, docs/jobs.md), at most once per interval.
	if after := e.statusCalls(); after-n > 6+1 {
		t.Errorf("%d status reads in 6 intervals after the client left; at most one per interval expected", after-n)
	}
	// The job, as last read, is still in progress.
	status, v, body, _ := e.getJob(context.Background(), e.memberA, j.ID, "")
	if status != 200 || v.Status == nil || (*v.Status != "queued" && *v.Status != "processing") || !strings.Contains(body, `"provider_status":"`) {
		t.Errorf("job after the client left: %d %s", status, body)
	}
}
