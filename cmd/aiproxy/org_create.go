package main

import (
	"context"
	"fmt"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy org create SLUG [--name NAME]: prints the slug.
func cmdOrgCreate(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("org create", io)
	name := c.fs.String("name", "", "display name")
	pos, err := c.args(args, "SLUG")
	if err != nil {
		return err
	}
	if !tenancy.ValidSlug(pos[0]) {
		return usagef("org create: invalid slug %q: use lowercase letters, digits and inner hyphens", pos[0])
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	o, err := m.CreateOrg(ctx, tenancy.CLI, pos[0], *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(io.stdout, o.Slug)
	return nil
}
