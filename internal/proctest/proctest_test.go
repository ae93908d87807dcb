package proctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a child process instead of running the tests.
const helperEnv = "PROCTEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(Main(m))
	case "serve": // announce an address the way `aiproxy serve` does, stop on SIGTERM
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Println("starting")
		fmt.Fprintln(os.Stderr, `time=now level=INFO msg="aiproxy listening" addr=http://127.0.0.1:1234/api/ai-proxy`)
		<-term
		fmt.Fprintln(os.Stderr, "stopping")
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "cannot start")
		os.Exit(3)
	}
}

func helper(t *testing.T, mode string) (string, []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe, append(Env(), helperEnv+"="+mode)
}

func TestRepoRootIsTheRootModule(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if got := modulePath(filepath.Join(root, "go.mod")); got != ModulePath {
		t.Fatalf("RepoRoot() = %s, whose go.mod declares %q", root, got)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "aiproxy")); err != nil {
		t.Fatalf("RepoRoot() = %s: %v", root, err)
	}
}

func TestModulePathReadsTheModuleLine(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"module github.com/aiproxy/aiproxy\n\ngo 1.26\n":           ModulePath,
		"// comment\nmodule \"github.com/aiproxy/aiproxy\" // x\n": ModulePath,
		"module github.com/aiproxy/aiproxy/tools\n":                ModulePath + "/tools",
		"modules x\n": "",
	} {
		p := filepath.Join(dir, "go.mod")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := modulePath(p); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", content, got, want)
		}
	}
	if got := modulePath(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("modulePath(missing) = %q", got)
	}
}

func TestEnvDropsAiproxySettings(t *testing.T) {
	t.Setenv("AIPROXY_MASTER_KEY", "secret")
	env := Env("AIPROXY_DB=x")
	for _, kv := range env {
		if strings.HasPrefix(kv, "AIPROXY_MASTER_KEY=") {
			t.Fatalf("Env kept %s", kv)
		}
	}
	if env[len(env)-1] != "AIPROXY_DB=x" {
		t.Fatalf("Env did not append the extra setting: %v", env[len(env)-1])
	}
}

func TestBufferIsSafeForConcurrentWritesAndReads(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				fmt.Fprintf(&b, "line %d\n", j)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 || b.Len() != len(b.Bytes()) {
		t.Fatalf("%d lines, Len %d, len(Bytes) %d", n, b.Len(), len(b.Bytes()))
	}
	b.Reset()
	if b.String() != "" {
		t.Fatalf("after Reset: %q", b.String())
	}
}

func TestServeWaitsForTheAddressAndStopStopsCleanly(t *testing.T) {
	bin, env := helper(t, "serve")
	p, url := Serve(t, "helper", bin, env)
	if url != "http://127.0.0.1:1234/api/ai-proxy" {
		t.Fatalf("url %q", url)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if out := p.Output.String(); !strings.Contains(out, "starting") || !strings.Contains(out, "stopping") {
		t.Fatalf("output: %q", out)
	}
}

func TestWaitForReportsAnEarlyExit(t *testing.T) {
	bin, env := helper(t, "fail")
	p := Start(t, "helper", env, bin)
	_, err := p.WaitFor(regexp.MustCompile("never"), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitFor: %v, want an early exit", err)
	}
	var exit *exec.ExitError
	if err := p.Stop(); !errors.As(err, &exit) || exit.ExitCode() != 3 || errors.Is(err, ErrKilled) {
		t.Fatalf("Stop: %v, want exit status 3", err)
	}
}

func TestWaitForTimesOut(t *testing.T) {
	bin, env := helper(t, "serve")
	p := Start(t, "helper", env, bin)
	if _, err := p.WaitFor(regexp.MustCompile("never"), 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "within") {
		t.Fatalf("WaitFor: %v, want a timeout", err)
	}
}
