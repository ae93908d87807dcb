package main

import (
	"context"
	"fmt"

	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy secrets rotate --new-key-file FILE: re-wraps every credential's data key with the
// new master key while servers keep serving (tenancy.Manager.RotateMasterKey); afterwards
// the old key is no longer needed.
func cmdSecretsRotate(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("secrets rotate", io)
	newKeyFile := c.fs.String("new-key-file", "", "file holding the new master key")
	if _, err := c.args(args); err != nil {
		return err
	}
	if *newKeyFile == "" {
		return usagef("secrets rotate: --new-key-file FILE is required")
	}
	newKeys, err := masterkeys.ReadKeyFile(*newKeyFile)
	if err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	old, err := c.keys()
	if err != nil {
		return err
	}
	kr, err := masterkeys.NewKeyring(newKeys[0], old.keys...)
	if err != nil {
		return err
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	r, err := m.RotateMasterKey(ctx, tenancy.CLI, kr)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.stdout, "re-wrapped %d of %d credentials under master key %s\n", r.Rewrapped, r.Total, r.MasterKeyID)
	return nil
}
