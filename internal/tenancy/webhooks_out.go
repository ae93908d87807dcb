package tenancy

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/webhooks"
)

// An org's outgoing webhook (docs/jobs.md §Webhooks out): one URL per org, told about its
// jobs' ends. Its signing secret is sealed like a provider key, as the credential of the
// reserved service aiproxy.WebhookOutService, so that master-key rotation re-wraps it too.

// WebhookInput is what PUT …/webhook/ asks for.
type WebhookInput struct {
	URL          string
	Events       []string // nil: every event
	RotateSecret bool     // issue a new secret even though one exists
}

var (
	errNoWebhook        = aiproxy.Errorf(aiproxy.ENOTFOUND, "This organization has no webhook.")
	errDeliveryNotFound = aiproxy.Errorf(aiproxy.ENOTFOUND, "Webhook delivery not found.")
)

// Deliveries pages: DefaultDeliveriesLimit unless asked, at most MaxDeliveriesLimit.
const (
	DefaultDeliveriesLimit = 50
	MaxDeliveriesLimit     = 200
)

// PutOrgWebhook creates or replaces the org's webhook (its admins, operators). The URL must
// be https and must not point at the gateway's own network, unless allowPrivate (the
// --webhook-allow-private flag); the address is checked again when each attempt dials. It
// returns the signing secret when one was made (the first PUT, or RotateSecret): the only
// time it is shown.
func (m *Manager) PutOrgWebhook(ctx context.Context, a Actor, org *aiproxy.Org, in WebhookInput, allowPrivate bool) (*aiproxy.OrgWebhook, string, error) {
	if err := authorize(a, org.ID, Admin); err != nil {
		return nil, "", err
	}
	if in.URL == "" {
		return nil, "", invalid("Field 'url' must be a non-empty string.")
	}
	if len(in.URL) > 2048 {
		return nil, "", invalid("Field 'url' must be at most 2048 characters.")
	}
	if err := webhooks.CheckURL(in.URL, allowPrivate); err != nil {
		return nil, "", err // an EINVALID naming the problem
	}
	events := in.Events
	if events == nil {
		events = slices.Clone(aiproxy.WebhookEvents)
	}
	if len(events) == 0 {
		return nil, "", invalid("Field 'events' must list at least one of %s.", strings.Join(aiproxy.WebhookEvents, ", "))
	}
	for _, e := range events {
		if !slices.Contains(aiproxy.WebhookEvents, e) {
			return nil, "", invalid("Field 'events' must list only %s; %q is not an event.", strings.Join(aiproxy.WebhookEvents, ", "), e)
		}
	}
	slices.Sort(events)
	events = slices.Compact(events)

	before, err := m.Store.GetOrgWebhook(ctx, org.ID)
	if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		return nil, "", err
	}
	_, cerr := m.Store.GetCredential(ctx, aiproxy.WebhookOutService, aiproxy.SourceTenant, org.ID)
	if cerr != nil && aiproxy.ErrorCode(cerr) != aiproxy.ENOTFOUND {
		return nil, "", cerr
	}
	var secret string
	if cerr != nil || in.RotateSecret {
		// The secret is stored before the webhook, so that no delivery is ever enqueued for a
		// webhook without one.
		secret = webhooks.NewSecret()
		if _, err := m.Vault.Set(ctx, aiproxy.WebhookOutService, aiproxy.SourceTenant, org.ID, secret); err != nil {
			return nil, "", err
		}
	}
	w := &aiproxy.OrgWebhook{OrgID: org.ID, URL: in.URL, Events: events}
	if err := m.Store.PutOrgWebhook(ctx, w); err != nil {
		return nil, "", err
	}
	var prev any
	if before != nil {
		prev = WebhookView(before, nil)
	}
	after := WebhookView(w, nil)
	after["secret_rotated"] = secret != "" && before != nil
	if err := m.audit(ctx, a, org.ID, "webhook.set", org.Slug, prev, after); err != nil {
		m.logf("recording an audit entry failed", "error", err.Error())
	}
	return w, secret, nil
}

// OrgWebhook returns the org's webhook and its (sealed) secret, for WebhookView.
func (m *Manager) OrgWebhook(ctx context.Context, a Actor, org *aiproxy.Org) (*aiproxy.OrgWebhook, *aiproxy.Credential, error) {
	if err := authorize(a, org.ID, Admin); err != nil {
		return nil, nil, err
	}
	w, err := m.Store.GetOrgWebhook(ctx, org.ID)
	if err != nil {
		return nil, nil, notFoundAs(err, errNoWebhook)
	}
	c, err := m.Store.GetCredential(ctx, aiproxy.WebhookOutService, aiproxy.SourceTenant, org.ID)
	if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		return nil, nil, err
	}
	return w, c, nil
}

// DeleteOrgWebhook removes the org's webhook and its secret; deliveries still pending fail
// at their next attempt.
func (m *Manager) DeleteOrgWebhook(ctx context.Context, a Actor, org *aiproxy.Org) error {
	w, _, err := m.OrgWebhook(ctx, a, org)
	if err != nil {
		return err
	}
	if err := m.Store.DeleteOrgWebhook(ctx, org.ID); err != nil {
		return notFoundAs(err, errNoWebhook)
	}
	if err := m.Store.DeleteCredential(ctx, aiproxy.WebhookOutService, aiproxy.SourceTenant, org.ID); err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		return err
	}
	if err := m.audit(ctx, a, org.ID, "webhook.delete", org.Slug, WebhookView(w, nil), nil); err != nil {
		m.logf("recording an audit entry failed", "error", err.Error())
	}
	return nil
}

// OrgWebhookSecret opens the org's signing secret (for the deliverer).
func (m *Manager) OrgWebhookSecret(ctx context.Context, orgID int64) (string, error) {
	c, err := m.Store.GetCredential(ctx, aiproxy.WebhookOutService, aiproxy.SourceTenant, orgID)
	if err != nil {
		return "", notFoundAs(err, aiproxy.Errorf(aiproxy.ENOTFOUND, "the org has no webhook secret"))
	}
	return m.Vault.Open(c)
}

// WebhookView is the org's webhook as the API shows it: the secret masked.
func WebhookView(w *aiproxy.OrgWebhook, secret *aiproxy.Credential) map[string]any {
	v := map[string]any{"url": w.URL, "events": w.Events,
		"created_at": w.CreatedAt.UTC().Format(time.RFC3339), "updated_at": w.UpdatedAt.UTC().Format(time.RFC3339)}
	if secret != nil {
		v["secret"] = "whsec_****" + secret.Last4
	}
	return v
}

// DeliveriesPage returns a page of the org's webhook deliveries, newest first, with the
// attempts of each, and the cursor of the next page (0: none).
func (m *Manager) DeliveriesPage(ctx context.Context, a Actor, org *aiproxy.Org, before int64, limit int) ([]*aiproxy.WebhookDelivery, map[string][]*aiproxy.WebhookAttempt, int64, error) {
	if err := authorize(a, org.ID, Admin); err != nil {
		return nil, nil, 0, err
	}
	if limit < 1 || limit > MaxDeliveriesLimit {
		return nil, nil, 0, invalid("Query parameter 'limit' must be an integer from 1 to %d.", MaxDeliveriesLimit)
	}
	if before < 0 {
		return nil, nil, 0, invalid("Query parameter 'cursor' must be the cursor of a deliveries page.")
	}
	ds, err := m.Store.ListWebhookDeliveries(ctx, org.ID, before, limit+1)
	if err != nil {
		return nil, nil, 0, err
	}
	var next int64
	if len(ds) > limit {
		ds = ds[:limit]
		next = ds[len(ds)-1].Seq
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	attempts := map[string][]*aiproxy.WebhookAttempt{}
	if len(ids) > 0 {
		as, err := m.Store.ListWebhookAttempts(ctx, org.ID, ids)
		if err != nil {
			return nil, nil, 0, err
		}
		// The attempts are read after the deliveries: an attempt recorded in between is
		// left out, so that each delivery's state and attempts are the same moment's.
		seen := make(map[string]int, len(ds))
		for _, d := range ds {
			seen[d.ID] = d.Attempts
		}
		for _, at := range as {
			if at.N <= seen[at.DeliveryID] {
				attempts[at.DeliveryID] = append(attempts[at.DeliveryID], at)
			}
		}
	}
	return ds, attempts, next, nil
}

// RetryDelivery sends one of the org's deliveries again, now, whatever its state; it keeps
// its id and body.
func (m *Manager) RetryDelivery(ctx context.Context, a Actor, org *aiproxy.Org, id string) error {
	if err := authorize(a, org.ID, Admin); err != nil {
		return err
	}
	if !strings.HasPrefix(id, "msg_") || len(id) > 64 {
		return errDeliveryNotFound
	}
	if err := m.Store.RetryWebhookDelivery(ctx, org.ID, id, time.Now()); err != nil {
		return notFoundAs(err, errDeliveryNotFound)
	}
	if err := m.audit(ctx, a, org.ID, "webhook.retry", id, nil, nil); err != nil {
		m.logf("recording an audit entry failed", "error", err.Error())
	}
	return nil
}

// DeliveryView is one delivery as the API shows it, with its attempts.
func DeliveryView(d *aiproxy.WebhookDelivery, attempts []*aiproxy.WebhookAttempt) map[string]any {
	at := make([]map[string]any, 0, len(attempts))
	for _, a := range attempts {
		var status, errText any
		if a.Status != 0 {
			status = a.Status
		}
		if a.Error != "" {
			errText = a.Error
		}
		at = append(at, map[string]any{"attempt": a.N, "at": a.At.UTC().Format(time.RFC3339Nano),
			"response_status": status, "error": errText, "duration_ms": a.Duration.Milliseconds()})
	}
	var next, last, lastErr any
	if d.State == aiproxy.DeliveryPending {
		next = d.NextAttemptAt.UTC().Format(time.RFC3339Nano)
	}
	if d.LastStatus != 0 {
		last = d.LastStatus
	}
	if d.LastError != "" {
		lastErr = d.LastError
	}
	return map[string]any{"id": d.ID, "type": d.Type, "job_id": d.JobID, "state": d.State,
		"attempts": at, "attempt_count": d.Attempts, "next_attempt_at": next,
		"last_response_status": last, "last_error": lastErr,
		"created_at": d.CreatedAt.UTC().Format(time.RFC3339Nano), "updated_at": d.UpdatedAt.UTC().Format(time.RFC3339Nano)}
}
