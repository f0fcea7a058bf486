//go:build !unix

package daemon

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// tryLock does nothing where flock is missing: the data dir is not locked.
func tryLock(*os.File) error { return nil }

func restrictUmask() {}
