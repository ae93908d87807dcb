package httpapi_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func hasAll(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q (has %v)", what, k, keysOf(m))
		}
	}
}

func TestServiceListHasTheDocumentedShape(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/ai-proxy/orgs/org-a/services/", "Api-Key "+e.memberA, nil)
	var list []map[string]any
	if err := json.Unmarshal(r.Body, &list); err != nil || r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	bySlug := map[string]map[string]any{}
	for _, s := range list {
		hasAll(t, "service", s, "slug", "display_name", "service_type", "is_enabled", "supports_async_jobs", "supports_streaming", "credential_name", "endpoint_count")
		bySlug[s["slug"].(string)] = s
	}
	hg, el := bySlug["heygen"], bySlug["elevenlabs"]
	if hg == nil || el == nil {
		t.Fatalf("services: %s", r.Body)
	}
	if hg["display_name"] != "HeyGen" || hg["service_type"] != "video" || hg["supports_streaming"] != false || hg["supports_async_jobs"] != true ||
		hg["credential_name"] != "heygen" || hg["endpoint_count"] != float64(71) || hg["is_enabled"] != true {
		t.Errorf("heygen summary: %v", hg)
	}
	if el["service_type"] != "tts" || el["supports_streaming"] != true || el["endpoint_count"] != float64(57) {
		t.Errorf("elevenlabs summary: %v", el)
	}
}

func TestServiceDetailHasTheDocumentedShapeAndRealBaseURL(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/ai-proxy/orgs/org-a/services/elevenlabs/", "Token "+e.memberA, nil)
	d := r.json(t)
	hasAll(t, "detail", d, "slug", "display_name", "base_url", "service_type", "auth_mode", "is_enabled", "supports_async_jobs",
		"supports_streaming", "default_timeout_seconds", "credential_name", "credential_policy", "credential_schema", "endpoints")
	if d["base_url"] != "https://api.elevenlabs.io" {
		t.Errorf("base_url = %v: discovery must show the real provider URL even when pointed at a simulator", d["base_url"])
	}
	if d["auth_mode"] != "header" || d["default_timeout_seconds"] != float64(60) {
		t.Errorf("detail: %v", d)
	}
	assertJSONField(t, r, "credential_schema", `{"key": "string"}`)
	eps := d["endpoints"].([]any)
	var tts map[string]any
	for _, x := range eps {
		ep := x.(map[string]any)
		hasAll(t, "endpoint", ep, "slug", "path_template", "http_method", "request_mode", "response_mode", "supports_streaming", "callback_mode", "is_enabled")
		if ep["slug"] == "tts" {
			tts = ep
		}
	}
	if tts == nil || tts["path_template"] != "/v1/text-to-speech/{voice_id}" || tts["http_method"] != "POST" ||
		tts["request_mode"] != "json" || tts["response_mode"] != "passthrough" || tts["callback_mode"] != "none" || tts["is_enabled"] != true {
		t.Errorf("tts endpoint: %v", tts)
	}
	if len(eps) != 57 {
		t.Errorf("%d endpoints, want 57", len(eps))
	}
	hg := e.do("GET", "/api/ai-proxy/orgs/org-a/services/heygen/", "Token "+e.memberA, nil)
	if strings.Contains(string(hg.Body), `"get-asset"`) || strings.Contains(string(hg.Body), `"generate-talking-photo"`) {
		t.Error("discovery offers actions whose upstream path does not exist")
	}
	if !strings.Contains(string(hg.Body), `"slug":"video-status"`) {
		t.Errorf("heygen detail lacks video-status: %s", hg.Body)
	}
}

func TestScopedKeysDiscoverOnlyWhatTheyMayInvoke(t *testing.T) {
	e := newEnv(t)
	k := e.key(e.orgA, aiproxy.RoleMember, []string{"elevenlabs:tts*"})
	r := e.do("GET", "/api/ai-proxy/orgs/org-a/services/", "Api-Key "+k, nil)
	if strings.Contains(string(r.Body), "heygen") || !strings.Contains(string(r.Body), `"endpoint_count":6`) { // tts, tts-stream, tts-timestamps, tts-stream-timestamps, tts-websocket, tts-multi-context
		t.Errorf("scoped discovery: %s", r.Body)
	}
	assertBody(t, e.invokeAs(k, "org-a", "elevenlabs", "list-voices", `{}`), 403, `{"detail": "You do not have permission to perform this action."}`)
	if r := e.invokeAs(k, "org-a", "elevenlabs", "tts", `{"path_params": {"voice_id": "v"}}`); r.Status != 200 {
		t.Errorf("in-scope invoke: %d %s", r.Status, r.Body)
	}
}
