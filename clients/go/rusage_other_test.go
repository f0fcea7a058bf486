//go:build !unix

package fieldsync

import "time"

// kernelShare returns zeros: rusage is read on unix systems only.
func kernelShare() (sys time.Duration, minflt int64) { return 0, 0 }
