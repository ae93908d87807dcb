package main

import (
	"context"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy key revoke PREFIX: revokes the key and the browser tokens it minted, exactly as
// the admin API does (tenancy.Manager.RevokeKey).
func cmdKeyRevoke(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("key revoke", io)
	pos, err := c.args(args, "PREFIX")
	if err != nil {
		return err
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	return m.RevokeKey(ctx, tenancy.CLI, nil, pos[0])
}
