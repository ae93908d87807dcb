package httpapi_test

// Usage and budgets (docs/cost-control.md): every invoke is metered (calls that reached the
// upstream, refusals and replays apart, units: requests, characters of the text, seconds
// stated or produced); operators set per-org budgets per service, reserved before the
// upstream and given back when it refuses; over budget is 402 with what is left and when
// it resets. The clock is the test's: days and windows are exact.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/budgets"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// providerUpstream answers like the providers, with faults chosen by the request: a voice
// id "fail-NNN" answers status NNN; video-status answers the status query's video as
// processing until "done" is in its id.
func providerUpstream(e *acctEnv) {
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if i := strings.Index(p, "/fail-"); i >= 0 {
			w.Header().Set("Content-Type", "application/json")
			status := 400
			if strings.HasPrefix(p[i:], "/fail-500") {
				status = 500
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"detail": {"status": "refused"}}`))
			return
		}
		switch {
		case strings.HasPrefix(p, "/v1/text-to-speech/"), p == "/v1/sound-generation":
			w.Header().Set("Content-Type", "audio/mpeg")
			_, _ = w.Write([]byte("ID3-audio-bytes"))
		case p == "/v2/video/generate":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"error": null, "data": {"video_id": "vid-done-1"}}`))
		case p == "/v1/video_status.get":
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Query().Get("phase") == "failed" {
				// A failed video may still state a length: not an output to count.
				_, _ = w.Write([]byte(`{"code": 100, "data": {"id": "vid-done-1", "status": "failed", "duration": 30}, "message": "Success"}`))
				return
			}
			if r.URL.Query().Get("phase") == "rendering" {
				_, _ = w.Write([]byte(`{"code": 100, "data": {"id": "vid-done-1", "status": "processing", "duration": null}, "message": "Success"}`))
				return
			}
			_, _ = w.Write([]byte(`{"code": 100, "data": {"id": "vid-done-1", "status": "completed", "duration": 12.4}, "message": "Success"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"voices": []}`))
		}
	})
}

func tts(voice, text string) string {
	return `{"path_params": {"voice_id": "` + voice + `"}, "body": {"text": ` + mustJSON(text) + `, "model_id": "eleven_multilingual_v2"}}`
}

func TestUsageCountsCallsUnitsRefusalsAndReplays(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		providerUpstream(e)
		a := func(service, action, envelope string, header ...string) response {
			t.Helper()
			return e.call(e.adminA, "org-a", service, action, envelope, header...)
		}
		// tts: characters are code points ("héllo👍" is 6), counted when the upstream accepts.
		if r := a("elevenlabs", "tts", tts("v1", "héllo👍"), "Idempotency-Key", "tts-1"); r.Status != 200 {
			t.Fatalf("tts: %d %s", r.Status, r.Body)
		}
		if r := e.replayOf(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "héllo👍"), "tts-1"); r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %v", r.Status, r.Header)
		}
		if r := a("elevenlabs", "tts", tts("fail-400", "refused by the provider")); r.Status != 502 {
			t.Fatalf("tts refused upstream: %d %s", r.Status, r.Body)
		}
		if r := a("elevenlabs", "tts", `{"body": {"text": "no voice"}}`); r.Status != 400 {
			t.Fatalf("tts without its voice: %d %s", r.Status, r.Body)
		}
		if r := a("elevenlabs", "tts", tts("v1", "bad key"), "Idempotency-Key", ""); r.Status != 400 {
			t.Fatalf("tts with an empty key: %d %s", r.Status, r.Body)
		}
		// sound-generation: a stated duration is counted, rounded up.
		if r := a("elevenlabs", "sound-generation", `{"body": {"text": "rain", "duration_seconds": 2.5}}`); r.Status != 200 {
			t.Fatalf("sound-generation: %d %s", r.Status, r.Body)
		}
		if r := a("elevenlabs", "sound-generation", `{"body": {"text": "wind", "duration_seconds": null}}`); r.Status != 200 {
			t.Fatalf("sound-generation, automatic length: %d %s", r.Status, r.Body)
		}
		if r := a("elevenlabs", "list-voices", `{}`); r.Status != 200 {
			t.Fatalf("list-voices: %d %s", r.Status, r.Body)
		}
		// generate-video: the output's seconds once a status answer says it completed, once.
		if r := a("heygen", "generate-video", `{"body": {"video_inputs": [{}]}}`); r.Status != 200 {
			t.Fatalf("generate-video: %d %s", r.Status, r.Body)
		}
		for _, phase := range []string{"rendering", "failed", "completed", "completed"} {
			if r := a("heygen", "video-status", `{"query": {"video_id": "vid-done-1", "phase": "`+phase+`"}}`); r.Status != 200 {
				t.Fatalf("video-status: %d %s", r.Status, r.Body)
			}
		}
		// An action the catalog does not have is not metered at all.
		a("elevenlabs", "no-such-action", `{}`)

		e.expectUsage(e.adminA, "/orgs/org-a/usage/?group_by=service,action",
			usageRow{Service: "elevenlabs", Action: "list-voices", Calls: 1, Units: units(1, 0, 0)},
			usageRow{Service: "elevenlabs", Action: "sound-generation", Calls: 2, BillableCalls: 2, Units: units(2, 0, 3)},
			usageRow{Service: "elevenlabs", Action: "tts", Calls: 2, BillableCalls: 1, FailedCalls: 1, Refused: 2, Replayed: 1, Units: units(1, 6, 0)},
			usageRow{Service: "heygen", Action: "generate-video", Calls: 1, BillableCalls: 1, Units: units(1, 0, 13)},
			usageRow{Service: "heygen", Action: "video-status", Calls: 4, Units: units(4, 0, 0)},
		)
		// Org-b did nothing.
		e.expectUsage(e.adminB, "/orgs/org-b/usage/")
	})
}

func TestUsageCountsRefusalsOnTheSharedKeyButNoCalls(t *testing.T) {
	e := newAcctEnv(t, acctOptions{sim: true})
	e.api.StopWatching() // its reads of the video would count as calls of org A (docs/jobs.md)
	e.platformPolicy("heygen")
	alpha, _ := e.makeVideo(e.adminA, "org-a", "Alpha's video.")
	e.call(e.adminB, "org-b", "heygen", "video-status", `{"query": {"video_id": "`+alpha+`"}}`)
	e.call(e.adminB, "org-b", "heygen", "get-remaining-quota", `{}`)
	e.call(e.adminB, "org-b", "heygen", "list-videos", `{}`)
	e.expectUsage(e.adminB, "/orgs/org-b/usage/?group_by=action",
		usageRow{Action: "get-remaining-quota", Refused: 1, Units: units(0, 0, 0)},
		usageRow{Action: "list-videos", Calls: 1, Units: units(1, 0, 0)},
		usageRow{Action: "video-status", Refused: 1, Units: units(0, 0, 0)},
	)
	e.expectUsage(e.operator, "/usage/?group_by=org,service",
		usageRow{Org: "org-a", Service: "heygen", Calls: 1, BillableCalls: 1, Units: units(1, 0, 0)},
		usageRow{Org: "org-b", Service: "heygen", Calls: 1, Refused: 2, Units: units(1, 0, 0)},
	)
}

func TestUsageReportGroupsByDayAndFiltersByDate(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		providerUpstream(e)
		e.platformPolicy("elevenlabs")
		e.tenantPolicy("elevenlabs", e.orgA)
		e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "one"))         // 2026-03-14
		e.clock.Advance(14 * time.Hour)                                          // 2026-03-15 00:30
		e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "two"))         // 2026-03-15
		e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "three"))       // 2026-03-15
		e.call(e.adminB, "org-b", "elevenlabs", "tts", tts("v1", "beta's four")) // 2026-03-15
		e.clock.Advance(24 * time.Hour)
		e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`) // 2026-03-16

		const path = "/orgs/org-a/usage/"
		e.expectUsage(e.adminA, path,
			usageRow{Service: "elevenlabs", Action: "tts", Day: "2026-03-14", Calls: 1, BillableCalls: 1, Units: units(1, 3, 0)},
			usageRow{Service: "elevenlabs", Action: "tts", Day: "2026-03-15", Calls: 2, BillableCalls: 2, Units: units(2, 8, 0)},
			usageRow{Service: "elevenlabs", Action: "list-voices", Day: "2026-03-16", Calls: 1, Units: units(1, 0, 0)},
		)
		e.expectUsage(e.adminA, path+"?from=2026-03-15&to=2026-03-15",
			usageRow{Service: "elevenlabs", Action: "tts", Day: "2026-03-15", Calls: 2, BillableCalls: 2, Units: units(2, 8, 0)})
		e.expectUsage(e.adminA, path+"?from=2026-03-15&group_by=day",
			usageRow{Day: "2026-03-15", Calls: 2, BillableCalls: 2, Units: units(2, 8, 0)},
			usageRow{Day: "2026-03-16", Calls: 1, Units: units(1, 0, 0)})
		e.expectUsage(e.adminA, path+"?to=2026-03-14&group_by=service",
			usageRow{Service: "elevenlabs", Calls: 1, BillableCalls: 1, Units: units(1, 3, 0)})
		e.expectUsage(e.adminA, path+"?group_by=service",
			usageRow{Service: "elevenlabs", Calls: 4, BillableCalls: 3, Units: units(4, 11, 0)})
		e.expectUsage(e.adminA, path+"?from=2026-03-17")

		// The operator's report covers every org, by org when asked.
		e.expectUsage(e.operator, "/usage/?group_by=org,day",
			usageRow{Org: "org-a", Day: "2026-03-14", Calls: 1, BillableCalls: 1, Units: units(1, 3, 0)},
			usageRow{Org: "org-a", Day: "2026-03-15", Calls: 2, BillableCalls: 2, Units: units(2, 8, 0)},
			usageRow{Org: "org-b", Day: "2026-03-15", Calls: 1, BillableCalls: 1, Units: units(1, 11, 0)},
			usageRow{Org: "org-a", Day: "2026-03-16", Calls: 1, Units: units(1, 0, 0)})
		e.expectUsage(e.operator, "/usage/?group_by=service,%20action",
			usageRow{Service: "elevenlabs", Action: "list-voices", Calls: 1, Units: units(1, 0, 0)},
			usageRow{Service: "elevenlabs", Action: "tts", Calls: 4, BillableCalls: 4, Units: units(4, 22, 0)})
		e.expectUsage(e.operator, "/orgs/org-b/usage/?group_by=service",
			usageRow{Service: "elevenlabs", Calls: 1, BillableCalls: 1, Units: units(1, 11, 0)})
	})
}

func TestUsageReportAsCSV(t *testing.T) {
	e := newAcctEnv(t)
	providerUpstream(e)
	e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "héllo, \"world\""))
	e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("fail-500", "x"))
	e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`)
	e.expectUsage(e.adminA, "/orgs/org-a/usage/?group_by=action",
		usageRow{Action: "list-voices", Calls: 1, Units: units(1, 0, 0)},
		usageRow{Action: "tts", Calls: 2, BillableCalls: 1, FailedCalls: 1, Units: units(1, 14, 0)})

	csvOf := func(key, path, accept string) response {
		t.Helper()
		r := e.do("GET", admAPI+path, "Api-Key "+key, nil, "Accept", accept)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		return r
	}
	r := csvOf(e.adminA, "/orgs/org-a/usage/", "text/csv")
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	want := [][]string{
		{"service", "action", "day", "calls", "billable_calls", "failed_calls", "refused", "replayed", "requests", "characters", "seconds"},
		{"elevenlabs", "list-voices", "2026-03-14", "1", "0", "0", "0", "0", "1", "0", "0"},
		{"elevenlabs", "tts", "2026-03-14", "2", "1", "1", "0", "0", "1", "14", "0"},
	}
	if got := readCSV(t, r.Body); !equalRecords(got, want) {
		t.Errorf("CSV:\n got %q\nwant %q", got, want)
	}
	r = csvOf(e.operator, "/usage/?group_by=org,service", "text/csv, application/json;q=0.5")
	want = [][]string{
		{"org", "service", "calls", "billable_calls", "failed_calls", "refused", "replayed", "requests", "characters", "seconds"},
		{"org-a", "elevenlabs", "3", "1", "1", "0", "0", "2", "14", "0"},
	}
	if got := readCSV(t, r.Body); !equalRecords(got, want) {
		t.Errorf("platform CSV:\n got %q\nwant %q", got, want)
	}
	// JSON first, or anything: JSON.
	for _, accept := range []string{"application/json, text/csv", "*/*", ""} {
		r := csvOf(e.adminA, "/orgs/org-a/usage/?group_by=service", accept)
		assertBody(t, r, 200, `{"results": [{"service": "elevenlabs", "calls": 3, "billable_calls": 1, "failed_calls": 1, "refused": 0, "replayed": 0,
			"units": {"requests": 2, "characters": 14, "seconds": 0}}], "next": null}`)
	}
}

func equalRecords(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

func TestUsageReportIsForTheOrgsAdminsAndOperators(t *testing.T) {
	e := newAcctEnv(t)
	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"/orgs/org-a/usage/", "", 401},
		{"/orgs/org-a/usage/", e.memberA, 403},
		{"/orgs/org-a/usage/", e.adminB, 403},
		{"/orgs/org-a/usage/", e.adminA, 200},
		{"/orgs/org-a/usage/", e.operator, 200},
		{"/orgs/no-such-org/usage/", e.operator, 404},
		{"/usage/", e.memberA, 403},
		{"/usage/", e.adminA, 403},
		{"/usage/", e.operator, 200},
	} {
		r := e.admCall("GET", c.path, c.key, "")
		if r.Status != c.status {
			t.Errorf("GET %s as %s: %d, want %d (%s)", c.path, keyName(e, c.key), r.Status, c.status, r.Body)
		}
		if c.status == 403 {
			assertBody(t, r, 403, admForbidden)
		}
	}
}

func keyName(e *acctEnv, key string) string {
	return map[string]string{"": "nobody", e.memberA: "org-a's member", e.adminA: "org-a's admin", e.adminB: "org-b's admin", e.operator: "the operator"}[key]
}

func TestUsageBadInputIs400NamingTheField(t *testing.T) {
	e := newAcctEnv(t)
	for _, c := range []struct{ path, key, want string }{
		{"/orgs/org-a/usage/?from=2026-13-01", e.adminA, `Query parameter 'from' must be a date like 2026-12-01.`},
		{"/orgs/org-a/usage/?from=yesterday", e.adminA, `Query parameter 'from' must be a date like 2026-12-01.`},
		{"/orgs/org-a/usage/?to=2026-03-14T00:00:00Z", e.adminA, `Query parameter 'to' must be a date like 2026-12-01.`},
		{"/orgs/org-a/usage/?from=2026-03-15&to=2026-03-14", e.adminA, `Query parameter 'from' must not be after 'to'.`},
		{"/orgs/org-a/usage/?group_by=week", e.adminA, `Query parameter 'group_by' has an unknown field 'week': use service, action, day.`},
		{"/orgs/org-a/usage/?group_by=service,source", e.adminA, `Query parameter 'group_by' has an unknown field 'source': use service, action, day.`},
		{"/orgs/org-a/usage/?group_by=org", e.operator, `Query parameter 'group_by' may name 'org' only in the platform-wide report.`},
		{"/usage/?group_by=week", e.operator, `Query parameter 'group_by' has an unknown field 'week': use service, action, day, org.`},
		{"/usage/?from=2026-02-30", e.operator, `Query parameter 'from' must be a date like 2026-12-01.`},
	} {
		r := e.admCall("GET", c.path, c.key, "")
		if r.Status != 400 {
			t.Errorf("GET %s: %d %s, want 400", c.path, r.Status, r.Body)
			continue
		}
		assertJSONField(t, r, "error", `"`+c.want+`"`)
	}
}

const ttsBudget = "/orgs/org-a/budgets/elevenlabs/"

func (e *acctEnv) putBudget(path, body string) {
	e.t.Helper()
	if r := e.admCall("PUT", path, e.operator, body); r.Status != http.StatusOK {
		e.t.Fatalf("PUT %s %s: %d %s", path, body, r.Status, r.Body)
	}
}

func assertBudgetHeaders(t *testing.T, r response, remaining map[string]string, resets string) {
	t.Helper()
	for _, u := range []string{"Requests", "Characters", "Seconds"} {
		if got, want := r.Header.Get("X-Budget-Remaining-"+u), remaining[u]; got != want {
			t.Errorf("X-Budget-Remaining-%s = %q, want %q", u, got, want)
		}
	}
	if got := r.Header.Get("X-Budget-Resets-At"); got != resets {
		t.Errorf("X-Budget-Resets-At = %q, want %q", got, resets)
	}
}

func TestBudgetOverItsLimitIs402WithTheLimitWhatIsUsedAndWhenItResets(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		providerUpstream(e)
		r := e.admCall("PUT", ttsBudget, e.operator, `{"period": "month", "limits": {"characters": 10000}}`)
		assertBody(t, r, 200, `{"service": "elevenlabs", "period": "month", "limits": {"characters": 10000}, "updated_at": "2026-03-14T10:30:00Z"}`)

		// 9,990 code points (19,980 bytes of UTF-8) fit, and leave 10.
		r = e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", strings.Repeat("é", 9990)))
		if r.Status != 200 || string(r.Body) != "ID3-audio-bytes" {
			t.Fatalf("tts within budget: %d %s", r.Status, r.Body)
		}
		assertBudgetHeaders(t, r, map[string]string{"Characters": "10"}, "2026-04-01T00:00:00Z")

		// 11 do not: refused before the upstream.
		r = e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "hello world"))
		assertBody(t, r, 402, `{"detail": "The elevenlabs budget of 10000 characters per month is used up.",
			"unit": "characters", "limit": 10000, "used": 9990, "requested": 11, "resets_at": "2026-04-01T00:00:00Z"}`)
		assertBudgetHeaders(t, r, map[string]string{"Characters": "10"}, "2026-04-01T00:00:00Z")
		e.expectCalls("over budget", 1)

		// 10 do, to the last character; then even one is too many, and an action that costs no
		// characters still goes.
		r = e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "0123456789"))
		if r.Status != 200 {
			t.Fatalf("the last 10 characters: %d %s", r.Status, r.Body)
		}
		assertBudgetHeaders(t, r, map[string]string{"Characters": "0"}, "2026-04-01T00:00:00Z")
		assertBody(t, e.call(e.adminA, "org-a", "elevenlabs", "tts-stream", tts("v1", "x")), 402,
			`{"detail": "The elevenlabs budget of 10000 characters per month is used up.",
			"unit": "characters", "limit": 10000, "used": 10000, "requested": 1, "resets_at": "2026-04-01T00:00:00Z"}`)
		if r := e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`); r.Status != 200 {
			t.Errorf("list-voices with no characters left: %d %s", r.Status, r.Body)
		}
		// Other services, and other orgs, have budgets of their own (none here).
		e.platformPolicy("elevenlabs")
		if r := e.call(e.adminB, "org-b", "elevenlabs", "tts", tts("v1", "beta")); r.Status != 200 || r.Header.Get("X-Budget-Resets-At") != "" {
			t.Errorf("org-b's tts: %d %v", r.Status, r.Header)
		}
		e.expectUsage(e.adminA, "/orgs/org-a/usage/?group_by=action",
			usageRow{Action: "list-voices", Calls: 1, Units: units(1, 0, 0)},
			usageRow{Action: "tts", Calls: 2, BillableCalls: 2, Refused: 1, Units: units(2, 10000, 0)},
			usageRow{Action: "tts-stream", Refused: 1, Units: units(0, 0, 0)})

		// A new month, a new budget.
		e.clock.Advance(18*24*time.Hour - 10*time.Hour - 30*time.Minute) // 2026-04-01 00:00
		r = e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "hello"))
		if r.Status != 200 {
			t.Fatalf("tts in April: %d %s", r.Status, r.Body)
		}
		assertBudgetHeaders(t, r, map[string]string{"Characters": "9995"}, "2026-05-01T00:00:00Z")
	})
}

func TestBudgetPerDayOnRequestsAndSeconds(t *testing.T) {
	e := newAcctEnv(t)
	providerUpstream(e)
	e.putBudget(ttsBudget, `{"period": "day", "limits": {"requests": 3, "seconds": 10}}`)
	sound := func(seconds string) response {
		return e.call(e.adminA, "org-a", "elevenlabs", "sound-generation", `{"body": {"text": "rain", "duration_seconds": `+seconds+`}}`)
	}
	r := sound("6.2") // 7 seconds
	assertBudgetHeaders(t, r, map[string]string{"Requests": "2", "Seconds": "3"}, "2026-03-15T00:00:00Z")
	assertBody(t, sound("3.5"), 402, `{"detail": "The elevenlabs budget of 10 seconds per day is used up.",
		"unit": "seconds", "limit": 10, "used": 7, "requested": 4, "resets_at": "2026-03-15T00:00:00Z"}`)
	assertBudgetHeaders(t, sound("3"), map[string]string{"Requests": "1", "Seconds": "0"}, "2026-03-15T00:00:00Z")
	assertBudgetHeaders(t, e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`), map[string]string{"Requests": "0", "Seconds": "0"}, "2026-03-15T00:00:00Z")
	assertBody(t, e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`), 402, `{"detail": "The elevenlabs budget of 3 requests per day is used up.",
		"unit": "requests", "limit": 3, "used": 3, "requested": 1, "resets_at": "2026-03-15T00:00:00Z"}`)
	e.expectCalls("a day's budget", 3)
	e.clock.Advance(14 * time.Hour)
	assertBudgetHeaders(t, e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`), map[string]string{"Requests": "2", "Seconds": "10"}, "2026-03-16T00:00:00Z")
}

func TestBudgetUnitsComeBackWhenTheUpstreamRefuses(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		providerUpstream(e)
		e.putBudget(ttsBudget, `{"period": "day", "limits": {"requests": 2, "characters": 100}}`)
		const window = "2026-03-14"
		for _, voice := range []string{"fail-400", "fail-500", "fail-400"} {
			r := e.call(e.adminA, "org-a", "elevenlabs", "tts", tts(voice, "refused"))
			if r.Status != 502 {
				t.Fatalf("%s: %d %s", voice, r.Status, r.Body)
			}
			// Its headers tell of the units given back.
			assertBudgetHeaders(t, r, map[string]string{"Requests": "2", "Characters": "100"}, "2026-03-15T00:00:00Z")
			// Given back before the answer: the next request finds them.
			if used := e.budgetUsed(e.orgA, "elevenlabs", window); len(nonZero(used)) != 0 {
				t.Fatalf("after an upstream %s, the budget holds %v", voice, used)
			}
		}
		for i := range 2 {
			if r := e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "accepted")); r.Status != 200 {
				t.Fatalf("tts %d: %d %s", i, r.Status, r.Body)
			}
		}
		e.expectBudgetUsed(e.orgA, "elevenlabs", window, aiproxy.Units{aiproxy.UnitRequests: 2, aiproxy.UnitCharacters: 16})
		r := e.call(e.adminA, "org-a", "elevenlabs", "tts", tts("v1", "one too many"))
		assertBody(t, r, 402, `{"detail": "The elevenlabs budget of 2 requests per day is used up.",
			"unit": "requests", "limit": 2, "used": 2, "requested": 1, "resets_at": "2026-03-15T00:00:00Z"}`)
		assertBudgetHeaders(t, r, map[string]string{"Requests": "0", "Characters": "84"}, "2026-03-15T00:00:00Z")
		e.expectCalls("three refused, two accepted", 5)
	})
}

// A call that reached the upstream and got no answer may have run, and been billed: its
// units stay spent.
func TestBudgetUnitsOfACallWithoutAnAnswerStaySpent(t *testing.T) {
	e := newAcctEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("fault") {
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "cut":
			hijackAndClose(t, w)
		}
	})
	e.putBudget("/orgs/org-a/budgets/testsvc/", `{"period": "day", "limits": {"requests": 3}}`)
	assertBody(t, e.call(e.adminA, "org-a", "testsvc", "post-json", `{"path_params": {"item_id": "1"}, "query": {"fault": "hang"}}`), 504, bodyUpstreamTimeout)
	assertBody(t, e.call(e.adminA, "org-a", "testsvc", "post-json", `{"path_params": {"item_id": "1"}, "query": {"fault": "cut"}}`), 502, bodyUpstreamFailed)
	e.expectBudgetUsed(e.orgA, "testsvc", "2026-03-14", aiproxy.Units{aiproxy.UnitRequests: 2})
	// Refused before the upstream (a bad envelope): nothing spent.
	assertBody(t, e.call(e.adminA, "org-a", "testsvc", "post-json", `{}`), 400, `{"error": "Missing required path parameter: item_id"}`)
	e.expectBudgetUsed(e.orgA, "testsvc", "2026-03-14", aiproxy.Units{aiproxy.UnitRequests: 2})
	e.expectUsage(e.adminA, "/orgs/org-a/usage/?group_by=action",
		usageRow{Action: "post-json", Calls: 2, FailedCalls: 2, Refused: 1, Units: units(2, 0, 0)})
}

// crashingLedger stands for a process that dies between reserving budget units and
// settling them: while crashed, commits and releases never happen.
type crashingLedger struct {
	tenancy.BudgetLedger
	crashed atomic.Bool
}

func (l *crashingLedger) Commit(ctx context.Context, r *aiproxy.BudgetReservation) error {
	if l.crashed.Load() {
		return nil
	}
	return l.BudgetLedger.Commit(ctx, r)
}

func (l *crashingLedger) Release(ctx context.Context, r *aiproxy.BudgetReservation) error {
	if l.crashed.Load() {
		return nil
	}
	return l.BudgetLedger.Release(ctx, r)
}

func TestBudgetReservationOfACrashedRequestIsGivenBackWhenItExpires(t *testing.T) {
	const budget = `{"period": "day", "limits": {"requests": 1}}`
	getJSON := func(e *acctEnv) int {
		return e.call(e.adminA, "org-a", "testsvc", "get-json", `{}`).Status
	}
	t.Run("store ledger", func(t *testing.T) {
		var ledger *crashingLedger
		e := newAcctEnv(t, acctOptions{ledger: func(s aiproxy.Store, now func() time.Time) tenancy.BudgetLedger {
			ledger = &crashingLedger{BudgetLedger: budgets.NewStoreLedger(s, budgets.Options{Now: now})}
			return ledger
		}})
		e.putBudget("/orgs/org-a/budgets/testsvc/", budget)
		ledger.crashed.Store(true)
		if s := getJSON(e); s != 200 {
			t.Fatalf("first call: %d", s)
		}
		// The reservation was never settled: it holds the window until it expires.
		if s := getJSON(e); s != 402 {
			t.Fatalf("while the dead reservation holds the budget: %d", s)
		}
		e.clock.Advance(119 * time.Minute)
		if s := getJSON(e); s != 402 {
			t.Fatalf("119 minutes on: %d", s)
		}
		ledger.crashed.Store(false)
		e.clock.Advance(2 * time.Minute)
		if s := getJSON(e); s != 200 {
			t.Fatalf("once the reservation expired: %d, want 200", s)
		}
		e.expectBudgetUsed(e.orgA, "testsvc", "2026-03-14", aiproxy.Units{aiproxy.UnitRequests: 1})
		if s := getJSON(e); s != 402 {
			t.Fatalf("after a settled call: %d", s)
		}
		e.expectCalls("a crash and its recovery", 2)
	})
	t.Run("store counters", func(t *testing.T) {
		e := newAcctEnv(t)
		e.putBudget("/orgs/org-a/budgets/testsvc/", budget)
		ctx := context.Background()
		// A replica reserved a request and died.
		dead := &aiproxy.BudgetReservation{ID: "dead-replica-1", OrgID: e.orgA.ID, Service: "testsvc", Window: "2026-03-14",
			Units: aiproxy.Units{aiproxy.UnitRequests: 1}, ExpiresAt: e.clock.Now().Add(30 * time.Minute)}
		if ok, _, err := e.store.ReserveBudget(ctx, dead, aiproxy.Units{aiproxy.UnitRequests: 1}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if s := getJSON(e); s != 402 {
			t.Fatalf("behind the dead reservation: %d", s)
		}
		if n, err := e.store.ExpireBudgetReservations(ctx, e.clock.Now().Add(29*time.Minute)); n != 0 || err != nil {
			t.Fatalf("sweep before it expires: %d %v", n, err)
		}
		if n, err := e.store.ExpireBudgetReservations(ctx, e.clock.Now().Add(31*time.Minute)); n != 1 || err != nil {
			t.Fatalf("sweep after it expired: %d %v", n, err)
		}
		if s := getJSON(e); s != 200 {
			t.Fatalf("after the sweep: %d", s)
		}
	})
}

func TestBudgetAdminAPIIsForOperatorsAndReadableByTheOrgsAdmins(t *testing.T) {
	e := newAcctEnv(t)
	const set = `{"period": "month", "limits": {"characters": 5000, "requests": 100}}`
	const view = `{"service": "elevenlabs", "period": "month", "limits": {"characters": 5000, "requests": 100}, "updated_at": "2026-03-14T10:30:00Z"}`
	// Only operators set and delete: the budget protects the shared account from the org.
	for _, key := range []string{e.adminA, e.memberA, e.adminB} {
		assertBody(t, e.admCall("PUT", ttsBudget, key, set), 403, admForbidden)
	}
	assertBody(t, e.admCall("PUT", ttsBudget, "", set), 401, admNotProvided)
	assertBody(t, e.admCall("GET", ttsBudget, e.adminA, ""), 404, `{"detail": "Organization 'org-a' has no budget for 'elevenlabs'."}`)
	assertBody(t, e.admCall("PUT", ttsBudget, e.operator, set), 200, view)
	// Its admins read it; its members and other orgs do not.
	assertBody(t, e.admCall("GET", ttsBudget, e.adminA, ""), 200, view)
	assertBody(t, e.admCall("GET", ttsBudget, e.operator, ""), 200, view)
	assertBody(t, e.admCall("GET", ttsBudget, e.memberA, ""), 403, admForbidden)
	assertBody(t, e.admCall("GET", ttsBudget, e.adminB, ""), 403, admForbidden)
	for _, key := range []string{e.adminA, e.memberA, e.adminB} {
		assertBody(t, e.admCall("DELETE", ttsBudget, key, ""), 403, admForbidden)
	}
	// A budget per service, per org.
	assertBody(t, e.admCall("GET", "/orgs/org-a/budgets/heygen/", e.adminA, ""), 404, `{"detail": "Organization 'org-a' has no budget for 'heygen'."}`)
	assertBody(t, e.admCall("GET", "/orgs/org-b/budgets/elevenlabs/", e.adminB, ""), 404, `{"detail": "Organization 'org-b' has no budget for 'elevenlabs'."}`)
	assertBody(t, e.admCall("PUT", "/orgs/org-a/budgets/nope/", e.operator, set), 404, `{"detail": "External proxy service 'nope' not found or disabled."}`)
	assertBody(t, e.admCall("PUT", "/orgs/org-zzz/budgets/elevenlabs/", e.operator, set), 404, `{"detail": "Organization 'org-zzz' not found."}`)

	// Replaced whole: limits not given are gone.
	e.clock.Advance(time.Hour)
	assertBody(t, e.admCall("PUT", ttsBudget, e.operator, `{"period": "day", "limits": {"seconds": 60}}`), 200,
		`{"service": "elevenlabs", "period": "day", "limits": {"seconds": 60}, "updated_at": "2026-03-14T11:30:00Z"}`)
	if r := e.admCall("DELETE", ttsBudget, e.operator, ""); r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	assertBody(t, e.admCall("GET", ttsBudget, e.adminA, ""), 404, `{"detail": "Organization 'org-a' has no budget for 'elevenlabs'."}`)
	assertBody(t, e.admCall("DELETE", ttsBudget, e.operator, ""), 404, `{"detail": "Organization 'org-a' has no budget for 'elevenlabs'."}`)

	// Every change is in the org's audit trail, with the operator as actor.
	var got []auditEntry
	for _, a := range e.audit("/orgs/org-a/audit/") {
		if strings.HasPrefix(a.Action, "budget.") {
			got = append(got, a)
		}
	}
	if len(got) != 3 {
		t.Fatalf("budget audit entries: %d, want 3: %+v", len(got), got)
	}
	want := []struct{ action, before, after string }{ // newest first
		{"budget.delete", `{"service": "elevenlabs", "period": "day", "limits": {"seconds": 60}, "updated_at": "2026-03-14T11:30:00Z"}`, `null`},
		{"budget.set", view, `{"service": "elevenlabs", "period": "day", "limits": {"seconds": 60}, "updated_at": "2026-03-14T11:30:00Z"}`},
		{"budget.set", `null`, view},
	}
	for i, w := range want {
		a := got[i]
		if a.Action != w.action || a.Target != "elevenlabs" || a.Actor != admPrefix(e.operator) {
			t.Errorf("audit %d: %s %s by %s, want %s elevenlabs by the operator", i, a.Action, a.Target, a.Actor, w.action)
		}
		assertJSONEq(t, "audit before", orNull(a.Before), w.before)
		assertJSONEq(t, "audit after", orNull(a.After), w.after)
	}
	// Nothing of it in org-b's.
	for _, a := range e.audit("/orgs/org-b/audit/") {
		if strings.HasPrefix(a.Action, "budget.") {
			t.Errorf("org-b's audit has %s", a.Action)
		}
	}
}

func TestBudgetBadInputIs400NamingTheField(t *testing.T) {
	e := newAcctEnv(t)
	const (
		period = `Field 'period' must be 'day' or 'month'.`
		limits = `Field 'limits' must be an object of positive integers, e.g. {"characters": 100000}.`
	)
	for _, c := range []struct{ body, want string }{
		{`{"limits": {"requests": 10}}`, period},
		{`{"period": "week", "limits": {"requests": 10}}`, period},
		{`{"period": "Day", "limits": {"requests": 10}}`, period},
		{`{"period": 30, "limits": {"requests": 10}}`, period},
		{`{"period": null, "limits": {"requests": 10}}`, period},
		{`{"period": "day"}`, `Field 'limits' must set at least one of requests, characters, seconds.`},
		{`{"period": "day", "limits": {}}`, `Field 'limits' must set at least one of requests, characters, seconds.`},
		{`{"period": "day", "limits": [10]}`, limits},
		{`{"period": "day", "limits": {"requests": "10"}}`, limits},
		{`{"period": "day", "limits": {"requests": 1.5}}`, limits},
		{`{"period": "day", "limits": {"requests": 0}}`, `Field 'limits.requests' must be a positive integer.`},
		{`{"period": "day", "limits": {"characters": -5}}`, `Field 'limits.characters' must be a positive integer.`},
		{`{"period": "day", "limits": {"seconds": null}}`, `Field 'limits.seconds' must be a positive integer.`},
		{`{"period": "day", "limits": {"seconds": 1000000000000000001}}`, `Field 'limits.seconds' must be a positive integer.`},
		{`{"period": "day", "limits": {"credits": 5}}`, `Field 'limits' has an unknown unit 'credits': use requests, characters or seconds.`},
		{`{"period": "day", "limits": {"requests": 5}, "window": "x"}`, `Unknown field 'window'.`},
		{`[]`, `Request body must be a JSON object.`},
		{`{"period": "day"`, `Request body must be a JSON object.`},
	} {
		r := e.admCall("PUT", ttsBudget, e.operator, c.body)
		if r.Status != 400 {
			t.Errorf("%s: %d %s, want 400", c.body, r.Status, r.Body)
			continue
		}
		assertJSONField(t, r, "error", mustJSON(c.want))
	}
	// Nothing was written, nothing audited.
	assertBody(t, e.admCall("GET", ttsBudget, e.operator, ""), 404, `{"detail": "Organization 'org-a' has no budget for 'elevenlabs'."}`)
	for _, a := range e.audit("/orgs/org-a/audit/") {
		if strings.HasPrefix(a.Action, "budget.") {
			t.Errorf("a refused budget was audited: %s", a.Action)
		}
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBudgetIsNeverExceededByConcurrentRequests(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		e.up.set(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
			_, _ = w.Write([]byte(`{}`))
		})
		e.putBudget("/orgs/org-a/budgets/testsvc/", `{"period": "day", "limits": {"requests": 5}}`)
		const n = 20
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- e.call(e.adminA, "org-a", "testsvc", "get-json", `{}`).Status
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[200] != 5 || count[402] != n-5 {
			t.Errorf("statuses %v, want 5 × 200 and %d × 402", count, n-5)
		}
		e.expectCalls("concurrent requests on a budget of 5", 5)
		e.expectBudgetUsed(e.orgA, "testsvc", "2026-03-14", aiproxy.Units{aiproxy.UnitRequests: 5})
	})
}
