// Package benchenv gives benchmarks what they need to report honest figures
// on a shared machine: the load average to put beside each figure, and the
// process's CPU time, which (unlike wall time) other processes competing
// for the cores do not inflate.
package benchenv

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// LoadAvg returns the 1-, 5- and 15-minute load averages from /proc/loadavg.
func LoadAvg() (one, five, fifteen float64, err error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &one, &five, &fifteen); err != nil {
		return 0, 0, 0, fmt.Errorf("parse /proc/loadavg %q: %w", b, err)
	}
	return one, five, fifteen, nil
}

// ReportLoad adds the 1-minute load average as the metric "load1" of b and
// logs all three; where /proc/loadavg is missing it logs that instead.
func ReportLoad(b *testing.B) {
	b.Helper()
	one, five, fifteen, err := LoadAvg()
	if err != nil {
		b.Logf("load average unknown: %v", err)
		return
	}
	b.ReportMetric(one, "load1")
	b.Logf("load average %.2f %.2f %.2f (1, 5, 15 min) on %d CPUs", one, five, fifteen, runtime.NumCPU())
}
