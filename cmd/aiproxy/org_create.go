package main

import (
	"context"
	"fmt"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy org create SLUG [--name NAME]: prints the slug.
func cmdOrgCreate(ctx context.Context, io stdio, args []string) error {
	var af adminFlags
	fs := newFlags("org create")
	af.add(fs, io)
	name := fs.String("name", "", "display name")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("org create: want exactly one SLUG")
	}
	if !tenancy.ValidSlug(pos[0]) {
		return usagef("org create: invalid slug %q: use lowercase letters, digits and inner hyphens", pos[0])
	}
	m, done, err := af.manager(ctx, io, false)
	if err != nil {
		return err
	}
	defer done()
	o, err := m.CreateOrg(ctx, tenancy.CLI, pos[0], *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(io.stdout, o.Slug)
	return nil
}
