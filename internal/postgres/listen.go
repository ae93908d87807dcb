package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen calls fn whenever another writer (any replica, this one included) changes the
// store, until ctx is done; it then returns nil. It LISTENs on a dedicated connection,
// outside the pool.
//
// fn is also called once as soon as the subscription is in place, and again after every
// reconnection, because changes made while nobody listened were never announced: a cache
// that reloads on every call of fn therefore misses nothing. A lost connection is retried
// with backoff; only a failure of the first connection is returned.
//
// fn runs on Listen's goroutine: a slow fn delays the next notifications, it loses none.
func (s *Store) Listen(ctx context.Context, fn func()) error {
	const maxBackoff = 30 * time.Second
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
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen subscribes on a new connection and calls fn until the connection or ctx fails.
func (s *Store) listen(ctx context.Context, fn func()) (subscribed bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false, fmt.Errorf("listen: connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	fn()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("listen: %w", err)
		}
		fn()
	}
}
