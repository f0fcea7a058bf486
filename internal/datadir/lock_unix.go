//go:build unix

package datadir

import (
	"os"
	"syscall"
)

// ErrWouldBlock is what TryLock returns when another process holds the lock.
var ErrWouldBlock error = syscall.EWOULDBLOCK

// TryLock takes an exclusive flock on f without waiting: fieldsyncd holds
// APILockFile or ConsumersLockFile while it runs, and `fieldsync
// migrate-store` takes both to be sure no daemon does.
func TryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}
