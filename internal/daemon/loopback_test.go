package daemon

import (
	"net"
	"testing"
)

// TestMetricsWarnUnlessOnLoopback: the unauthenticated /metrics listener
// is warned about unless its address is loopback (the wildcard address
// reaches every interface).
func TestMetricsWarnUnlessOnLoopback(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"127.0.0.2", true},
		{"0.0.0.0", false}, {"::", false}, {"10.0.0.5", false}, {"192.0.2.1", false},
	} {
		if got := loopback(&net.TCPAddr{IP: net.ParseIP(c.ip), Port: 9464}); got != c.want {
			t.Errorf("loopback(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
	if loopback(&net.UnixAddr{Name: "/tmp/x", Net: "unix"}) {
		t.Error("a non-TCP address counted as loopback")
	}
}
