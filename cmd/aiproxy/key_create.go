package main

import (
	"context"
	"fmt"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy key create (--org SLUG [--role admin|member] | --operator) [--name NAME]
// [--scopes LIST]: prints the key, shown this once.
func cmdKeyCreate(ctx context.Context, io stdio, args []string) error {
	c := newAdminCmd("key create", io)
	orgSlug := c.fs.String("org", "", "org slug")
	operator := c.fs.Bool("operator", false, "create an operator key (bound to no org)")
	role := c.fs.String("role", "admin", "admin or member")
	name := c.fs.String("name", "", "a name to recognise the key by")
	scopes := c.fs.String("scopes", "", "comma-separated scopes, e.g. heygen:*,elevenlabs:tts* (default: all)")
	if _, err := c.args(args); err != nil {
		return err
	}
	if *operator == (*orgSlug != "") {
		return usagef("key create: give exactly one of --org SLUG or --operator")
	}
	nk := tenancy.NewKey{Name: *name, Role: aiproxy.Role(*role), Scopes: splitList(*scopes)}
	if *operator {
		if wasSet(c.fs, "role") {
			return usagef("key create: --role does not go with --operator")
		}
		nk.Role = aiproxy.RoleOperator
	} else if nk.Role != aiproxy.RoleAdmin && nk.Role != aiproxy.RoleMember {
		return usagef("key create: --role must be admin or member")
	}
	m, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	if !*operator {
		if nk.Org, err = org(ctx, m, *orgSlug); err != nil {
			return err
		}
	}
	_, secret, err := m.CreateKey(ctx, tenancy.CLI, nk)
	if err != nil {
		return err
	}
	fmt.Fprintln(io.stdout, secret)
	return nil
}
