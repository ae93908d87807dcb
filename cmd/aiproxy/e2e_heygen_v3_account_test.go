package main

import (
	"net/http"
	"strings"
	"testing"
)

// End-to-end tests of HeyGen's v3 management actions (avatar consent, renames and deletes,
// video batches and bulk statuses, the translation list and delete, webhook updates,
// secrets, event types and event history, the sound catalog): on the org's own key, then
// on a provider account that two orgs share, where each org reaches only its own objects.

const e2eV3Voice = "f38a635bee7a4d1f9b0a654a31d050d2"

// v3Avatar creates a photo avatar (a new group) from an image URL and waits for the look
// to be trained; it returns the look and group ids.
func (e *e2eEnv) v3Avatar(org, key, name string) (look, group string) {
	e.t.Helper()
	status, _, b := e.invokeAs(org, key, "heygen", "v3-create-avatar", map[string]any{"body": map[string]any{
		"type": "photo", "name": name, "file": map[string]any{"type": "url", "url": "https://media.example.test/" + org + ".png"}}})
	if status != http.StatusOK {
		e.t.Fatalf("v3-create-avatar as %s: %d %s", org, status, b)
	}
	res := e2eDecode(e.t, b)
	look, group = jstr(e.t, res, "data", "avatar_item", "id"), jstr(e.t, res, "data", "avatar_group", "id")
	e2ePoll(e.t, "look "+look, func() bool {
		_, _, b := e.invokeAs(org, key, "heygen", "v3-get-avatar-look", e2ePathParams("look_id", look))
		return jget(e2eDecode(e.t, b), "data", "status") == "completed"
	})
	return look, group
}

func TestE2EHeyGenV3AvatarManagement(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	look, group := e.v3Avatar(e2eOrg, e.key, "Presenter")

	res := e.call("heygen", "v3-avatar-consent", map[string]any{"path_params": map[string]any{"group_id": group},
		"body": map[string]any{"reroute_url": "https://app.example.test/consented"}})
	if !strings.HasPrefix(jstr(t, res, "data", "url"), "https://") || jget(res, "data", "avatar_group", "consent_status") != "pending" {
		t.Errorf("v3-avatar-consent: %v", res)
	}
	res = e.call("heygen", "v3-update-avatar-look", map[string]any{"path_params": map[string]any{"look_id": look},
		"body": map[string]any{"name": "Presenter, renamed"}})
	if jget(res, "data", "name") != "Presenter, renamed" {
		t.Errorf("v3-update-avatar-look: %v", res)
	}
	if res = e.call("heygen", "v3-delete-avatar-look", e2ePathParams("look_id", look)); jget(res, "data", "id") != look {
		t.Errorf("v3-delete-avatar-look: %v", res)
	}
	// The group went with its last look; a second avatar's group is deleted directly.
	if status, _, b := e.invoke("heygen", "v3-get-avatar-group", e2ePathParams("group_id", group)); status != http.StatusBadGateway {
		t.Errorf("group after its last look's delete: %d %s", status, b)
	}
	_, group2 := e.v3Avatar(e2eOrg, e.key, "Second")
	if res = e.call("heygen", "v3-delete-avatar-group", e2ePathParams("group_id", group2)); jget(res, "data", "id") != group2 {
		t.Errorf("v3-delete-avatar-group: %v", res)
	}
}

func TestE2EHeyGenV3BatchesTranslationsWebhooksAndSounds(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	hookURL := e2eWebhookSink(t)
	ep := e.call("heygen", "v3-create-webhook-endpoint", map[string]any{"body": map[string]any{"url": hookURL + "/first"}})
	epID := jstr(t, ep, "data", "endpoint_id")
	res := e.call("heygen", "v3-update-webhook-endpoint", map[string]any{"path_params": map[string]any{"endpoint_id": epID},
		"body": map[string]any{"url": hookURL + "/v3", "events": []string{"avatar_video.success", "batch.finished"}}})
	if jget(res, "data", "url") != hookURL+"/v3" || len(jlist(t, res, "data", "events")) != 2 {
		t.Errorf("v3-update-webhook-endpoint: %v", res)
	}
	res = e.call("heygen", "v3-rotate-webhook-secret", e2ePathParams("endpoint_id", epID))
	if s := jstr(t, res, "data", "secret"); s == jget(ep, "data", "secret") {
		t.Errorf("v3-rotate-webhook-secret kept the secret")
	}
	types := jlist(t, e.call("heygen", "v3-list-webhook-event-types", nil), "data")
	if !e2eContainsID(types, "event_type", "batch.finished") {
		t.Errorf("v3-list-webhook-event-types lacks batch.finished: %v", types)
	}

	// A batch of two videos, read by bulk statuses until both are done.
	item := func(script string) map[string]any {
		return map[string]any{"type": "avatar", "avatar_id": "Abigail_expressive_2024112501", "script": script, "voice_id": e2eV3Voice, "test": true}
	}
	status, _, b := e.invoke("heygen", "v3-create-video-batch", map[string]any{"body": map[string]any{
		"title": "Launch", "videos": []any{item("First of the batch."), item("Second of the batch.")}}})
	if status != http.StatusAccepted {
		t.Fatalf("v3-create-video-batch: %d %s", status, b)
	}
	batch := jstr(t, e2eDecode(t, b), "data", "batch_id")
	var videos []string
	e2ePoll(t, "batch "+batch, func() bool {
		st := e.call("heygen", "v3-get-video-statuses", map[string]any{"query": map[string]any{"batch_ids": batch}})
		videos = nil
		for _, it := range jlist(t, st, "data") {
			if jget(it, "status") != "completed" {
				return false
			}
			videos = append(videos, jstr(t, it, "video_id"))
		}
		return len(videos) == 2
	})
	// By video ids: a comma list, as HeyGen documents it, on the org's own key.
	st := jlist(t, e.call("heygen", "v3-get-video-statuses", map[string]any{"query": map[string]any{"video_ids": strings.Join(videos, ",")}}), "data")
	if len(st) != 2 || jget(st[1], "video_id") != videos[1] || jget(st[1], "status") != "completed" {
		t.Errorf("v3-get-video-statuses by video ids: %v", st)
	}
	// The events sent, newest first, by type.
	e2ePoll(t, "batch.finished event", func() bool {
		ev := e.call("heygen", "v3-list-webhook-events", map[string]any{"query": map[string]any{"event_type": "batch.finished"}})
		items := jlist(t, ev, "data")
		return len(items) == 1 && jget(items[0], "event_data", "batch_id") == batch
	})

	// Translations: listed, one deleted.
	res = e.call("heygen", "v3-create-video-translation", map[string]any{"body": map[string]any{
		"video": map[string]any{"type": "url", "url": "https://media.example.test/talk.mp4"}, "output_languages": []string{"Spanish", "French"}}})
	ids := jlist(t, res, "data", "video_translation_ids")
	list := jlist(t, e.call("heygen", "v3-list-video-translations", map[string]any{"query": map[string]any{"limit": 10}}), "data")
	if len(list) != 2 || !e2eContainsID(list, "id", ids[0].(string)) {
		t.Errorf("v3-list-video-translations: %v", list)
	}
	if res = e.call("heygen", "v3-delete-video-translation", e2ePathParams("video_translation_id", ids[0])); jget(res, "data", "id") != ids[0] {
		t.Errorf("v3-delete-video-translation: %v", res)
	}
	if list = jlist(t, e.call("heygen", "v3-list-video-translations", nil), "data"); len(list) != 1 {
		t.Errorf("v3-list-video-translations after a delete: %v", list)
	}

	// The sound catalog; query is required.
	sounds := jlist(t, e.call("heygen", "v3-search-sounds", map[string]any{"query": map[string]any{"query": "whoosh", "type": "sound_effects"}}), "data")
	if len(sounds) == 0 || !strings.HasPrefix(jstr(t, sounds[0], "audio_url"), "http") {
		t.Errorf("v3-search-sounds: %v", sounds)
	}
	// required_query is informational: the provider's 400 comes back as the gateway's 502.
	status, _, b = e.invoke("heygen", "v3-search-sounds", nil)
	if res := e2eDecode(t, b); status != http.StatusBadGateway || jget(res, "upstream_status") != float64(400) ||
		jget(res, "upstream_body", "error", "param") != "query" {
		t.Errorf("v3-search-sounds without query: %d %s", status, b)
	}
}

// TestE2EHeyGenV3ManagementOnASharedAccount: two orgs on the platform's HeyGen key. Each
// reaches its own groups, looks and translations only (another org's is 404, as if it did
// not exist), sees only its own translations and video statuses, and cannot manage or read
// the account's webhooks; catalog data (event types, sounds) is open.
func TestE2EHeyGenV3ManagementOnASharedAccount(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	e.sharePlatformKey("heygen", "hg-platform-shared-key-e2e")
	otherKey := e.addOrg("other", "hg-other-tenant-key", "el-other-tenant-key")
	a := func(action string, envelope any) (int, any) {
		t.Helper()
		status, _, b := e.invoke("heygen", action, envelope)
		return status, e2eDecode(t, b)
	}
	b := func(action string, envelope any) (int, any) {
		t.Helper()
		status, _, body := e.invokeAs("other", otherKey, "heygen", action, envelope)
		return status, e2eDecode(t, body)
	}
	notFound := func(what string, status int, res any) {
		t.Helper()
		if status != http.StatusNotFound || jget(res, "detail") != "Not found." {
			t.Errorf("%s: %d %v, want 404 Not found.", what, status, res)
		}
	}

	// Avatars: the other org can neither consent for, rename nor delete the org's.
	look, group := e.v3Avatar(e2eOrg, e.key, "Org presenter")
	status, res := b("v3-avatar-consent", e2ePathParams("group_id", group))
	notFound("consent for another org's group", status, res)
	status, res = b("v3-update-avatar-look", map[string]any{"path_params": map[string]any{"look_id": look}, "body": map[string]any{"name": "x"}})
	notFound("rename another org's look", status, res)
	status, res = b("v3-delete-avatar-look", e2ePathParams("look_id", look))
	notFound("delete another org's look", status, res)
	status, res = b("v3-delete-avatar-group", e2ePathParams("group_id", group))
	notFound("delete another org's group", status, res)
	// Nor the org the other's; each still reaches its own.
	_, otherGroup := e.v3Avatar("other", otherKey, "Other presenter")
	status, res = a("v3-avatar-consent", e2ePathParams("group_id", otherGroup))
	notFound("consent for the other org's group", status, res)
	if status, res = a("v3-avatar-consent", e2ePathParams("group_id", group)); status != http.StatusOK {
		t.Errorf("consent for the org's own group: %d %v", status, res)
	}
	if status, res = a("v3-update-avatar-look", map[string]any{"path_params": map[string]any{"look_id": look}, "body": map[string]any{"name": "Mine"}}); status != http.StatusOK {
		t.Errorf("rename the org's own look: %d %v", status, res)
	}
	if status, res = a("v3-delete-avatar-group", e2ePathParams("group_id", group)); status != http.StatusOK {
		t.Errorf("delete the org's own group: %d %v", status, res)
	}

	// Batches and statuses: the batch is the org's job, and statuses an account list.
	status, res = a("v3-create-video-batch", map[string]any{"body": map[string]any{"videos": []any{map[string]any{
		"type": "avatar", "avatar_id": "Abigail_expressive_2024112501", "script": "Shared batch.", "voice_id": e2eV3Voice, "test": true}}}})
	if status != http.StatusAccepted {
		t.Fatalf("v3-create-video-batch: %d %v", status, res)
	}
	batch := jstr(t, res, "data", "batch_id")
	status, res = a("v3-create-video", map[string]any{"body": map[string]any{
		"type": "avatar", "avatar_id": "Abigail_expressive_2024112501", "script": "Shared video.", "voice_id": e2eV3Voice, "test": true}})
	if status != http.StatusOK {
		t.Fatalf("v3-create-video: %d %v", status, res)
	}
	video := jstr(t, res, "data", "video_id")
	otherVideo := ""
	if status, res = b("v3-create-video", map[string]any{"body": map[string]any{
		"type": "avatar", "avatar_id": "Abigail_expressive_2024112501", "script": "Other video.", "voice_id": e2eV3Voice, "test": true}}); status == http.StatusOK {
		otherVideo = jstr(t, res, "data", "video_id")
	}
	// Statuses are cut to the org's own videos: another org's, and the batch's (whose
	// videos the gateway never saw created), are left out, a comma list included.
	statuses := func(call func(string, any) (int, any), query map[string]any) []any {
		t.Helper()
		status, res := call("v3-get-video-statuses", map[string]any{"query": query})
		if status != http.StatusOK || jget(res, "has_more") != nil {
			t.Fatalf("v3-get-video-statuses %v: %d %v", query, status, res)
		}
		return jlist(t, res, "data")
	}
	if st := statuses(a, map[string]any{"video_ids": video + "," + otherVideo, "batch_ids": batch}); len(st) != 1 || jget(st[0], "video_id") != video {
		t.Errorf("the org's statuses: %v", st)
	}
	if st := statuses(b, map[string]any{"video_ids": video, "batch_ids": batch}); len(st) != 0 {
		t.Errorf("the other org sees the org's statuses: %v", st)
	}
	if st := statuses(b, map[string]any{"video_ids": []string{otherVideo, video}}); len(st) != 1 || jget(st[0], "video_id") != otherVideo {
		t.Errorf("the other org's statuses: %v", st)
	}

	// Translations: each org lists and deletes its own.
	status, res = a("v3-create-video-translation", map[string]any{"body": map[string]any{
		"video": map[string]any{"type": "url", "url": "https://media.example.test/org.mp4"}, "output_languages": []string{"Spanish"}}})
	if status != http.StatusOK {
		t.Fatalf("translation: %d %v", status, res)
	}
	mine := jstr(t, res, "data", "video_translation_ids", 0)
	status, res = b("v3-create-video-translation", map[string]any{"body": map[string]any{
		"video": map[string]any{"type": "url", "url": "https://media.example.test/other.mp4"}, "output_languages": []string{"French"}}})
	if status != http.StatusOK {
		t.Fatalf("other translation: %d %v", status, res)
	}
	theirs := jstr(t, res, "data", "video_translation_ids", 0)
	_, res = a("v3-list-video-translations", nil)
	if list := jlist(t, res, "data"); len(list) != 1 || jget(list[0], "id") != mine || jget(res, "next_token") != nil {
		t.Errorf("the org's translation list: %v", res)
	}
	status, res = a("v3-delete-video-translation", e2ePathParams("video_translation_id", theirs))
	notFound("delete another org's translation", status, res)
	if status, res = b("v3-delete-video-translation", e2ePathParams("video_translation_id", theirs)); status != http.StatusOK {
		t.Errorf("delete the other org's own translation: %d %v", status, res)
	}

	// Webhooks: the account's, refused; the event catalog and the sound catalog are open.
	for _, tc := range []struct {
		action   string
		envelope any
	}{
		{"v3-update-webhook-endpoint", map[string]any{"path_params": map[string]any{"endpoint_id": "ep"}, "body": map[string]any{"url": "https://hooks.example.test/"}}},
		{"v3-rotate-webhook-secret", e2ePathParams("endpoint_id", "ep")},
		{"v3-list-webhook-events", nil},
	} {
		if status, res = a(tc.action, tc.envelope); status != http.StatusForbidden {
			t.Errorf("%s on a shared key: %d %v, want 403", tc.action, status, res)
		}
	}
	if status, res = a("v3-list-webhook-event-types", nil); status != http.StatusOK {
		t.Errorf("v3-list-webhook-event-types on a shared key: %d %v", status, res)
	}
	if status, res = b("v3-search-sounds", map[string]any{"query": map[string]any{"query": "upbeat"}}); status != http.StatusOK {
		t.Errorf("v3-search-sounds on a shared key: %d %v", status, res)
	}
}
