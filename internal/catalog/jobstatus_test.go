package catalog

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// jobStatusService is a small service whose status action tests can change.
func jobStatusService(jobStatus, creatorExtra string) string {
	return `slug: jobsvc
display_name: Job service
base_url: https://api.jobs.invalid
auth: {mode: header, header: X-Key}
credential_name: jobsvc
endpoints:
  - slug: create
    method: POST
    path: /v1/jobs
    request_mode: json
    response_mode: json
    callback_mode: poll
    poll_action: status
    account_scope: job
    creates_job: [/id]
` + creatorExtra + `
  - slug: status
    method: GET
    path: /v1/jobs/{job_id}
    request_mode: raw
    response_mode: json
    account_scope: job
    job_ref: {in: path, name: job_id}
` + jobStatus
}

// TestJobStatusIsCheckedAtLoadWithErrorsNamingTheAction: a job_status or
// poll_interval_seconds that cannot be right fails the load, naming the action and what is
// wrong.
func TestJobStatusIsCheckedAtLoadWithErrorsNamingTheAction(t *testing.T) {
	for name, tc := range map[string]struct{ jobStatus, creator, want string }{
		"unknown state": {`    job_status: {pointer: /status, states: {done: [ok], completed: [x]}}`, "",
			`endpoint "status": job_status: states: unknown state "done"`},
		"word twice": {`    job_status: {pointer: /status, states: {processing: [running], completed: [running]}}`, "",
			`endpoint "status": job_status: states: the word "running" is both`},
		"no completed": {`    job_status: {pointer: /status, states: {failed: [failed]}}`, "",
			`endpoint "status": job_status: states: missing completed`},
		"no pointer": {`    job_status: {states: {completed: [done]}}`, "",
			`endpoint "status": job_status: missing pointer`},
		"bad pointer": {`    job_status: {pointer: "status", states: {completed: [done]}}`, "",
			`endpoint "status": job_status: pointer:`},
		"root pointer": {`    job_status: {pointer: "", states: {completed: [done]}}`, "",
			`endpoint "status": job_status: pointer: the pointer "" names the whole document`},
		"result names twice": {`    job_status: {pointer: /status, states: {completed: [done]}, result: [/a/url, /b/url]}`, "",
			`endpoint "status": job_status: result: "/a/url" and "/b/url" would both be kept as "url"`},
		"interval too long": {"", "    poll_interval_seconds: 301\n",
			`endpoint "create": poll_interval_seconds must be from 1 to 300, got 301`},
		"interval zero": {"", "    poll_interval_seconds: 0\n",
			`endpoint "create": poll_interval_seconds must be from 1 to 300, got 0`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(files("jobsvc.yaml", jobStatusService(tc.jobStatus, tc.creator)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load: %v\nwant an error containing %s", err, tc.want)
			}
		})
	}
	// Without a job_ref there is no job to read.
	_, err := Load(files("x.yaml", `slug: x
display_name: X
base_url: https://x.invalid
auth: {mode: header, header: X-Key}
credential_name: x
endpoints:
  - slug: status
    method: GET
    path: /v1/jobs
    request_mode: raw
    response_mode: json
    account_scope: public
    job_status: {pointer: /status, states: {completed: [done]}}
`))
	if err == nil || !strings.Contains(err.Error(), `endpoint "status": job_status needs a job_ref`) {
		t.Errorf("job_status without job_ref: %v", err)
	}
	// A poll interval on an action that has no poll_action says nothing.
	_, err = Load(files("jobsvc.yaml", strings.Replace(jobStatusService("", ""), "    creates_job: [/id]\n",
		"    creates_job: [/id]\n  - {slug: other, method: GET, path: /o, request_mode: raw, response_mode: json, account_scope: public, poll_interval_seconds: 5}\n", 1)))
	if err == nil || !strings.Contains(err.Error(), `endpoint "other": poll_interval_seconds needs a poll_action`) {
		t.Errorf("poll_interval_seconds without poll_action: %v", err)
	}
	// A deployment's file may leave job_status out; the built-in files may not.
	if _, err := Load(files("jobsvc.yaml", jobStatusService("", ""))); err != nil {
		t.Errorf("a deployment's status action without job_status: %v", err)
	}
	if _, err := mustBuiltin(t).override(files("heygen.yaml", `slug: heygen
endpoints:
  - slug: video-status
    method: GET
    path: /v1/video_status.get
    request_mode: raw
    response_mode: json
    account_scope: job
    job_ref: {in: query, name: video_id}
`), "", builtinRules); err == nil || !strings.Contains(err.Error(), `endpoint "generate-video": poll_action "video-status" has no job_status`) {
		t.Errorf("a built-in status action without job_status: %v", err)
	}
}

// TestJobStateMapsWordsKeepsUnknownOnesAndPicksResultFields: the provider's words map to
// the four states, an unknown word is processing with the word kept, result and error hold
// the named fields under their own names (null ones left out), and an answer without a word
// is no status answer.
func TestJobStateMapsWordsKeepsUnknownOnesAndPicksResultFields(t *testing.T) {
	c, err := Load(files("jobsvc.yaml", jobStatusService(`    job_status:
      pointer: /data/status
      states: {queued: [pending], processing: [running], completed: [done], failed: [failed]}
      result: [/data/video_url, /data/duration, /data/meta/size]
      error: [/data/error, /data/failure_message]
`, "    poll_interval_seconds: 7\n")))
	if err != nil {
		t.Fatal(err)
	}
	svc := c.Service("jobsvc")
	ep := svc.Endpoint("status")
	if got := svc.Endpoint("create").PollIntervalFor(); got != 7*time.Second {
		t.Errorf("poll interval %v, want 7s", got)
	}
	for _, tc := range []struct {
		answer, status, word, result, errBody string
		ok                                    bool
	}{
		{`{"data": {"status": "pending", "video_url": null}}`, aiproxy.JobQueued, "pending", "", "", true},
		{`{"data": {"status": "running"}}`, aiproxy.JobProcessing, "running", "", "", true},
		{`{"data": {"status": "rendering_hd"}}`, aiproxy.JobProcessing, "rendering_hd", "", "", true},
		{`{"data": {"status": "done", "video_url": "https://v/1.mp4", "duration": 12.5, "meta": {"size": 3}, "error": null}}`,
			aiproxy.JobCompleted, "done", `{"duration":12.5,"size":3,"video_url":"https://v/1.mp4"}`, "", true},
		{`{"data": {"status": "done", "video_url": null}}`, aiproxy.JobCompleted, "done", "", "", true},
		{`{"data": {"status": "failed", "video_url": "x", "error": {"code": 1}, "failure_message": "bad"}}`,
			aiproxy.JobFailed, "failed", "", `{"error":{"code":1},"failure_message":"bad"}`, true},
		{`{"data": {}}`, "", "", "", "", false},
		{`{"data": {"status": ""}}`, "", "", "", "", false},
		{`{"data": {"status": {"x": 1}}}`, "", "", "", "", false},
	} {
		var answer any
		if err := json.Unmarshal([]byte(tc.answer), &answer); err != nil {
			t.Fatal(err)
		}
		st, ok := ep.JobState(answer)
		if ok != tc.ok || st.Status != tc.status || st.ProviderStatus != tc.word || string(st.Result) != tc.result || string(st.Error) != tc.errBody {
			t.Errorf("%s: %+v (result %s, error %s), %v; want %s/%s result %s error %s, %v",
				tc.answer, st, st.Result, st.Error, ok, tc.status, tc.word, tc.result, tc.errBody, tc.ok)
		}
	}
	if _, ok := svc.Endpoint("create").JobState(map[string]any{"status": "done"}); ok {
		t.Error("an action without job_status read a state")
	}
}

// TestEveryBuiltinCreatingActionsPollActionHasJobStatus: the built-in catalog says how to
// read the state of every job a client may wait for.
func TestEveryBuiltinCreatingActionsPollActionHasJobStatus(t *testing.T) {
	for _, s := range mustBuiltin(t).Services() {
		for _, e := range s.Endpoints {
			if e.PollAction == "" || len(e.CreatesJob) == 0 {
				continue
			}
			if p := s.Endpoint(e.PollAction); p.JobStatus == nil || p.JobRef == nil {
				t.Errorf("%s/%s: poll_action %s has no job_status or job_ref", s.Slug, e.Slug, p.Slug)
			}
			if e.PollIntervalFor() < time.Second {
				t.Errorf("%s/%s: poll interval %v", s.Slug, e.Slug, e.PollIntervalFor())
			}
		}
	}
}

// stateRank orders the states a job goes through.
var stateRank = map[string]int{aiproxy.JobQueued: 0, aiproxy.JobProcessing: 1, aiproxy.JobCompleted: 2, aiproxy.JobFailed: 2}

// watch polls the poll_action of creator for id on the simulator until JobState says the
// job is terminal, and checks every answer: it is a status answer, its word is one the
// catalog lists, and the states never go back. It returns the states seen, in order, once
// each, and the last state.
func (d *simDriver) watch(t *testing.T, service, creator, id string) ([]string, JobState) {
	t.Helper()
	s, e := d.endpoint(t, service, creator)
	poll := s.Endpoint(e.PollAction)
	r := simRequest{params: map[string]string{}}
	if poll.JobRef.In == JobRefPath {
		r.params[poll.JobRef.Name] = id
	} else {
		r.query = url.Values{poll.JobRef.Name: {id}}
	}
	var seen []string
	var last JobState
	simtest.WaitFor(t, creator+" "+id+" to end", 20*time.Second, 3*time.Millisecond, func() bool {
		answer := d.invoke(t, service, poll.Slug, r)
		st, ok := poll.JobState(answer)
		if !ok {
			t.Fatalf("%s: %s's answer is not a status answer: %v", creator, poll.Slug, answer)
		}
		if !slices.Contains(poll.JobStatus.States[st.Status], st.ProviderStatus) {
			t.Errorf("%s: %s says %q, which job_status does not list", creator, poll.Slug, st.ProviderStatus)
		}
		if n := len(seen); n == 0 || seen[n-1] != st.Status {
			if n > 0 && stateRank[st.Status] < stateRank[seen[n-1]] {
				t.Errorf("%s: state went back from %s to %s", creator, seen[n-1], st.Status)
			}
			seen = append(seen, st.Status)
		}
		last = st
		return Terminal(st.Status)
	})
	return seen, last
}

// resultHas checks that a JobState's JSON object (result or error) has every name.
func resultHas(t *testing.T, what string, raw json.RawMessage, names ...string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("%s: %s is not an object: %v", what, raw, err)
		return
	}
	for _, n := range names {
		if m[n] == nil {
			t.Errorf("%s: %s lacks %s", what, raw, n)
		}
	}
}

// TestJobStateOfEveryBuiltinStatusActionFollowsTheSimulatedJobs: every built-in status
// action, read through its job_status while simulated jobs run (slowly enough to see each
// stage), goes queued → processing → completed (or starts at processing where the provider
// has no queued word) with the result fields the provider gave, or ends failed with its
// error, and every word the simulators say is one the catalog lists.
func TestJobStateOfEveryBuiltinStatusActionFollowsTheSimulatedJobs(t *testing.T) {
	_, srv := simtest.Start(t, simcore.Options{Seed: 11, Speed: 20}, sim.New)
	d := &simDriver{cat: mustBuiltin(t), base: srv.URL, created: map[string]bool{}, exercised: map[string]bool{}, refsFound: map[string]bool{}}
	const hg, el = "heygen", "elevenlabs"
	type job struct {
		service, creator  string
		fail              bool
		create            func(t *testing.T, fail bool) string
		firstStates       []string // the states the job must begin with
		result, errFields []string
	}
	word := func(fail bool, ok, failed string) string {
		if fail {
			return failed
		}
		return ok
	}
	var jobs []job
	for _, fail := range []bool{false, true} {
		jobs = append(jobs,
			job{hg, "generate-video", fail, func(t *testing.T, fail bool) string {
				r := simtest.HeyGenVideoRequest(simAvatar, simVoice, word(fail, "Hello from org A.", "This one should FAIL."))
				delete(r, "test") // a full-length video: each stage lasts long enough to be seen
				return d.create(t, hg, "generate-video", simRequest{body: r}, 1)[0]
			}, []string{"queued", "processing"}, []string{"video_url", "thumbnail_url", "duration"}, []string{"error"}},
			job{hg, "v3-create-video", fail, func(t *testing.T, fail bool) string {
				return d.create(t, hg, "v3-create-video", simRequest{body: map[string]any{"type": "avatar", "avatar_id": simAvatar,
					"script": word(fail, "Hello from org A.", "This one should FAIL."), "voice_id": simVoice}}, 1)[0]
			}, []string{"queued", "processing"}, []string{"video_url", "thumbnail_url", "duration"}, []string{"failure_code", "failure_message"}},
			job{hg, "translate-video", fail, func(t *testing.T, fail bool) string {
				return d.create(t, hg, "translate-video", simRequest{body: map[string]any{
					"video_url": "https://media.example.test/org-a/talk.mp4", "output_language": "Spanish (Spain)",
					"title": word(fail, "Org A translation", "Org A FAIL translation")}}, 1)[0]
			}, []string{"queued", "processing"}, []string{"url"}, []string{"message"}},
			job{hg, "v3-create-video-translation", fail, func(t *testing.T, fail bool) string {
				return d.create(t, hg, "v3-create-video-translation", simRequest{body: map[string]any{
					"video": map[string]any{"type": "url", "url": "https://media.example.test/org-a/talk.mp4"},
					"title": word(fail, "Org A translation", "Org A FAIL translation"), "output_languages": []any{"Spanish (Spain)"}}}, 1)[0]
			}, []string{"queued", "processing"}, []string{"video_url", "audio_url", "duration"}, []string{"failure_message"}},
			job{hg, "v3-create-video-agent", fail, func(t *testing.T, fail bool) string {
				return d.create(t, hg, "v3-create-video-agent", simRequest{body: map[string]any{
					"prompt": word(fail, "A product demo", "A product demo that should FAIL")}}, 2)[0]
			}, []string{"processing"}, []string{"video_id", "title"}, nil},
			job{hg, "v3-create-lipsync", fail, func(t *testing.T, fail bool) string {
				return d.create(t, hg, "v3-create-lipsync", simRequest{body: map[string]any{
					"video": map[string]any{"type": "url", "url": "https://media.example.test/org-a/talk.mp4"},
					"audio": map[string]any{"type": "url", "url": "https://media.example.test/org-a/voice.mp3"},
					"title": word(fail, "Org A lipsync", "Org A FAIL lipsync")}}, 1)[0]
			}, []string{"queued", "processing"}, []string{"video_url", "duration"}, []string{"failure_message"}},
			job{hg, "create-photo-avatar", fail, func(t *testing.T, fail bool) string {
				asset := d.create(t, hg, "upload-asset", simRequest{data: pngBytes(t), contentType: "image/png"}, 1)[0]
				return d.create(t, hg, "create-photo-avatar", simRequest{body: map[string]any{
					"name": word(fail, "Org A presenter", "Org A FAIL presenter"), "image_key": "image/" + asset + "/original"}}, 2)[0]
			}, []string{"queued"}, []string{"image_url"}, nil},
			job{hg, "v3-create-avatar", fail, func(t *testing.T, fail bool) string {
				asset := d.create(t, hg, "v3-upload-asset", simRequest{files: map[string][]byte{"file": pngBytes(t)}}, 1)[0]
				return d.create(t, hg, "v3-create-avatar", simRequest{body: map[string]any{"type": "photo",
					"name": word(fail, "Org A look", "Org A FAIL look"), "file": map[string]any{"type": "asset_id", "asset_id": asset}}}, 2)[0]
			}, []string{"processing"}, []string{"preview_image_url"}, []string{"error"}},
			job{el, "create-dubbing", fail, func(t *testing.T, fail bool) string {
				src := word(fail, "https://media.example.test/org-a/talk.mp3", "https://media.example.test/org-a/fail.mp3")
				return d.create(t, el, "create-dubbing", simRequest{body: map[string]any{"target_lang": "es", "source_url": src}}, 1)[0]
			}, []string{"processing"}, []string{"target_languages", "duration"}, []string{"error"}},
		)
	}
	for _, j := range jobs {
		t.Run(j.creator+map[bool]string{false: "/completed", true: "/failed"}[j.fail], func(t *testing.T) {
			seen, last := d.watch(t, j.service, j.creator, j.create(t, j.fail))
			want := aiproxy.JobCompleted
			if j.fail {
				want = aiproxy.JobFailed
			}
			if last.Status != want {
				t.Fatalf("ended %s (%s), want %s", last.Status, last.ProviderStatus, want)
			}
			if !slices.Equal(seen[:min(len(seen), len(j.firstStates))], j.firstStates) {
				t.Errorf("states %v, want them to begin with %v", seen, j.firstStates)
			}
			if j.fail {
				if last.Result != nil {
					t.Errorf("a failed job has a result %s", last.Result)
				}
				if j.errFields != nil {
					resultHas(t, "error", last.Error, j.errFields...)
				}
				return
			}
			if last.Error != nil {
				t.Errorf("a completed job has an error %s", last.Error)
			}
			resultHas(t, "result", last.Result, j.result...)
		})
	}
}
