package heygen

import (
	"net/http"
	"time"
)

// Photo avatar training (v2), docs/simulators.md §10: POST /v2/photo_avatar/train {group_id}
// starts training a group that POST /v2/photo_avatar/avatar_group/create made and answers
// {flow_id}; GET /v2/photo_avatar/train/status/{group_id} reads it: pending, training, then
// ready, or failed when one of the group's looks is named with FAIL [HG-skill]. Both answer
// the v2 envelope {"error": null, "data": …}.
//
// GAPs (docs/simulators.md §10): the answer fields (flow_id; status, error_msg, created_at,
// updated_at) and the words pending, training, ready, failed are those public client code
// reads, not a documented schema; a second train call on the same group answers the first
// flow again; the status of a group never trained is a 404 training_not_found. Training
// does not charge credits again: create already charged the documented 4.

// photoTraining is one training of a private group.
type photoTraining struct {
	FlowID    string
	StartedAt time.Time
}

// trainingState is the training's word, its message when it failed, and when it last
// changed (zero while pending). Caller holds s.mu.
func (s *Server) trainingState(c *call, g *privateGroup) (status, errMsg string, updated time.Time) {
	t := g.Training
	elapsed := s.clock.Elapsed(t.StartedAt)
	switch {
	case elapsed < avatarTotal/3:
		return "pending", "", time.Time{}
	case elapsed < avatarTotal:
		return "training", "", t.StartedAt.Add(elapsed)
	}
	done := t.StartedAt.Add(elapsed)
	for _, id := range g.Looks {
		if p := c.acct.avatars[id]; p != nil && p.Fail {
			return "failed", "Avatar training failed (simulated FAIL trigger in the name).", done
		}
	}
	return "ready", "", done
}

func (s *Server) v2TrainPhotoAvatar(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		GroupID string `json:"group_id"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.GroupID == "" {
		return invalidParam("group_id", "group_id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := c.acct.groups[req.GroupID]
	if g == nil {
		return notFound("avatar_group_not_found", "Avatar group not found")
	}
	if len(g.Looks) == 0 {
		return invalidParam("group_id", "the avatar group has no photos to train on")
	}
	if g.Training == nil {
		g.Training = &photoTraining{FlowID: s.ids.Hex(32), StartedAt: time.Now()}
	}
	okV2(w, map[string]any{"flow_id": g.Training.FlowID})
	return nil
}

func (s *Server) v2PhotoAvatarTrainStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := c.acct.groups[r.PathValue("group_id")]
	if g == nil {
		return notFound("avatar_group_not_found", "Avatar group not found")
	}
	if g.Training == nil {
		return notFound("training_not_found", "No training found for this avatar group: call POST /v2/photo_avatar/train first")
	}
	status, errMsg, updated := s.trainingState(c, g)
	out := map[string]any{
		"status": status, "error_msg": nullable(errMsg),
		"created_at": g.Training.StartedAt.Unix(), "updated_at": nil,
	}
	if !updated.IsZero() {
		out["updated_at"] = updated.Unix()
	}
	okV2(w, out)
	return nil
}
