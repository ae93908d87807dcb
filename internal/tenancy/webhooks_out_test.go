package tenancy_test

import (
	"context"
	"testing"

	"github.com/aiproxy/aiproxy"
)

// attemptBetweenReads is a store in which an attempt of every delivery is recorded between
// the read of the deliveries and the read of their attempts.
type attemptBetweenReads struct {
	aiproxy.Store
}

func (s attemptBetweenReads) ListWebhookDeliveries(ctx context.Context, orgID int64, before int64, limit int) ([]*aiproxy.WebhookDelivery, error) {
	return []*aiproxy.WebhookDelivery{{ID: "msg_one", OrgID: orgID, State: aiproxy.DeliveryPending, Attempts: 1}}, nil
}

func (s attemptBetweenReads) ListWebhookAttempts(ctx context.Context, orgID int64, ids []string) ([]*aiproxy.WebhookAttempt, error) {
	return []*aiproxy.WebhookAttempt{{DeliveryID: "msg_one", N: 1, Error: "the webhook answered 503"}, {DeliveryID: "msg_one", N: 2}}, nil
}

// TestDeliveriesPageShowsEachDeliveryWithTheAttemptsOfItsState: an attempt recorded
// while the page is read is not shown beside the state it changed (a pending delivery with
// a successful attempt); the next read shows both.
func TestDeliveriesPageShowsEachDeliveryWithTheAttemptsOfItsState(t *testing.T) {
	e, acme, admin := newAcme(t)
	e.m.Store = attemptBetweenReads{e.store}
	ds, attempts, _, err := e.m.DeliveriesPage(e.ctx, admin, acme, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || len(attempts["msg_one"]) != 1 || attempts["msg_one"][0].N != 1 {
		t.Fatalf("attempts %+v of a delivery with 1 attempt recorded", attempts["msg_one"])
	}
}
