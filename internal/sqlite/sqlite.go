// Package sqlite implements aiproxy.Store on SQLite, through the pure-Go modernc.org/sqlite
// driver. Timestamps are stored as UTC unix nanoseconds; lists (scopes, CORS origins) and
// policies as JSON text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an aiproxy.Store backed by one SQLite file. Several Stores, in one process or
// several, may share the file: every write transaction begins IMMEDIATE and waits up to
// busyTimeout for the write lock instead of failing with SQLITE_BUSY.
//
// Every call has a deadline of its own (sqlcodec.AnswerTimeout for lookups,
// sqlcodec.WorkTimeout, longer than busyTimeout, for writes and lists), and a call that
// fails because the database cannot be used — locked by another writer beyond the busy
// timeout, the file gone or unreadable, or the deadline passed — returns EUNAVAILABLE
// (sqlcodec.Unavailable); see unreachable.
//
// The database file is created mode 0600 whatever the umask, and SQLite gives the -wal
// and -shm files it creates beside it the database's mode: the three hold sealed
// credentials and key hashes, and are the owner's only. An existing database keeps its
// mode.
type Store struct {
	db *sql.DB
}

var _ aiproxy.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for another writer before giving up.
const busyTimeout = 5 * time.Second

// Open opens (creating if needed) the database at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)") // durable enough under WAL, much faster
	q.Add("_pragma", "foreign_keys(1)")
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never has to upgrade
	// a read lock, which SQLite refuses with SQLITE_BUSY whatever the busy timeout.
	q.Set("_txlock", "immediate")

	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if inMemory(path) {
		db.SetMaxOpenConns(1) // every connection would get its own empty database
	} else {
		// database/sql keeps 2 idle connections by default: under concurrent writes most
		// transactions would then open a new connection, parsing the schema and the pragmas
		// again each time. Keep as many as the gateway has writers at once, in practice.
		db.SetMaxIdleConns(maxIdleConns)
	}
	s := &Store{db: db}
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// ping opens the first connection. Its pragmas switch a new file to WAL, which needs a
// lock SQLite does not wait for (the busy timeout does not cover it): when processes open
// one file at once, one may get SQLITE_BUSY; it tries again until busyTimeout has passed.
func ping(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// maxIdleConns is how many idle SQLite connections are kept open for reuse.
const maxIdleConns = 32

func inMemory(path string) bool {
	return path == ":memory:" || strings.Contains(path, "mode=memory")
}

// createPrivate creates the database file at path, empty (SQLite takes an empty file for an
// empty database) and mode 0600 whatever the umask, unless it exists already — an existing
// database keeps its mode — or path names no plain file (in memory, a file: URI, a name
// with parameters). SQLite creates the -wal and -shm files with the mode of the database
// file, so they are 0600 too.
func createPrivate(path string) error {
	if path == "" || inMemory(path) || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(0o600) // the umask may have taken bits away; it never adds any
}

// DB returns the underlying database handle, for tests.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Migrate applies, in one transaction, every embedded migration not yet recorded in
// schema_migrations. Migrations are named NNNN_description.sql and run in number order.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := sqlcodec.Migrations(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range all {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		} else if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, nanos(time.Now())); err != nil {
			return fmt.Errorf("migrate: %s: record: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// Version returns the change counter.
func (s *Store) Version(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT n FROM store_version WHERE id = 1`).Scan(&n); err != nil {
		return 0, sqlcodec.Classify(ctx, fmt.Errorf("version: %w", err), unreachable)
	}
	return n, nil
}

// get reads one row with scan: a lookup, under AnswerTimeout.
func get[T any](ctx context.Context, s *Store, scan func(sqlcodec.Row) (*T, error), query string, args ...any) (*T, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	v, err := scan(s.db.QueryRowContext(ctx, query, args...))
	return v, sqlcodec.Classify(ctx, err, unreachable)
}

// getAll reads the few rows of a lookup by key with scan, under AnswerTimeout.
func getAll[T any](ctx context.Context, s *Store, scan func(sqlcodec.Row) (*T, error), query string, args ...any) ([]*T, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, sqlcodec.Classify(ctx, err, unreachable)
	}
	defer rows.Close()
	all, err := sqlcodec.Collect(rows, scan)
	return all, sqlcodec.Classify(ctx, err, unreachable)
}

// list runs query and reads every row with scan, under WorkTimeout; what names the list in
// errors.
func list[T any](ctx context.Context, s *Store, what string, scan func(sqlcodec.Row) (*T, error), query string, args ...any) ([]*T, error) {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.WorkTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, sqlcodec.Classify(ctx, fmt.Errorf("%s: %w", what, err), unreachable)
	}
	defer rows.Close()
	all, err := sqlcodec.Collect(rows, scan)
	if err != nil {
		return nil, sqlcodec.Classify(ctx, err, unreachable)
	}
	return all, nil
}

// write runs fn in a transaction under WorkTimeout (which leaves room for busyTimeout);
// when bump is set, the version counter is bumped in the same transaction, so a reader
// never sees the change without the new version. fn gets the deadline's context and must
// use it.
func (s *Store) write(ctx context.Context, bump bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, sqlcodec.WorkTimeout)
	defer cancel()
	return sqlcodec.Classify(ctx, s.inTx(ctx, bump, fn), unreachable)
}

func (s *Store) inTx(ctx context.Context, bump bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if bump {
		if _, err := tx.ExecContext(ctx, `UPDATE store_version SET n = n + 1 WHERE id = 1`); err != nil {
			return fmt.Errorf("bump version: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// unreachable reports whether err means the database file cannot be used right now, as
// opposed to an answer of SQLite about the statement (an SQL error, a constraint
// violation) or a bug: SQLITE_BUSY and SQLITE_LOCKED ("database is locked": another
// process held the lock beyond the busy timeout), SQLITE_CANTOPEN, SQLITE_IOERR and
// SQLITE_FULL (the file or its directory gone, unreadable or out of space), SQLITE_PROTOCOL
// (a WAL locking race that did not settle). Deadlines are recognized by
// sqlcodec.Classify itself.
func unreachable(err error) bool {
	var e *sqlitedriver.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate unique value.
func isUniqueViolation(err error) bool {
	var e *sqlitedriver.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(*t), Valid: true}
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// nullStamp stores a time that may be unset: the zero time becomes NULL.
func nullStamp(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(t), Valid: true}
}

// fromNullStamp reads what nullStamp stored: NULL becomes the zero time.
func fromNullStamp(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}
