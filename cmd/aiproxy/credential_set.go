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
	var af adminFlags
	fs := newFlags("credential set")
	af.add(fs, sio)
	orgSlug := fs.String("org", "", "org slug (tenant credential)")
	platform := fs.Bool("platform", false, "set the platform-wide credential")
	key := fs.String("key", "", "the provider key, or - to read it from stdin")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("credential set: want exactly one SERVICE")
	}
	if *platform == (*orgSlug != "") {
		return usagef("credential set: give exactly one of --org SLUG or --platform")
	}
	if !wasSet(fs, "key") {
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
	m, done, err := af.manager(ctx, sio, true)
	if err != nil {
		return err
	}
	defer done()
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
