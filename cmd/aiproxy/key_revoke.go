package main

import (
	"context"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy key revoke PREFIX: revokes the key and the browser tokens it minted, exactly as
// the admin API does (tenancy.Manager.RevokeKey).
func cmdKeyRevoke(ctx context.Context, io stdio, args []string) error {
	var af adminFlags
	fs := newFlags("key revoke")
	af.add(fs, io)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("key revoke: want exactly one PREFIX")
	}
	m, done, err := af.manager(ctx, io, false)
	if err != nil {
		return err
	}
	defer done()
	return m.RevokeKey(ctx, tenancy.CLI, nil, pos[0])
}
