package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func checkSeqs(k int, seqs ...int) *seqChecker {
	c := newSeqChecker(k)
	for _, s := range seqs {
		c.add(s)
	}
	return c
}

func TestSeqCheckerAcceptsEveryFrameOnceInOrder(t *testing.T) {
	c := checkSeqs(5, 0, 1, 2, 3, 4)
	if !c.complete() || c.dropped() != 0 || c.duplicated != 0 || c.reordered != 0 || c.invalid != 0 {
		t.Errorf("in order: %+v", c)
	}
}

func TestSeqCheckerCountsADroppedFrame(t *testing.T) {
	c := checkSeqs(5, 0, 1, 3, 4)
	if c.complete() || c.dropped() != 1 || c.duplicated != 0 || c.reordered != 0 {
		t.Errorf("frame 2 missing: complete %v, dropped %d, duplicated %d, reordered %d; want false, 1, 0, 0",
			c.complete(), c.dropped(), c.duplicated, c.reordered)
	}
}

func TestSeqCheckerCountsADuplicatedFrame(t *testing.T) {
	c := checkSeqs(5, 0, 1, 1, 2, 3, 4)
	if !c.complete() || c.dropped() != 0 || c.duplicated != 1 || c.reordered != 0 {
		t.Errorf("frame 1 twice: complete %v, dropped %d, duplicated %d, reordered %d; want true, 0, 1, 0",
			c.complete(), c.dropped(), c.duplicated, c.reordered)
	}
	// A duplicate is not a first arrival: its round trip is not counted again.
	if c.add(3) {
		t.Error("add of a frame seen before says first arrival")
	}
}

func TestSeqCheckerCountsAFrameThatArrivedLate(t *testing.T) {
	c := checkSeqs(5, 0, 2, 1, 3, 4)
	if !c.complete() || c.dropped() != 0 || c.duplicated != 0 || c.reordered != 1 {
		t.Errorf("1 after 2: complete %v, dropped %d, duplicated %d, reordered %d; want true, 0, 0, 1",
			c.complete(), c.dropped(), c.duplicated, c.reordered)
	}
}

func TestSeqCheckerCountsASequenceNumberOutOfRange(t *testing.T) {
	c := checkSeqs(3, 0, 1, 2, 3, -1)
	if !c.complete() || c.invalid != 2 {
		t.Errorf("3 and -1 of 3 frames: complete %v, invalid %d; want true, 2", c.complete(), c.invalid)
	}
}

func TestAddedLatencyIsRelayedMinusDirectPercentileByPercentile(t *testing.T) {
	var direct, relayed []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		direct = append(direct, time.Duration(i)*time.Millisecond)
		relayed = append(relayed, time.Duration(i)*time.Millisecond+500*time.Microsecond)
	}
	relayed[0] = time.Second // one slow relayed frame moves the p99, not the p50
	before := slices.Clone(direct)
	if got := addedLatency(relayed, direct, 50); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("added p50 %.4f ms, want 0.5", got)
	}
	if got := addedLatency(relayed, direct, 99); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("added p99 %.4f ms, want 0.5 (the slow frame is the 100th)", got)
	}
	if got := addedLatency(relayed, direct, 100); math.Abs(got-900) > 1e-9 {
		t.Errorf("added max %.4f ms, want 900", got)
	}
	if !slices.Equal(direct, before) {
		t.Error("addedLatency sorted its argument")
	}
	if got := addedLatency(nil, direct, 50); !math.IsNaN(got) {
		t.Errorf("no relayed frames: %v, want NaN", got)
	}
}

// summaryOf is a run whose two phases sent and got every frame, the relay adding 0.3 ms.
func summaryOf(quick bool, kibPerSession float64) *realtimeRun {
	rtts := func(add time.Duration) []time.Duration {
		var out []time.Duration
		for i := range 40 {
			out = append(out, time.Duration(i)*10*time.Microsecond+add)
		}
		return out
	}
	rr := &realtimeRun{Sessions: 2, FramesPerSession: 20, Quick: quick, RSSBeforeMiB: 20, OpenAtRSS: 2,
		Direct:  realtimePhase{Opened: 2, FramesSent: 40, Echoed: 40, rtts: rtts(0)},
		Relayed: realtimePhase{Opened: 2, FramesSent: 40, Echoed: 40, rtts: rtts(300 * time.Microsecond)}}
	rr.RSSAllOpenMiB = 20 + 2*kibPerSession/1024
	return rr
}

func TestRealtimeSummaryFailsOnADroppedFrameEvenWhenQuick(t *testing.T) {
	rr := summaryOf(true, 10)
	rr.Relayed.Echoed, rr.Relayed.Dropped = 39, 1
	rr.summarize()
	if rr.OK || len(rr.Failures) != 1 || !strings.Contains(rr.Failures[0], "1 dropped") {
		t.Errorf("ok %v, failures %q; want one failure naming the dropped frame", rr.OK, rr.Failures)
	}
}

func TestRealtimeSummaryJudgesTheTargetsOnlyInAFullRunAndNeverFailsOnThem(t *testing.T) {
	quick := summaryOf(true, 100)
	quick.summarize()
	if !quick.OK || quick.MemoryTargetMet || !quick.LatencyTargetMet {
		t.Errorf("quick, 100 KiB per session: ok %v, memory met %v, latency met %v; want true, false, true (reported, not failed)",
			quick.OK, quick.MemoryTargetMet, quick.LatencyTargetMet)
	}
	if len(quick.Missed) != 0 {
		t.Errorf("quick: missed %q, want no verdict", quick.Missed)
	}
	full := summaryOf(false, 100)
	full.summarize()
	if !full.OK || len(full.Missed) != 1 || !strings.Contains(full.Missed[0], "KiB of aiproxy RSS per session") {
		t.Errorf("full, 100 KiB per session: ok %v, missed %q; want ok, the memory target reported missed", full.OK, full.Missed)
	}
	if math.Abs(full.AddedP50Ms-0.3) > 1e-9 || math.Abs(full.KiBPerSession-100) > 1e-6 {
		t.Errorf("added p50 %.4f ms, %.3f KiB per session; want 0.3, 100", full.AddedP50Ms, full.KiBPerSession)
	}
	met := summaryOf(false, 40)
	met.summarize()
	if !met.OK || len(met.Missed) != 0 || !met.MemoryTargetMet || !met.LatencyTargetMet {
		t.Errorf("full, 40 KiB per session, +0.3 ms: failures %q, missed %q", met.Failures, met.Missed)
	}
}

// A phase against the echo server gets every frame back; against an echo that loses one
// frame of one session, the phase counts it dropped.
func TestRealtimePhaseSeesEveryEchoAndCountsALostOne(t *testing.T) {
	const key = "bench-test-key"
	echo := httptest.NewServer(newEchoServer(key))
	defer echo.Close()
	lossy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f rtFrame
			if json.Unmarshal(data, &f) == nil && f.Session == 1 && f.Seq == 2 {
				continue // lost
			}
			if c.Write(context.Background(), typ, data) != nil {
				return
			}
		}
	}))
	defer lossy.Close()
	dial := func(u string) func(context.Context) (*websocket.Conn, *http.Response, error) {
		return func(ctx context.Context) (*websocket.Conn, *http.Response, error) {
			return websocket.Dial(ctx, u+echoPath, &websocket.DialOptions{HTTPHeader: http.Header{"Xi-Api-Key": {key}}})
		}
	}
	ctx := context.Background()
	idle := -1
	ph := runRealtimePhase(ctx, rtPhaseConfig{name: "test", n: 3, k: 4, interval: 5 * time.Millisecond, dial: dial(echo.URL),
		idle: func(open int) { idle = open }})
	if ph.Opened != 3 || ph.FramesSent != 12 || ph.Echoed != 12 || len(ph.rtts) != 12 || ph.Dropped+ph.Duplicated+ph.Reordered+ph.Corrupted != 0 || ph.Errors != nil {
		t.Errorf("echo: %+v", ph)
	}
	if idle != 3 {
		t.Errorf("idle called with %d open, want 3", idle)
	}
	if ph.minBytes < 90 || ph.maxBytes > 600 || ph.minBytes > ph.maxBytes {
		t.Errorf("frames of %d–%d bytes, want about 100–500", ph.minBytes, ph.maxBytes)
	}

	// The lossy echo: session 1 waits echoWait for its frame 2, then gives up on it.
	ph = runRealtimePhase(ctx, rtPhaseConfig{name: "lossy", n: 2, k: 4, interval: 5 * time.Millisecond, dial: dial(lossy.URL), echoWait: 300 * time.Millisecond})
	if ph.Dropped != 1 || ph.Echoed != 7 || ph.FramesSent != 8 {
		t.Errorf("lossy echo: sent %d, echoed %d, dropped %d; want 8, 7, 1", ph.FramesSent, ph.Echoed, ph.Dropped)
	}
}

func TestEchoServerRefusesAHandshakeWithoutTheProviderKey(t *testing.T) {
	echo := httptest.NewServer(newEchoServer("right"))
	defer echo.Close()
	_, resp, err := websocket.Dial(context.Background(), echo.URL+echoPath, &websocket.DialOptions{HTTPHeader: http.Header{"Xi-Api-Key": {"wrong"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: err %v, resp %v; want 401", err, resp)
	}
}
