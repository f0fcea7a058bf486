package main

import (
	"strings"
	"testing"
)

func TestRunRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name, ports, routes string
		node                int
		want                string
	}{
		{"a port that is no number", "4222,x,4224", "", -1, `-ports: "x" is not a port`},
		{"a port out of range", "4222,70000,4224", "", -1, `-ports: "70000" is not a port`},
		{"a bad route port", "4222,4223,4224", "6222,,6224", 0, `-route-ports: "" is not a port`},
		{"-node without route ports", "4222,4223,4224", "", 0, "-node needs -route-ports"},
		{"-node out of range", "4222,4223,4224", "6222,6223,6224", 3, "node 3 of 3"},
		{"route ports for another cluster size", "4222,4223,4224", "6222,6223", 0, "2 route ports for 3 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.TempDir(), tc.ports, tc.routes, tc.node, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
