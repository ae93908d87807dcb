package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Call is one call of an aiproxy.Store method.
type Call struct {
	Name  string
	Write bool // the call changes the store (or would)
	Do    func(ctx context.Context) error
}

// Calls is one call of every method of s, with arguments that need no particular content
// in the store: for checking what every call does when the database does not answer.
func Calls(s aiproxy.Store) []Call {
	cr := newCredential("heygen", aiproxy.SourcePlatform, 0, "kek1")
	return []Call{
		{"CreateOrg", true, func(ctx context.Context) error { return s.CreateOrg(ctx, &aiproxy.Org{Slug: "down", Name: "Down"}) }},
		{"OrgBySlug", false, func(ctx context.Context) error { _, err := s.OrgBySlug(ctx, "down"); return err }},
		{"OrgByID", false, func(ctx context.Context) error { _, err := s.OrgByID(ctx, 1); return err }},
		{"ListOrgs", false, func(ctx context.Context) error { _, err := s.ListOrgs(ctx); return err }},
		{"UpdateOrg", true, func(ctx context.Context) error { return s.UpdateOrg(ctx, &aiproxy.Org{ID: 1, Slug: "down"}) }},
		{"DeleteOrg", true, func(ctx context.Context) error { return s.DeleteOrg(ctx, 1) }},
		{"CreateAPIKey", true, func(ctx context.Context) error {
			return s.CreateAPIKey(ctx, &aiproxy.APIKey{Prefix: "ak_down", Hash: "h-down", Role: aiproxy.RoleOperator})
		}},
		{"APIKeyByHash", false, func(ctx context.Context) error { _, err := s.APIKeyByHash(ctx, "h-down"); return err }},
		{"APIKeyByPrefix", false, func(ctx context.Context) error { _, err := s.APIKeyByPrefix(ctx, "ak_down"); return err }},
		{"APIKeyByID", false, func(ctx context.Context) error { _, err := s.APIKeyByID(ctx, 1); return err }},
		{"ListAPIKeys", false, func(ctx context.Context) error { _, err := s.ListAPIKeys(ctx, 0); return err }},
		{"RevokeAPIKey", true, func(ctx context.Context) error { _, err := s.RevokeAPIKey(ctx, "ak_down", day); return err }},
		{"TouchAPIKeys", true, func(ctx context.Context) error { return s.TouchAPIKeys(ctx, map[int64]time.Time{1: day}) }},
		{"PutCredential", true, func(ctx context.Context) error { return s.PutCredential(ctx, cr) }},
		{"GetCredential", false, func(ctx context.Context) error {
			_, err := s.GetCredential(ctx, "heygen", aiproxy.SourcePlatform, 0)
			return err
		}},
		{"DeleteCredential", true, func(ctx context.Context) error {
			return s.DeleteCredential(ctx, "heygen", aiproxy.SourcePlatform, 0)
		}},
		{"ListCredentials", false, func(ctx context.Context) error { _, err := s.ListCredentials(ctx); return err }},
		{"ServiceCredentials", false, func(ctx context.Context) error { _, err := s.ServiceCredentials(ctx, "heygen"); return err }},
		{"RewrapCredential", true, func(ctx context.Context) error { _, err := s.RewrapCredential(ctx, cr, "kek0"); return err }},
		{"ServiceSettings", false, func(ctx context.Context) error { _, err := s.ServiceSettings(ctx, "heygen", 0); return err }},
		{"ListServiceSettings", false, func(ctx context.Context) error { _, err := s.ListServiceSettings(ctx); return err }},
		{"PutServiceSettings", true, func(ctx context.Context) error {
			return s.PutServiceSettings(ctx, &aiproxy.ServiceSettings{Service: "heygen", Enabled: ptr(false)})
		}},
		{"AppendAudit", true, func(ctx context.Context) error {
			return s.AppendAudit(ctx, &aiproxy.AuditEntry{Actor: "cli", Action: "down"})
		}},
		{"ListAudit", false, func(ctx context.Context) error { _, err := s.ListAudit(ctx, 0, 0, 10); return err }},
		{"CreateJob", true, func(ctx context.Context) error { return s.CreateJob(ctx, newJob(1, "heygen", "down")) }},
		{"JobByUpstreamID", false, func(ctx context.Context) error { _, err := s.JobByUpstreamID(ctx, "heygen", "down"); return err }},
		{"OwnedJobs", false, func(ctx context.Context) error {
			_, err := s.OwnedJobs(ctx, 1, "heygen", []string{"down"})
			return err
		}},
		{"ListJobs", false, func(ctx context.Context) error { _, err := s.ListJobs(ctx, 1, "", "", 0, 10); return err }},
		{"UpdateJobStatus", true, func(ctx context.Context) error {
			return s.UpdateJobStatus(ctx, &aiproxy.Job{ID: 1, Status: "queued", UpdatedAt: day})
		}},
		{"ClaimJobWatches", true, func(ctx context.Context) error {
			_, err := s.ClaimJobWatches(ctx, "down", day, day.Add(-24*time.Hour), day.Add(time.Minute), 10)
			return err
		}},
		{"SetJobNextPoll", true, func(ctx context.Context) error { return s.SetJobNextPoll(ctx, 1, "down", day) }},
		{"ReleaseJobWatch", true, func(ctx context.Context) error { return s.ReleaseJobWatch(ctx, 1, "down") }},
		{"BeginIdempotent", true, func(ctx context.Context) error {
			_, err := s.BeginIdempotent(ctx, newIdem(1, "down", "fp", 0))
			return err
		}},
		{"FinishIdempotent", true, func(ctx context.Context) error {
			return s.FinishIdempotent(ctx, &aiproxy.IdempotencyRecord{OrgID: 1, Key: "down", State: aiproxy.IdemDone})
		}},
		{"AddUsage", true, func(ctx context.Context) error {
			return s.AddUsage(ctx, []aiproxy.UsageDelta{{OrgID: 1, Service: "heygen", Action: "x", Day: "2026-12-01", Calls: 1}})
		}},
		{"ListUsage", false, func(ctx context.Context) error { _, err := s.ListUsage(ctx, aiproxy.UsageQuery{OrgID: 1}); return err }},
		{"PutBudget", true, func(ctx context.Context) error {
			return s.PutBudget(ctx, &aiproxy.Budget{OrgID: 1, Service: "heygen", Period: "day", Limits: aiproxy.Units{aiproxy.UnitRequests: 1}})
		}},
		{"GetBudget", false, func(ctx context.Context) error { _, err := s.GetBudget(ctx, 1, "heygen"); return err }},
		{"DeleteBudget", true, func(ctx context.Context) error { return s.DeleteBudget(ctx, 1, "heygen") }},
		{"ListBudgets", false, func(ctx context.Context) error { _, err := s.ListBudgets(ctx, 0); return err }},
		{"ReserveBudget", true, func(ctx context.Context) error {
			_, _, err := s.ReserveBudget(ctx, reserve(aiproxy.Units{aiproxy.UnitRequests: 1}, time.Hour), aiproxy.Units{aiproxy.UnitRequests: 5})
			return err
		}},
		{"CommitBudget", true, func(ctx context.Context) error { return s.CommitBudget(ctx, "down") }},
		{"ReleaseBudget", true, func(ctx context.Context) error { return s.ReleaseBudget(ctx, "down") }},
		{"ExpireBudgetReservations", true, func(ctx context.Context) error {
			_, err := s.ExpireBudgetReservations(ctx, day)
			return err
		}},
		{"BudgetUsed", false, func(ctx context.Context) error { _, err := s.BudgetUsed(ctx, 1, "heygen", "2026-12"); return err }},
		{"Version", false, func(ctx context.Context) error { _, err := s.Version(ctx); return err }},
		{"PutOrgWebhook", true, func(ctx context.Context) error {
			return s.PutOrgWebhook(ctx, &aiproxy.OrgWebhook{OrgID: 1, URL: "https://down.example", Events: aiproxy.WebhookEvents})
		}},
		{"GetOrgWebhook", false, func(ctx context.Context) error { _, err := s.GetOrgWebhook(ctx, 1); return err }},
		{"DeleteOrgWebhook", true, func(ctx context.Context) error { return s.DeleteOrgWebhook(ctx, 1) }},
		{"ClaimWebhookDeliveries", true, func(ctx context.Context) error {
			_, err := s.ClaimWebhookDeliveries(ctx, "down", day, day.Add(time.Minute), 10)
			return err
		}},
		{"RecordWebhookAttempt", true, func(ctx context.Context) error {
			return s.RecordWebhookAttempt(ctx, &aiproxy.WebhookDelivery{ID: "msg_down", State: aiproxy.DeliveryDelivered, UpdatedAt: day},
				&aiproxy.WebhookAttempt{N: 1, At: day, Status: 200}, "down")
		}},
		{"ListWebhookDeliveries", false, func(ctx context.Context) error { _, err := s.ListWebhookDeliveries(ctx, 1, 0, 10); return err }},
		{"WebhookDelivery", false, func(ctx context.Context) error { _, err := s.WebhookDelivery(ctx, 1, "msg_down"); return err }},
		{"ListWebhookAttempts", false, func(ctx context.Context) error {
			_, err := s.ListWebhookAttempts(ctx, 1, []string{"msg_down"})
			return err
		}},
		{"RetryWebhookDelivery", true, func(ctx context.Context) error { return s.RetryWebhookDelivery(ctx, 1, "msg_down", day) }},
		{"SeenWebhookEvent", true, func(ctx context.Context) error { _, err := s.SeenWebhookEvent(ctx, "heygen", "down", day); return err }},
		{"PurgeWebhooks", true, func(ctx context.Context) error { _, err := s.PurgeWebhooks(ctx, day); return err }},
	}
}

// UnavailableMessage is the message of the error a store call returns when the database
// does not answer.
const UnavailableMessage = "The gateway's database is unavailable; try again shortly."

// WantUnavailable fails the test unless err is the EUNAVAILABLE error of a database that
// does not answer (message, Retry-After: 5, and a cause for the log).
func WantUnavailable(t testing.TB, what string, err error) {
	t.Helper()
	e := aiproxy.AsError(err)
	if e == nil || e.Code != aiproxy.EUNAVAILABLE || e.Message != UnavailableMessage || e.RetryAfter != "5" || e.Err == nil {
		t.Errorf("%s: got %v (code %q); want EUNAVAILABLE %q, Retry-After 5, with its cause", what, err, aiproxy.ErrorCode(err), UnavailableMessage)
	}
}

// Unavailable makes every call of calls at once, on a store whose database does not
// answer, and checks that each returns the EUNAVAILABLE error within the given time. It
// returns the slowest call's name and time.
func Unavailable(t testing.TB, calls []Call, within time.Duration) (slowest string, took time.Duration) {
	t.Helper()
	type result struct {
		name string
		err  error
		took time.Duration
	}
	results := make([]result, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := c.Do(context.Background())
			results[i] = result{c.Name, err, time.Since(start)}
		}()
	}
	wg.Wait()
	slices.SortFunc(results, func(a, b result) int { return int(b.took - a.took) })
	for _, r := range results {
		WantUnavailable(t, r.name, r.err)
		if r.took > within {
			t.Errorf("%s: answered after %v, want at most %v", r.name, r.took.Round(time.Millisecond), within)
		}
	}
	return results[0].name, results[0].took
}
