package httpapi_test

// Budgets during a realtime session (docs/realtime.md, "Usage and budgets"): units are taken
// from the org's budget as the session spends them; a message over what is left is not
// forwarded and the client is closed with 4003; usage records exactly what was taken.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// setBudget gives org A a monthly elevenlabs budget of n of unit.
func (e *env) setBudget(t *testing.T, unit string, n int64) {
	t.Helper()
	period := tenancy.PeriodMonth
	if _, err := e.mgr.PutBudget(context.Background(), tenancy.CLI, e.orgA, "elevenlabs",
		tenancy.BudgetChange{Period: &period, Limits: map[string]*int64{unit: &n}}); err != nil {
		t.Fatal(err)
	}
}

// expectUnits waits for org A's usage of action to read calls and the given units.
func (e *env) expectUnits(t *testing.T, action string, calls int64, units map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		e.mgr.Meter.Flush(context.Background())
		r := e.do("GET", "/api/ai-proxy/orgs/org-a/usage/?group_by=service,action", "Api-Key "+e.adminA, nil)
		var page struct {
			Results []struct {
				Action string           `json:"action"`
				Calls  int64            `json:"calls"`
				Units  map[string]int64 `json:"units"`
			} `json:"results"`
		}
		_ = json.Unmarshal(r.Body, &page)
		for _, row := range page.Results {
			if row.Action != action || row.Calls != calls {
				continue
			}
			ok := true
			for u, n := range units {
				ok = ok && row.Units[u] == n
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage of %s: want calls %d units %v, got %d %s", action, calls, units, r.Status, r.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRealtimeBudgetStopsTextOverTheBudget(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	e.setBudget(t, "characters", 10)

	c := mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	writeMsg(t, c, websocket.MessageText, `{"text":"Hello "}`)
	if _, got := readMsg(t, c); got != `{"text":"Hello "}` {
		t.Fatalf("echo %q", got)
	}
	writeMsg(t, c, websocket.MessageText, `{"text":"world!"}`) // 6 more: 12 > 10
	if code, reason := readClose(t, c); code != httpapi.CloseBudgetSpent || reason != "characters budget exhausted" {
		t.Errorf("close %d %q, want 4003 characters budget exhausted", code, reason)
	}
	p.wg.Wait() // the provider's side closed too
	if got := p.messages(); len(got) != 1 || got[0] != `{"text":"Hello "}` {
		t.Errorf("the provider got %q, want only the text within the budget", got)
	}
	e.expectUnits(t, "tts-websocket", 1, map[string]int64{"characters": 6, "requests": 1})

	// What is left is exactly what the first session did not take: 4 characters.
	c = mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	writeMsg(t, c, websocket.MessageText, `{"text":"four"}`)
	readMsg(t, c)
	writeMsg(t, c, websocket.MessageText, `{"text":"x"}`)
	if code, _ := readClose(t, c); code != httpapi.CloseBudgetSpent {
		t.Errorf("second session: close %d, want 4003", code)
	}
	e.expectUnits(t, "tts-websocket", 2, map[string]int64{"characters": 10, "requests": 2})
}

func TestRealtimeBudgetUnderItIsUnaffected(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	e.setBudget(t, "characters", 100)
	c := mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	for _, m := range []string{`{"text":"Hello "}`, `{"text":"world"}`, "not json"} {
		writeMsg(t, c, websocket.MessageText, m)
		if _, got := readMsg(t, c); got != m {
			t.Errorf("echo %q, want %q", got, m)
		}
	}
	c.Close(websocket.StatusNormalClosure, "done")
	p.wg.Wait()
	if n := len(p.messages()); n != 3 {
		t.Errorf("the provider got %d messages, want 3", n)
	}
	e.expectUnits(t, "tts-websocket", 1, map[string]int64{"characters": 11})
}

func TestRealtimeBudgetEndsASessionMeteredInSeconds(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	e.setBudget(t, "seconds", 2)
	const agent = "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/agent-conversation/?agent_id=a1"
	start := time.Now()
	c := mustDial(t, e, agent, "Api-Key "+e.memberA)
	writeMsg(t, c, websocket.MessageText, "ping")
	readMsg(t, c)
	code, reason := readClose(t, c)
	if code != httpapi.CloseBudgetSpent || reason != "seconds budget exhausted" {
		t.Errorf("close %d %q, want 4003 seconds budget exhausted", code, reason)
	}
	if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("the session lasted %s, want its 2 seconds", d)
	}
	e.expectUnits(t, "agent-conversation", 1, map[string]int64{"seconds": 2})

	// No second left: refused before the upgrade, like an invoke.
	_, resp, err := e.dialWS(t, agent, "Api-Key "+e.memberA)
	if err == nil || resp == nil || resp.StatusCode != 402 {
		t.Fatalf("a session with no second left: %v %+v, want 402", err, resp)
	}
}
