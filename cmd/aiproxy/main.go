// Command aiproxy is the gateway: its server, its administration commands, the provider
// simulators and a one-command demo. This package only wires the others together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `aiproxy — a multi-tenant gateway to AI media APIs

Usage:
  aiproxy serve [--addr 127.0.0.1:8080] [--db PATH] [--upstream SERVICE=URL]... [--catalog-dir DIR]
                [--rate-limit-per-minute N] [--redis-addr HOST:PORT]
  aiproxy demo [--addr ADDR] [--data-dir DIR] [--speed X]
  aiproxy sim [--addr ADDR] [--speed X] [--seed N]
  aiproxy org create SLUG [--name NAME]
  aiproxy org set-rate-limit SLUG --per-minute N   (0: the deployment default)
  aiproxy key create --org SLUG [--role admin|member] [--name NAME]
  aiproxy key create --operator [--name NAME]
  aiproxy key revoke PREFIX
  aiproxy credential set SERVICE (--org SLUG | --platform) --key VALUE   (--key - reads stdin)
  aiproxy policy set SERVICE [--org SLUG] [--allow-tenant=BOOL] [--allow-platform=BOOL] [--default-source tenant|platform] [--fallback=BOOL]
  aiproxy service enable|disable SERVICE [--org SLUG]
  aiproxy migrate
  aiproxy secrets rotate --new-key-file FILE

Every command takes --db PATH (default ./aiproxy.db, or AIPROXY_DB; a postgres:// URL
selects PostgreSQL). See docs/ for the rest.
`

// stderrWriter is where commands write notices (never secrets).
var stderrWriter io.Writer = os.Stderr

// usageError is a bad command line: one line on stderr, exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "aiproxy: "+ue.msg)
		return 2
	default:
		fmt.Fprintln(stderr, "aiproxy: "+oneLine(err))
		return 1
	}
}

// run dispatches a command line. It is main without the process: tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	stderrWriter = stderr
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "sim":
		return cmdSim(ctx, rest, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout)
	case "org", "key", "credential", "policy", "service", "secrets":
		if len(rest) == 0 {
			return usagef("%s: missing subcommand", cmd)
		}
		return runAdmin(ctx, cmd, rest[0], rest[1:], stdin, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q (try aiproxy help)", cmd)
}
