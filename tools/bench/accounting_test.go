package main

import (
	"bufio"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestAccountingRowsAreMeansOverRoundsAndTheCheckTakesEachModesPeak(t *testing.T) {
	ar := &accountingReport{Target: 0.9, Concurrency: []int{16, 64}, Rounds: 2}
	add := func(on bool, conc int, rps ...float64) {
		for i, v := range rps {
			ar.Runs = append(ar.Runs, accountingRun{Store: storeSQLite, Action: "list-voices", Accounting: on,
				Concurrency: conc, Round: i + 1, RPS: v, CPUBusy: 0.99, AiproxyCPU: 100})
		}
	}
	add(false, 16, 1000, 1100) // off peaks at c=16: 1050
	add(false, 64, 1000, 1000)
	add(true, 16, 900, 940)
	add(true, 64, 960, 960) // on peaks at c=64: 960
	ar.summarize()
	if len(ar.Rows) != 2 {
		t.Fatalf("%d rows, want one per concurrency", len(ar.Rows))
	}
	if r := ar.Rows[0]; r.Concurrency != 16 || r.RPSOff != 1050 || r.RPSOn != 920 {
		t.Errorf("c=16 row: %+v, want means 1050 off and 920 on", r)
	}
	if len(ar.Checks) != 1 {
		t.Fatalf("%d checks, want 1", len(ar.Checks))
	}
	c := ar.Checks[0]
	if c.Off.RPS != 1050 || c.Off.Concurrency != 16 || c.On.RPS != 960 || c.On.Concurrency != 64 {
		t.Errorf("peaks: off %+v, on %+v", c.Off, c.On)
	}
	if math.Abs(float64(c.Ratio)-960.0/1050) > 1e-9 || !c.Pass {
		t.Errorf("ratio %v pass %v, want %v and a pass", c.Ratio, c.Pass, 960.0/1050)
	}
	if !c.Saturated {
		t.Error("CPUs 99 % busy: saturated")
	}
	line := ar.checkLine(c)
	if !strings.HasPrefix(line, "accounting overhead, sqlite, list-voices: on/off = 0.91 ≥ 0.9 OK (") {
		t.Errorf("line %q", line)
	}
}

func TestAccountingCheckFailsBelowTheTargetAndSaysWhenNotSaturated(t *testing.T) {
	rows := []accountingRow{
		{Concurrency: 16, RPSOff: 1000, RPSOn: 500, BusyOff: 0.5, BusyOn: 0.99},
		{Concurrency: 64, RPSOff: 2000, RPSOn: 400, BusyOff: 0.7, BusyOn: 0.6},
	}
	c := checkAccounting(storePostgres, "tts-4k", rows, 0.9)
	if c.Pass || float64(c.Ratio) != 0.25 {
		t.Errorf("ratio %v pass %v, want 0.25 and a failure", c.Ratio, c.Pass)
	}
	// Off doubled from 16 to 64 clients with the CPUs 70 % busy: not at its maximum.
	if c.Off.Saturated || c.Saturated {
		t.Errorf("off %+v: saturated, want not", c.Off)
	}
	// On served less with more clients: its maximum, though the CPUs were not busy.
	if !c.On.Saturated || float64(c.On.Scale) != 0.8 {
		t.Errorf("on %+v: want saturated by the sweep, scale 0.8", c.On)
	}
	ar := &accountingReport{Target: 0.9, Concurrency: []int{16, 64}}
	line := ar.checkLine(c)
	for _, want := range []string{"on/off = 0.25 < 0.9 FAIL", "NOT SATURATED", "off 2000 req/s at c=64, CPU 70 % busy, c=64/c=16 2.00"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if got := ar.checkLine(checkAccounting(storeSQLite, "x", nil, 0.9)); !strings.HasSuffix(got, "no result FAIL") {
		t.Errorf("no rows: %q", got)
	}
}

func TestSumCSVColumn(t *testing.T) {
	csv := "action,calls,billable_calls\nlist-voices,10,0\ntts,5,5\n"
	if n, err := sumCSVColumn(csv, "calls"); err != nil || n != 15 {
		t.Errorf("calls: %d, %v; want 15", n, err)
	}
	if _, err := sumCSVColumn(csv, "nope"); err == nil {
		t.Error("a missing column is an error")
	}
}

func TestReadRESP(t *testing.T) {
	in := "+PONG\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n*2\r\n$1\r\n0\r\n*1\r\n$3\r\nkey\r\n-ERR wrong\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	want := []any{"PONG", int64(42), "he\r\no", nil, []any{"0", []any{"key"}}}
	for i, w := range want {
		got, err := readRESP(r)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("value %d: %#v, %v; want %#v", i, got, err, w)
		}
	}
	if _, err := readRESP(r); err == nil || !strings.Contains(err.Error(), "ERR wrong") {
		t.Errorf("error answer: %v", err)
	}
}
