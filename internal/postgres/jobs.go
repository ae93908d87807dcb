package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
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
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO jobs (org_id, service, action, upstream_id, source, request_id, key_prefix,
			created_at, status, provider_status, result, error, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			j.OrgID, j.Service, j.Action, j.UpstreamID, string(j.Source), j.RequestID, j.KeyPrefix, created,
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
	j, err := get(ctx, s, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE service = $1 AND upstream_id = $2`, service, upstreamID)
	return j, sqlcodec.NotFound(err, pgx.ErrNoRows, "Job %q of %s not found.", upstreamID, service)
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
	found, err := getAll(ctx, s, scanString, `SELECT upstream_id FROM jobs
		WHERE service = $1 AND org_id = $2 AND upstream_id = ANY($3)`, service, orgID, ids)
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
	where, args := []string{"org_id = $1", "id < $2"}, []any{orgID, before}
	param := func(column string, v any) {
		args = append(args, v)
		where = append(where, column+" = $"+strconv.Itoa(len(args)))
	}
	if service != "" {
		param("service", service)
	}
	if status != "" {
		param("status", status)
	}
	args = append(args, limit)
	return list(ctx, s, "list jobs", scanJob, `SELECT `+jobColumns+` FROM jobs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
}

// UpdateJobStatus saves Status, ProviderStatus, Result, Error and UpdatedAt of the job with
// j's ID (UpdatedAt, when zero, is set to now). ENOTFOUND if there is none. When the job
// becomes terminal, the event's delivery is added in the same transaction (addJobEvent).
// The job's row is locked (FOR UPDATE) before its previous status is read: of two
// replicas saving one transition, the second reads the first's committed status, and
// one delivery is added.
func (s *Store) UpdateJobStatus(ctx context.Context, j *aiproxy.Job) error {
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = sqlcodec.Now()
	}
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		var (
			prev  string
			orgID int64
		)
		err := tx.QueryRow(ctx, `SELECT status, org_id FROM jobs WHERE id = $1 FOR UPDATE`, j.ID).Scan(&prev, &orgID)
		if errors.Is(err, pgx.ErrNoRows) {
			return aiproxy.Errorf(aiproxy.ENOTFOUND, "Job %d not found.", j.ID)
		} else if err != nil {
			return fmt.Errorf("update job %d: %w", j.ID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = $1, provider_status = $2, result = $3, error = $4, updated_at = $5
			WHERE id = $6`, j.Status, j.ProviderStatus, j.Result, j.Error, j.UpdatedAt, j.ID); err != nil {
			return fmt.Errorf("update job %d: %w", j.ID, err)
		}
		return addJobEvent(ctx, tx, j, orgID, prev)
	})
}

func scanJob(row sqlcodec.Row) (*aiproxy.Job, error) {
	var (
		j       aiproxy.Job
		source  string
		updated *time.Time
	)
	if err := row.Scan(&j.ID, &j.OrgID, &j.Service, &j.Action, &j.UpstreamID, &source, &j.RequestID, &j.KeyPrefix, &j.CreatedAt,
		&j.Status, &j.ProviderStatus, &j.Result, &j.Error, &updated); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan job: %w", err)
	}
	j.Source = aiproxy.Source(source)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), fromNullStamp(updated)
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
// after createdAfter whose watch is free, expired or owner's: the rows are locked as they
// are chosen (FOR UPDATE SKIP LOCKED), so two owners never claim one job.
func (s *Store) ClaimJobWatches(ctx context.Context, owner string, now, createdAfter, leaseUntil time.Time, limit int) ([]*aiproxy.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var claimed []*aiproxy.Job
	err := s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		claimed = nil
		// The rows are chosen once (MATERIALIZED): as a plain subquery of the UPDATE, the
		// planner may run the choice again per updated row, each run skipping the rows this
		// statement already locked and choosing others — more than limit.
		rows, err := tx.Query(ctx, `WITH due AS MATERIALIZED (SELECT id FROM jobs WHERE status NOT IN ($3, $4) AND created_at > $5
				AND (next_poll_at IS NULL OR next_poll_at <= $6)
				AND (watch_owner IS NULL OR watch_owner = $1 OR watch_until IS NULL OR watch_until <= $6)
				ORDER BY next_poll_at NULLS FIRST, id LIMIT $7 FOR UPDATE SKIP LOCKED)
			UPDATE jobs SET watch_owner = $1, watch_until = $2
			WHERE id IN (SELECT id FROM due)
			AND status NOT IN ($3, $4) AND (next_poll_at IS NULL OR next_poll_at <= $6)
			AND (watch_owner IS NULL OR watch_owner = $1 OR watch_until IS NULL OR watch_until <= $6)
			RETURNING `+jobColumns,
			owner, leaseUntil, aiproxy.JobCompleted, aiproxy.JobFailed, createdAfter, now, limit)
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
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE jobs SET next_poll_at = $1 WHERE id = $2 AND watch_owner = $3`, next, id, owner); err != nil {
			return fmt.Errorf("set job %d next poll: %w", id, err)
		}
		return nil
	})
}

// ReleaseJobWatch frees the job's watch if owner holds it.
func (s *Store) ReleaseJobWatch(ctx context.Context, id int64, owner string) error {
	return s.write(ctx, false, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE jobs SET watch_owner = NULL, watch_until = NULL WHERE id = $1 AND watch_owner = $2`,
			id, owner); err != nil {
			return fmt.Errorf("release job %d: %w", id, err)
		}
		return nil
	})
}
