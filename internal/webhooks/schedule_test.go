package webhooks

import (
	"testing"
	"time"
)

func TestNextAttemptFollowsTheBackoffSchedule(t *testing.T) {
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
		time.Hour, 3 * time.Hour, 3 * time.Hour}
	for i, w := range want {
		next, ok := nextAttempt(i+1, created, created, 0)
		if !ok || next.Sub(created) != w {
			t.Errorf("after attempt %d: %v %v, want %v", i+1, next.Sub(created), ok, w)
		}
	}
	for _, j := range []float64{-1, 1} {
		next, _ := nextAttempt(3, created, created, j)
		if w := 2*time.Minute + time.Duration(j*12)*time.Second; next.Sub(created) != w {
			t.Errorf("jitter %v: %v, want %v", j, next.Sub(created), w)
		}
	}
}

func TestNextAttemptJitterStaysWithinTenPercent(t *testing.T) {
	now := time.Now()
	seen := map[time.Duration]bool{}
	for range 1000 {
		next, ok := NextAttempt(5, now, now)
		d := next.Sub(now)
		if !ok || d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("after the fifth attempt: %v %v", d, ok)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 1000", len(seen))
	}
}

func TestNextAttemptGivesUpAfter24Hours(t *testing.T) {
	created := time.Now()
	now, attempts := created, 1
	for {
		next, ok := nextAttempt(attempts, created, now, 0)
		if !ok {
			break
		}
		if next.Sub(created) > 24*time.Hour {
			t.Fatalf("attempt %d scheduled %v after creation", attempts+1, next.Sub(created))
		}
		now = next
		attempts++
	}
	// 0, 5s, 35s, 2m35s, 12m35s, 1h12m35s, then every 3h: the last at 22h12m35s.
	if attempts != 13 || now.Sub(created) != 22*time.Hour+12*time.Minute+35*time.Second {
		t.Fatalf("%d attempts, the last %v after creation", attempts, now.Sub(created))
	}
	if _, ok := NextAttempt(1, created, created.Add(24*time.Hour-time.Second)); ok {
		t.Fatal("an attempt 24h and 4s after creation was scheduled")
	}
}
