package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// Issue 13 through the shipped gateway and the simulator: the v2 photo avatar flow with its
// training call (create-photo-avatar, train-photo-avatar, photo-avatar-training-status,
// get-photo-avatar and its old slug photo-avatar-train-status), the deprecation headers on
// every v1/v2 answer, and the lifecycle fields of discovery.
func TestE2EHeyGenDeprecationAndPhotoAvatarTraining(t *testing.T) {
	e := newE2E(t, 50)
	sunset := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)
	deprecated := func(t *testing.T, h http.Header, successor string) {
		t.Helper()
		if got, want := h.Get("Deprecation"), "@"+strconv.FormatInt(sunset.Unix(), 10); got != want {
			t.Errorf("Deprecation = %q, want %q", got, want)
		}
		if got := h.Get("Sunset"); got != "Sat, 31 Oct 2026 00:00:00 GMT" {
			t.Errorf("Sunset = %q", got)
		}
		link := "<" + httpapi.DefaultPrefix + "/orgs/" + e2eOrg + "/services/heygen/" + successor + `/>; rel="successor-version"`
		if successor == "" {
			link = ""
		}
		if got := h.Get("Link"); got != link {
			t.Errorf("Link = %q, want %q", got, link)
		}
	}
	ok := func(t *testing.T, action string, envelope any, successor string) any {
		t.Helper()
		status, h, body := e.invoke("heygen", action, envelope)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", action, status, body)
		}
		deprecated(t, h, successor)
		return e2eDecode(t, body)
	}

	// An image, then a photo avatar group from it.
	res := ok(t, "upload-asset", map[string]any{"files": map[string]any{
		"file": map[string]any{"filename": "face.png", "content_type": "image/png", "data": base64.StdEncoding.EncodeToString(tinyPNG)},
	}}, "v3-upload-asset")
	imageKey := jstr(t, res, "data", "image_key")
	res = ok(t, "create-photo-avatar", map[string]any{"body": map[string]any{"name": "E2E Trained Face", "image_key": imageKey}}, "v3-create-avatar")
	photoID, groupID := jstr(t, res, "data", "id"), jstr(t, res, "data", "group_id")

	// Train the group and wait for it.
	res = ok(t, "train-photo-avatar", map[string]any{"body": map[string]any{"group_id": groupID}}, "v3-create-avatar")
	if jstr(t, res, "data", "flow_id") == "" {
		t.Fatalf("train: %v", res)
	}
	e2ePoll(t, "photo avatar group training", func() bool {
		res = ok(t, "photo-avatar-training-status", e2ePathParams("group_id", groupID), "v3-get-avatar-group")
		st := jget(res, "data", "status")
		return st == "ready" || st == "failed"
	})
	if jget(res, "data", "status") != "ready" {
		t.Fatalf("training ended %v", res)
	}

	// The photo avatar's details, under the new slug and the old one.
	res = ok(t, "get-photo-avatar", e2ePathParams("photo_avatar_id", photoID), "v3-get-avatar-look")
	e2ePoll(t, "photo avatar", func() bool {
		res = ok(t, "photo-avatar-train-status", e2ePathParams("photo_avatar_id", photoID), "v3-get-avatar-look")
		return jget(res, "data", "status") != "pending"
	})
	if jget(res, "data", "id") != photoID || jget(res, "data", "status") != "completed" {
		t.Fatalf("photo avatar by its old slug: %v", res)
	}

	// A deprecated action with no v3 successor carries no Link; a v3 action no headers.
	ok(t, "list-assets", nil, "")
	status, h, body := e.invoke("heygen", "v3-list-voices", nil)
	if status != http.StatusOK || h.Get("Deprecation") != "" || h.Get("Sunset") != "" || h.Get("Link") != "" {
		t.Errorf("v3-list-voices: %d, Deprecation %q Sunset %q Link %q: %.200s", status, h.Get("Deprecation"), h.Get("Sunset"), h.Get("Link"), body)
	}

	// Discovery: the lifecycle of each action, the alias only as an alias.
	req, _ := http.NewRequest("GET", e.proxy.URL+httpapi.DefaultPrefix+"/orgs/"+e2eOrg+"/services/heygen/", nil)
	req.Header.Set("Authorization", "Api-Key "+e.key)
	resp, err := e.proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Endpoints []struct {
			Slug       string   `json:"slug"`
			Deprecated bool     `json:"deprecated"`
			Sunset     *string  `json:"sunset"`
			Successor  *string  `json:"successor"`
			Note       *string  `json:"note"`
			NextAction *string  `json:"next_action"`
			Aliases    []string `json:"aliases"`
		} `json:"endpoints"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ep := range d.Endpoints {
		seen[ep.Slug] = true
		switch ep.Slug {
		case "create-photo-avatar":
			if ep.NextAction == nil || *ep.NextAction != "train-photo-avatar" || ep.Note == nil {
				t.Errorf("create-photo-avatar: next_action %v note %v", ep.NextAction, ep.Note)
			}
		case "get-photo-avatar":
			if len(ep.Aliases) != 1 || ep.Aliases[0] != "photo-avatar-train-status" {
				t.Errorf("get-photo-avatar aliases %v", ep.Aliases)
			}
		case "generate-video":
			if !ep.Deprecated || ep.Sunset == nil || *ep.Sunset != "2026-10-31" || ep.Successor == nil || *ep.Successor != "v3-create-video" {
				t.Errorf("generate-video: %+v", ep)
			}
		case "v3-create-video":
			if ep.Deprecated || ep.Sunset != nil || ep.Successor != nil {
				t.Errorf("v3-create-video: %+v", ep)
			}
		}
	}
	if seen["photo-avatar-train-status"] || !seen["train-photo-avatar"] || !seen["photo-avatar-training-status"] {
		t.Errorf("discovery slugs: %v", seen)
	}
}
