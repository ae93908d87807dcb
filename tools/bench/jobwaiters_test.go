package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A job created at t0, read every poll interval and completed at the fourth read: (4 − 1)
// reads over 3.04 intervals, within the target; its waiters' dones are measured from the
// completing read.
func TestJobWaitersSummaryCountsReadsPerIntervalAndDoneDelays(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cp := &countingProxy{videos: map[string]*videoRecord{
		"a": {created: at(0), reads: []time.Time{at(0.1), at(5.2), at(10.3), at(15.2)}, completedAt: at(15.2), final: "completed"},
	}}
	recs := []waiterRecord{
		{job: 0, firstStatus: at(1), done: at(15.25)},
		{job: 0, firstStatus: at(1), done: at(15.4)},
	}
	jr := &jobWaitersRun{Waiters: 2, Jobs: 1, Errors: map[string]int{}, RSSBeforeMiB: 20, RSSAllConnectedMiB: 20 + 40.0/1024, ConnectedAtRSS: 2}
	jr.summarize([]benchJob{{id: 1, videoID: "a"}}, recs, cp, 15*time.Second)
	if !jr.OK {
		t.Fatalf("failures: %v", jr.Failures)
	}
	if jr.StatusReads != 4 || jr.JobsCompleted != 1 || jr.Done != 2 {
		t.Errorf("reads %d, completed %d, done %d; want 4, 1, 2", jr.StatusReads, jr.JobsCompleted, jr.Done)
	}
	if want := 3 / (15.2 / 5); abs(jr.ReadsPerIntervalMax-want) > 1e-9 {
		t.Errorf("reads per interval %.4f, want %.4f", jr.ReadsPerIntervalMax, want)
	}
	if abs(jr.DoneMaxMs-200) > 1e-6 || abs(jr.DoneP50Ms-50) > 1e-6 {
		t.Errorf("done after completed: p50 %.3f, max %.3f ms; want 50, 200", jr.DoneP50Ms, jr.DoneMaxMs)
	}
	if abs(jr.KiBPerWaiter-20) > 1e-6 {
		t.Errorf("KiB per waiter %.3f, want 20", jr.KiBPerWaiter)
	}
	if abs(jr.DetectMaxMs-250) > 1e-6 { // render end at 15 s, first done at 15.25 s
		t.Errorf("render end to first done %.3f ms, want 250", jr.DetectMaxMs)
	}
}

func TestJobWaitersSummaryFailsEachTarget(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cp := &countingProxy{videos: map[string]*videoRecord{
		// Read every second: far more than once per interval.
		"a": {created: at(0), reads: []time.Time{at(1), at(2), at(3), at(4), at(5), at(6)}, completedAt: at(6)},
		"b": {created: at(0)}, // never completed
	}}
	recs := []waiterRecord{
		{job: 0, firstStatus: at(1), done: at(12)},      // 6 s after completion
		{job: 0, firstStatus: at(1), err: "status 503"}, // an error
		{job: 1, firstStatus: at(1)},                    // no done
		{job: 0, firstStatus: at(1), done: at(6.1)},     // fine
	}
	jr := &jobWaitersRun{Waiters: 4, Jobs: 2, Errors: map[string]int{}, RSSBeforeMiB: 20, RSSAllConnectedMiB: 21, ConnectedAtRSS: 4}
	jr.summarize([]benchJob{{id: 1, videoID: "a"}, {id: 2, videoID: "b"}}, recs, cp, 5*time.Second)
	if jr.OK {
		t.Fatal("OK, want failures")
	}
	all := strings.Join(jr.Failures, "\n")
	for _, want := range []string{"2 of 4 waiters without done", "1 of 2 jobs never completed", "read 4.17 times", "256.0 KiB", "6000 ms after"} {
		if !strings.Contains(all, want) {
			t.Errorf("failures lack %q:\n%s", want, all)
		}
	}
	if jr.Errors["status 503"] != 1 || jr.Errors["no done"] != 1 {
		t.Errorf("errors %v", jr.Errors)
	}
}

func TestLogWarningsCountsMessagesWithTheEndOfTheirError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aiproxy.log")
	log := `time=2026-12-02T13:06:30Z level=INFO msg=request status=200
time=2026-12-02T13:06:30Z level=WARN msg="reading a job for its event stream failed" job_id=25 error="aiproxy error: code=unavailable: list jobs: context deadline exceeded"
time=2026-12-02T13:06:31Z level=WARN msg="reading a job for its event stream failed" job_id=26 error="aiproxy error: code=unavailable: list jobs: context deadline exceeded"
time=2026-12-02T13:06:32Z level=ERROR msg="claiming jobs to watch failed" error="begin: database is locked"
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logWarnings(path, 3)
	want := "2× reading a job for its event stream failed (context deadline exceeded); 1× claiming jobs to watch failed (database is locked)"
	if got != want {
		t.Errorf("logWarnings = %q\nwant %q", got, want)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
