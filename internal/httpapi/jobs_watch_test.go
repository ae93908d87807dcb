package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"

	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// TestJobNobodyWaitsOnIsWatchedUntilCompleted: a video no client waits on is read by the
// gateway on its own, at most once per interval, until the store shows it completed.
func TestJobNobodyWaitsOnIsWatchedUntilCompleted(t *testing.T) {
	const interval = 50 * time.Millisecond
	e := waitEnv(t, 20, interval) // a test video: 2 simulated seconds, 0.1 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	start := time.Now()
	simtest.WaitFor(t, "the job to be completed", 10*time.Second, 20*time.Millisecond, func() bool {
		_, v, _, _ := e.getJob(context.Background(), e.memberA, j.ID, "")
		return v.Status != nil && *v.Status == "completed"
	})
	took := time.Since(start)
	calls := e.statusCalls()
	if most := int(took/interval) + 2; calls > most {
		t.Errorf("%d status reads in %v; at most %d (one per %v) expected", calls, took, most, interval)
	}
	if e.api.JobPollers() != 0 {
		t.Errorf("%d pollers with nobody waiting", e.api.JobPollers())
	}
	// Terminal: no longer read.
	n := e.statusCalls()
	time.Sleep(5 * interval)
	if after := e.statusCalls(); after != n {
		t.Errorf("%d status reads after the job completed", after-n)
	}
	t.Logf("completed in %v with %d status reads (interval %v)", took, calls, interval)
}

// TestJobTheProviderDoesNotKnowIsNoLongerWatched: a job whose status action the provider
// answers 404 three times in a row (an id the action cannot read, an object deleted since)
// is not read again by the watcher.
func TestJobTheProviderDoesNotKnowIsNoLongerWatched(t *testing.T) {
	const interval = 50 * time.Millisecond
	e := waitEnv(t, 20, interval)
	j := &aiproxy.Job{OrgID: e.orgA.ID, Service: "heygen", Action: "generate-video", UpstreamID: "no-such-video",
		Source: aiproxy.SourceTenant, CreatedAt: time.Now()}
	if err := e.store.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, "three status reads", 5*time.Second, 10*time.Millisecond, func() bool { return e.statusCalls() >= 3 })
	time.Sleep(20 * interval)
	if n := e.statusCalls(); n != 3 {
		t.Errorf("%d status reads of a job the provider answers 404, want 3 then none", n)
	}
}
