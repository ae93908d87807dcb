package sqlcodec_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

func TestUnitsRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		in      aiproxy.Units
		encoded string
		out     aiproxy.Units
	}{
		{nil, "{}", nil},
		{aiproxy.Units{}, "{}", nil},
		{aiproxy.Units{"seconds": 3, "characters": 1 << 40}, `{"characters":1099511627776,"seconds":3}`,
			aiproxy.Units{"seconds": 3, "characters": 1 << 40}},
	} {
		enc := sqlcodec.EncodeUnits(tt.in)
		if enc != tt.encoded {
			t.Errorf("EncodeUnits(%v) = %s, want %s", tt.in, enc, tt.encoded)
		}
		got, err := sqlcodec.DecodeUnits(enc)
		if err != nil || !reflect.DeepEqual(got, tt.out) {
			t.Errorf("DecodeUnits(%s) = %v, %v; want %v", enc, got, err, tt.out)
		}
	}
	if _, err := sqlcodec.DecodeUnits(`[1]`); err == nil {
		t.Error("DecodeUnits of a list: no error")
	}
}

func TestUsageUnits(t *testing.T) {
	if got := sqlcodec.UsageUnits(0, 0, 0); got != nil {
		t.Errorf("UsageUnits(0, 0, 0) = %v, want nil", got)
	}
	want := aiproxy.Units{aiproxy.UnitRequests: 1, aiproxy.UnitSeconds: 3}
	if got := sqlcodec.UsageUnits(1, 0, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("UsageUnits(1, 0, 3) = %v, want %v", got, want)
	}
}

func TestMergeUsage(t *testing.T) {
	d := func(org int64, action, day string, calls int64, units aiproxy.Units) aiproxy.UsageDelta {
		return aiproxy.UsageDelta{OrgID: org, Service: "heygen", Action: action, Source: aiproxy.SourceTenant, Day: day, Calls: calls, Units: units}
	}
	got, err := sqlcodec.MergeUsage([]aiproxy.UsageDelta{
		d(2, "a", "2026-12-01", 1, aiproxy.Units{aiproxy.UnitCharacters: 5}),
		d(1, "b", "2026-12-01", 1, nil),
		d(2, "a", "2026-12-01", 2, aiproxy.Units{aiproxy.UnitCharacters: 7, aiproxy.UnitRequests: 1}),
		d(1, "a", "2026-12-02", 1, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []aiproxy.UsageDelta{
		d(1, "a", "2026-12-02", 1, aiproxy.Units{}),
		d(1, "b", "2026-12-01", 1, aiproxy.Units{}),
		d(2, "a", "2026-12-01", 3, aiproxy.Units{aiproxy.UnitCharacters: 12, aiproxy.UnitRequests: 1}),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeUsage = %+v\nwant %+v", got, want)
	}
	for _, bad := range []aiproxy.UsageDelta{
		d(1, "a", "2026-12-01", 1, aiproxy.Units{"tokens": 1}),
		d(1, "a", "2026-2-01", 1, nil),
		d(1, "a", "", 1, nil),
	} {
		if _, err := sqlcodec.MergeUsage([]aiproxy.UsageDelta{bad}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("MergeUsage(%+v) = %v, want EINVALID", bad, err)
		}
	}
}

func TestFits(t *testing.T) {
	limits := aiproxy.Units{aiproxy.UnitCharacters: 100}
	for _, tt := range []struct {
		used, units aiproxy.Units
		want        bool
	}{
		{nil, aiproxy.Units{aiproxy.UnitCharacters: 100}, true},
		{nil, aiproxy.Units{aiproxy.UnitCharacters: 101}, false},
		{aiproxy.Units{aiproxy.UnitCharacters: 60}, aiproxy.Units{aiproxy.UnitCharacters: 40}, true},
		{aiproxy.Units{aiproxy.UnitCharacters: 60}, aiproxy.Units{aiproxy.UnitCharacters: 41}, false},
		{aiproxy.Units{aiproxy.UnitSeconds: 1 << 50}, aiproxy.Units{aiproxy.UnitSeconds: 1 << 50}, true}, // no limit
		{aiproxy.Units{aiproxy.UnitCharacters: 120}, aiproxy.Units{aiproxy.UnitCharacters: 0}, false},    // over already
	} {
		if got := sqlcodec.Fits(tt.used, tt.units, limits); got != tt.want {
			t.Errorf("Fits(%v, %v, %v) = %v, want %v", tt.used, tt.units, limits, got, tt.want)
		}
	}
}

func TestCheckReservation(t *testing.T) {
	expires := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := &aiproxy.BudgetReservation{Units: aiproxy.Units{aiproxy.UnitRequests: 1}, ExpiresAt: expires}
	if err := sqlcodec.CheckReservation(r, nil); err != nil || len(r.ID) != 32 {
		t.Errorf("CheckReservation = %v, ID %q; want nil and a random ID", err, r.ID)
	}
	for _, bad := range []struct {
		r      aiproxy.BudgetReservation
		limits aiproxy.Units
	}{
		{aiproxy.BudgetReservation{Units: aiproxy.Units{"tokens": 1}, ExpiresAt: expires}, nil},
		{aiproxy.BudgetReservation{Units: aiproxy.Units{aiproxy.UnitRequests: -1}, ExpiresAt: expires}, nil},
		{aiproxy.BudgetReservation{Units: aiproxy.Units{aiproxy.UnitRequests: 1}}, nil},
		{aiproxy.BudgetReservation{Units: aiproxy.Units{aiproxy.UnitRequests: 1}, ExpiresAt: expires}, aiproxy.Units{"tokens": 1}},
	} {
		if err := sqlcodec.CheckReservation(&bad.r, bad.limits); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("CheckReservation(%+v, %v) = %v, want EINVALID", bad.r, bad.limits, err)
		}
	}
}

func TestCheckBudget(t *testing.T) {
	for _, tt := range []struct {
		b    aiproxy.Budget
		want string
	}{
		{aiproxy.Budget{Period: "day", Limits: aiproxy.Units{aiproxy.UnitSeconds: 1}}, ""},
		{aiproxy.Budget{Period: "month"}, ""},
		{aiproxy.Budget{Period: "year"}, aiproxy.EINVALID},
		{aiproxy.Budget{Period: "day", Limits: aiproxy.Units{"tokens": 1}}, aiproxy.EINVALID},
	} {
		if got := aiproxy.ErrorCode(sqlcodec.CheckBudget(&tt.b)); got != tt.want {
			t.Errorf("CheckBudget(%+v) = %q, want %q", tt.b, got, tt.want)
		}
	}
}

func TestCounters(t *testing.T) {
	got := sqlcodec.Counters(aiproxy.Units{aiproxy.UnitRequests: 0, aiproxy.UnitSeconds: 2})
	if !reflect.DeepEqual(got, aiproxy.Units{aiproxy.UnitSeconds: 2}) {
		t.Errorf("Counters = %v", got)
	}
	if got := sqlcodec.Counters(nil); got == nil || len(got) != 0 {
		t.Errorf("Counters(nil) = %#v, want empty, not nil", got)
	}
}
