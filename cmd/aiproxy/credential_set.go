package main

import (
	"bufio"
	"context"
	"io"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy credential set SERVICE (--org SLUG | --platform) --key VALUE (--key - reads the
// key from stdin, so that it stays out of the shell's history and the process list).
func cmdCredentialSet(ctx context.Context, sio stdio, args []string) error {
	c := newAdminCmd("credential set", sio)
	orgSlug := c.fs.String("org", "", "org slug (tenant credential)")
	platform := c.fs.Bool("platform", false, "set the platform-wide credential")
	key := c.fs.String("key", "", "the provider key, or - to read it from stdin")
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	if *platform == (*orgSlug != "") {
		return usagef("credential set: give exactly one of --org SLUG or --platform")
	}
	if !wasSet(c.fs, "key") {
		return usagef("credential set: --key VALUE is required (--key - reads stdin)")
	}
	value := *key
	if value == "-" {
		line, err := bufio.NewReader(sio.stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		value = strings.TrimRight(line, "\r\n")
	}
	if strings.TrimSpace(value) == "" {
		return usagef("credential set: the key is empty")
	}
	m, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer c.close()
	svc, err := service(m, "credential set", pos[0])
	if err != nil {
		return err
	}
	var o *aiproxy.Org
	if !*platform {
		if o, err = org(ctx, m, *orgSlug); err != nil {
			return err
		}
	}
	_, err = m.SetCredential(ctx, tenancy.CLI, svc, o, value)
	return err
}
