package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy"
)

// Budgets during a realtime session (docs/realtime.md, "Usage and budgets"). A session's
// metered units are taken from the org's budget as they are spent, through the same
// ledger as an invoke's reservation (tenancy.Invocation.Take): the characters of a client's
// message before it is forwarded, each second of a session metered in seconds as it
// begins (the first with the call's own reservation, before the upgrade). When the budget
// has no more of the unit, the message is not forwarded, or the second not begun: the
// client is closed with 4003 "<unit> budget exhausted" and the provider with 1000. Usage
// records exactly what was taken.

// takeTimeout bounds one budget reservation during a session.
const takeTimeout = 10 * time.Second

// messageUnits are the units a client's JSON message meters: the code points of its text
// for an action whose catalog meter names characters.
func (ss *realtimeSession) messageUnits(data []byte) aiproxy.Units {
	p := ss.ep.Meter.Characters
	if p == nil {
		return nil
	}
	raw, ok := p.LookupRaw(data)
	if !ok {
		return nil
	}
	var text string
	if json.Unmarshal(raw, &text) != nil || text == "" {
		return nil
	}
	return aiproxy.Units{aiproxy.UnitCharacters: int64(utf8.RuneCountInString(text))}
}

// charge takes units from the org's budget; when it may not (ok false), stop says how both
// sides are closed: 4003 naming the unit when the budget is spent, 1011 when the budget
// could not be read (budgets never fail open).
func (ss *realtimeSession) charge(units aiproxy.Units) (stop closing, ok bool) {
	if ss.take == nil || len(units) == 0 {
		return closing{}, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), takeTimeout)
	defer cancel()
	err := ss.take(ctx, units)
	if err == nil {
		return closing{}, true
	}
	if aiproxy.ErrorCode(err) == aiproxy.EBUDGET {
		unit := ""
		var ae *aiproxy.Error
		if errors.As(err, &ae) {
			unit, _ = ae.Fields["unit"].(string)
		}
		if unit == "" {
			for u := range units {
				unit = u
			}
		}
		return closing{client: CloseBudgetSpent, clientReason: unit + " budget exhausted",
			upstream: websocket.StatusNormalClosure, upstreamReason: "budget exhausted"}, false
	}
	ss.s.logger.Warn("realtime: the budget could not be read; closing the session", slog.String("service", ss.ep.Slug),
		slog.String("error", err.Error()))
	return closing{client: websocket.StatusInternalError, clientReason: "budget unavailable",
		upstream: websocket.StatusNormalClosure, upstreamReason: "budget unavailable"}, false
}

// secondsClock takes each next second of a session metered in seconds as it begins (the
// first was taken with the call), and ends the session when one cannot be taken. A nil
// clock does nothing.
type secondsClock struct {
	mu      sync.Mutex
	stopped bool
	t       *time.Timer
	begun   int64 // seconds taken
	start   time.Time
}

func (ss *realtimeSession) startSecondsClock(end func(closing)) *secondsClock {
	if ss.take == nil || !ss.ep.SessionSeconds() {
		return nil
	}
	k := &secondsClock{begun: 1, start: ss.started}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t = time.AfterFunc(time.Second, func() {
		if stop, ok := ss.nextSecond(k); !ok {
			end(stop)
		}
	})
	return k
}

func (k *secondsClock) stop() {
	if k != nil {
		k.mu.Lock()
		k.stopped = true
		k.t.Stop()
		k.mu.Unlock()
	}
}

// nextSecond takes the second that begins now, and sets the clock for the one after.
func (ss *realtimeSession) nextSecond(k *secondsClock) (closing, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return closing{}, true // the session ended meanwhile
	}
	if stop, ok := ss.charge(aiproxy.Units{aiproxy.UnitSeconds: 1}); !ok {
		return stop, false
	}
	k.begun++
	k.t.Reset(time.Until(k.start.Add(time.Duration(k.begun) * time.Second)))
	return closing{}, true
}
