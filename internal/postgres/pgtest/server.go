package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ServerBinEnv names a directory holding initdb, pg_ctl and postgres, to use instead of
// the ones StartServer looks for.
const ServerBinEnv = "AIPROXY_TEST_POSTGRES_BIN"

// serverBinaries are the programs StartServer needs, all from one directory (pg_ctl starts
// the postgres beside it).
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// Server is a PostgreSQL server of the test's own, which the test may stop and start
// again (an outage) without disturbing any other test: a data directory initialized in
// t.TempDir(), listening on a free port of 127.0.0.1 (TCP, so that a stopped server
// refuses connections) and on a Unix socket in the same directory, trust authentication.
// It is stopped when the test ends.
type Server struct {
	t       testing.TB
	bin     string // directory of initdb, pg_ctl, postgres
	data    string // data directory
	sock    string // Unix socket directory
	logFile string
	port    int
	runAs   *account // when the test runs as root: PostgreSQL refuses to

	mu      sync.Mutex
	running bool
}

// StartServer initializes and starts a server of the test's own. Like NewTestDatabase it
// skips the test unless $AIPROXY_TEST_POSTGRES_DSN is set (PostgreSQL tests are opted
// into as a whole); it also skips it, naming what is missing, when the server programs
// (initdb, pg_ctl, postgres) cannot be found in $AIPROXY_TEST_POSTGRES_BIN, on PATH or
// under /usr/lib/postgresql/*/bin, or when the test runs as root and there is no
// unprivileged account to run them as.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(TestDSNEnv) == "" {
		t.Skip(TestDSNEnv + " not set: skipping tests that need a PostgreSQL server of their own")
	}
	bin, missing := findServerBinaries()
	if bin == "" {
		t.Skipf("PostgreSQL server programs not found (missing %s; looked in $%s, on PATH and in /usr/lib/postgresql/*/bin): skipping",
			strings.Join(missing, ", "), ServerBinEnv)
	}
	runAs, err := unprivileged()
	if err != nil {
		t.Skipf("cannot run a PostgreSQL server of the test's own: %v", err)
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, runAs: runAs,
		data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"), logFile: filepath.Join(dir, "postgres.log")}
	if err := s.prepare(dir); err != nil {
		t.Fatalf("prepare the PostgreSQL directories: %v", err)
	}
	s.run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	if s.port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if running {
			s.pgctl("stop", "-m", "immediate")
		}
		if t.Failed() {
			if b, err := os.ReadFile(s.logFile); err == nil {
				t.Logf("log of the PostgreSQL server:\n%s", b)
			}
		}
	})
	s.Start()
	return s
}

// DSN is the URL to connect to the server's postgres database, over TCP.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Addr is the server's TCP address.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
		s.port, s.sock)
	s.pgctl("start", "-w", "-t", "60", "-l", s.logFile, "-o", opts)
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
}

// Stop stops the server the hard way, as a crash or a pulled plug would: pg_ctl stop -m
// immediate (every connection is cut at once, the next start recovers from the WAL).
func (s *Server) Stop() {
	s.t.Helper()
	s.pgctl("stop", "-w", "-m", "immediate")
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

func (s *Server) pgctl(args ...string) {
	s.t.Helper()
	s.run("pg_ctl", append([]string{"-D", s.data}, args...)...)
}

// run runs one of the server programs to completion, as the unprivileged account if any.
func (s *Server) run(name string, args ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = filepath.Dir(s.data)
	s.runAs.apply(cmd)
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}

// prepare makes the socket directory and, when the programs run as another account, hands
// it the test's directory (and lets it through the directories above, up to the system's
// temporary directory).
func (s *Server) prepare(dir string) error {
	if err := os.Mkdir(s.sock, 0o700); err != nil {
		return err
	}
	if s.runAs == nil {
		return nil
	}
	for _, p := range []string{dir, s.sock} {
		if err := os.Chown(p, s.runAs.uid, s.runAs.gid); err != nil {
			return err
		}
	}
	tmp := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); strings.HasPrefix(p, tmp+string(filepath.Separator)); p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil { // traverse, not list
			return err
		}
	}
	return nil
}

// findServerBinaries returns the first directory holding every server program, or the
// programs missing from the best candidate.
func findServerBinaries() (dir string, missing []string) {
	var candidates []string
	if d := os.Getenv(ServerBinEnv); d != "" {
		candidates = append(candidates, d)
	} else {
		versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(versions, func(a, b string) int { return majorOf(b) - majorOf(a) }) // newest first
		candidates = append(candidates, versions...)
		candidates = append(candidates, "/usr/local/pgsql/bin")
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				candidates = append(candidates, filepath.Dir(real))
			}
			candidates = append(candidates, filepath.Dir(p))
		}
	}
	missing = serverBinaries
	for _, d := range candidates {
		var lack []string
		for _, name := range serverBinaries {
			if fi, err := os.Stat(filepath.Join(d, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				lack = append(lack, name)
			}
		}
		if len(lack) == 0 {
			return d, nil
		}
		if len(lack) < len(missing) {
			missing = lack
		}
	}
	return "", missing
}

// majorOf is the version number of /usr/lib/postgresql/<major>/bin, 0 if none.
func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
