package benchenv

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestLoadAvgParsesProcLoadavg(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Skip("no /proc/loadavg here")
	}
	one, five, fifteen, err := LoadAvg()
	if err != nil {
		t.Fatal(err)
	}
	if one < 0 || five < 0 || fifteen < 0 {
		t.Fatalf("load %v %v %v: negative", one, five, fifteen)
	}
}

func TestCPUTimeGrowsWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("CPU time is read on unix only")
	}
	before := CPUTime()
	x := 0
	for start := time.Now(); CPUTime() == before && time.Since(start) < time.Minute; {
		x++
	}
	if after := CPUTime(); after <= before {
		t.Fatalf("CPU time %v after spinning, %v before (spun %d times)", after, before, x)
	}
}
