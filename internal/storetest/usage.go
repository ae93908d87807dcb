package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aiproxy/aiproxy"
)

// testUsage: deltas add up across calls (and within one), rows come back in day, org,
// service, action order, filtered by org and days; a bad unit or day adds nothing.
func testUsage(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	const a, b = 3, 5 // usage does not require the org to exist
	row := func(org int64, service, action string, source aiproxy.Source, day string) aiproxy.UsageDelta {
		return aiproxy.UsageDelta{OrgID: org, Service: service, Action: action, Source: source, Day: day}
	}
	tts := row(a, "elevenlabs", "tts", aiproxy.SourceTenant, "2026-12-02")
	ttsPlatform := row(a, "elevenlabs", "tts", aiproxy.SourcePlatform, "2026-12-02")
	video := row(a, "heygen", "create_video", aiproxy.SourceTenant, "2026-12-01")
	otherOrg := row(b, "elevenlabs", "tts", aiproxy.SourceTenant, "2026-12-01")
	lastMonth := row(b, "heygen", "list_avatars", aiproxy.SourceTenant, "2026-11-30")

	with := func(d aiproxy.UsageDelta, calls, billable, failed, refused, replayed int64, units aiproxy.Units) aiproxy.UsageDelta {
		d.Calls, d.BillableCalls, d.FailedCalls, d.Refused, d.Replayed, d.Units = calls, billable, failed, refused, replayed, units
		return d
	}
	must(t, s.AddUsage(ctx, []aiproxy.UsageDelta{
		with(tts, 2, 2, 0, 0, 0, aiproxy.Units{aiproxy.UnitCharacters: 120, aiproxy.UnitRequests: 2}),
		with(tts, 1, 0, 1, 0, 0, aiproxy.Units{aiproxy.UnitRequests: 1}), // the same row twice in one batch
		with(video, 1, 1, 0, 0, 0, aiproxy.Units{aiproxy.UnitSeconds: 30}),
		with(otherOrg, 0, 0, 0, 3, 0, nil),
	}))
	must(t, s.AddUsage(ctx, []aiproxy.UsageDelta{
		with(tts, 1, 1, 0, 0, 2, aiproxy.Units{aiproxy.UnitCharacters: 80, aiproxy.UnitRequests: 1}),
		with(ttsPlatform, 4, 4, 0, 0, 0, aiproxy.Units{aiproxy.UnitCharacters: 1000}),
		with(lastMonth, 1, 0, 0, 0, 0, aiproxy.Units{aiproxy.UnitRequests: 0}), // a zero unit is no unit
		with(video, 1, 1, 0, 1, 0, aiproxy.Units{aiproxy.UnitSeconds: 12}),
	}))
	must(t, s.AddUsage(ctx, nil))

	var (
		wantTTS      = with(tts, 4, 3, 1, 0, 2, aiproxy.Units{aiproxy.UnitCharacters: 200, aiproxy.UnitRequests: 4})
		wantPlatform = with(ttsPlatform, 4, 4, 0, 0, 0, aiproxy.Units{aiproxy.UnitCharacters: 1000})
		wantVideo    = with(video, 2, 2, 0, 1, 0, aiproxy.Units{aiproxy.UnitSeconds: 42})
		wantOther    = with(otherOrg, 0, 0, 0, 3, 0, nil)
		wantLast     = with(lastMonth, 1, 0, 0, 0, 0, nil)
	)
	// Ordered by day, org, service, action (then source: platform before tenant).
	all := []aiproxy.UsageRow{wantLast, wantVideo, wantOther, wantPlatform, wantTTS}
	for _, tt := range []struct {
		name string
		q    aiproxy.UsageQuery
		want []aiproxy.UsageRow
	}{
		{"everything", aiproxy.UsageQuery{}, all},
		{"one org", aiproxy.UsageQuery{OrgID: a}, []aiproxy.UsageRow{wantVideo, wantPlatform, wantTTS}},
		{"from", aiproxy.UsageQuery{From: "2026-12-01"}, all[1:]},
		{"to", aiproxy.UsageQuery{To: "2026-12-01"}, all[:3]},
		{"one day", aiproxy.UsageQuery{From: "2026-12-02", To: "2026-12-02"}, all[3:]},
		{"one org, one day", aiproxy.UsageQuery{OrgID: b, From: "2026-12-01", To: "2026-12-01"}, []aiproxy.UsageRow{wantOther}},
		{"no such day", aiproxy.UsageQuery{From: "2027-01-01"}, nil},
		{"no such org", aiproxy.UsageQuery{OrgID: 99}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListUsage(ctx, tt.q)
			must(t, err)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			wantEqual(t, "ListUsage", got, tt.want)
		})
	}

	// A batch with a bad delta adds nothing at all.
	for _, tt := range []struct {
		name string
		bad  aiproxy.UsageDelta
	}{
		{"unknown unit", with(tts, 1, 0, 0, 0, 0, aiproxy.Units{"tokens": 5})},
		{"bad day", with(row(a, "heygen", "x", aiproxy.SourceTenant, "2026-13-01"), 1, 0, 0, 0, 0, nil)},
		{"no day", with(row(a, "heygen", "x", aiproxy.SourceTenant, ""), 1, 0, 0, 0, 0, nil)},
		{"day and time", with(row(a, "heygen", "x", aiproxy.SourceTenant, "2026-12-01T00:00:00Z"), 1, 0, 0, 0, 0, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.AddUsage(ctx, []aiproxy.UsageDelta{with(tts, 100, 0, 0, 0, 0, nil), tt.bad}), aiproxy.EINVALID)
			got, err := s.ListUsage(ctx, aiproxy.UsageQuery{})
			must(t, err)
			wantEqual(t, "usage after a refused batch", got, all)
		})
	}
}

// testUsageConcurrent: replicas flushing batches over the same rows at once, in different
// orders, lose nothing (and do not deadlock).
func testUsageConcurrent(t *testing.T, s aiproxy.Store) {
	ctx := context.Background()
	const writers, batches = 8, 5
	rows := []aiproxy.UsageDelta{
		{OrgID: 1, Service: "heygen", Action: "a", Source: aiproxy.SourceTenant, Day: "2026-12-01"},
		{OrgID: 1, Service: "heygen", Action: "b", Source: aiproxy.SourceTenant, Day: "2026-12-01"},
		{OrgID: 2, Service: "heygen", Action: "a", Source: aiproxy.SourcePlatform, Day: "2026-12-01"},
		{OrgID: 2, Service: "elevenlabs", Action: "a", Source: aiproxy.SourcePlatform, Day: "2026-12-02"},
	}
	var (
		wg   sync.WaitGroup
		errs = make(chan error, writers*batches)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				batch := make([]aiproxy.UsageDelta, len(rows))
				for j := range rows {
					d := rows[(j+w)%len(rows)] // each writer its own order
					if w%2 == 1 {
						d = rows[len(rows)-1-(j+w)%len(rows)]
					}
					d.Calls, d.Units = 1, aiproxy.Units{aiproxy.UnitCharacters: 10}
					batch[j] = d
				}
				if err := s.AddUsage(ctx, batch); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.ListUsage(ctx, aiproxy.UsageQuery{})
	must(t, err)
	if len(got) != len(rows) {
		t.Fatalf("%d usage rows, want %d", len(got), len(rows))
	}
	for _, r := range got {
		if r.Calls != writers*batches || r.Units[aiproxy.UnitCharacters] != 10*writers*batches {
			t.Errorf("row %d/%s/%s/%s: %d calls, %d characters; want %d and %d", r.OrgID, r.Service, r.Action, r.Day,
				r.Calls, r.Units[aiproxy.UnitCharacters], writers*batches, 10*writers*batches)
		}
	}
}
