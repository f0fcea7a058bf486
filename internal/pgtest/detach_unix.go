//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// detach makes cmd run in a session of its own, so that it outlives the
// test binary and its process group (the watchdog).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
