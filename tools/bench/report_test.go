package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", lat[:1], 99, time.Millisecond},
		{"p50 of 1..100", lat, 50, 50 * time.Millisecond},
		{"p90 of 1..100", lat, 90, 90 * time.Millisecond},
		{"p99 of 1..100", lat, 99, 99 * time.Millisecond},
		{"p100 is the max", lat, 100, 100 * time.Millisecond},
		{"p0 is the min, not index -1", lat, 0, time.Millisecond},
		{"p99 of 10 values rounds up to the max", lat[:10], 99, 10 * time.Millisecond},
		{"p50 of 3 values is the middle", lat[:3], 50, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeCountsFailuresAndWallTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []sample{
		{Start: t0, Latency: 10 * time.Millisecond, OK: true},
		{Start: t0.Add(500 * time.Millisecond), Latency: 30 * time.Millisecond, OK: true},
		{Start: t0.Add(250 * time.Millisecond), Latency: 20 * time.Millisecond, OK: false, Err: "status 502"},
		// The last answer ends at 1 s: the wall time runs to it, not to the last start.
		{Start: t0.Add(900 * time.Millisecond), Latency: 100 * time.Millisecond, OK: false, Err: "status 502"},
	}
	s := summarize(samples)
	if s.Requests != 4 || s.OK != 2 {
		t.Fatalf("requests %d ok %d, want 4 and 2", s.Requests, s.OK)
	}
	if s.SuccessRatio != 0.5 {
		t.Errorf("success ratio %v, want 0.5", s.SuccessRatio)
	}
	if math.Abs(s.RPS-2) > 1e-9 {
		t.Errorf("rps %v, want 2 successes over 1 s", s.RPS)
	}
	if s.P50 != 20 || s.Max != 100 || s.Mean != 40 {
		t.Errorf("p50 %v max %v mean %v, want 20, 100, 40 (failed requests count)", s.P50, s.Max, s.Mean)
	}
	if s.Errors["status 502"] != 2 {
		t.Errorf("errors %v, want 2× status 502", s.Errors)
	}
	if z := summarize(nil); z.Requests != 0 || z.RPS != 0 {
		t.Errorf("summarize(nil) = %+v, want zeros", z)
	}
}

func TestRatioRefusesMissingSides(t *testing.T) {
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v", got)
	}
	for _, tc := range [][2]float64{{0, 2}, {2, 0}, {math.NaN(), 1}} {
		if got := ratio(tc[0], tc[1]); !math.IsNaN(got) {
			t.Errorf("ratio(%v, %v) = %v, want NaN: a missing run is not a ratio", tc[0], tc[1], got)
		}
	}
}

func TestCompareAgainstFloorNginxAndDirect(t *testing.T) {
	runs := []stats{
		{Target: "direct", Action: "tts", Scenario: "c=16", OK: 10, RPS: 1000, P50: 1, P99: 4},
		{Target: "floor", Action: "tts", Scenario: "c=16", OK: 10, RPS: 500, P50: 2, P99: 8},
		{Target: "aiproxy", Action: "tts", Scenario: "c=16", OK: 10, RPS: 250, P50: 4, P99: 10},
		// nginx missing; a scenario aiproxy did not run yields no comparison.
		{Target: "direct", Action: "tts", Scenario: "c=64", OK: 10, RPS: 1000, P50: 1, P99: 4},
	}
	cs := compare(runs)
	if len(cs) != 1 {
		t.Fatalf("%d comparisons, want 1", len(cs))
	}
	c := cs[0]
	if c.RPSvsFloor != 0.5 || c.P50vsFloor != 2 || c.P99vsFloor != 1.25 {
		t.Errorf("vs floor: rps %v p50 %v p99 %v, want 0.5, 2, 1.25", c.RPSvsFloor, c.P50vsFloor, c.P99vsFloor)
	}
	if !math.IsNaN(float64(c.RPSvsNginx)) {
		t.Errorf("vs missing nginx: %v, want NaN", c.RPSvsNginx)
	}
	if c.AddedP50["aiproxy"] != 3 || c.AddedP99["aiproxy"] != 6 || c.AddedP50["floor"] != 1 {
		t.Errorf("added p50 %v p99 %v", c.AddedP50, c.AddedP99)
	}
	if _, ok := c.AddedP50["nginx"]; ok {
		t.Error("added latency reported for nginx, which did not run")
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"rps_aiproxy_over_nginx":null`) {
		t.Errorf("NaN ratio should be null in JSON: %s", data)
	}
}

func TestSpliceMarkersKeepsHandWrittenText(t *testing.T) {
	doc := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\noutro\n"
	got := spliceMarkers(doc, "new table\n")
	want := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nnew table\n" + endMarker + "\n\noutro\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if again := spliceMarkers(got, "new table\n"); again != got {
		t.Error("splicing twice changed the doc")
	}
	fresh := spliceMarkers("", "t")
	if !strings.Contains(fresh, beginMarker+"\nt\n"+endMarker) {
		t.Errorf("doc without markers: %q", fresh)
	}
}

func TestRatioTableShowsDashForMissingNginx(t *testing.T) {
	r := &report{Comparisons: compare([]stats{
		{Target: "direct", Action: "list-voices", Scenario: "500 rps", OK: 1, RPS: 500, P50: 1, P99: 2},
		{Target: "floor", Action: "list-voices", Scenario: "500 rps", OK: 1, RPS: 500, P50: 1, P99: 2},
		{Target: "aiproxy", Action: "list-voices", Scenario: "500 rps", OK: 1, RPS: 490, P50: 1.5, P99: 3},
	})}
	row := strings.Split(strings.TrimSpace(r.ratioTable()), "\n")[2]
	want := "| list-voices | 500 rps | 0.98 | 1.50 | 1.50 | – | – | – | +0.500 | +1.00 |"
	if row != want {
		t.Errorf("row\n%s\nwant\n%s", row, want)
	}
}
