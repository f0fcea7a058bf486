package pgtest

import (
	"os/exec"
	"syscall"
)

// detach makes cmd run in a process group of its own, so that a Ctrl-C
// to the test binary does not reach it (the watchdog).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
