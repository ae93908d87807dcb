package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// native sends a provider-native request to the shipped gateway as org, with the gateway
// key in HeyGen's own header (as HeyGen's CLI sends its key), and returns the answer.
func (e *e2eEnv) native(org, key, method, service, path, body string, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.proxy.URL+httpapi.DefaultPrefix+"/orgs/"+org+"/native/"+service+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.proxy.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestE2ENativeHeyGenCallsKeepTheSharedAccountsRules: HeyGen's own requests through the
// native route, two orgs on the platform's key: a video made that way is the org's job
// (listed in its jobs), another org reading or deleting it is the gateway's 404, an
// Idempotency-Key makes one video of two requests, and a path HeyGen has but the catalog
// does not is 404 without reaching HeyGen.
func TestE2ENativeHeyGenCallsKeepTheSharedAccountsRules(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	e.sharePlatformKey("heygen", "hg-platform-shared-key-native")
	otherKey := e.addOrg("other", "hg-other-tenant-key", "el-other-tenant-key")

	look := e.v3First("avatar looks", "v3-list-avatar-looks", nil)
	create := `{"type": "avatar", "avatar_id": "` + jstr(t, look, "id") + `", "script": "Hello through the native route.",
		"voice_id": "f38a635bee7a4d1f9b0a654a31d050d2", "test": true}`
	status, _, b := e.native(e2eOrg, e.key, "POST", "heygen", "/v3/videos", create, "Idempotency-Key", "native-video-1")
	if status != http.StatusOK {
		t.Fatalf("POST /v3/videos: %d %s", status, b)
	}
	id := jstr(t, e2eDecode(t, b), "data", "video_id")
	recordInvoked("heygen", "v3-create-video")

	// The same Idempotency-Key again: the same video, not a second one.
	status, hdr, b := e.native(e2eOrg, e.key, "POST", "heygen", "/v3/videos", create, "Idempotency-Key", "native-video-1")
	if status != http.StatusOK || jstr(t, e2eDecode(t, b), "data", "video_id") != id {
		t.Errorf("replayed POST /v3/videos: %d %s (Idempotent-Replayed %q), want video %s", status, b, hdr.Get("Idempotent-Replayed"), id)
	}

	// The org's job, as if it had been invoked.
	req, _ := http.NewRequest("GET", e.proxy.URL+httpapi.DefaultPrefix+"/orgs/"+e2eOrg+"/jobs/?service=heygen", nil)
	req.Header.Set("Authorization", "Api-Key "+e.key)
	resp, err := e.proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	jobs := jlist(t, e2eDecode(t, jb), "results")
	if len(jobs) != 1 || jget(jobs[0], "upstream_job_id") != id || jget(jobs[0], "action") != "v3-create-video" {
		t.Errorf("org's jobs after a native create: %s", jb)
	}

	// The org reads its video; the other org, on the same HeyGen account, cannot.
	if status, _, b := e.native(e2eOrg, e.key, "GET", "heygen", "/v3/videos/"+id, ""); status != http.StatusOK || jstr(t, e2eDecode(t, b), "data", "id") != id {
		t.Errorf("the org's own video: %d %s", status, b)
	}
	for _, method := range []string{"GET", "DELETE"} {
		status, _, b := e.native("other", otherKey, method, "heygen", "/v3/videos/"+id, "")
		if status != http.StatusNotFound || jget(e2eDecode(t, b), "detail") != "Not found." {
			t.Errorf("%s another org's video: %d %s, want the gateway's 404", method, status, b)
		}
	}

	// A path HeyGen has but the catalog does not: the gateway's 404 (its own words).
	if status, _, b := e.native(e2eOrg, e.key, "GET", "heygen", "/v3/api_keys/self", ""); status != http.StatusNotFound || !strings.Contains(string(b), "native route serves only the catalog") {
		t.Errorf("a path outside the catalog: %d %s", status, b)
	}
}
