package heygen

import (
	"net/url"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func TestV3AvatarConsentRenameAndDeletes(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	photo := map[string]any{"type": "url", "url": "https://example.com/me.png"}
	cr := call3(t, ts, "POST", "/v3/avatars", "k1", map[string]any{"type": "photo", "name": "Me", "file": photo})
	look, group := str(cr.body, "data", "avatar_item", "id"), str(cr.body, "data", "avatar_group", "id")
	look2 := str(call3(t, ts, "POST", "/v3/avatars", "k1", map[string]any{"type": "photo", "name": "Me 2", "file": photo, "avatar_group_id": group}).body, "data", "avatar_item", "id")
	if look == "" || group == "" || look2 == "" {
		t.Fatalf("create: %s", cr.raw)
	}

	// Consent: a link and pending, then approved by a consent video.
	c1 := call3(t, ts, "POST", "/v3/avatars/"+group+"/consent", "k1", map[string]any{"reroute_url": "https://example.com/done"})
	if c1.status != 200 || str(c1.body, "data", "url") == "" || str(c1.body, "data", "avatar_group", "consent_status") != "pending" {
		t.Fatalf("consent link: %d %s", c1.status, c1.raw)
	}
	c2 := call3(t, ts, "POST", "/v3/avatars/"+group+"/consent", "k1", map[string]any{"consent_video": map[string]any{"type": "url", "url": "https://example.com/ok.mp4"}})
	if _, hasURL := get(c2.body, "data").(map[string]any)["url"]; hasURL || str(c2.body, "data", "avatar_group", "consent_status") != "approved" {
		t.Fatalf("consent video: %s", c2.raw)
	}
	if g := call3(t, ts, "GET", "/v3/avatars/"+group, "k1", nil); str(g.body, "data", "consent_status") != "approved" {
		t.Fatalf("group after consent: %s", g.raw)
	}

	// Rename, then delete one look; deleting the last look deletes the group.
	rn := call3(t, ts, "PATCH", "/v3/avatars/looks/"+look, "k1", map[string]any{"name": "Renamed"})
	if rn.status != 200 || str(rn.body, "data", "name") != "Renamed" || str(rn.body, "data", "id") != look {
		t.Fatalf("rename: %d %s", rn.status, rn.raw)
	}
	if d := call3(t, ts, "DELETE", "/v3/avatars/looks/"+look2, "k1", nil); str(d.body, "data", "id") != look2 {
		t.Fatalf("delete look: %s", d.raw)
	}
	if g := call3(t, ts, "GET", "/v3/avatars/"+group, "k1", nil); get(g.body, "data", "looks_count") != 1.0 {
		t.Fatalf("group after a look's delete: %s", g.raw)
	}
	if d := call3(t, ts, "DELETE", "/v3/avatars/looks/"+look, "k1", nil); d.status != 200 {
		t.Fatalf("delete last look: %s", d.raw)
	}
	if g := call3(t, ts, "GET", "/v3/avatars/"+group, "k1", nil); g.status != 404 {
		t.Fatalf("group survives its last look: %d %s", g.status, g.raw)
	}

	// Deleting a group takes its looks.
	cr = call3(t, ts, "POST", "/v3/avatars", "k1", map[string]any{"type": "photo", "name": "Other", "file": photo})
	look, group = str(cr.body, "data", "avatar_item", "id"), str(cr.body, "data", "avatar_group", "id")
	if d := call3(t, ts, "DELETE", "/v3/avatars/"+group, "k1", nil); d.status != 200 || str(d.body, "data", "id") != group {
		t.Fatalf("delete group: %d %s", d.status, d.raw)
	}
	if l := call3(t, ts, "GET", "/v3/avatars/looks/"+look, "k1", nil); l.status != 404 {
		t.Fatalf("look survives its group: %d %s", l.status, l.raw)
	}

	// Errors: another key's or an unknown object is 404; a public one cannot change; a name is required.
	pubGroup := str(call3(t, ts, "GET", "/v3/avatars?ownership=public&limit=1", "k1", nil).body, "data", 0, "id")
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"DELETE", "/v3/avatars/" + group, nil, 404, "avatar_not_found"},
		{"POST", "/v3/avatars/nope/consent", nil, 404, "avatar_not_found"},
		{"PATCH", "/v3/avatars/looks/nope", map[string]any{"name": "x"}, 404, "avatar_not_found"},
		{"DELETE", "/v3/avatars/looks/nope", nil, 404, "avatar_not_found"},
		{"PATCH", "/v3/avatars/looks/" + firstAvatar, map[string]any{"name": "x"}, 400, "invalid_parameter"},
		{"DELETE", "/v3/avatars/looks/" + firstAvatar, nil, 400, "invalid_parameter"},
		{"DELETE", "/v3/avatars/" + pubGroup, nil, 400, "invalid_parameter"},
		{"POST", "/v3/avatars/" + pubGroup + "/consent", nil, 400, "invalid_parameter"},
	} {
		if rp := call3(t, ts, tt.method, tt.path, "k1", tt.body); rp.status != tt.status || str(rp.body, "error", "code") != tt.code {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, rp.status, rp.raw)
		}
	}
	cr = call3(t, ts, "POST", "/v3/avatars", "k1", map[string]any{"type": "photo", "name": "Third", "file": photo})
	look = str(cr.body, "data", "avatar_item", "id")
	if rp := call3(t, ts, "PATCH", "/v3/avatars/looks/"+look, "k1", map[string]any{}); rp.status != 400 || str(rp.body, "error", "param") != "name" {
		t.Errorf("rename without a name: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "DELETE", "/v3/avatars/looks/"+look, "k2", nil); rp.status != 404 {
		t.Errorf("another key deletes the look: %d %s", rp.status, rp.raw)
	}
}

func TestV3ListAndDeleteTranslations(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	cr := call3(t, ts, "POST", "/v3/video-translations", "k1", map[string]any{
		"video": map[string]any{"type": "url", "url": "https://example.com/a.mp4"}, "output_languages": []string{"Spanish", "French"}})
	ids, _ := get(cr.body, "data", "video_translation_ids").([]any)
	if len(ids) != 2 {
		t.Fatalf("create: %s", cr.raw)
	}
	l := call3(t, ts, "GET", "/v3/video-translations?limit=1", "k1", nil)
	if str(l.body, "data", 0, "id") != ids[1] || l.body["has_more"] != true || str(l.body, "next_token") == "" {
		t.Fatalf("list page 1: %s", l.raw)
	}
	l2 := call3(t, ts, "GET", "/v3/video-translations?limit=1&token="+url.QueryEscape(str(l.body, "next_token")), "k1", nil)
	if str(l2.body, "data", 0, "id") != ids[0] || l2.body["has_more"] != false {
		t.Fatalf("list page 2: %s", l2.raw)
	}
	if other := call3(t, ts, "GET", "/v3/video-translations", "k2", nil); len(get(other.body, "data").([]any)) != 0 {
		t.Fatalf("another key lists them: %s", other.raw)
	}
	id := ids[0].(string)
	if rp := call3(t, ts, "DELETE", "/v3/video-translations/"+id, "k2", nil); rp.status != 404 || str(rp.body, "error", "code") != "resource_not_found" {
		t.Fatalf("another key deletes: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "DELETE", "/v3/video-translations/"+id, "k1", nil); rp.status != 200 || str(rp.body, "data", "id") != id {
		t.Fatalf("delete: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "GET", "/v3/video-translations/"+id, "k1", nil); rp.status != 404 {
		t.Fatalf("deleted translation still answers: %d %s", rp.status, rp.raw)
	}
	if rp := call3(t, ts, "GET", "/v3/video-translations?limit=101", "k1", nil); rp.status != 400 || str(rp.body, "error", "param") != "limit" {
		t.Fatalf("limit: %d %s", rp.status, rp.raw)
	}
}

func TestV3WebhookUpdateRotateTypesAndEvents(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	rs, ch := receiver(t)
	ep := call3(t, ts, "POST", "/v3/webhooks/endpoints", "k1", map[string]any{"url": "https://example.com/old", "events": []string{"video_translate.success"}})
	id := str(ep.body, "data", "endpoint_id")

	up := call3(t, ts, "PATCH", "/v3/webhooks/endpoints/"+id, "k1", map[string]any{"url": rs.URL + "/hook", "events": []string{"avatar_video.success"}})
	if up.status != 200 || str(up.body, "data", "url") != rs.URL+"/hook" || str(up.body, "data", "events", 0) != "avatar_video.success" ||
		get(up.body, "data", "secret") != nil {
		t.Fatalf("update: %d %s", up.status, up.raw)
	}
	// events null: every event; url kept.
	up = call3(t, ts, "PATCH", "/v3/webhooks/endpoints/"+id, "k1", `{"events": null}`)
	if get(up.body, "data", "events") != nil || str(up.body, "data", "url") != rs.URL+"/hook" {
		t.Fatalf("update events null: %s", up.raw)
	}
	for _, tt := range []struct {
		id   string
		body any
		code string
	}{
		{id, map[string]any{"url": "ftp://x"}, "invalid_parameter"},
		{id, map[string]any{"events": []string{"nope"}}, "invalid_parameter"},
		{id, map[string]any{"events": "avatar_video.success"}, "invalid_parameter"},
		{"nope", map[string]any{"url": "https://example.com/"}, "resource_not_found"},
	} {
		if rp := call3(t, ts, "PATCH", "/v3/webhooks/endpoints/"+tt.id, "k1", tt.body); str(rp.body, "error", "code") != tt.code {
			t.Errorf("%v: %d %s", tt.body, rp.status, rp.raw)
		}
	}

	old := str(ep.body, "data", "secret")
	rot := call3(t, ts, "POST", "/v3/webhooks/endpoints/"+id+"/rotate-secret", "k1", nil)
	if rot.status != 200 || str(rot.body, "data", "endpoint_id") != id || str(rot.body, "data", "secret") == old || str(rot.body, "data", "secret") == "" {
		t.Fatalf("rotate: %d %s", rot.status, rot.raw)
	}
	if rp := call3(t, ts, "POST", "/v3/webhooks/endpoints/nope/rotate-secret", "k1", nil); rp.status != 404 {
		t.Fatalf("rotate unknown: %d %s", rp.status, rp.raw)
	}
	types := call3(t, ts, "GET", "/v3/webhooks/event-types", "k1", nil)
	if len(get(types.body, "data").([]any)) != len(webhookEvents) || str(types.body, "data", 0, "event_type") != "avatar_video.success" {
		t.Fatalf("event types: %s", types.raw)
	}

	// Two videos' events are kept, newest first, paged with token, filtered by type and entity.
	var videos []string
	for _, script := range []string{"Hello one", "please FAIL"} {
		cr := call3(t, ts, "POST", "/v3/videos", "k1", map[string]any{"type": "avatar", "avatar_id": firstAvatar, "script": script, "voice_id": firstVoice, "test": true})
		videos = append(videos, str(cr.body, "data", "video_id"))
	}
	for range 2 {
		select {
		case <-ch:
		case <-time.After(3 * time.Second):
			t.Fatal("no delivery")
		}
	}
	ev := call3(t, ts, "GET", "/v3/webhooks/events?limit=1", "k1", nil)
	if ev.status != 200 || ev.body["has_more"] != true || str(ev.body, "data", 0, "event_id") == "" || str(ev.body, "data", 0, "event_data", "video_id") == "" {
		t.Fatalf("events page 1: %d %s", ev.status, ev.raw)
	}
	if _, err := time.Parse(time.RFC3339, str(ev.body, "data", 0, "created_at")); err != nil {
		t.Fatalf("created_at: %v", err)
	}
	ev2 := call3(t, ts, "GET", "/v3/webhooks/events?limit=1&token="+url.QueryEscape(str(ev.body, "next_token")), "k1", nil)
	if ev2.body["has_more"] != false || str(ev2.body, "data", 0, "event_id") == str(ev.body, "data", 0, "event_id") {
		t.Fatalf("events page 2: %s", ev2.raw)
	}
	fail := call3(t, ts, "GET", "/v3/webhooks/events?event_type=avatar_video.fail", "k1", nil)
	if len(get(fail.body, "data").([]any)) != 1 || str(fail.body, "data", 0, "event_data", "video_id") != videos[1] {
		t.Fatalf("by type: %s", fail.raw)
	}
	one := call3(t, ts, "GET", "/v3/webhooks/events?entity_id="+videos[0], "k1", nil)
	if len(get(one.body, "data").([]any)) != 1 || str(one.body, "data", 0, "event_type") != "avatar_video.success" {
		t.Fatalf("by entity: %s", one.raw)
	}
	if other := call3(t, ts, "GET", "/v3/webhooks/events", "k2", nil); len(get(other.body, "data").([]any)) != 0 {
		t.Fatalf("another key sees the events: %s", other.raw)
	}
	if rp := call3(t, ts, "GET", "/v3/webhooks/events?event_type=nope", "k1", nil); rp.status != 400 {
		t.Fatalf("unknown type: %d %s", rp.status, rp.raw)
	}
}
