//go:build unix

package daemon

import (
	"os"
	"syscall"
)

var errWouldBlock = syscall.EWOULDBLOCK

// tryLock takes an exclusive flock on f without waiting.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}

// restrictUmask makes every file this process creates from now on (SQLite,
// NATS storage, photos, uploads) readable by the owner only.
func restrictUmask() { syscall.Umask(0o077) }
