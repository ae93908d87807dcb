package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listenMaxBackoff bounds the wait between two attempts to re-establish a lost connection
// (the wait starts at 100 ms and doubles), so that the cache is dropped soon after the
// database is back: changes made while nobody listened were not announced.
const listenMaxBackoff = 2 * time.Second

// listenCheck is how long the connection may stay silent before Listen pings it. A
// connection whose packets are dropped (a network partition, a server gone without a word)
// would otherwise wait for notifications that never come, for as long as TCP keepalive
// takes to notice; the version poll covers the time until the ping fails. A variable for
// the tests.
var listenCheck = 15 * time.Second

// Listen calls fn whenever another writer (any replica, this one included) changes the
// store, until ctx is done; it then returns nil. It LISTENs on a dedicated connection,
// outside the pool.
//
// fn is also called once as soon as the subscription is in place, and again after every
// reconnection, because changes made while nobody listened were never announced: a cache
// that reloads on every call of fn therefore misses nothing. A lost connection — the
// server restarted, the network dropped it, or a ping after listenCheck of silence went
// unanswered — is retried with backoff (at most listenMaxBackoff between attempts, each
// bounded by the connect timeout); only a failure of the first connection is returned.
//
// fn runs on Listen's goroutine: a slow fn delays the next notifications, it loses none.
func (s *Store) Listen(ctx context.Context, fn func()) error {
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		subscribed, err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		if first && !subscribed {
			return err
		}
		if subscribed {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listen subscribes on a new connection and calls fn until the connection or ctx fails.
func (s *Store) listen(ctx context.Context, fn func()) (subscribed bool, err error) {
	// The pool's configuration: its connect timeout bounds the attempt.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false, fmt.Errorf("listen: connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	lctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
	_, err = conn.Exec(lctx, `LISTEN `+Channel)
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	fn()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn()
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !pgconn.Timeout(err) || conn.IsClosed():
			return true, fmt.Errorf("listen: %w", err)
		}
		// Silent for listenCheck: make sure the server is still there. (A notification
		// arriving meanwhile is kept by pgx for the next WaitForNotification.)
		pctx, cancel := context.WithTimeout(ctx, sqlcodec.AnswerTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("listen: the connection does not answer: %w", err)
		}
	}
}
