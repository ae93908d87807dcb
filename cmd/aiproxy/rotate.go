package main

import (
	"context"
	"fmt"
	"io"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
)

// rotateSecrets re-wraps every credential's data key with the new master key. Ciphertexts
// do not change, each row is swapped atomically (compare-and-swap on its key id), and a row
// written meanwhile by a server is left as it is, so servers holding both keys keep serving
// throughout. Afterwards the old key is no longer needed.
func rotateSecrets(ctx context.Context, e *adminEnv, newKeyFile string, stdout io.Writer) error {
	newKeys, err := masterkeys.ReadKeyFile(newKeyFile)
	if err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	old, err := loadMasterKeys(e.db, e.keyFile)
	if err != nil {
		return err
	}
	kr, err := masterkeys.NewKeyring(newKeys[0], old.keys...)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, e.db)
	if err != nil {
		return err
	}
	defer store.Close()
	creds, err := store.ListCredentials(ctx)
	if err != nil {
		return err
	}
	rewrapped := 0
	for _, c := range creds {
		for attempt := 0; c.Sealed.KEKID != kr.PrimaryID(); attempt++ {
			oldID := c.Sealed.KEKID
			sealed, err := kr.Rewrap(c.Sealed, masterkeys.AAD(c.OrgID, c.Service, c.Source))
			if err != nil {
				return fmt.Errorf("credential %s/%s of org %d: %w", c.Service, c.Source, c.OrgID, err)
			}
			c.Sealed = sealed
			ok, err := store.RewrapCredential(ctx, c, oldID)
			if err != nil {
				return err
			}
			if ok {
				rewrapped++
				break
			}
			if attempt >= 3 {
				return fmt.Errorf("credential %s/%s of org %d keeps changing; run the rotation again", c.Service, c.Source, c.OrgID)
			}
			// Someone replaced the row meanwhile: read it again and re-wrap what is there now.
			if c, err = store.GetCredential(ctx, c.Service, c.Source, c.OrgID); aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
				break
			} else if err != nil {
				return err
			}
		}
	}
	err = store.AppendAudit(ctx, &aiproxy.AuditEntry{Actor: cliActor, Action: "secrets.rotate", Target: kr.PrimaryID(),
		After: fmt.Sprintf(`{"master_key_id": %q, "rewrapped": %d}`, kr.PrimaryID(), rewrapped)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-wrapped %d of %d credentials under master key %s\n", rewrapped, len(creds), kr.PrimaryID())
	return nil
}
