package proctest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill the child when the test binary dies without cleaning
// up (a panic, a -timeout), so no server outlives the test run.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
