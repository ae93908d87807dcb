package httpapi_test

// A provider account shared by many orgs (the platform's key) is safe to share: each org
// reaches only the jobs it created, account lists are cut to its own items without a
// token or a count that tells of others', account-wide actions are refused unless an
// operator allows them, and discovery says so per action. With the org's own key nothing
// is refused, but jobs are recorded all the same. These tests drive the gateway against
// the provider simulators, which (like the providers) give one account's objects to
// whoever holds its key.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

const (
	bodyNotFound      = `{"detail": "Not found."}`
	bodyAccountAction = `{"detail": "This action reads or changes the whole provider account, which this organization shares with others."}`
)

// makeVideo generates a HeyGen video as the org (generate-video) and returns its id and
// the answer.
func (e *acctEnv) makeVideo(key, org, script string) (string, response) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"body": simtest.HeyGenVideoRequest(simAvatar, simVoice, script)})
	r := e.call(key, org, "heygen", "generate-video", string(b))
	if r.Status != http.StatusOK {
		e.t.Fatalf("generate-video as %s: %d %s", org, r.Status, r.Body)
	}
	id, _ := simtest.Get(decode(e.t, r.Body), "data", "video_id").(string)
	if id == "" {
		e.t.Fatalf("generate-video as %s: no video_id in %s", org, r.Body)
	}
	return id, r
}

// videoIDs returns the ids of a v1 video list answer (data.videos[].video_id).
func videoIDs(t *testing.T, r response) []string {
	t.Helper()
	var ids []string
	list, _ := simtest.Get(decode(t, r.Body), "data", "videos").([]any)
	for _, it := range list {
		ids = append(ids, simtest.Get(it, "video_id").(string))
	}
	return ids
}

func TestSharedKeyRecordsEveryCreatedJobWithItsOrigin(t *testing.T) {
	e := newAcctEnv(t, acctOptions{sim: true})
	e.platformPolicy("heygen")
	id, r := e.makeVideo(e.adminA, "org-a", "Alpha's first video.")
	j := e.jobOf("heygen", id)
	if j == nil {
		t.Fatalf("no job recorded for video %s", id)
	}
	if j.OrgID != e.orgA.ID || j.Service != "heygen" || j.Action != "generate-video" || j.UpstreamID != id ||
		j.Source != aiproxy.SourcePlatform || j.RequestID != r.Header.Get("X-Request-Id") || j.RequestID == "" ||
		j.KeyPrefix != admPrefix(e.adminA) || !j.CreatedAt.Equal(acctStart) {
		t.Errorf("job = %+v; want org %d, generate-video, source platform, request %q, key %s, created %v",
			j, e.orgA.ID, r.Header.Get("X-Request-Id"), admPrefix(e.adminA), acctStart)
	}
	// A call that creates nothing records nothing; a failed create records nothing.
	e.call(e.adminA, "org-a", "heygen", "list-voices", `{}`)
	bad := e.call(e.adminA, "org-a", "heygen", "generate-video", `{"body": {"video_inputs": []}}`)
	if bad.Status != http.StatusBadGateway {
		t.Fatalf("generate-video without scenes: %d %s", bad.Status, bad.Body)
	}
	jobs, err := e.store.ListJobs(context.Background(), e.orgA.ID, "", "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].UpstreamID != id {
		t.Errorf("org-a's jobs: %d, want just %s", len(jobs), id)
	}
}

func TestSharedKeyJobOfAnotherOrgIsNotFoundWithoutCallingTheUpstream(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o.withSim())
		e.platformPolicy("heygen")
		alpha, _ := e.makeVideo(e.adminA, "org-a", "Alpha's video.")
		beta, _ := e.makeVideo(e.adminB, "org-b", "Beta's video.")

		// Alpha reads its own video: the call goes upstream.
		n := e.up.count()
		r := e.call(e.adminA, "org-a", "heygen", "video-status", `{"query": {"video_id": "`+alpha+`"}}`)
		if r.Status != http.StatusOK || simtest.Get(decode(t, r.Body), "data", "id") != alpha {
			t.Fatalf("alpha reading its own video: %d %s", r.Status, r.Body)
		}
		e.expectCalls("alpha reading its own video", n+1)

		// Beta, on the same provider account, cannot tell alpha's video from one that does not
		// exist, by any action that names a job, in the query or in the path.
		n = e.up.count()
		for _, c := range []struct{ action, envelope string }{
			{"video-status", `{"query": {"video_id": "` + alpha + `"}}`},
			{"delete-video", `{"query": {"video_id": "` + alpha + `"}}`},
			{"v3-get-video", `{"path_params": {"video_id": "` + alpha + `"}}`},
			{"v3-delete-video", `{"path_params": {"video_id": "` + alpha + `"}}`},
			{"translation-status", `{"path_params": {"video_translate_id": "` + alpha + `"}}`},
			{"video-status", `{"query": {"video_id": "no-such-video-anywhere"}}`},
			{"video-status", `{"query": {"video_id": ""}}`},
			{"delete-video", `{"query": {"video_id": ["", "` + alpha + `"]}}`},
			// Naming its own video first does not let a second value through: which of the two
			// the provider reads is not the gateway's to guess.
			{"video-status", `{"query": {"video_id": ["` + beta + `", "` + alpha + `"]}}`},
			{"delete-video", `{"query": {"video_id": ["` + beta + `", "` + alpha + `"]}}`},
		} {
			assertBody(t, e.call(e.adminB, "org-b", "heygen", c.action, c.envelope), 404, bodyNotFound)
		}
		e.expectCalls("beta naming alpha's video", n)

		// Alpha's video is still there: beta's delete never reached the provider.
		r = e.call(e.adminA, "org-a", "heygen", "video-status", `{"query": {"video_id": "`+alpha+`"}}`)
		if r.Status != http.StatusOK {
			t.Errorf("alpha's video after beta's delete: %d %s", r.Status, r.Body)
		}
		// Beta's own video, named twice, is beta's.
		if r := e.call(e.adminB, "org-b", "heygen", "video-status", `{"query": {"video_id": ["`+beta+`", "`+beta+`"]}}`); r.Status != http.StatusOK {
			t.Errorf("beta reading its own video: %d %s", r.Status, r.Body)
		}
		// Alpha may delete it.
		if r := e.call(e.adminA, "org-a", "heygen", "delete-video", `{"query": {"video_id": "`+alpha+`"}}`); r.Status != http.StatusOK {
			t.Errorf("alpha deleting its own video: %d %s", r.Status, r.Body)
		}
	})
}

func TestSharedKeyJobActionsOfAnotherOrgAreNotFoundOnElevenLabsToo(t *testing.T) {
	e := newAcctEnv(t, acctOptions{sim: true})
	e.platformPolicy("elevenlabs")
	// A dubbing alpha created (recorded as the gateway would have): beta cannot reach it.
	if err := e.store.CreateJob(context.Background(), &aiproxy.Job{OrgID: e.orgA.ID, Service: "elevenlabs", Action: "create-dubbing",
		UpstreamID: "dub-alpha-1", Source: aiproxy.SourcePlatform, RequestID: "r1", KeyPrefix: "k", CreatedAt: acctStart}); err != nil {
		t.Fatal(err)
	}
	n := e.up.count()
	for _, c := range []struct{ action, envelope string }{
		{"get-dubbing", `{"path_params": {"dubbing_id": "dub-alpha-1"}}`},
		{"get-dubbed-audio", `{"path_params": {"dubbing_id": "dub-alpha-1", "language_code": "es"}}`},
		{"delete-dubbing", `{"path_params": {"dubbing_id": "dub-alpha-1"}}`},
		{"delete-voice", `{"path_params": {"voice_id": "someone-elses-voice"}}`},
	} {
		assertBody(t, e.call(e.adminB, "org-b", "elevenlabs", c.action, c.envelope), 404, bodyNotFound)
	}
	e.expectCalls("beta naming alpha's dubbing", n)
}

func TestSharedKeyListIsCutToTheOrgsOwnItemsWithoutTokenOrCount(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o.withSim())
		e.platformPolicy("heygen")
		alpha1, _ := e.makeVideo(e.adminA, "org-a", "Alpha one.")
		beta1, _ := e.makeVideo(e.adminB, "org-b", "Beta one.")
		alpha2, _ := e.makeVideo(e.adminA, "org-a", "Alpha two.")

		// The upstream's first page of one holds alpha's newest video and a token to the next:
		// beta sees an empty page, and no token that would tell it there is more.
		r := e.call(e.adminB, "org-b", "heygen", "list-videos", `{"query": {"limit": "1"}}`)
		assertBody(t, r, 200, `{"code": 100, "data": {"videos": []}, "message": "Success"}`)
		r = e.call(e.adminB, "org-b", "heygen", "list-videos", `{}`)
		if got := strings.Join(videoIDs(t, r), ","); got != beta1 {
			t.Errorf("beta's list: %s, want only %s", got, beta1)
		}
		if data, _ := simtest.Get(decode(t, r.Body), "data").(map[string]any); len(data) != 1 {
			t.Errorf("beta's list data has %v, want only videos", keysOf(data))
		}
		r = e.call(e.adminA, "org-a", "heygen", "list-videos", `{}`)
		if got := strings.Join(videoIDs(t, r), ","); got != alpha2+","+alpha1 {
			t.Errorf("alpha's list: %s, want %s,%s", got, alpha2, alpha1)
		}

		// v3: has_more and next_token go too.
		r = e.call(e.adminB, "org-b", "heygen", "v3-list-videos", `{"query": {"limit": "1"}}`)
		assertBody(t, r, 200, `{"data": []}`)
		r = e.call(e.adminB, "org-b", "heygen", "v3-list-videos", `{"query": {"limit": "2"}}`)
		v := decode(t, r.Body).(map[string]any)
		if list := v["data"].([]any); len(list) != 1 || simtest.Get(list[0], "id") != beta1 || len(v) != 1 {
			t.Errorf("beta's v3 list of two: %s", r.Body)
		}
	})
}

// The list filter on answers the simulators cannot make on demand: counts (list-assets'
// total), items at the root of data (list-talking-photos), numbers as ids.
func TestSharedKeyListFilterDropsCountsAndKeepsOnlyOwnedItems(t *testing.T) {
	e := newAcctEnv(t)
	e.platformPolicy("heygen")
	ctx := context.Background()
	for _, j := range []struct {
		org *aiproxy.Org
		id  string
	}{{e.orgA, "asset-a"}, {e.orgB, "asset-b"}, {e.orgB, "42"}, {e.orgB, "tp-b"}} {
		if err := e.store.CreateJob(ctx, &aiproxy.Job{OrgID: j.org.ID, Service: "heygen", Action: "upload-asset", UpstreamID: j.id,
			Source: aiproxy.SourcePlatform, RequestID: "r", KeyPrefix: "k", CreatedAt: acctStart}); err != nil {
			t.Fatal(err)
		}
	}
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/asset/list":
			_, _ = w.Write([]byte(`{"code": 100, "data": {"assets": [{"id": "asset-a", "name": "alpha's"}, {"id": "asset-b", "name": "beta's"},
				{"id": 42, "name": "beta's numbered"}, {"id": "asset-c", "name": "made in the web app"}, {"name": "no id"}], "total": 5, "token": "next-page"}, "message": "Success"}`))
		case "/v1/talking_photo.list":
			_, _ = w.Write([]byte(`{"code": 100, "data": [{"id": "tp-public"}, {"id": "tp-b"}], "message": "Success"}`))
		}
	})
	assertBody(t, e.call(e.adminB, "org-b", "heygen", "list-assets", `{}`), 200,
		`{"code": 100, "data": {"assets": [{"id": "asset-b", "name": "beta's"}, {"id": 42, "name": "beta's numbered"}]}, "message": "Success"}`)
	assertBody(t, e.call(e.adminA, "org-a", "heygen", "list-assets", `{}`), 200,
		`{"code": 100, "data": {"assets": [{"id": "asset-a", "name": "alpha's"}]}, "message": "Success"}`)
	assertBody(t, e.call(e.adminB, "org-b", "heygen", "list-talking-photos", `{}`), 200,
		`{"code": 100, "data": [{"id": "tp-b"}], "message": "Success"}`)
}

// TestSharedKeyListOfAnUnexpectedShapeIsRefusedNotPassedOn: when the provider's list is not
// where the catalog says (a changed API), the answer is withheld — passing it on unfiltered
// would show other orgs' items — and a null list is an empty one.
func TestSharedKeyListOfAnUnexpectedShapeIsRefusedNotPassedOn(t *testing.T) {
	e := newAcctEnv(t)
	e.platformPolicy("heygen")
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code": 100, "data": {"items": [{"id": "asset-of-org-a"}]}, "message": "Success"}`))
	})
	r := e.call(e.adminB, "org-b", "heygen", "list-assets", `{}`)
	if r.Status != http.StatusBadGateway || strings.Contains(string(r.Body), "asset-of-org-a") {
		t.Errorf("a list moved elsewhere: %d %s, want 502 without its items", r.Status, r.Body)
	}
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code": 100, "data": {"assets": null, "total": 3}, "message": "Success"}`))
	})
	assertBody(t, e.call(e.adminB, "org-b", "heygen", "list-assets", `{}`), 200, `{"code": 100, "data": {"assets": null}, "message": "Success"}`)
}

func TestSharedKeyAccountActionIsForbiddenUnlessAnOperatorAllowsIt(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o.withSim())
		e.platformPolicy("heygen")
		e.platformPolicy("elevenlabs")
		alpha, _ := e.makeVideo(e.adminA, "org-a", "Alpha's video.")
		beta, _ := e.makeVideo(e.adminB, "org-b", "Beta's video.")

		n := e.up.count()
		for _, c := range [][2]string{
			{"heygen", "get-remaining-quota"}, {"heygen", "add-webhook"}, {"heygen", "list-webhooks"},
			{"heygen", "v3-get-current-user"}, {"elevenlabs", "get-history"}, {"elevenlabs", "get-user"},
			{"elevenlabs", "get-subscription"},
		} {
			assertBody(t, e.call(e.adminB, "org-b", c[0], c[1], `{}`), 403, bodyAccountAction)
		}
		e.expectCalls("account actions on the shared key", n)

		// Only an operator may allow them: the org's admin may not.
		const settings = "/orgs/org-b/services/heygen/settings/"
		assertBody(t, e.admCall("PUT", settings, e.adminB, `{"account_actions": "allow"}`), 403, admForbidden)
		assertBody(t, e.admCall("PUT", settings, e.operator, `{"account_actions": "sometimes"}`), 400,
			`{"error": "Field 'account_actions' must be 'allow', 'refuse' or null."}`)
		r := e.admCall("PUT", settings, e.operator, `{"account_actions": "allow"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("operator allowing account actions: %d %s", r.Status, r.Body)
		}
		assertJSONField(t, r, "account_actions", `"allow"`)
		assertJSONField(t, e.admCall("GET", settings, e.adminB, ""), "account_actions", `"allow"`)

		// Allowed for beta on heygen, and only there.
		r = e.call(e.adminB, "org-b", "heygen", "get-remaining-quota", `{}`)
		if r.Status != http.StatusOK || simtest.Get(decode(t, r.Body), "data", "remaining_quota") == nil {
			t.Errorf("beta's quota once allowed: %d %s", r.Status, r.Body)
		}
		e.expectCalls("an allowed account action", n+1)
		// An allowed list is the whole account's: nothing is cut.
		r = e.call(e.adminB, "org-b", "heygen", "list-videos", `{}`)
		if got := strings.Join(videoIDs(t, r), ","); got != beta+","+alpha {
			t.Errorf("beta's allowed list: %s, want %s,%s", got, beta, alpha)
		}
		assertBody(t, e.call(e.adminA, "org-a", "heygen", "get-remaining-quota", `{}`), 403, bodyAccountAction)
		assertBody(t, e.call(e.adminB, "org-b", "elevenlabs", "get-history", `{}`), 403, bodyAccountAction)
		// Jobs stay owned even when account actions are allowed.
		assertBody(t, e.call(e.adminB, "org-b", "heygen", "video-status", `{"query": {"video_id": "`+alpha+`"}}`), 404, bodyNotFound)

		// Clearing the setting refuses again.
		if r := e.admCall("PUT", settings, e.operator, `{"account_actions": null}`); r.Status != http.StatusOK {
			t.Fatalf("clearing account_actions: %d %s", r.Status, r.Body)
		}
		assertBody(t, e.call(e.adminB, "org-b", "heygen", "get-remaining-quota", `{}`), 403, bodyAccountAction)

		// Both changes are in beta's audit trail, with what was before and after.
		var changes []auditEntry
		for _, a := range e.audit("/orgs/org-b/audit/") {
			if a.Action == "service.settings" && a.Target == "heygen" {
				changes = append(changes, a)
			}
		}
		if len(changes) != 2 {
			t.Fatalf("service.settings entries for heygen in org-b's audit: %d, want 2", len(changes))
		}
		for i, want := range []struct{ before, after string }{{`"allow"`, `null`}, {`null`, `"allow"`}} { // newest first
			var before, after map[string]json.RawMessage
			_ = json.Unmarshal(changes[i].Before, &before)
			_ = json.Unmarshal(changes[i].After, &after)
			if got := string(orNull(before["account_actions"])); got != want.before {
				t.Errorf("audit %d: before account_actions = %s, want %s (%s)", i, got, want.before, changes[i].Before)
			}
			if got := string(orNull(after["account_actions"])); got != want.after {
				t.Errorf("audit %d: after account_actions = %s, want %s (%s)", i, got, want.after, changes[i].After)
			}
			if changes[i].Actor != admPrefix(e.operator) {
				t.Errorf("audit %d: actor %q, want the operator's prefix", i, changes[i].Actor)
			}
		}
	})
}

func orNull(m json.RawMessage) json.RawMessage {
	if m == nil {
		return json.RawMessage("null")
	}
	return m
}

func TestTenantKeyRefusesNothingAndStillRecordsJobs(t *testing.T) {
	e := newAcctEnv(t, acctOptions{sim: true})
	e.platformPolicy("heygen")
	e.tenantPolicy("heygen", e.orgA) // org-a uses its own HeyGen account
	beta, _ := e.makeVideo(e.adminB, "org-b", "Beta, on the shared account.")
	alpha1, _ := e.makeVideo(e.adminA, "org-a", "Alpha, on its own account.")
	alpha2, _ := e.makeVideo(e.adminA, "org-a", "Alpha again.")
	if got := e.up.last(t).Header.Get("X-Api-Key"); got != heygenKey {
		t.Fatalf("org-a's call used key %q, want its own", got)
	}
	j := e.jobOf("heygen", alpha1)
	if j == nil || j.OrgID != e.orgA.ID || j.Source != aiproxy.SourceTenant {
		t.Fatalf("org-a's job on its own key: %+v", j)
	}
	n := e.up.count()
	// Account actions go through, and lists are the account's own, token and all.
	if r := e.call(e.adminA, "org-a", "heygen", "get-remaining-quota", `{}`); r.Status != http.StatusOK {
		t.Errorf("quota on the tenant key: %d %s", r.Status, r.Body)
	}
	r := e.call(e.adminA, "org-a", "heygen", "list-videos", `{"query": {"limit": "1"}}`)
	if got := strings.Join(videoIDs(t, r), ","); got != alpha2 || simtest.Get(decode(t, r.Body), "data", "token") == nil {
		t.Errorf("first page on the tenant key: %s", r.Body)
	}
	// A job the gateway did not record, or another org's, is the provider's to answer.
	r = e.call(e.adminA, "org-a", "heygen", "video-status", `{"query": {"video_id": "`+beta+`"}}`)
	if r.Status != http.StatusBadGateway || !strings.Contains(string(r.Body), `"upstream_status":404`) {
		t.Errorf("beta's video read on alpha's own account: %d %s", r.Status, r.Body)
	}
	e.expectCalls("the tenant key", n+3)
}

func TestDiscoverySaysHowEachActionMayBeUsedOnTheSharedAccount(t *testing.T) {
	e := newAcctEnv(t)
	e.platformPolicy("heygen")
	e.tenantPolicy("heygen", e.orgA)
	shared := func(key, org string) map[string][2]string {
		t.Helper()
		r := e.do("GET", "/api/ai-proxy/orgs/"+org+"/services/heygen/", "Api-Key "+key, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("discovery: %d %s", r.Status, r.Body)
		}
		var d struct {
			Endpoints []struct {
				Slug          string `json:"slug"`
				AccountScope  string `json:"account_scope"`
				SharedAccount string `json:"shared_account"`
			} `json:"endpoints"`
		}
		admJSON(t, r, &d)
		out := map[string][2]string{}
		for _, ep := range d.Endpoints {
			out[ep.Slug] = [2]string{ep.AccountScope, ep.SharedAccount}
		}
		return out
	}
	want := map[string][2]string{
		"list-voices":         {"public", "open"},
		"v3-speech":           {"public", "open"},
		"generate-video":      {"job", "own_jobs"},
		"video-status":        {"job", "own_jobs"},
		"v3-delete-video":     {"job", "own_jobs"},
		"list-videos":         {"account", "filtered"},
		"v3-list-videos":      {"account", "filtered"},
		"list-assets":         {"account", "filtered"},
		"get-remaining-quota": {"account", "refused"},
		"add-webhook":         {"account", "refused"},
	}
	beta := shared(e.adminB, "org-b")
	for slug, w := range want {
		if beta[slug] != w {
			t.Errorf("org-b on the shared key: %s = %v, want %v", slug, beta[slug], w)
		}
	}
	for slug, v := range beta {
		if v[0] == "" || v[1] == "" {
			t.Errorf("%s: account_scope %q, shared_account %q", slug, v[0], v[1])
		}
	}
	// On its own key, nothing of org-a's is shared.
	for slug, v := range shared(e.adminA, "org-a") {
		if v[1] != tenancy.SharedNotShared {
			t.Errorf("org-a on its own key: %s shared_account = %q, want not_shared", slug, v[1])
		}
	}
	// Once an operator allows account actions for org-b, they (lists too) are "allowed".
	if r := e.admCall("PUT", "/orgs/org-b/services/heygen/settings/", e.operator, `{"account_actions": "allow"}`); r.Status != http.StatusOK {
		t.Fatal(r.Status, string(r.Body))
	}
	beta = shared(e.adminB, "org-b")
	for slug, w := range map[string]string{"get-remaining-quota": "allowed", "list-videos": "allowed", "video-status": "own_jobs", "list-voices": "open"} {
		if beta[slug][1] != w {
			t.Errorf("org-b allowed: %s = %q, want %q", slug, beta[slug][1], w)
		}
	}
}
