package loadavg

import (
	"os"
	"testing"
)

func TestReadParsesProcLoadavg(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Skip("no /proc/loadavg here")
	}
	one, five, fifteen, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if one < 0 || five < 0 || fifteen < 0 {
		t.Fatalf("load %v %v %v: negative", one, five, fifteen)
	}
}
