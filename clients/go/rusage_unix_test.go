//go:build unix

package fieldsync

import (
	"syscall"
	"time"
)

// kernelShare returns the process's system CPU time so far and its minor
// page faults (pages touched for the first time); zeros where unreadable.
func kernelShare() (sys time.Duration, minflt int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Stime.Nano()), int64(ru.Minflt)
}
