// Package postgres implements aiproxy.Store on PostgreSQL through pgx. Every mutation bumps
// a version counter and sends NOTIFY aiproxy_changes in the same transaction, so replicas
// sharing the database can drop their caches (see Listen).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
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
type Store struct {
	pool *pgxpool.Pool
}

var _ aiproxy.Store = (*Store)(nil)

// Open connects to dsn (a postgres:// URL or key=value string) and applies pending
// migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
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
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT n FROM store_version WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	return n, nil
}

// write runs fn in a transaction; when bump is set, the version counter is bumped and the
// change announced in the same transaction (PostgreSQL delivers the NOTIFY on commit).
func (s *Store) write(ctx context.Context, bump bool, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if bump {
		if _, err := tx.Exec(ctx, `WITH v AS (UPDATE store_version SET n = n + 1 WHERE id = 1 RETURNING n)
			SELECT pg_notify('`+Channel+`', n::text) FROM v`); err != nil {
			return fmt.Errorf("bump version: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
