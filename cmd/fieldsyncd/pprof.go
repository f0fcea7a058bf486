//go:build pprof

// Built with -tags pprof, fieldsyncd serves net/http/pprof on
// FIELDSYNC_PPROF_ADDR (e.g. 127.0.0.1:6060) and records blocking and
// mutex waits, for profiling a load run (BENCHMARKS.md). Release builds
// have none of it.
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("FIELDSYNC_PPROF_ADDR")
	if addr == "" {
		return
	}
	runtime.SetBlockProfileRate(100_000) // one sample per 100 µs blocked
	runtime.SetMutexProfileFraction(10)
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
