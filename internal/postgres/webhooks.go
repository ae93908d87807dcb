package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
)

const (
	orgWebhookColumns = `org_id, url, events::text, created_at, updated_at`
	deliveryColumns   = `seq, id, org_id, job_id, type, payload, state, attempts, next_attempt_at, last_status, last_error,
	created_at, updated_at`
)

// PutOrgWebhook creates or replaces the org's outgoing webhook. UpdatedAt, when zero, is
// set to now; CreatedAt is UpdatedAt for a new webhook and kept when replacing one.
func (s *Store) PutOrgWebhook(ctx context.Context, w *aiproxy.OrgWebhook) error {
	updated := w.UpdatedAt
	if updated.IsZero() {
		updated = sqlcodec.Now()
	}
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		var created time.Time
		if err := tx.QueryRow(ctx, `INSERT INTO org_webhooks (org_id, url, events, created_at, updated_at)
			VALUES ($1, $2, $3::jsonb, $4, $4)
			ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, events = excluded.events, updated_at = excluded.updated_at
			RETURNING created_at`,
			w.OrgID, w.URL, sqlcodec.EncodeStrings(w.Events), updated).Scan(&created); err != nil {
			return fmt.Errorf("put webhook of org %d: %w", w.OrgID, err)
		}
		w.CreatedAt, w.UpdatedAt = created.UTC(), updated.UTC()
		return nil
	})
}

// GetOrgWebhook returns ENOTFOUND when the org has none.
func (s *Store) GetOrgWebhook(ctx context.Context, orgID int64) (*aiproxy.OrgWebhook, error) {
	w, err := get(ctx, s, scanOrgWebhook, `SELECT `+orgWebhookColumns+` FROM org_webhooks WHERE org_id = $1`, orgID)
	return w, sqlcodec.NotFound(err, pgx.ErrNoRows, "Org %d has no webhook.", orgID)
}

// DeleteOrgWebhook returns ENOTFOUND when the org has none. Its deliveries stay.
func (s *Store) DeleteOrgWebhook(ctx context.Context, orgID int64) error {
	return s.write(ctx, true, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM org_webhooks WHERE org_id = $1`, orgID)
		if err != nil {
			return fmt.Errorf("delete webhook of org %d: %w", orgID, err)
		}
		return mustAffect(tag, "Org %d has no webhook.", orgID)
	})
}

// addJobEvent is UpdateJobStatus's outbox: in its transaction, once it saw the job move
// from prev (not terminal, or unset) to j.Status, it adds the event's delivery if the
// job's org has a webhook subscribed to it.
func addJobEvent(ctx context.Context, tx pgx.Tx, j *aiproxy.Job, orgID int64, prev string) error {
	if prev == aiproxy.JobCompleted || prev == aiproxy.JobFailed ||
		(j.Status != aiproxy.JobCompleted && j.Status != aiproxy.JobFailed) {
		return nil
	}
	event := "job." + j.Status
	if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, org_id, job_id, type, state, next_attempt_at, created_at, updated_at)
		SELECT $1, org_id, $2, $3, $4, $5, $5, $5 FROM org_webhooks
		WHERE org_id = $6 AND events @> jsonb_build_array($3::text)`,
		newDeliveryID(), j.ID, event, aiproxy.DeliveryPending, j.UpdatedAt, orgID); err != nil {
		return fmt.Errorf("job %d: add %s delivery: %w", j.ID, event, err)
	}
	return nil
}

// ClaimWebhookDeliveries gives owner at most limit due, pending deliveries whose lease is
// free, expired or owner's, oldest first: the rows are locked as they are chosen (FOR
// UPDATE SKIP LOCKED, which rechecks the conditions on a row's latest version), so two
// owners never claim one delivery.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]*aiproxy.WebhookDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var claimed []*aiproxy.WebhookDelivery
	err := s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		claimed = nil
		// The rows are chosen once (MATERIALIZED): as a subquery of the UPDATE, the planner
		// may run the choice again for every row it updates, and each run skips the rows
		// this statement already updated, choosing others — more than limit.
		rows, err := tx.Query(ctx, `WITH due AS MATERIALIZED (SELECT seq FROM webhook_deliveries
				WHERE state = $3 AND next_attempt_at <= $4
				AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until IS NULL OR lease_until <= $4)
				ORDER BY seq LIMIT $5 FOR UPDATE SKIP LOCKED)
			UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE seq IN (SELECT seq FROM due)
			RETURNING `+deliveryColumns,
			owner, leaseUntil, aiproxy.DeliveryPending, now, limit)
		if err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		defer rows.Close()
		claimed, err = sqlcodec.Collect(rows, scanDelivery)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(claimed, func(a, b *aiproxy.WebhookDelivery) int { return cmp.Compare(a.Seq, b.Seq) })
	return claimed, nil
}

// RecordWebhookAttempt saves d's outcome, appends a and frees the lease, if owner holds
// d's lease; else ECONFLICT and nothing changes. UpdatedAt, when zero, is set to now, and
// a.At, when zero, to d.UpdatedAt.
func (s *Store) RecordWebhookAttempt(ctx context.Context, d *aiproxy.WebhookDelivery, a *aiproxy.WebhookAttempt, owner string) error {
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = sqlcodec.Now()
	}
	if a.At.IsZero() {
		a.At = d.UpdatedAt
	}
	a.DeliveryID = d.ID
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET payload = $1, state = $2, attempts = $3, next_attempt_at = $4,
			last_status = $5, last_error = $6, updated_at = $7, lease_owner = NULL, lease_until = NULL
			WHERE id = $8 AND lease_owner = $9`,
			d.Payload, d.State, d.Attempts, d.NextAttemptAt, d.LastStatus, d.LastError, d.UpdatedAt, d.ID, owner)
		if err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Delivery %s is not leased to %s.", d.ID, owner)
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status, error, duration_ns)
			VALUES ($1, $2, $3, $4, $5, $6)`, a.DeliveryID, a.N, a.At, a.Status, a.Error, int64(a.Duration))
		if isUniqueViolation(err) {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Attempt %d of delivery %s is recorded already.", a.N, d.ID)
		} else if err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
		}
		return nil
	})
}

// ListWebhookDeliveries returns an org's deliveries newest first, with Seq < before (0:
// from the newest), at most limit (limit <= 0: all).
func (s *Store) ListWebhookDeliveries(ctx context.Context, orgID int64, before int64, limit int) ([]*aiproxy.WebhookDelivery, error) {
	before, limit = sqlcodec.Page(before, limit)
	return list(ctx, s, "list webhook deliveries", scanDelivery, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE org_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, orgID, before, limit)
}

// WebhookDelivery returns one of the org's deliveries; ENOTFOUND when the org has none
// with that id.
func (s *Store) WebhookDelivery(ctx context.Context, orgID int64, id string) (*aiproxy.WebhookDelivery, error) {
	d, err := get(ctx, s, scanDelivery, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE org_id = $1 AND id = $2`, orgID, id)
	return d, sqlcodec.NotFound(err, pgx.ErrNoRows, "Delivery %q not found.", id)
}

// ListWebhookAttempts returns the attempts of those of deliveryIDs that are the org's
// deliveries, newest delivery first (as ListWebhookDeliveries), then by attempt number.
func (s *Store) ListWebhookAttempts(ctx context.Context, orgID int64, deliveryIDs []string) ([]*aiproxy.WebhookAttempt, error) {
	if len(deliveryIDs) == 0 {
		return nil, nil
	}
	return list(ctx, s, "list webhook attempts", scanAttempt, `SELECT a.delivery_id, a.n, a.at, a.status, a.error, a.duration_ns
		FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
		WHERE d.org_id = $1 AND d.id = ANY($2)
		ORDER BY d.seq DESC, a.n`, orgID, deliveryIDs)
}

// RetryWebhookDelivery makes the org's delivery pending and due at now, its lease freed;
// its attempts, attempt count and last outcome are kept. ENOTFOUND when the org has none
// with that id.
func (s *Store) RetryWebhookDelivery(ctx context.Context, orgID int64, id string, now time.Time) error {
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, updated_at = $2,
			lease_owner = NULL, lease_until = NULL WHERE org_id = $3 AND id = $4`,
			aiproxy.DeliveryPending, now, orgID, id)
		if err != nil {
			return fmt.Errorf("retry delivery %s: %w", id, err)
		}
		return mustAffect(tag, "Delivery %q not found.", id)
	})
}

// SeenWebhookEvent records the incoming event (service, key) seen at t unless it was
// recorded before, and reports whether it was (the first record keeps its time). Of two
// concurrent inserts of one key, the second waits for the first and then inserts nothing.
func (s *Store) SeenWebhookEvent(ctx context.Context, service, key string, t time.Time) (bool, error) {
	var seen bool
	err := s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_events_seen (service, key, seen_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, service, key, t)
		if err != nil {
			return fmt.Errorf("record webhook event of %s: %w", service, err)
		}
		seen = tag.RowsAffected() == 0
		return nil
	})
	return seen, err
}

// PurgeWebhooks deletes the incoming-event records seen before t, and the delivered or
// failed deliveries created before t with their attempts; it returns how many records and
// deliveries it deleted (attempts not counted).
func (s *Store) PurgeWebhooks(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		// Every data-modifying WITH runs, referenced or not, on the snapshot the statement
		// began with.
		if err := tx.QueryRow(ctx, `WITH
			deliveries AS (DELETE FROM webhook_deliveries WHERE state IN ($1, $2) AND created_at < $3 RETURNING id),
			attempts AS (DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM deliveries)),
			seen AS (DELETE FROM webhook_events_seen WHERE seen_at < $3 RETURNING 1)
			SELECT (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM seen)`,
			aiproxy.DeliveryDelivered, aiproxy.DeliveryFailed, t).Scan(&n); err != nil {
			return fmt.Errorf("purge webhooks: %w", err)
		}
		return nil
	})
	return int(n), err
}

func scanOrgWebhook(row sqlcodec.Row) (*aiproxy.OrgWebhook, error) {
	var (
		w      aiproxy.OrgWebhook
		events string
	)
	if err := row.Scan(&w.OrgID, &w.URL, &events, &w.CreatedAt, &w.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan webhook: %w", err)
	}
	var err error
	if w.Events, err = sqlcodec.DecodeStrings(events); err != nil {
		return nil, fmt.Errorf("webhook of org %d: %w", w.OrgID, err)
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return &w, nil
}

func scanDelivery(row sqlcodec.Row) (*aiproxy.WebhookDelivery, error) {
	var d aiproxy.WebhookDelivery
	if err := row.Scan(&d.Seq, &d.ID, &d.OrgID, &d.JobID, &d.Type, &d.Payload, &d.State, &d.Attempts, &d.NextAttemptAt,
		&d.LastStatus, &d.LastError, &d.CreatedAt, &d.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan delivery: %w", err)
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = d.NextAttemptAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

func scanAttempt(row sqlcodec.Row) (*aiproxy.WebhookAttempt, error) {
	var (
		a        aiproxy.WebhookAttempt
		duration int64
	)
	if err := row.Scan(&a.DeliveryID, &a.N, &a.At, &a.Status, &a.Error, &duration); err != nil {
		return nil, fmt.Errorf("scan attempt: %w", err)
	}
	a.At, a.Duration = a.At.UTC(), time.Duration(duration)
	return &a, nil
}

// deliveryIDs spells delivery ids: 26 lowercase base32 characters.
var deliveryIDs = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newDeliveryID returns a random delivery id: "msg_" and 128 random bits.
func newDeliveryID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return "msg_" + deliveryIDs.EncodeToString(b[:])
}
