package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Which failures are the database being out of reach (EUNAVAILABLE), and which are answers
// of the database or bugs (left alone: an internal error).
func TestUnreachableClassification(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("get org: %w", err) }
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"connect error", wrap(&pgconn.ConnectError{}), true},
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"connection reset", wrap(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"DNS", wrap(&net.DNSError{Err: "no such host", Name: "db.internal", IsNotFound: true}), true},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), true},
		{"closed connection", wrap(pgconn.ErrConnClosed), true},
		{"admin shutdown (restart under the query)", wrap(&pgconn.PgError{Code: "57P01"}), true},
		{"crash shutdown", wrap(&pgconn.PgError{Code: "57P02"}), true},
		{"starting up", wrap(&pgconn.PgError{Code: "57P03"}), true},
		{"too many connections", wrap(&pgconn.PgError{Code: "53300"}), true},
		{"statement timeout", wrap(&pgconn.PgError{Code: "57014"}), true},
		{"connection failure", wrap(&pgconn.PgError{Code: "08006"}), true},
		{"unique violation", wrap(&pgconn.PgError{Code: "23505"}), false},
		{"undefined table", wrap(&pgconn.PgError{Code: "42P01"}), false},
		{"serialization failure", wrap(&pgconn.PgError{Code: "40001"}), false},
		{"no rows", pgx.ErrNoRows, false},
		{"a bug", errors.New("scan: cannot decode"), false},
	} {
		if got := unreachable(tt.err); got != tt.want {
			t.Errorf("%s: unreachable = %v, want %v", tt.name, got, tt.want)
		}
		got := sqlcodec.Classify(context.Background(), tt.err, unreachable)
		if isUnavailable := aiproxy.ErrorCode(got) == aiproxy.EUNAVAILABLE; isUnavailable != tt.want {
			t.Errorf("%s: Classify = %v, want EUNAVAILABLE: %v", tt.name, got, tt.want)
		}
	}
	// A deadline is unavailability; a cancellation by the caller is not.
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	if err := sqlcodec.Classify(expired, wrap(context.DeadlineExceeded), unreachable); aiproxy.ErrorCode(err) != aiproxy.EUNAVAILABLE {
		t.Errorf("deadline: %v, want EUNAVAILABLE", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sqlcodec.Classify(cancelled, wrap(context.Canceled), unreachable); !errors.Is(err, context.Canceled) || aiproxy.AsError(err) != nil {
		t.Errorf("cancelled: %v, want context.Canceled unchanged", err)
	}
}

// The connect timeout applies unless the DSN sets one.
func TestOpenBoundsConnecting(t *testing.T) {
	dsn := pgtest.NewTestDatabase(t)
	for _, tt := range []struct {
		dsn  string
		want time.Duration
	}{
		{dsn, DefaultConnectTimeout},
		{dsn + "&connect_timeout=7", 7 * time.Second},
	} {
		s, err := Open(context.Background(), tt.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.pool.Config().ConnConfig.ConnectTimeout; got != tt.want {
			t.Errorf("%s: connect timeout %v, want %v", tt.dsn, got, tt.want)
		}
		s.Close()
	}
}

// A listening connection whose packets are dropped is noticed (by a ping after listenCheck
// of silence), and replaced once the network is back, with a call of fn: what was
// announced meanwhile was lost.
func TestListenNoticesASilentConnection(t *testing.T) {
	defer func(d time.Duration) { listenCheck = d }(listenCheck)
	listenCheck = 300 * time.Millisecond

	proxy := pgtest.NewProxy(t, pgtest.NewTestDatabase(t))
	s, err := Open(context.Background(), proxy.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var calls atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func() { calls.Add(1) }) }()
	defer func() { cancel(); <-done }()
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	wait("the first subscription", func() bool { return calls.Load() == 1 })

	proxy.Blackhole(true)
	// The ping after listenCheck fails within AnswerTimeout; then connection attempts time out.
	time.Sleep(listenCheck + sqlcodec.AnswerTimeout + 2*DefaultConnectTimeout)
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn called %d times during the black hole, want 1", n)
	}
	proxy.Blackhole(false)
	healed := time.Now()
	wait("a new subscription once the network is back", func() bool { return calls.Load() == 2 })
	t.Logf("listening again %v after the network healed", time.Since(healed).Round(time.Millisecond))

	// And it hears changes again.
	if err := s.CreateOrg(context.Background(), &aiproxy.Org{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	wait("the notification of a change", func() bool { return calls.Load() == 3 })
}
