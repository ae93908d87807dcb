package tenancy

import (
	"context"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
)

// Rotation is the outcome of a master-key rotation.
type Rotation struct {
	MasterKeyID string // the key every credential is now wrapped by
	Rewrapped   int    // credentials re-wrapped by this run
	Total       int    // credentials stored
}

// RotateMasterKey re-wraps every credential's data key with kr's primary key (operators).
// Ciphertexts do not change, each row is swapped atomically (compare-and-swap on its key
// id), and a row written meanwhile by a server is read again and re-wrapped, so servers
// holding both keys keep serving throughout. kr must also hold the keys the credentials are
// wrapped by now. The rotation is recorded in the platform's audit trail.
func (m *Manager) RotateMasterKey(ctx context.Context, a Actor, kr *masterkeys.Keyring) (*Rotation, error) {
	if err := RequireOperator(a); err != nil {
		return nil, err
	}
	creds, err := m.Store.ListCredentials(ctx)
	if err != nil {
		return nil, err
	}
	r := &Rotation{MasterKeyID: kr.PrimaryID(), Total: len(creds)}
	for _, c := range creds {
		done, err := m.rewrap(ctx, kr, c)
		if err != nil {
			return nil, err
		}
		if done {
			r.Rewrapped++
		}
	}
	after := map[string]any{"master_key_id": r.MasterKeyID, "rewrapped": r.Rewrapped}
	if err := m.audit(ctx, a, 0, "secrets.rotate", r.MasterKeyID, nil, after); err != nil {
		return nil, err
	}
	return r, nil
}

// rewrap moves one credential to kr's primary key, reading it again when a server replaced
// it meanwhile. It reports whether it re-wrapped anything.
func (m *Manager) rewrap(ctx context.Context, kr *masterkeys.Keyring, c *aiproxy.Credential) (bool, error) {
	for attempt := 0; c.Sealed.KEKID != kr.PrimaryID(); attempt++ {
		if attempt > 3 {
			return false, fmt.Errorf("credential %s/%s of org %d keeps changing; run the rotation again", c.Service, c.Source, c.OrgID)
		}
		next := *c
		sealed, err := kr.Rewrap(c.Sealed, masterkeys.AAD(c.OrgID, c.Service, c.Source))
		if err != nil {
			return false, fmt.Errorf("credential %s/%s of org %d: %w", c.Service, c.Source, c.OrgID, err)
		}
		next.Sealed = sealed
		ok, err := m.Store.RewrapCredential(ctx, &next, c.Sealed.KEKID)
		if err != nil || ok {
			return ok, err
		}
		// Someone replaced the row meanwhile: read it again and re-wrap what is there now.
		if c, err = m.Store.GetCredential(ctx, c.Service, c.Source, c.OrgID); err != nil {
			if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
				return false, nil
			}
			return false, err
		}
	}
	return false, nil
}
