package main

import (
	"errors"
	"flag"
	"io"
	"strconv"
	"strings"
)

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses flags placed before, between or after positional arguments, and returns
// the positionals. Errors are usage errors naming the command.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usagef("%s: see aiproxy help", fs.Name())
			}
			return nil, usagef("%s: %s", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// wasSet reports whether the named flag was given.
func wasSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// envOr returns the environment variable's value, or def. It gives a flag its default, so
// that the flag, when given, wins over the variable.
func (io stdio) envOr(name, def string) string {
	if v := io.getenv(name); v != "" {
		return v
	}
	return def
}

// envInt returns the environment variable as a non-negative integer (0 when unset); any
// other value is a usage error naming it.
func (io stdio) envInt(name string) (int, error) {
	v := io.getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, usagef("%s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// oneLine flattens an error message for a one-line report.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}
