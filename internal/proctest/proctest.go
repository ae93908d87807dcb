// Package proctest is the test support for running the shipped aiproxy binary as a real
// process: it finds the repository, builds cmd/aiproxy (once, shared by the tests that need
// it), runs CLI commands, starts servers whose output goes to goroutine-safe Buffers and
// stops them when the test ends.
//
// It imports "testing": it is for _test.go files and for the programs of the tools
// module, never for the binary.
package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is the module whose root RepoRoot looks for.
const ModulePath = "github.com/aiproxy/aiproxy"

// RepoRoot is the repository's root: the nearest directory, from the working directory up,
// holding the go.mod of module ModulePath. It is found from the root itself, from any
// package directory (where `go test` runs a test) and from the tools module.
func RepoRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := start; ; {
		if modulePath(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s in %s or above it: run from inside the repository", ModulePath, start)
		}
		dir = parent
	}
}

// modulePath is the module path declared by the go.mod file at path, or "".
func modulePath(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		rest, _, _ = strings.Cut(rest, "//")
		return strings.Trim(strings.TrimSpace(rest), "\"`")
	}
	return ""
}

// RaceEnabled reports whether the running binary was built with -race.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// built is the binary Build returns: built by the first test that needs it, shared by the
// tests (and subtests) running meanwhile, removed when the last of them ends, or when Main
// returns if the package's TestMain uses Main.
var built struct {
	sync.Mutex
	users     int
	held      bool // Main is running the tests
	dir, path string
}

// Build builds cmd/aiproxy from the repository's working tree, as shipped (in the root
// module, with its go.mod), and returns the binary. When the test binary was built with
// -race, so is aiproxy: that reuses the packages `go test -race` compiled and checks the
// servers for races too. The binary is shared: a test that calls Build before its subtests
// makes one build serve them all, and a TestMain that calls Main makes one build serve the
// whole test binary. `go test` puts $GOROOT/bin first on PATH, so "go" is the toolchain
// running the tests.
func Build(t testing.TB) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.path == "" {
		start := time.Now()
		dir, bin, err := build()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("built the aiproxy binary in %v", time.Since(start).Round(time.Millisecond))
		built.dir, built.path = dir, bin
	}
	built.users++
	t.Cleanup(func() {
		built.Lock()
		defer built.Unlock()
		built.users--
		removeIfUnused()
	})
	return built.path
}

// BuildPlain builds the binary exactly as shipped — never with -race, whose shadow memory
// triples a process's size — for tests that measure the process (its RSS). Each call
// builds; the binary is removed when the test ends.
func BuildPlain(t testing.TB) string {
	t.Helper()
	start := time.Now()
	dir, bin, err := buildWith(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the aiproxy binary (no -race) in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return bin
}

func build() (dir, bin string, err error) { return buildWith(RaceEnabled()) }

func buildWith(race bool) (dir, bin string, err error) {
	root, err := RepoRoot()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "aiproxy-test-bin-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "aiproxy")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/aiproxy")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build ./cmd/aiproxy (in %s): %v\n%s", root, err, out)
	}
	return dir, bin, nil
}

// removeIfUnused removes the binary when no test uses it and Main does not hold it.
// built is locked.
func removeIfUnused() {
	if built.users == 0 && !built.held && built.dir != "" {
		os.RemoveAll(built.dir)
		built.dir, built.path = "", ""
	}
}

// Main runs the tests (m.Run) keeping the binary Build builds for the whole run, so that
// it is built at most once per test binary, and removes it afterwards. Use it in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(proctest.Main(m)) }
func Main(m *testing.M) int {
	built.Lock()
	built.held = true
	built.Unlock()
	defer func() {
		built.Lock()
		defer built.Unlock()
		built.held = false
		removeIfUnused()
	}()
	return m.Run()
}

// Env is the environment of a child process: ours without any AIPROXY_* setting (so that
// the caller's configuration cannot leak in), plus extra.
//
// A binary built with -race sleeps a second before it exits (the race runtime's
// atexit_sleep_ms) unless GORACE says otherwise: Env sets it to 0 when GORACE is not set,
// so that tests running many short commands do not wait a second for each.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIPROXY_") {
			env = append(env, kv)
		}
	}
	if os.Getenv("GORACE") == "" {
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return append(env, extra...)
}

// RunTimeout bounds every command Run runs.
const RunTimeout = 30 * time.Second

// Run runs bin with args to completion (RunTimeout at most), stdin as its input, and
// returns its stdout; a non-zero exit fails the test with stderr.
func Run(t testing.TB, bin string, env []string, stdin string, args ...string) string {
	t.Helper()
	stdout, stderr, code := Exec(t, bin, env, stdin, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// Exec runs bin with args, stdin and env (nil: ours) to completion within RunTimeout and
// returns what it printed on stdout and stderr and its exit status; a command that cannot
// be started or does not finish in time fails the test.
func Exec(t testing.TB, bin string, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: did not finish within %v", filepath.Base(bin), strings.Join(args, " "), RunTimeout)
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}
