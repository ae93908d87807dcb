package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const (
	orgWebhookColumns = `org_id, url, events, created_at, updated_at`
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
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		var created int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO org_webhooks (`+orgWebhookColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, events = excluded.events, updated_at = excluded.updated_at
			RETURNING created_at`,
			w.OrgID, w.URL, sqlcodec.EncodeStrings(w.Events), nanos(updated), nanos(updated)).Scan(&created); err != nil {
			return fmt.Errorf("put webhook of org %d: %w", w.OrgID, err)
		}
		w.CreatedAt, w.UpdatedAt = fromNanos(created), updated.UTC()
		return nil
	})
}

// GetOrgWebhook returns ENOTFOUND when the org has none.
func (s *Store) GetOrgWebhook(ctx context.Context, orgID int64) (*aiproxy.OrgWebhook, error) {
	w, err := get(ctx, s, scanOrgWebhook, `SELECT `+orgWebhookColumns+` FROM org_webhooks WHERE org_id = ?`, orgID)
	return w, sqlcodec.NotFound(err, sql.ErrNoRows, "Org %d has no webhook.", orgID)
}

// DeleteOrgWebhook returns ENOTFOUND when the org has none. Its deliveries stay.
func (s *Store) DeleteOrgWebhook(ctx context.Context, orgID int64) error {
	return s.write(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM org_webhooks WHERE org_id = ?`, orgID)
		if err != nil {
			return fmt.Errorf("delete webhook of org %d: %w", orgID, err)
		}
		return mustAffect(res, "Org %d has no webhook.", orgID)
	})
}

// addJobEvent is UpdateJobStatus's outbox: in its transaction, once it saw the job move
// from prev (not terminal, or unset) to j.Status, it adds the event's delivery if the
// job's org has a webhook subscribed to it.
func addJobEvent(ctx context.Context, tx *sql.Tx, j *aiproxy.Job, orgID int64, prev string) error {
	if prev == aiproxy.JobCompleted || prev == aiproxy.JobFailed ||
		(j.Status != aiproxy.JobCompleted && j.Status != aiproxy.JobFailed) {
		return nil
	}
	event, now := "job."+j.Status, nanos(j.UpdatedAt)
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, org_id, job_id, type, state, next_attempt_at, created_at, updated_at)
		SELECT ?, org_id, ?, ?, ?, ?, ?, ? FROM org_webhooks
		WHERE org_id = ? AND EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?)`,
		newDeliveryID(), j.ID, event, aiproxy.DeliveryPending, now, now, now, orgID, event); err != nil {
		return fmt.Errorf("job %d: add %s delivery: %w", j.ID, event, err)
	}
	return nil
}

// ClaimWebhookDeliveries gives owner at most limit due, pending deliveries whose lease is
// free, expired or owner's, oldest first, in one write transaction (SQLite has one writer
// at a time: two owners cannot claim one delivery).
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]*aiproxy.WebhookDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var claimed []*aiproxy.WebhookDelivery
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		claimed = nil
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
			WHERE seq IN (SELECT seq FROM webhook_deliveries WHERE state = ? AND next_attempt_at <= ?
				AND (lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL OR lease_until <= ?)
				ORDER BY seq LIMIT ?)
			RETURNING `+deliveryColumns,
			owner, nanos(leaseUntil), aiproxy.DeliveryPending, nanos(now), owner, nanos(now), limit)
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
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET payload = ?, state = ?, attempts = ?, next_attempt_at = ?,
			last_status = ?, last_error = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ?`,
			d.Payload, d.State, d.Attempts, nanos(d.NextAttemptAt), d.LastStatus, d.LastError, nanos(d.UpdatedAt), d.ID, owner)
		if err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("rows affected: %w", err)
		} else if n == 0 {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Delivery %s is not leased to %s.", d.ID, owner)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status, error, duration_ns)
			VALUES (?, ?, ?, ?, ?, ?)`, a.DeliveryID, a.N, nanos(a.At), a.Status, a.Error, int64(a.Duration))
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
		WHERE org_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, orgID, before, limit)
}

// WebhookDelivery returns one of the org's deliveries; ENOTFOUND when the org has none
// with that id.
func (s *Store) WebhookDelivery(ctx context.Context, orgID int64, id string) (*aiproxy.WebhookDelivery, error) {
	d, err := get(ctx, s, scanDelivery, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE org_id = ? AND id = ?`, orgID, id)
	return d, sqlcodec.NotFound(err, sql.ErrNoRows, "Delivery %q not found.", id)
}

// ListWebhookAttempts returns the attempts of those of deliveryIDs that are the org's
// deliveries, newest delivery first (as ListWebhookDeliveries), then by attempt number.
func (s *Store) ListWebhookAttempts(ctx context.Context, orgID int64, deliveryIDs []string) ([]*aiproxy.WebhookAttempt, error) {
	if len(deliveryIDs) == 0 {
		return nil, nil
	}
	// One argument whatever the number of ids: SQLite bounds the number of parameters.
	return list(ctx, s, "list webhook attempts", scanAttempt, `SELECT a.delivery_id, a.n, a.at, a.status, a.error, a.duration_ns
		FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
		WHERE d.org_id = ? AND d.id IN (SELECT value FROM json_each(?))
		ORDER BY d.seq DESC, a.n`, orgID, sqlcodec.EncodeStrings(deliveryIDs))
}

// RetryWebhookDelivery makes the org's delivery pending and due at now, its lease freed;
// its attempts, attempt count and last outcome are kept. ENOTFOUND when the org has none
// with that id.
func (s *Store) RetryWebhookDelivery(ctx context.Context, orgID int64, id string, now time.Time) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, updated_at = ?,
			lease_owner = NULL, lease_until = NULL WHERE org_id = ? AND id = ?`,
			aiproxy.DeliveryPending, nanos(now), nanos(now), orgID, id)
		if err != nil {
			return fmt.Errorf("retry delivery %s: %w", id, err)
		}
		return mustAffect(res, "Delivery %q not found.", id)
	})
}

// SeenWebhookEvent records the incoming event (service, key) seen at t unless it was
// recorded before, and reports whether it was (the first record keeps its time).
func (s *Store) SeenWebhookEvent(ctx context.Context, service, key string, t time.Time) (bool, error) {
	var seen bool
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_events_seen (service, key, seen_at) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, service, key, nanos(t))
		if err != nil {
			return fmt.Errorf("record webhook event of %s: %w", service, err)
		}
		n, err := res.RowsAffected()
		seen = n == 0
		return err
	})
	return seen, err
}

// PurgeWebhooks deletes the incoming-event records seen before t, and the delivered or
// failed deliveries created before t with their attempts; it returns how many records and
// deliveries it deleted (attempts not counted).
func (s *Store) PurgeWebhooks(ctx context.Context, t time.Time) (int, error) {
	var total int64
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		total = 0
		finished := `FROM webhook_deliveries WHERE state IN (?, ?) AND created_at < ?`
		args := []any{aiproxy.DeliveryDelivered, aiproxy.DeliveryFailed, nanos(t)}
		for _, step := range []struct {
			what, query string
			args        []any
			count       bool
		}{
			{"attempts", `DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id ` + finished + `)`, args, false},
			{"deliveries", `DELETE ` + finished, args, true},
			{"seen events", `DELETE FROM webhook_events_seen WHERE seen_at < ?`, []any{nanos(t)}, true},
		} {
			res, err := tx.ExecContext(ctx, step.query, step.args...)
			if err != nil {
				return fmt.Errorf("purge webhook %s: %w", step.what, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("purge webhook %s: %w", step.what, err)
			}
			if step.count {
				total += n
			}
		}
		return nil
	})
	return int(total), err
}

func scanOrgWebhook(row sqlcodec.Row) (*aiproxy.OrgWebhook, error) {
	var (
		w                aiproxy.OrgWebhook
		events           string
		created, updated int64
	)
	if err := row.Scan(&w.OrgID, &w.URL, &events, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan webhook: %w", err)
	}
	var err error
	if w.Events, err = sqlcodec.DecodeStrings(events); err != nil {
		return nil, fmt.Errorf("webhook of org %d: %w", w.OrgID, err)
	}
	w.CreatedAt, w.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &w, nil
}

func scanDelivery(row sqlcodec.Row) (*aiproxy.WebhookDelivery, error) {
	var (
		d                      aiproxy.WebhookDelivery
		next, created, updated int64
	)
	if err := row.Scan(&d.Seq, &d.ID, &d.OrgID, &d.JobID, &d.Type, &d.Payload, &d.State, &d.Attempts, &next,
		&d.LastStatus, &d.LastError, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan delivery: %w", err)
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNanos(next), fromNanos(created), fromNanos(updated)
	return &d, nil
}

func scanAttempt(row sqlcodec.Row) (*aiproxy.WebhookAttempt, error) {
	var (
		a            aiproxy.WebhookAttempt
		at, duration int64
	)
	if err := row.Scan(&a.DeliveryID, &a.N, &at, &a.Status, &a.Error, &duration); err != nil {
		return nil, fmt.Errorf("scan attempt: %w", err)
	}
	a.At, a.Duration = fromNanos(at), time.Duration(duration)
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
