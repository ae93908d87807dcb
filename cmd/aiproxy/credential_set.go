package main

import (
	"bufio"
	"context"
	"io"
	"strings"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// aiproxy credential set SERVICE (--org SLUG | --platform) --key VALUE (--key - reads the
// key from stdin, so that it stays out of the shell's history and the process list).
func cmdCredentialSet(ctx context.Context, sio stdio, args []string) error {
	c := newAdminCmd("credential set", sio)
	acct := c.accountFlags("org slug (tenant credential)", "set the platform-wide credential")
	key := c.fs.String("key", "", "the provider key, or - to read it from stdin")
	pos, err := c.args(args, "SERVICE")
	if err != nil {
		return err
	}
	if err := acct.check(); err != nil {
		return err
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
	o, err := acct.resolve(ctx, m)
	if err != nil {
		return err
	}
	_, err = m.SetCredential(ctx, tenancy.CLI, svc, o, value)
	return err
}
