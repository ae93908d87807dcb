package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
)

// Take adds units to a call in progress, as they are spent: a realtime session's
// characters, seconds of audio or seconds of session (docs/realtime.md), whose amount is
// not known at Admit. When the org has a budget for the service, the units are reserved in
// the budget's current window through the same ledger as Admit's reservation, and
// committed at once (they are taken because they are about to be sent, or the time has
// begun); when any unit with a limit would go over it, nothing is taken and the error is
// the 402 of a spent budget (EBUDGET, naming the unit). Taken units are recorded with the
// call's usage by Finish, and only they: usage and budget count the same units. Take is
// for calls that Admit accepted; it may be called from several goroutines.
func (inv *Invocation) Take(ctx context.Context, units aiproxy.Units) error {
	inv.takeMu.Lock()
	defer inv.takeMu.Unlock()
	b, err := inv.m.Store.GetBudget(ctx, inv.Org.ID, inv.State.Service.Slug)
	switch {
	case aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND:
	case err != nil:
		return err
	default:
		now := inv.m.now()
		window, resets := BudgetWindow(b.Period, now)
		r := &aiproxy.BudgetReservation{OrgID: inv.Org.ID, Service: b.Service,
			Window: window, Units: units, ExpiresAt: now.Add(reservationTTL)}
		ok, used, err := inv.m.ledger().Reserve(ctx, r, b.Limits)
		if err != nil {
			return err
		}
		if !ok {
			return budgetExhausted(b, used, units, resets)
		}
		if err := inv.m.ledger().Commit(ctx, r); err != nil {
			// Reserved: the units stay counted until the reservation expires.
			inv.m.logf("committing a budget reservation failed; it expires by itself", "error", err.Error())
		}
	}
	if inv.taken == nil {
		inv.taken = aiproxy.Units{}
	}
	for u, n := range units {
		inv.taken[u] += n
	}
	return nil
}
