package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
)

// Audit pages: DefaultAuditLimit entries unless asked, at most MaxAuditLimit.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 200
)

// AuditPage returns up to limit entries of the trail, newest first, older than the entry
// with id before (0: from the newest), and whether older ones remain. org nil is the
// platform-wide trail (operators), else the org's (its admins, operators).
func (m *Manager) AuditPage(ctx context.Context, a Actor, org *aiproxy.Org, before int64, limit int) ([]*aiproxy.AuditEntry, bool, error) {
	var orgID int64
	if org == nil {
		if err := RequireOperator(a); err != nil {
			return nil, false, err
		}
	} else {
		orgID = org.ID
		if err := authorize(a, orgID, Admin); err != nil {
			return nil, false, err
		}
	}
	if limit < 1 || limit > MaxAuditLimit {
		return nil, false, invalid("Query parameter 'limit' must be an integer from 1 to %d.", MaxAuditLimit)
	}
	if before < 0 {
		return nil, false, invalid("Query parameter 'before' must be a positive integer (an audit entry id).")
	}
	entries, err := m.Store.ListAudit(ctx, orgID, before, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(entries) > limit {
		return entries[:limit], true, nil
	}
	return entries, false, nil
}
