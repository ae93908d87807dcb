package budgets

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	plus5 := time.FixedZone("UTC+5", 5*3600)
	for _, tt := range []struct {
		period string
		at     time.Time
		window string
		resets string
	}{
		{"day", utc("2026-12-02T00:00:00Z"), "2026-12-02", "2026-12-03T00:00:00Z"},
		{"day", utc("2026-12-02T23:59:59.999999999Z"), "2026-12-02", "2026-12-03T00:00:00Z"},
		{"day", utc("2026-12-31T23:59:59Z"), "2026-12-31", "2027-01-01T00:00:00Z"}, // year rollover
		{"day", utc("2028-02-28T12:00:00Z"), "2028-02-28", "2028-02-29T00:00:00Z"}, // leap year
		{"day", utc("2027-02-28T12:00:00Z"), "2027-02-28", "2027-03-01T00:00:00Z"},
		// 02:00 on the 3rd at UTC+5 is 21:00 on the 2nd in UTC: windows are UTC.
		{"day", time.Date(2026, 12, 3, 2, 0, 0, 0, plus5), "2026-12-02", "2026-12-03T00:00:00Z"},
		{"month", utc("2026-12-01T00:00:00Z"), "2026-12", "2027-01-01T00:00:00Z"},
		{"month", utc("2026-12-31T23:59:59.999999999Z"), "2026-12", "2027-01-01T00:00:00Z"}, // year rollover
		{"month", utc("2026-01-31T10:00:00Z"), "2026-01", "2026-02-01T00:00:00Z"},
		{"month", utc("2028-02-29T23:00:00Z"), "2028-02", "2028-03-01T00:00:00Z"},
		{"month", time.Date(2027, 1, 1, 3, 0, 0, 0, plus5), "2026-12", "2027-01-01T00:00:00Z"},
	} {
		w, resets := Window(tt.period, tt.at)
		if w != tt.window || !resets.Equal(utc(tt.resets)) || resets.Location() != time.UTC {
			t.Errorf("Window(%q, %v) = %q, %v; want %q, %s", tt.period, tt.at, w, resets, tt.window, tt.resets)
		}
		end, err := windowEnd(w)
		if err != nil || !end.Equal(resets) {
			t.Errorf("windowEnd(%q) = %v, %v; want %v", w, end, err, resets)
		}
		// The next instant is in the next window.
		if next, _ := Window(tt.period, resets); next == w {
			t.Errorf("Window(%q, %v) = %q: the window did not roll over", tt.period, resets, next)
		}
		if prev, _ := Window(tt.period, resets.Add(-time.Nanosecond)); prev != w {
			t.Errorf("Window(%q, %v) = %q, want %q", tt.period, resets.Add(-time.Nanosecond), prev, w)
		}
	}
	if w, resets := Window("week", time.Now()); w != "" || !resets.IsZero() {
		t.Errorf("Window(week) = %q, %v; want nothing", w, resets)
	}
	for _, bad := range []string{"", "2026", "2026-13", "2026-12-32", "2026-12-02T00", "26-12-02"} {
		if _, err := windowEnd(bad); err == nil {
			t.Errorf("windowEnd(%q) accepted it", bad)
		}
	}
}
