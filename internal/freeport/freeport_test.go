package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPortsAreDistinctFreeAndBelowTheEphemeralRange: the kernel never
// hands such a port to a listener or a client asking for any port.
func TestPortsAreDistinctFreeAndBelowTheEphemeralRange(t *testing.T) {
	hi := ephemeralLow()
	for range 20 {
		ports, err := Ports(5)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, p := range ports {
			if p < Lowest || p >= hi || seen[p] {
				t.Fatalf("Ports(5) = %v: want distinct ports in %d–%d", ports, Lowest, hi-1)
			}
			seen[p] = true
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d is not free: %v", p, err)
			}
			l.Close()
		}
	}
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q, want a loopback host:port", addr)
	}
}
