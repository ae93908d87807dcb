package webhooks

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// fakeStore is the part of aiproxy.Store a Deliverer uses, in memory, with the leases of
// the real stores: a claimed delivery is held by one owner until its lease expires or the
// owner records an attempt. Any other method panics (the embedded nil Store).
type fakeStore struct {
	aiproxy.Store

	mu         sync.Mutex
	webhooks   map[int64]*aiproxy.OrgWebhook
	deliveries []*fakeDelivery // in creation order
	attempts   []aiproxy.WebhookAttempt
}

type fakeDelivery struct {
	d     aiproxy.WebhookDelivery
	owner string
	until time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{webhooks: map[int64]*aiproxy.OrgWebhook{}}
}

func (s *fakeStore) putWebhook(w aiproxy.OrgWebhook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks[w.OrgID] = &w
}

func (s *fakeStore) add(d aiproxy.WebhookDelivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Seq = int64(len(s.deliveries) + 1)
	if d.State == "" {
		d.State = aiproxy.DeliveryPending
	}
	s.deliveries = append(s.deliveries, &fakeDelivery{d: d})
}

// delivery returns a copy of a delivery and who holds it.
func (s *fakeStore) delivery(id string) (aiproxy.WebhookDelivery, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range s.deliveries {
		if fd.d.ID == id {
			return fd.d, fd.owner
		}
	}
	panic("no delivery " + id)
}

func (s *fakeStore) attemptsOf(id string) []aiproxy.WebhookAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []aiproxy.WebhookAttempt
	for _, a := range s.attempts {
		if a.DeliveryID == id {
			out = append(out, a)
		}
	}
	return out
}

func (s *fakeStore) countState(state string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, fd := range s.deliveries {
		if fd.d.State == state {
			n++
		}
	}
	return n
}

// claim is ClaimWebhookDeliveries for a test that calls Attempt itself.
func (s *fakeStore) claim(owner, id string) *aiproxy.WebhookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range s.deliveries {
		if fd.d.ID == id {
			fd.owner, fd.until = owner, time.Now().Add(time.Minute)
			d := fd.d
			return &d
		}
	}
	panic("no delivery " + id)
}

func (s *fakeStore) GetOrgWebhook(_ context.Context, orgID int64) (*aiproxy.OrgWebhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.webhooks[orgID]
	if !ok {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "The org has no webhook.")
	}
	c := *w
	c.Events = slices.Clone(w.Events)
	return &c, nil
}

func (s *fakeStore) ClaimWebhookDeliveries(_ context.Context, owner string, now, leaseUntil time.Time, limit int) ([]*aiproxy.WebhookDelivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*aiproxy.WebhookDelivery
	for _, fd := range s.deliveries {
		if len(out) >= limit {
			break
		}
		if fd.d.State != aiproxy.DeliveryPending || fd.d.NextAttemptAt.After(now) {
			continue
		}
		if fd.owner != "" && fd.owner != owner && fd.until.After(now) {
			continue
		}
		fd.owner, fd.until = owner, leaseUntil
		d := fd.d
		out = append(out, &d)
	}
	return out, nil
}

func (s *fakeStore) RecordWebhookAttempt(_ context.Context, d *aiproxy.WebhookDelivery, a *aiproxy.WebhookAttempt, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range s.deliveries {
		if fd.d.ID != d.ID {
			continue
		}
		if fd.owner != owner {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Another replica holds the delivery.")
		}
		fd.d.Payload, fd.d.State, fd.d.Attempts = d.Payload, d.State, d.Attempts
		fd.d.NextAttemptAt, fd.d.LastStatus, fd.d.LastError = d.NextAttemptAt, d.LastStatus, d.LastError
		fd.d.UpdatedAt = d.UpdatedAt
		fd.owner, fd.until = "", time.Time{}
		c := *a
		c.DeliveryID = d.ID
		s.attempts = append(s.attempts, c)
		return nil
	}
	return aiproxy.Errorf(aiproxy.ENOTFOUND, "No such delivery.")
}
