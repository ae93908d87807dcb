// Command aiproxy is the gateway: its server, its administration commands, the provider
// simulators and a one-command demo. This package only wires the others together: each
// subcommand is one small function in a file of its own, listed in the table below, that
// parses its flags, calls the service layer (internal/tenancy) and prints the outcome.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aiproxy/aiproxy"
)

// stdio is what a command reads and writes, and the environment it sees. Every command
// gets it explicitly: nothing is global, so tests run commands in-process.
type stdio struct {
	stdin  io.Reader
	stdout io.Writer // results: a key, a slug, a report
	stderr io.Writer // notices and logs, never a secret
	getenv func(string) string
}

// command is one subcommand.
type command struct {
	name  string // "key create"
	usage string // the arguments, for help
	run   func(ctx context.Context, io stdio, args []string) error
}

// commands is the table of subcommands, in the order help lists them.
func commands() []command {
	return []command{
		{"serve", "[--addr 127.0.0.1:8080] [--db PATH] [--upstream SERVICE=URL]... [--catalog-dir DIR] [--rate-limit-per-minute N] [--redis-addr HOST:PORT] [--idempotency-max-body-bytes N] …   (serve -h: every flag)", cmdServe},
		{"demo", "[--addr ADDR] [--data-dir DIR] [--speed X]", cmdDemo},
		{"sim", "[--addr ADDR] [--speed X] [--seed N]", cmdSim},
		{"org create", "SLUG [--name NAME]", cmdOrgCreate},
		{"org set-rate-limit", "SLUG --per-minute N   (0: the deployment default)", cmdOrgSetRateLimit},
		{"key create", "(--org SLUG [--role admin|member] | --operator) [--name NAME] [--scopes LIST]", cmdKeyCreate},
		{"key revoke", "PREFIX   (also revokes the browser tokens it minted)", cmdKeyRevoke},
		{"credential set", "SERVICE (--org SLUG | --platform) --key VALUE   (--key - reads stdin)", cmdCredentialSet},
		{"policy set", "SERVICE [--org SLUG] [--allow-tenant=BOOL] [--allow-platform=BOOL] [--default-source tenant|platform] [--fallback=BOOL] [--account-actions allow|refuse] [--require-idempotency-key=BOOL]", cmdPolicySet},
		{"service enable", "SERVICE [--org SLUG]", cmdServiceEnable},
		{"service disable", "SERVICE [--org SLUG]", cmdServiceDisable},
		{"usage", "[--org SLUG] [--from DATE] [--to DATE] [--by day|action|service|org]...   (CSV)", cmdUsage},
		{"budget set", "SERVICE --org SLUG --period day|month [--requests N] [--characters N] [--seconds N]", cmdBudgetSet},
		{"budget show", "SERVICE --org SLUG", cmdBudgetShow},
		{"budget delete", "SERVICE --org SLUG", cmdBudgetDelete},
		{"webhooks register", "SERVICE --public-url URL (--org SLUG | --platform) [--upstream SERVICE=URL]", cmdWebhooksRegister},
		{"migrate", "", cmdMigrate},
		{"secrets rotate", "--new-key-file FILE", cmdSecretsRotate},
		{"call", "SERVICE ACTION [--body JSON|@FILE|-] [--query K=V]... [--path K=V]... [--header K=V]... [--file FIELD=@PATH]... [--out FILE] [--wait]   (a client: AIPROXY_URL, AIPROXY_ORG, AIPROXY_KEY; docs/cli.md)", cmdCall},
	}
}

// usageText is the help, made from the table.
func usageText() string {
	var b strings.Builder
	b.WriteString("aiproxy — a multi-tenant gateway to AI media APIs\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  aiproxy %s %s\n", c.name, c.usage)
	}
	b.WriteString(`
Every command takes --db PATH (default ./aiproxy.db; a postgres:// URL selects PostgreSQL).
A flag always wins over its environment variable (AIPROXY_DB, AIPROXY_ADDR, …), which wins
over the default; docs/operations.md lists them all.
`)
	return b.String()
}

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
	var ce *callError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "aiproxy: "+ue.msg)
		return 2
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "aiproxy call: "+ce.msg)
		return ce.code
	case aiproxy.AsError(err) != nil && aiproxy.ErrorCode(err) != aiproxy.EINTERNAL:
		// The service layer's sentence, as a client of the API would read it.
		fmt.Fprintln(stderr, "aiproxy: "+aiproxy.ErrorMessage(err))
		return 1
	default:
		fmt.Fprintln(stderr, "aiproxy: "+oneLine(err))
		return 1
	}
}

// run dispatches a command line with the process's environment. It is main without the
// process: tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, args, stdio{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

// dispatch finds the command the arguments name — one word, or a group and a subcommand —
// and runs it with the rest.
func dispatch(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 {
		fmt.Fprint(io.stderr, usageText())
		return usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(io.stdout, usageText())
		return nil
	}
	group := false
	for _, c := range commands() {
		first, sub, two := strings.Cut(c.name, " ")
		switch {
		case !two && args[0] == first:
			return c.run(ctx, io, args[1:])
		case two && args[0] == first:
			group = true
			if len(args) > 1 && args[1] == sub {
				return c.run(ctx, io, args[2:])
			}
		}
	}
	switch {
	case group && len(args) == 1:
		return usagef("%s: missing subcommand", args[0])
	case group:
		return usagef("unknown command %q (try aiproxy help)", args[0]+" "+args[1])
	}
	return usagef("unknown command %q (try aiproxy help)", args[0])
}
