//go:build !unix

package pgtest

import "os/exec"

// account is who the server programs run as; elsewhere than on Unix, the test itself.
type account struct{ uid, gid int }

func unprivileged() (*account, error) { return nil, nil }

func (a *account) apply(*exec.Cmd) {}
