package postgres_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/postgres"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/storetest"
)

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) aiproxy.Store {
		return open(t, pgtest.NewTestDatabase(t))
	})
}

// A revocation whose tokens cannot be revoked leaves the key active too.
func TestRevokeAPIKeyIsAtomic(t *testing.T) {
	s := open(t, pgtest.NewTestDatabase(t))
	storetest.RevokeIsAtomic(t, s, func(t *testing.T) {
		_, err := s.Pool().Exec(context.Background(), `
			CREATE FUNCTION fail_token_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'injected failure'; END $$;
			CREATE TRIGGER fail_token_revoke BEFORE UPDATE OF revoked_at ON api_keys
				FOR EACH ROW WHEN (NEW.parent_id <> 0) EXECUTE FUNCTION fail_token_revoke();`)
		if err != nil {
			t.Fatal(err)
		}
	})
}

// Purging deliveries and deleting an org leave no attempt of a delivery that is gone.
func TestWebhookAttemptsGoWithTheirDeliveries(t *testing.T) {
	s := open(t, pgtest.NewTestDatabase(t))
	count := func(query string) func(t *testing.T) int {
		return func(t *testing.T) int {
			var n int
			if err := s.Pool().QueryRow(context.Background(), query).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	storetest.NoOrphanWebhookAttempts(t, s, count(`SELECT count(*) FROM webhook_attempts`),
		count(`SELECT count(*) FROM webhook_attempts WHERE delivery_id NOT IN (SELECT id FROM webhook_deliveries)`))
}

// Replicas starting together all succeed: the advisory lock makes all but the first find
// the migrations applied.
func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	dsn := pgtest.NewTestDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	s := open(t, dsn)
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migrations recorded")
	}
	v, err := s.Version(context.Background())
	if err != nil || v != 1 {
		t.Errorf("Version = %d, %v; want 1 (store_version seeded once)", v, err)
	}
}

func TestListenSeesOtherReplicasChanges(t *testing.T) {
	dsn := pgtest.NewTestDatabase(t)
	listener, writer := open(t, dsn), open(t, dsn)

	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- listener.Listen(ctx, func() { calls <- struct{}{} }) }()

	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case err := <-done:
			t.Fatalf("Listen returned before %s: %v", what, err)
		case <-time.After(time.Second):
			t.Fatalf("no call within 1s of %s", what)
		}
	}
	wait("subscribing") // the first call says the subscription is in place

	for _, tt := range []struct {
		name     string
		mutate   func(context.Context) error
		notifies bool
	}{
		{"CreateOrg", func(ctx context.Context) error {
			return writer.CreateOrg(ctx, &aiproxy.Org{Slug: "acme", Name: "Acme"})
		}, true},
		{"AppendAudit", func(ctx context.Context) error {
			return writer.AppendAudit(ctx, &aiproxy.AuditEntry{Actor: "cli", Action: "x"})
		}, false},
		{"PutServiceSettings", func(ctx context.Context) error {
			return writer.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen"})
		}, true},
		{"ReserveBudget", func(ctx context.Context) error {
			_, _, err := writer.ReserveBudget(ctx, &aiproxy.BudgetReservation{OrgID: 1, Service: "heygen", Window: "2026-12",
				Units: aiproxy.Units{aiproxy.UnitRequests: 1}, ExpiresAt: time.Now().Add(time.Minute)}, nil)
			return err
		}, false},
		{"AddUsage", func(ctx context.Context) error {
			return writer.AddUsage(ctx, []aiproxy.UsageDelta{{OrgID: 1, Service: "heygen", Action: "x", Day: "2026-12-01", Calls: 1}})
		}, false},
		{"PutBudget", func(ctx context.Context) error {
			return writer.PutBudget(ctx, &aiproxy.Budget{OrgID: 1, Service: "heygen", Period: "day",
				Limits: aiproxy.Units{aiproxy.UnitRequests: 1}})
		}, true},
	} {
		if err := tt.mutate(context.Background()); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.notifies {
			wait(tt.name)
			continue
		}
		select {
		case <-calls:
			t.Fatalf("%s notified", tt.name)
		case <-time.After(200 * time.Millisecond):
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Listen returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return after cancel")
	}
}

func TestListenReturnsWhenContextDone(t *testing.T) {
	s := open(t, pgtest.NewTestDatabase(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Listen(ctx, func() { t.Error("fn called with a cancelled context") }); err != nil {
		t.Errorf("Listen with a cancelled context = %v, want nil", err)
	}
}

// NewTestDatabase skips when no server is configured and fails when the configured one is
// down, so a broken CI database cannot pass as skipped tests.
func TestNewTestDatabaseWithoutServer(t *testing.T) {
	for _, tt := range []struct {
		name, dsn string
		want      string
	}{
		{"unset", "", "skip"},
		{"unreachable", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", "fail"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(pgtest.TestDSNEnv, tt.dsn)
			tb := &recordingTB{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				pgtest.NewTestDatabase(tb)
			}()
			<-done
			if tb.outcome != tt.want {
				t.Errorf("NewTestDatabase outcome = %q, want %q", tb.outcome, tt.want)
			}
		})
	}
}

// recordingTB records whether NewTestDatabase skipped or failed; both end the goroutine,
// as they would a test.
type recordingTB struct {
	testing.TB
	outcome string
}

func (tb *recordingTB) Helper()               {}
func (tb *recordingTB) Cleanup(func())        {}
func (tb *recordingTB) Skip(...any)           { tb.outcome = "skip"; runtime.Goexit() }
func (tb *recordingTB) Fatalf(string, ...any) { tb.outcome = "fail"; runtime.Goexit() }
func (tb *recordingTB) Errorf(string, ...any) { tb.outcome = "fail" }
