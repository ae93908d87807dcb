package heygen

import (
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

func TestPhotoAvatarTraining(t *testing.T) {
	_, ts := newSim(t, simcore.Options{})
	img := call3(t, ts, "POST", "/v1/asset", "k1", string(placeholderPNG("me")), "Content-Type", "image/png")
	create := func(name string) string {
		pa := call3(t, ts, "POST", "/v2/photo_avatar/avatar_group/create", "k1", map[string]any{"image_key": str(img.body, "data", "image_key"), "name": name})
		g := str(pa.body, "data", "group_id")
		if pa.status != 200 || g == "" {
			t.Fatalf("create: %d %s", pa.status, pa.raw)
		}
		return g
	}
	group := create("Me")

	// Not trained yet: the status is a 404 (GAP, docs/simulators.md §10).
	if r := call3(t, ts, "GET", "/v2/photo_avatar/train/status/"+group, "k1", nil); r.status != 404 || str(r.body, "error", "code") != "training_not_found" {
		t.Fatalf("status before training: %d %s", r.status, r.raw)
	}

	tr := call3(t, ts, "POST", "/v2/photo_avatar/train", "k1", map[string]any{"group_id": group})
	flow := str(tr.body, "data", "flow_id")
	if tr.status != 200 || flow == "" || get(tr.body, "error") != nil {
		t.Fatalf("train: %d %s", tr.status, tr.raw)
	}
	// Training again answers the same flow.
	if again := call3(t, ts, "POST", "/v2/photo_avatar/train", "k1", map[string]any{"group_id": group}); str(again.body, "data", "flow_id") != flow {
		t.Fatalf("second train: %s", again.raw)
	}
	first := call3(t, ts, "GET", "/v2/photo_avatar/train/status/"+group, "k1", nil)
	if s := str(first.body, "data", "status"); s != "pending" && s != "training" && s != "ready" {
		t.Fatalf("status: %s", first.raw)
	}
	if _, ok := get(first.body, "data", "created_at").(float64); !ok {
		t.Fatalf("created_at: %s", first.raw)
	}
	waitFor(t, "training", func() bool {
		return str(call3(t, ts, "GET", "/v2/photo_avatar/train/status/"+group, "k1", nil).body, "data", "status") == "ready"
	})

	// A FAIL name fails its training, with a message.
	bad := create("FAIL face")
	call3(t, ts, "POST", "/v2/photo_avatar/train", "k1", map[string]any{"group_id": bad})
	waitFor(t, "failed training", func() bool {
		r := call3(t, ts, "GET", "/v2/photo_avatar/train/status/"+bad, "k1", nil)
		return str(r.body, "data", "status") == "failed" && str(r.body, "data", "error_msg") != ""
	})

	// Errors: another key's group, an unknown group, no group_id, no key.
	for _, c := range []struct {
		name, method, path, key string
		body                    any
		status                  int
	}{
		{"other key's group", "POST", "/v2/photo_avatar/train", "k2", map[string]any{"group_id": group}, 404},
		{"unknown group", "POST", "/v2/photo_avatar/train", "k1", map[string]any{"group_id": "nope"}, 404},
		{"no group_id", "POST", "/v2/photo_avatar/train", "k1", map[string]any{}, 400},
		{"status of another key's group", "GET", "/v2/photo_avatar/train/status/" + group, "k2", nil, 404},
		{"no key", "POST", "/v2/photo_avatar/train", "", map[string]any{"group_id": group}, 401},
	} {
		if r := call3(t, ts, c.method, c.path, c.key, c.body); r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.raw, c.status)
		}
	}
}
