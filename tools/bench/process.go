package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a server process the bench started; its output goes to a log file.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startChild starts name with args, output to logPath. Pdeathsig kills it if the bench
// dies without cleaning up.
func startChild(name, logPath string, env []string, bin string, args ...string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to quit (SIGTERM, which aiproxy and nginx both treat as "shut down
// now"), and kills it after a grace period.
func (c *child) stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitReady polls url until it answers, the child exits, or the timeout passes.
func (c *child) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("%s exited early; see %s: %s", c.name, c.log, tail(c.log, 5))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s; see %s", c.name, timeout, c.log)
}

// startServing starts a server child on a free loopback address (start gets the address)
// and waits up to timeout for its /healthz to answer. It returns the child, for the caller
// to stop, and the address; a child that does not get ready is stopped.
func startServing(ctx context.Context, timeout time.Duration, start func(addr string) (*child, error)) (*child, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	c, err := start(addr)
	if err != nil {
		return nil, "", err
	}
	if err := c.waitReady(ctx, "http://"+addr+"/healthz", timeout); err != nil {
		c.stop()
		return nil, "", err
	}
	return c, addr, nil
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procStatus reads fields of /proc/PID/status, in kB for the memory ones.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// rssMiB returns the current and peak resident set of pid, in MiB.
func rssMiB(pid int) (cur, peak float64) {
	st, err := procStatus(pid)
	if err != nil {
		return 0, 0
	}
	return float64(st["VmRSS"]) / 1024, float64(st["VmHWM"]) / 1024
}

// watchRSS samples the resident set of pid every interval until done is closed, calling
// each (when not nil) after every sample, and returns the peak in MiB: the highest sample,
// or the kernel's high-water mark (VmHWM) at the end when that is higher. The runs that
// hold many connections open (streams, job waiters, realtime sessions) use it for their
// peak and take their own snapshot in each.
func watchRSS(pid int, every time.Duration, done <-chan struct{}, each func()) float64 {
	var peak float64
	t := time.NewTicker(every)
	defer t.Stop()
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		case <-t.C:
			cur, _ := rssMiB(pid)
			peak = max(peak, cur)
			if each != nil {
				each()
			}
		}
	}
	_, hwm := rssMiB(pid)
	return max(peak, hwm)
}

// raiseFileLimit lifts RLIMIT_NOFILE to want (children inherit it). Ten thousand open
// streams take about three descriptors each across the processes, and each process holds
// its share.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want // only root may raise the hard limit; fall back below
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next.Cur, next.Max = lim.Max, lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err2 != nil {
			return lim.Cur, err
		}
		return next.Cur, err
	}
	return next.Cur, nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every Linux the bench
// runs on (sysconf(_SC_CLK_TCK) needs cgo to ask).
const clockTicks = 100

// machineCPU reads the first line of /proc/stat: the CPU time of all CPUs together, busy
// and in all, in clock ticks.
func machineCPU() (busy, total uint64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}

// cpuBusy is the fraction of all CPUs busy between two machineCPU readings; NaN when
// either failed.
func cpuBusy(busy0, total0, busy1, total1 uint64) float64 {
	if total1 <= total0 {
		return math.NaN()
	}
	return float64(busy1-busy0) / float64(total1-total0)
}

// procCPU returns the CPU time (user and system) pid has used.
func procCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: count fields after its end.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	// After the name: state (field 3), …, utime (14), stime (15).
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}
