//go:build !unix

package benchenv

import "time"

// CPUTime returns 0: the process's CPU time is read on unix systems only.
func CPUTime() time.Duration { return 0 }
