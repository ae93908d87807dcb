package main

import (
	"context"
	"fmt"
)

// aiproxy migrate: applies pending schema migrations and prints the data version.
func cmdMigrate(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("migrate", io)
	if _, err := c.args(args); err != nil {
		return err
	}
	store, err := openStore(ctx, c.db) // opening applies pending migrations
	if err != nil {
		return err
	}
	v, err := store.Version(ctx)
	store.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(io.stdout, "migrated; data version %d\n", v)
	return nil
}
