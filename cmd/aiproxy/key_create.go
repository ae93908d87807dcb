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
	var af adminFlags
	fs := newFlags("key create")
	af.add(fs, io)
	orgSlug := fs.String("org", "", "org slug")
	operator := fs.Bool("operator", false, "create an operator key (bound to no org)")
	role := fs.String("role", "admin", "admin or member")
	name := fs.String("name", "", "a name to recognise the key by")
	scopes := fs.String("scopes", "", "comma-separated service:action patterns (default: all)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("key create: unexpected argument %q", pos[0])
	}
	if *operator == (*orgSlug != "") {
		return usagef("key create: give exactly one of --org SLUG or --operator")
	}
	nk := tenancy.NewKey{Name: *name, Role: aiproxy.Role(*role), Scopes: splitList(*scopes)}
	if *operator {
		if wasSet(fs, "role") {
			return usagef("key create: --role does not go with --operator")
		}
		nk.Role = aiproxy.RoleOperator
	} else if nk.Role != aiproxy.RoleAdmin && nk.Role != aiproxy.RoleMember {
		return usagef("key create: --role must be admin or member")
	}
	m, done, err := af.manager(ctx, io, false)
	if err != nil {
		return err
	}
	defer done()
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
