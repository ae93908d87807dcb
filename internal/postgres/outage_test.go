package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
	"github.com/aiproxy/aiproxy/internal/storetest"
)

// unavailableWithin is how soon a call must report a database that does not answer: its
// own deadline, and a margin for a loaded machine (and -race).
const unavailableWithin = sqlcodec.AnswerTimeout + 500*time.Millisecond

// The server stopped (pg_ctl stop -m immediate, as a crash would): every call is
// EUNAVAILABLE at once; started again, calls work again (connections the pool held across
// the restart are replaced), and Listen reconnects, telling its caller to drop what it
// cached, and hears changes again.
func TestUnavailableWhileTheServerIsStopped(t *testing.T) {
	srv := pgtest.StartServer(t)
	s := open(t, srv.DSN())
	ctx := context.Background()
	org := &aiproxy.Org{Slug: "acme", Name: "Acme"}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}

	var calls atomic.Int64
	lctx, stopListen := context.WithCancel(ctx)
	listenDone := make(chan error, 1)
	go func() { listenDone <- s.Listen(lctx, func() { calls.Add(1) }) }()
	t.Cleanup(func() { stopListen(); <-listenDone })
	waitFor(t, "the first subscription", 5*time.Second, func() bool { return calls.Load() >= 1 })

	srv.Stop()
	stopped := time.Now()
	name, took := storetest.Unavailable(t, storetest.Calls(s), unavailableWithin)
	t.Logf("server stopped: every call EUNAVAILABLE, the slowest (%s) in %v", name, took.Round(time.Microsecond))

	// A caller that gives up is told so, not that the database is unavailable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.OrgBySlug(cctx, "acme"); !errors.Is(err, context.Canceled) || aiproxy.ErrorCode(err) == aiproxy.EUNAVAILABLE {
		t.Errorf("OrgBySlug with a cancelled context: %v, want context.Canceled", err)
	}

	// Long enough for Listen to be waiting between attempts; still unavailable, still fast.
	time.Sleep(time.Until(stopped.Add(3 * time.Second)))
	name, took = storetest.Unavailable(t, storetest.Calls(s), unavailableWithin)
	t.Logf("3 s later: the slowest (%s) in %v", name, took.Round(time.Microsecond))

	before := calls.Load()
	srv.Start()
	restarted := time.Now()
	t.Logf("server down for %v", restarted.Sub(stopped).Round(time.Millisecond))
	waitFor(t, "a lookup after the restart", 5*time.Second, func() bool {
		got, err := s.OrgBySlug(ctx, "acme")
		return err == nil && got.ID == org.ID
	})
	t.Logf("first successful lookup %v after the restart", time.Since(restarted).Round(time.Millisecond))
	waitFor(t, "Listen to reconnect", 5*time.Second, func() bool { return calls.Load() > before })
	t.Logf("Listen reconnected (and asked for the cache to be dropped) %v after the restart", time.Since(restarted).Round(time.Millisecond))

	before = calls.Load()
	org.Name = "Acme again"
	if err := s.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification of a change made after the restart", 3*time.Second, func() bool { return calls.Load() > before })
}

// The network drops every packet (a partition): no connection is refused or closed, yet
// every call is EUNAVAILABLE within its deadline — the pool's connect timeout and the
// calls' own deadlines, not TCP, tell. When the network heals, calls work again.
func TestUnavailableWhenTheNetworkDropsEverything(t *testing.T) {
	proxy := pgtest.NewProxy(t, pgtest.NewTestDatabase(t))
	s := open(t, proxy.DSN())
	ctx := context.Background()
	org := &aiproxy.Org{Slug: "acme", Name: "Acme"}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}

	proxy.Blackhole(true)
	name, took := storetest.Unavailable(t, storetest.Calls(s), unavailableWithin)
	t.Logf("black hole: every call EUNAVAILABLE, the slowest (%s) in %v", name, took.Round(time.Millisecond))
	// Again, now that the pool's connections have been given up on.
	name, took = storetest.Unavailable(t, storetest.Calls(s), unavailableWithin)
	t.Logf("black hole, again: the slowest (%s) in %v", name, took.Round(time.Millisecond))

	// A caller that gives up first is told so.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	cctx, cancelNow := context.WithCancel(cctx)
	time.AfterFunc(100*time.Millisecond, cancelNow)
	if _, err := s.OrgBySlug(cctx, "acme"); !errors.Is(err, context.Canceled) || aiproxy.ErrorCode(err) == aiproxy.EUNAVAILABLE {
		t.Errorf("OrgBySlug cancelled by its caller: %v, want context.Canceled", err)
	}

	proxy.Blackhole(false)
	healed := time.Now()
	waitFor(t, "a lookup once the network is back", 5*time.Second, func() bool {
		got, err := s.OrgBySlug(ctx, "acme")
		return err == nil && got.ID == org.ID
	})
	t.Logf("first successful lookup %v after the network healed", time.Since(healed).Round(time.Millisecond))
	if err := s.UpdateOrg(ctx, org); err != nil {
		t.Errorf("UpdateOrg once the network is back: %v", err)
	}
}

// An answer of the database is not an outage: an SQL error stays an internal error.
func TestSQLErrorsAreNotUnavailable(t *testing.T) {
	s := open(t, pgtest.NewTestDatabase(t))
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `DROP TABLE service_settings`); err != nil {
		t.Fatal(err)
	}
	_, err := s.ServiceSettings(ctx, "heygen", 0)
	if err == nil || aiproxy.ErrorCode(err) != aiproxy.EINTERNAL {
		t.Errorf("ServiceSettings of a dropped table: %v (code %q), want an internal error", err, aiproxy.ErrorCode(err))
	}
	err = s.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen"})
	if err == nil || aiproxy.ErrorCode(err) != aiproxy.EINTERNAL {
		t.Errorf("PutServiceSettings into a dropped table: %v (code %q), want an internal error", err, aiproxy.ErrorCode(err))
	}
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
