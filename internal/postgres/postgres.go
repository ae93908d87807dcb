// Package postgres implements aiproxy.Store on PostgreSQL through pgx. Every mutation bumps
// a version counter and sends NOTIFY aiproxy_changes in the same transaction, so replicas
// sharing the database can drop their caches (see Listen).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Channel is the LISTEN/NOTIFY channel on which every change is announced; the payload is
// the new version.
const Channel = "aiproxy_changes"

// migrationLock is the pg_advisory_xact_lock key that serializes migrations across
// replicas starting together.
const migrationLock int64 = 0x6169_7072_6f78_79 // "aiproxy"

// Store is an aiproxy.Store backed by a PostgreSQL database.
//
// Every call has a deadline of its own (sqlcodec.AnswerTimeout, sqlcodec.WorkTimeout), and
// a call that fails because the database is down, unreachable or silent returns
// EUNAVAILABLE (sqlcodec.Unavailable) rather than a bare driver error: see unreachable for
// which failures those are. SQL errors keep their meaning (a unique violation is ECONFLICT,
// anything else an internal error).
type Store struct {
	pool *pgxpool.Pool
}

var _ aiproxy.Store = (*Store)(nil)

// DefaultConnectTimeout bounds opening one connection (TCP, TLS, authentication) unless the
// DSN sets connect_timeout (whole seconds, as libpq reads it; 0 is taken as unset). Without
// it pgx waits as long as its caller lets it — and pgxpool, which goes on connecting in the
// background after the request that asked gave up, two minutes: with a database whose
// packets are dropped, every slot of the pool would be stuck connecting that long.
const DefaultConnectTimeout = time.Second

// Open connects to dsn (a postgres:// URL or key=value string) and applies pending
// migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool returns the connection pool, for tests and for LISTEN-style extensions.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Migrate applies, in one transaction holding an advisory lock, every embedded migration
// not yet recorded in schema_migrations. Migrations are named NNNN_description.sql and run
// in number order.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := sqlcodec.Migrations(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx)

	// Held until commit: a second replica waits here, then finds everything applied.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INT         PRIMARY KEY,
		name       TEXT        NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range all {
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&applied); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		} else if applied {
			continue
		}
		// Exec without arguments uses the simple protocol, which runs several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("migrate: %s: record: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// Version returns the change counter.
func (s *Store) Version(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	var n int64
	err := retry(ctx, func() error { return s.pool.QueryRow(ctx, `SELECT n FROM store_version WHERE id = 1`).Scan(&n) })
	if err != nil {
		return 0, sqlcodec.Classify(ctx, fmt.Errorf("version: %w", err), unreachable)
	}
	return n, nil
}

// get reads one row with scan: a lookup, under AnswerTimeout as a whole.
func get[T any](ctx context.Context, s *Store, scan func(sqlcodec.Row) (*T, error), query string, args ...any) (*T, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	var v *T
	err := retry(ctx, func() (err error) {
		v, err = scan(s.pool.QueryRow(ctx, query, args...))
		return err
	})
	return v, sqlcodec.Classify(ctx, err, unreachable)
}

// getAll reads the few rows of a lookup by key with scan: a lookup, under AnswerTimeout as
// a whole.
func getAll[T any](ctx context.Context, s *Store, scan func(sqlcodec.Row) (*T, error), query string, args ...any) ([]*T, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	var all []*T
	err := retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		all, err = sqlcodec.Collect(rows, scan)
		return err
	})
	if err != nil {
		return nil, sqlcodec.Classify(ctx, err, unreachable)
	}
	return all, nil
}

// list runs query and reads every row with scan, in a read-only transaction (see tx); what
// names the list in errors.
func list[T any](ctx context.Context, s *Store, what string, scan func(sqlcodec.Row) (*T, error), query string, args ...any) ([]*T, error) {
	var all []*T
	err := s.tx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer rows.Close()
		all, err = sqlcodec.Collect(rows, scan)
		return err
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// write runs fn in a transaction (see tx); when bump is set, the version counter is bumped
// and the change announced in the same transaction (PostgreSQL delivers the NOTIFY on
// commit).
func (s *Store) write(ctx context.Context, bump bool, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.tx(ctx, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if bump {
			if _, err := tx.Exec(ctx, `WITH v AS (UPDATE store_version SET n = n + 1 WHERE id = 1 RETURNING n)
				SELECT pg_notify('`+Channel+`', n::text) FROM v`); err != nil {
				return fmt.Errorf("bump version: %w", err)
			}
		}
		return nil
	})
}

// tx runs fn in a transaction with opts, under WorkTimeout as a whole; getting a
// connection and BEGIN's answer must take at most AnswerTimeout, so that a database that
// does not answer is reported as soon as a lookup would report it. fn gets the deadline's
// context and must use it.
func (s *Store) tx(ctx context.Context, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.WorkTimeout)
	defer cancel()
	tx, err := s.begin(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := fn(ctx, tx); err != nil {
		return sqlcodec.Classify(ctx, err, unreachable)
	}
	if err := tx.Commit(ctx); err != nil {
		return sqlcodec.Classify(ctx, fmt.Errorf("commit: %w", err), unreachable)
	}
	return nil
}

// begin acquires a connection and begins a transaction on it within AnswerTimeout.
func (s *Store) begin(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	var tx pgx.Tx
	err := retry(ctx, func() (err error) {
		tx, err = s.pool.BeginTx(ctx, opts)
		return err
	})
	if err != nil {
		return nil, sqlcodec.Classify(ctx, fmt.Errorf("begin: %w", err), unreachable)
	}
	return tx, nil
}

// retry runs fn, and once more if it failed for want of a working connection while time is
// left: a connection that sat in the pool while the server restarted fails on first use,
// and the pool then connects anew. Only for what is safe to run twice: reads, and BEGIN.
func retry(ctx context.Context, fn func() error) error {
	err := fn()
	if err != nil && ctx.Err() == nil && unreachable(err) {
		err = fn()
	}
	return err
}

// unreachable reports whether err means the database could not be reached or did not
// answer, as opposed to an answer of the database (an SQL error, a constraint violation) or
// a bug. These are:
//
//   - a failure to connect (*pgconn.ConnectError: refused, DNS, TLS, authentication, the
//     connect timeout, too many connections), and pool acquire failures, which are those;
//   - errors pgconn knows happened before anything was sent (pgconn.SafeToRetry: a
//     connection the driver had already closed) and timeouts (pgconn.Timeout);
//   - a connection cut under a query: network errors (reset, broken pipe, i/o timeout),
//     EOF in the middle of the protocol;
//   - the server's own report that it ends the connection or cannot serve: class 08
//     (connection exception), 57P01 admin_shutdown (a restart or a shutdown under the
//     query), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, recovering),
//     53300 too_many_connections, 57014 query_canceled (statement_timeout).
//
// Deadlines of the call's context are recognized by sqlcodec.Classify itself.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300", "57014":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isUniqueViolation reports whether err is PostgreSQL refusing a duplicate unique value.
func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505" // unique_violation
}

// mustAffect returns ENOTFOUND, with the given message, unless tag reports a changed row.
func mustAffect(tag pgconn.CommandTag, format string, args ...any) error {
	if tag.RowsAffected() == 0 {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, format, args...)
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullStamp stores a time that may be unset: the zero time becomes NULL.
func nullStamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromNullStamp reads what nullStamp stored: NULL becomes the zero time.
func fromNullStamp(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
