package proctest

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it kills the process.
const StopTimeout = 15 * time.Second

// ErrKilled is wrapped by Stop's error when the process did not exit within StopTimeout of
// SIGTERM and was killed.
var ErrKilled = errors.New("killed: did not stop within 15 s of SIGTERM")

// Proc is a child process started by Start.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Output *Buffer // stdout and stderr, interleaved as written

	done     chan struct{} // closed when the process has exited
	waitErr  error         // cmd.Wait's error, once done is closed
	stopOnce sync.Once
	stopErr  error
}

// Start starts bin with args and env (nil: ours) as a child named name (for messages). Its
// stdout and stderr go to p.Output. When the test ends the process is stopped (Stop) and,
// if the test failed, its output logged. On Linux the process is also killed if the test
// binary dies without cleaning up.
func Start(t testing.TB, name string, env []string, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: exec.Command(bin, args...), Output: &Buffer{}, done: make(chan struct{})}
	p.Cmd.Env = env
	p.Cmd.Stdout, p.Cmd.Stderr = p.Output, p.Output
	setPdeathsig(p.Cmd)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, p.Output.String())
		}
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for a clean exit) once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.waitErr
}

// WaitFor waits until re matches the output and returns the match and its submatches; it
// fails when the process exits first or timeout passes.
func (p *Proc) WaitFor(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.Output.String()); m != nil {
			return m, nil
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.Output.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited (%v) before printing a line matching %q", p.Name, p.waitErr, re)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s printed no line matching %q within %v", p.Name, re, timeout)
		}
	}
}

// Stop ends the process as an operator would, with SIGTERM, and waits for it; a process
// still running StopTimeout later is killed and Stop's error wraps ErrKilled. Otherwise the
// error is the exit's (nil for exit status 0). Stop may be called more than once: later
// calls return the first call's error.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			p.stopErr = p.waitErr
		case <-time.After(StopTimeout):
			_ = p.Cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("%s: %w", p.Name, ErrKilled)
		}
	})
	return p.stopErr
}

// ListeningRE matches the line `aiproxy serve` logs once it listens; the submatch is the
// API's base URL (prefix included).
var ListeningRE = regexp.MustCompile(`msg="aiproxy listening" addr=(\S+)`)

// ServeTimeout is how long Serve waits for the server to announce its address.
const ServeTimeout = 20 * time.Second

// Serve starts `bin serve --addr 127.0.0.1:0 args...` as Start does and waits for the line
// announcing its address; it returns the process and the API's base URL, prefix included
// (http://127.0.0.1:PORT/api/ai-proxy). A server that exits first or stays silent for
// ServeTimeout fails the test, with its output.
func Serve(t testing.TB, name, bin string, env []string, args ...string) (*Proc, string) {
	t.Helper()
	p := Start(t, name, env, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	m, err := p.WaitFor(ListeningRE, ServeTimeout)
	if err != nil {
		t.Fatalf("%v:\n%s", err, p.Output.String())
	}
	return p, m[1]
}
