// Package sqlcodec is what the SQL stores (sqlite, postgres) share whatever the dialect: how
// domain values are written to columns and read back (lists and policies as JSON text,
// byte slices never NULL, times at the precision both keep), how result rows become values,
// how a missing row becomes ENOTFOUND, how a database that does not answer becomes
// EUNAVAILABLE and how long a call may wait for it, how ListAudit's open bounds become SQL
// arguments, and how the embedded migration files are named and ordered; and, for usage
// and budgets (metering.go), which units exist, how a batch of usage is checked and put in
// lock order, and the budget check itself. The SQL, which differs per dialect, stays in
// each store.
package sqlcodec

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
)

// EncodeStrings stores a list as a JSON array; nil and empty both become "[]".
func EncodeStrings(a []string) string {
	if len(a) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(a) // a []string always marshals
	return string(b)
}

// DecodeStrings reads a JSON array; an empty one becomes nil.
func DecodeStrings(s string) ([]string, error) {
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", s, err)
	}
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}

// EncodePolicy stores a policy as a JSON object; nil (inherit) becomes NULL.
func EncodePolicy(p *aiproxy.Policy) (*string, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	s := string(b)
	return &s, nil
}

// DecodePolicy reads a JSON object; NULL (nil) stays nil.
func DecodePolicy(s *string) (*aiproxy.Policy, error) {
	if s == nil {
		return nil, nil
	}
	var p aiproxy.Policy
	if err := json.Unmarshal([]byte(*s), &p); err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	return &p, nil
}

// Bytes keeps a nil byte slice from being stored as NULL in a NOT NULL column.
func Bytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Now is the stores' clock: UTC at the microsecond precision of PostgreSQL's TIMESTAMPTZ,
// so what a write sets equals what a later read returns, and both backends return the same
// values.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Page turns ListAudit's open bounds into SQL arguments: before <= 0 (from the newest)
// becomes the largest id, limit <= 0 (all) the largest LIMIT.
func Page(before int64, limit int) (int64, int) {
	if before <= 0 {
		before = math.MaxInt64
	}
	if limit <= 0 {
		limit = math.MaxInt32
	}
	return before, limit
}

// Row is one result row: a *sql.Row or *sql.Rows, a pgx.Row or pgx.Rows.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set: *sql.Rows or pgx.Rows. Closing it is left to the caller, whose
// driver decides how.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// Collect reads every row of rows with scan.
func Collect[T any](rows Rows, scan func(Row) (*T, error)) ([]*T, error) {
	var all []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	return all, nil
}

// NotFound is how a lookup of one row reports a missing row: noRows, the driver's "no
// rows" error (sql.ErrNoRows, pgx.ErrNoRows), becomes ENOTFOUND with the message format and
// args; any other err is returned unchanged.
func NotFound(err, noRows error, format string, args ...any) error {
	if errors.Is(err, noRows) {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, format, args...)
	}
	return err
}

// How long a store call may wait for the database. A request that needs the database while
// it is down, unreachable or silent gets EUNAVAILABLE (503) instead of waiting: every store
// call runs under one of these deadlines, the store's own, besides whatever its caller set.
const (
	// AnswerTimeout bounds a lookup (one row by its key, the version) as a whole, and the
	// start of every other call: getting a connection and the database's first answer
	// (PostgreSQL: the connection's handshake or liveness ping, and BEGIN). A database that
	// does not answer is therefore reported within this time whatever the call.
	AnswerTimeout = 1500 * time.Millisecond
	// WorkTimeout bounds a write or a list as a whole, once the database has answered:
	// revoking a key that minted many browser tokens, or listing them, may take longer than
	// a lookup without anything being wrong (SQLite: a writer also waits up to its busy
	// timeout for another process's write lock).
	WorkTimeout = 10 * time.Second
)

// UnavailableMessage is what a client is told when the gateway's database does not answer.
const UnavailableMessage = "The gateway's database is unavailable; try again shortly."

// Unavailable is the error of a store call that failed because the database could not be
// reached or did not answer in time: EUNAVAILABLE (503, Retry-After: 5), cause kept for the
// log.
func Unavailable(cause error) *aiproxy.Error {
	return &aiproxy.Error{Code: aiproxy.EUNAVAILABLE, Message: UnavailableMessage, RetryAfter: "5", Err: cause}
}

// Classify is the last step of every store call made under ctx (the call's own deadline
// included): it returns err as the store reports it.
//
//   - nil, and domain errors (ENOTFOUND, ECONFLICT, …), unchanged;
//   - an error of a call whose caller cancelled it (the client went away), wrapping
//     context.Canceled, so that the HTTP layer recognizes it;
//   - a deadline that passed (the store's own or the caller's) or an error unreachable
//     reports as the database being out of reach — refused, reset or closed connections,
//     DNS failures, a server shutting down, the driver's lock errors —: EUNAVAILABLE with
//     err as its cause;
//   - anything else (an SQL error, a constraint violation, a scan error: a bug), unchanged,
//     which the HTTP layer answers 500.
func Classify(ctx context.Context, err error, unreachable func(error) bool) error {
	switch {
	case err == nil || aiproxy.AsError(err) != nil:
		return err
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(ctx.Err(), context.Canceled):
		// The driver's own report of the interruption (SQLite: "interrupted") says nothing
		// of why; the caller learns it was its cancellation.
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || unreachable(err):
		return Unavailable(err)
	}
	return err
}

// Migration is one schema change, a file named NNNN_description.sql.
type Migration struct {
	Version int    // NNNN
	Name    string // the file's base name, e.g. "0001_initial.sql"
	SQL     string
}

// Migrations reads the *.sql files of dir in fsys, in version order. Every name must start
// with its version number, and no two may share one.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	all := make([]Migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("%s: name must start with a number: %w", base, err)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
		all = append(all, Migration{Version: version, Name: base, SQL: string(body)})
	}
	slices.SortFunc(all, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	for i := 1; i < len(all); i++ {
		if all[i].Version == all[i-1].Version {
			return nil, fmt.Errorf("%s and %s: two migrations numbered %d", all[i-1].Name, all[i].Name, all[i].Version)
		}
	}
	return all, nil
}
