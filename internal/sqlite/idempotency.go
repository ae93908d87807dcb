package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const idempotencyColumns = `org_id, key, fingerprint, state, status, content_type, body, body_kept, request_id,
	created_at, expires_at, lease_until`

// BeginIdempotent stores r, in progress, unless the org already has a live record for
// r.Key, which it returns then (nil when r was stored). A record whose ExpiresAt is before
// r.CreatedAt (now; set to now when zero) is replaced; a record without ExpiresAt never
// expires. It does not change Version.
//
// The write transaction is exclusive across processes, and the insert is one statement
// that either stores r (no row, or an expired one) or leaves the row alone: of concurrent
// calls with one key exactly one stores its record.
func (s *Store) BeginIdempotent(ctx context.Context, r *aiproxy.IdempotencyRecord) (*aiproxy.IdempotencyRecord, error) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = sqlcodec.Now()
	}
	var existing *aiproxy.IdempotencyRecord
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		var stored int
		err := tx.QueryRowContext(ctx, `INSERT INTO idempotency_keys (`+idempotencyColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_id, key) DO UPDATE SET
				fingerprint = excluded.fingerprint, state = excluded.state, status = excluded.status,
				content_type = excluded.content_type, body = excluded.body, body_kept = excluded.body_kept,
				request_id = excluded.request_id, created_at = excluded.created_at, expires_at = excluded.expires_at,
				lease_until = excluded.lease_until
			WHERE idempotency_keys.expires_at < excluded.created_at
			RETURNING 1`,
			r.OrgID, r.Key, r.Fingerprint, aiproxy.IdemInProgress, r.Status, r.ContentType, sqlcodec.Bytes(r.Body), r.BodyKept,
			r.RequestID, nanos(r.CreatedAt), nullStamp(r.ExpiresAt), nullStamp(r.LeaseUntil)).Scan(&stored)
		if err == nil {
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("begin idempotent %d/%q: %w", r.OrgID, r.Key, err)
		}
		// A live record holds the key.
		existing, err = scanIdempotency(tx.QueryRowContext(ctx, `SELECT `+idempotencyColumns+` FROM idempotency_keys
			WHERE org_id = ? AND key = ?`, r.OrgID, r.Key))
		if err != nil {
			return fmt.Errorf("begin idempotent %d/%q: %w", r.OrgID, r.Key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if existing == nil {
		r.State = aiproxy.IdemInProgress
	}
	return existing, nil
}

// FinishIdempotent saves State, Status, ContentType, Body and BodyKept of the org's record
// for r.Key, and its Fingerprint unless r's is "" (the gateway hashes the request as it
// streams it upstream, after BeginIdempotent). ENOTFOUND if there is none. It does not
// change Version.
func (s *Store) FinishIdempotent(ctx context.Context, r *aiproxy.IdempotencyRecord) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = ?, status = ?, content_type = ?, body = ?, body_kept = ?,
				fingerprint = COALESCE(NULLIF(?, ''), fingerprint)
			WHERE org_id = ? AND key = ?`,
			r.State, r.Status, r.ContentType, sqlcodec.Bytes(r.Body), r.BodyKept, r.Fingerprint, r.OrgID, r.Key)
		if err != nil {
			return fmt.Errorf("finish idempotent %d/%q: %w", r.OrgID, r.Key, err)
		}
		return mustAffect(res, "No idempotency record for key %q.", r.Key)
	})
}

// ForgetIdempotent removes the org's record for key while it is in progress, freeing the
// key (a request refused before anything was sent upstream). A finished record, or none:
// no-op. It does not change Version.
func (s *Store) ForgetIdempotent(ctx context.Context, orgID int64, key string) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND key = ? AND state = ?`,
			orgID, key, aiproxy.IdemInProgress); err != nil {
			return fmt.Errorf("forget idempotent %d/%q: %w", orgID, key, err)
		}
		return nil
	})
}

func scanIdempotency(row sqlcodec.Row) (*aiproxy.IdempotencyRecord, error) {
	var (
		r              aiproxy.IdempotencyRecord
		created        int64
		expires, lease sql.NullInt64
	)
	if err := row.Scan(&r.OrgID, &r.Key, &r.Fingerprint, &r.State, &r.Status, &r.ContentType, &r.Body, &r.BodyKept,
		&r.RequestID, &created, &expires, &lease); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan idempotency record: %w", err)
	}
	if len(r.Body) == 0 {
		r.Body = nil
	}
	r.CreatedAt, r.ExpiresAt, r.LeaseUntil = fromNanos(created), fromNullStamp(expires), fromNullStamp(lease)
	return &r, nil
}

// ExtendIdempotentLease moves the lease of the org's in-progress record for key to until:
// the request holding it is still running. A finished record, or none: no-op.
func (s *Store) ExtendIdempotentLease(ctx context.Context, orgID int64, key string, until time.Time) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET lease_until = ? WHERE org_id = ? AND key = ? AND state = ?`,
			nanos(until), orgID, key, aiproxy.IdemInProgress); err != nil {
			return fmt.Errorf("extend idempotent lease %d/%q: %w", orgID, key, err)
		}
		return nil
	})
}

// PurgeIdempotency deletes the records that expired before t and returns how many.
func (s *Store) PurgeIdempotency(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < ?`, nanos(t))
		if err != nil {
			return fmt.Errorf("purge idempotency records: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
