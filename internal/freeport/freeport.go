// Package freeport picks loopback ports for servers that tests and the
// local cluster start, stop and start again on the same port (S3,
// PostgreSQL, NATS nodes, fieldsyncd nodes).
//
// A port asked of the kernel ("127.0.0.1:0") comes from its ephemeral
// range, and once the server using it stops, the kernel may hand the same
// port to anyone else asking for any port: another test's listener, or a
// client connection's source port. The restart then finds its port taken
// (a fault test once failed so: its S3 server's port had become a NATS
// server's). The ports picked here lie below the ephemeral range, where
// the kernel never hands out a port by itself: only a process asking for
// that port by number can take it.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Lowest is the lowest port picked: above the well-known ports and those
// services commonly listen on.
const Lowest = 10000

// Ports returns n distinct loopback ports, each free when picked, below
// the kernel's ephemeral range.
func Ports(n int) ([]int, error) {
	hi := ephemeralLow()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := pick(hi)
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are picked: n distinct ports
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Addr returns a loopback host:port free when picked, below the kernel's
// ephemeral range.
func Addr() (string, error) {
	p, err := Ports(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p[0])), nil
}

// pick listens on a random free port in [Lowest, hi).
func pick(hi int) (net.Listener, error) {
	for range 200 {
		port := Lowest + rand.IntN(hi-Lowest)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("freeport: no free loopback port in %d–%d", Lowest, hi-1)
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), or 32768 (Linux's default)
// where it cannot be read or leaves too little room below it.
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return fallback
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < Lowest+1000 {
		return fallback
	}
	return lo
}

// TestAddr is Addr for a test, which it fails on an error.
func TestAddr(t testing.TB) string {
	t.Helper()
	a, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPorts is Ports for a test, which it fails on an error.
func TestPorts(t testing.TB, n int) []int {
	t.Helper()
	p, err := Ports(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
