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
	var af adminFlags
	fs := newFlags("secrets rotate")
	af.add(fs, io)
	newKeyFile := fs.String("new-key-file", "", "file holding the new master key")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("secrets rotate: unexpected argument %q", pos[0])
	}
	if *newKeyFile == "" {
		return usagef("secrets rotate: --new-key-file FILE is required")
	}
	newKeys, err := masterkeys.ReadKeyFile(*newKeyFile)
	if err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	old, err := masterKeys{db: af.db, file: af.keyFile, getenv: io.getenv}.load()
	if err != nil {
		return err
	}
	kr, err := masterkeys.NewKeyring(newKeys[0], old.keys...)
	if err != nil {
		return err
	}
	m, done, err := af.manager(ctx, io, false)
	if err != nil {
		return err
	}
	defer done()
	r, err := m.RotateMasterKey(ctx, tenancy.CLI, kr)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.stdout, "re-wrapped %d of %d credentials under master key %s\n", r.Rewrapped, r.Total, r.MasterKeyID)
	return nil
}
