package sqlcodec

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aiproxy/aiproxy"
)

// What the stores share about usage, budgets and idempotency records, whatever the dialect:
// which units exist, how units are written to a column and read back, how a batch of usage
// deltas is checked and put in the order rows are locked in, and the budget check itself.

// UnitNames are the usage units, in name order: the order in which the stores lock a
// window's counter rows.
var UnitNames = []string{aiproxy.UnitCharacters, aiproxy.UnitRequests, aiproxy.UnitSeconds}

// KnownUnit reports whether u is a usage unit.
func KnownUnit(u string) bool { return slices.Contains(UnitNames, u) }

// CheckUnits returns EINVALID naming what unless every unit of us is known and, when
// nonNegative, not negative.
func CheckUnits(what string, us aiproxy.Units, nonNegative bool) error {
	for _, u := range slices.Sorted(maps.Keys(us)) {
		if !KnownUnit(u) {
			return aiproxy.Errorf(aiproxy.EINVALID, "%s: unknown unit %q (use requests, characters or seconds).", what, u)
		}
		if nonNegative && us[u] < 0 {
			return aiproxy.Errorf(aiproxy.EINVALID, "%s: %s must not be negative.", what, u)
		}
	}
	return nil
}

// EncodeUnits stores units as a JSON object; nil and empty both become "{}".
func EncodeUnits(us aiproxy.Units) string {
	if len(us) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(map[string]int64(us)) // a map of strings to integers always marshals
	return string(b)
}

// DecodeUnits reads a JSON object; an empty one becomes nil.
func DecodeUnits(s string) (aiproxy.Units, error) {
	var us aiproxy.Units
	if err := json.Unmarshal([]byte(s), &us); err != nil {
		return nil, fmt.Errorf("decode units %q: %w", s, err)
	}
	if len(us) == 0 {
		return nil, nil
	}
	return us, nil
}

// UsageUnits is the Units of a usage row from its unit columns: the units that are not
// zero, nil when none is.
func UsageUnits(requests, characters, seconds int64) aiproxy.Units {
	var us aiproxy.Units
	for _, c := range []struct {
		unit string
		n    int64
	}{{aiproxy.UnitRequests, requests}, {aiproxy.UnitCharacters, characters}, {aiproxy.UnitSeconds, seconds}} {
		if c.n != 0 {
			if us == nil {
				us = aiproxy.Units{}
			}
			us[c.unit] = c.n
		}
	}
	return us
}

// CheckDay returns EINVALID unless day is a date written 2006-01-02.
func CheckDay(what, day string) error {
	if _, err := time.Parse(time.DateOnly, day); err != nil || len(day) != len(time.DateOnly) {
		return aiproxy.Errorf(aiproxy.EINVALID, "%s: day %q is not a date like 2026-12-01.", what, day)
	}
	return nil
}

// MergeUsage checks a batch of usage deltas (known units, days written 2006-01-02) and
// returns it with the deltas of one row summed, in row order (org, service, action,
// source, day): two writers then lock the rows they share in the same order and cannot
// deadlock.
func MergeUsage(deltas []aiproxy.UsageDelta) ([]aiproxy.UsageDelta, error) {
	type rowKey struct {
		org                     int64
		service, action, source string
		day                     string
	}
	merged := make(map[rowKey]*aiproxy.UsageDelta, len(deltas))
	for _, d := range deltas {
		what := fmt.Sprintf("usage of %d/%s/%s", d.OrgID, d.Service, d.Action)
		if err := CheckDay(what, d.Day); err != nil {
			return nil, err
		}
		if err := CheckUnits(what, d.Units, false); err != nil {
			return nil, err
		}
		k := rowKey{d.OrgID, d.Service, d.Action, string(d.Source), d.Day}
		m := merged[k]
		if m == nil {
			m = &aiproxy.UsageDelta{OrgID: d.OrgID, Service: d.Service, Action: d.Action, Source: d.Source, Day: d.Day, Units: aiproxy.Units{}}
			merged[k] = m
		}
		m.Calls += d.Calls
		m.BillableCalls += d.BillableCalls
		m.FailedCalls += d.FailedCalls
		m.Refused += d.Refused
		m.Replayed += d.Replayed
		for u, n := range d.Units {
			m.Units[u] += n
		}
	}
	out := make([]aiproxy.UsageDelta, 0, len(merged))
	for _, m := range merged {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b aiproxy.UsageDelta) int {
		return cmp.Or(cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Action, b.Action),
			cmp.Compare(a.Source, b.Source), cmp.Compare(a.Day, b.Day))
	})
	return out, nil
}

// Budget periods.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// CheckBudget returns EINVALID unless b's period is day or month and its limits name known
// units only.
func CheckBudget(b *aiproxy.Budget) error {
	if b.Period != PeriodDay && b.Period != PeriodMonth {
		return aiproxy.Errorf(aiproxy.EINVALID, "Budget period %q is not day or month.", b.Period)
	}
	return CheckUnits("budget limits", b.Limits, false)
}

// CheckReservation returns EINVALID unless r reserves known units, none negative, and
// expires, and limits name known units only. It gives r a random ID when it has none.
func CheckReservation(r *aiproxy.BudgetReservation, limits aiproxy.Units) error {
	if err := CheckUnits("budget reservation", r.Units, true); err != nil {
		return err
	}
	if r.ExpiresAt.IsZero() {
		return aiproxy.Errorf(aiproxy.EINVALID, "A budget reservation must expire.")
	}
	if err := CheckUnits("budget limits", limits, false); err != nil {
		return err
	}
	if r.ID == "" {
		r.ID = NewReservationID()
	}
	return nil
}

// Fits reports whether units can be added to the counters used without any unit that has
// a limit going over it: for every unit of units with a limit, used + n <= limit. Units
// without a limit always fit.
func Fits(used, units, limits aiproxy.Units) bool {
	for u, n := range units {
		if limit, ok := limits[u]; ok && used[u]+n > limit {
			return false
		}
	}
	return true
}

// NewReservationID returns a random reservation id (128 bits, hex).
func NewReservationID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b[:])
}

// Counters is a budget window's counters as a store returns them: the units whose count
// is not zero, never nil.
func Counters(used aiproxy.Units) aiproxy.Units {
	out := aiproxy.Units{}
	for u, n := range used {
		if n != 0 {
			out[u] = n
		}
	}
	return out
}
