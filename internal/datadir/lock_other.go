//go:build !unix

package datadir

import (
	"errors"
	"os"
)

// ErrWouldBlock is what TryLock returns when another process holds the lock.
var ErrWouldBlock = errors.New("would block")

// TryLock does nothing where flock is missing: the data dir is not locked
// (stop the daemon before migrating its store).
func TryLock(*os.File) error { return nil }
