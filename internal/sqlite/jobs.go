package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

const jobColumns = `id, org_id, service, action, upstream_id, source, request_id, key_prefix, created_at,
	status, provider_status, result, error, updated_at`

// CreateJob stores j and sets its ID (and its CreatedAt, when zero). ECONFLICT if the
// service's upstream id is recorded already. It does not change Version: jobs are not
// configuration.
func (s *Store) CreateJob(ctx context.Context, j *aiproxy.Job) error {
	created := j.CreatedAt
	if created.IsZero() {
		created = sqlcodec.Now()
	}
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO jobs (org_id, service, action, upstream_id, source, request_id, key_prefix,
			created_at, status, provider_status, result, error, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			j.OrgID, j.Service, j.Action, j.UpstreamID, string(j.Source), j.RequestID, j.KeyPrefix, nanos(created),
			j.Status, j.ProviderStatus, j.Result, j.Error, nullStamp(j.UpdatedAt)).Scan(&j.ID)
		if isUniqueViolation(err) {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "Job %q of %s is recorded already.", j.UpstreamID, j.Service)
		} else if err != nil {
			return fmt.Errorf("create job: %w", err)
		}
		j.CreatedAt = created.UTC()
		return nil
	})
}

// JobByUpstreamID returns ENOTFOUND if no job of the service has that upstream id.
func (s *Store) JobByUpstreamID(ctx context.Context, service, upstreamID string) (*aiproxy.Job, error) {
	j, err := get(ctx, s, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE service = ? AND upstream_id = ?`, service, upstreamID)
	return j, sqlcodec.NotFound(err, sql.ErrNoRows, "Job %q of %s not found.", upstreamID, service)
}

// OwnedJobs returns, for each of ids (upstream ids of the service), whether the org created
// it: every id is a key of the map.
func (s *Store) OwnedJobs(ctx context.Context, orgID int64, service string, ids []string) (map[string]bool, error) {
	owned := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return owned, nil
	}
	for _, id := range ids {
		owned[id] = false
	}
	// One argument whatever the number of ids: SQLite bounds the number of parameters.
	found, err := getAll(ctx, s, scanString, `SELECT upstream_id FROM jobs
		WHERE service = ? AND org_id = ? AND upstream_id IN (SELECT value FROM json_each(?))`,
		service, orgID, sqlcodec.EncodeStrings(ids))
	if err != nil {
		return nil, err
	}
	for _, id := range found {
		owned[*id] = true
	}
	return owned, nil
}

// ListJobs returns an org's jobs newest first, with ID < before (0: from the newest), at
// most limit (limit <= 0: all); service and status filter when not "".
func (s *Store) ListJobs(ctx context.Context, orgID int64, service, status string, before int64, limit int) ([]*aiproxy.Job, error) {
	before, limit = sqlcodec.Page(before, limit)
	where, args := []string{"org_id = ?", "id < ?"}, []any{orgID, before}
	if service != "" {
		where, args = append(where, "service = ?"), append(args, service)
	}
	if status != "" {
		where, args = append(where, "status = ?"), append(args, status)
	}
	return list(ctx, s, "list jobs", scanJob, `SELECT `+jobColumns+` FROM jobs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
}

// UpdateJobStatus saves Status, ProviderStatus, Result, Error and UpdatedAt of the job with
// j's ID (UpdatedAt, when zero, is set to now). ENOTFOUND if there is none. When the job
// becomes terminal, the event's delivery is added in the same transaction (addJobEvent):
// write transactions are exclusive, so the status it moved from is the one it read, and
// two replicas saving one transition add one delivery.
func (s *Store) UpdateJobStatus(ctx context.Context, j *aiproxy.Job) error {
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = sqlcodec.Now()
	}
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		var (
			prev  string
			orgID int64
		)
		err := tx.QueryRowContext(ctx, `SELECT status, org_id FROM jobs WHERE id = ?`, j.ID).Scan(&prev, &orgID)
		if errors.Is(err, sql.ErrNoRows) {
			return aiproxy.Errorf(aiproxy.ENOTFOUND, "Job %d not found.", j.ID)
		} else if err != nil {
			return fmt.Errorf("update job %d: %w", j.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, provider_status = ?, result = ?, error = ?, updated_at = ?
			WHERE id = ?`, j.Status, j.ProviderStatus, j.Result, j.Error, nanos(j.UpdatedAt), j.ID); err != nil {
			return fmt.Errorf("update job %d: %w", j.ID, err)
		}
		return addJobEvent(ctx, tx, j, orgID, prev)
	})
}

func scanJob(row sqlcodec.Row) (*aiproxy.Job, error) {
	var (
		j       aiproxy.Job
		source  string
		created int64
		updated sql.NullInt64
	)
	if err := row.Scan(&j.ID, &j.OrgID, &j.Service, &j.Action, &j.UpstreamID, &source, &j.RequestID, &j.KeyPrefix, &created,
		&j.Status, &j.ProviderStatus, &j.Result, &j.Error, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan job: %w", err)
	}
	j.Source = aiproxy.Source(source)
	j.CreatedAt, j.UpdatedAt = fromNanos(created), fromNullStamp(updated)
	return &j, nil
}

func scanString(row sqlcodec.Row) (*string, error) {
	var v string
	if err := row.Scan(&v); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return &v, nil
}

// ClaimJobWatches gives owner the watch of at most limit due, unterminated jobs created
// after createdAfter whose watch is free, expired or owner's, in one write transaction
// (SQLite has one writer at a time: two owners cannot claim one job).
func (s *Store) ClaimJobWatches(ctx context.Context, owner string, now, createdAfter, leaseUntil time.Time, limit int) ([]*aiproxy.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var claimed []*aiproxy.Job
	err := s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		claimed = nil
		rows, err := tx.QueryContext(ctx, `UPDATE jobs SET watch_owner = ?, watch_until = ?
			WHERE id IN (SELECT id FROM jobs WHERE status NOT IN (?, ?) AND created_at > ?
				AND (next_poll_at IS NULL OR next_poll_at <= ?)
				AND (watch_owner IS NULL OR watch_owner = ? OR watch_until IS NULL OR watch_until <= ?)
				ORDER BY next_poll_at IS NOT NULL, next_poll_at, id LIMIT ?)
			RETURNING `+jobColumns,
			owner, nanos(leaseUntil), aiproxy.JobCompleted, aiproxy.JobFailed, nanos(createdAfter),
			nanos(now), owner, nanos(now), limit)
		if err != nil {
			return fmt.Errorf("claim job watches: %w", err)
		}
		defer rows.Close()
		claimed, err = sqlcodec.Collect(rows, scanJob)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(claimed, func(a, b *aiproxy.Job) int { return cmp.Compare(a.ID, b.ID) })
	return claimed, nil
}

// SetJobNextPoll sets when the job is next due, if owner holds its watch.
func (s *Store) SetJobNextPoll(ctx context.Context, id int64, owner string, next time.Time) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET next_poll_at = ? WHERE id = ? AND watch_owner = ?`,
			nanos(next), id, owner); err != nil {
			return fmt.Errorf("set job %d next poll: %w", id, err)
		}
		return nil
	})
}

// ReleaseJobWatch frees the job's watch if owner holds it.
func (s *Store) ReleaseJobWatch(ctx context.Context, id int64, owner string) error {
	return s.write(ctx, false, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET watch_owner = NULL, watch_until = NULL WHERE id = ? AND watch_owner = ?`,
			id, owner); err != nil {
			return fmt.Errorf("release job %d: %w", id, err)
		}
		return nil
	})
}
