package main

import (
	"context"
	"fmt"
)

// aiproxy migrate: applies pending schema migrations and prints the data version.
func cmdMigrate(ctx context.Context, io stdio, args []string) error {
	var af adminFlags
	fs := newFlags("migrate")
	af.add(fs, io)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate: unexpected argument %q", pos[0])
	}
	store, err := openStore(ctx, af.db) // opening applies pending migrations
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
