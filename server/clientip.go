package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a comma-separated list of the addresses or
// CIDR prefixes of the reverse proxies and load balancers in front of the
// server ("10.0.0.0/8,192.0.2.7"). Empty trusts none.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96) // addresses are compared unmapped
			}
			if p.Bits() == 0 {
				// Every peer a proxy: any client's own X-Forwarded-For
				// would name its bucket.
				return nil, fmt.Errorf("trusted-proxies: %q trusts every address; list the proxies' addresses or subnets", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted-proxies: %q is not an IP address or CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// NewClientIP makes the client's own address the request's RemoteAddr
// when the request comes through trusted proxies, so that per-IP limits
// (calls before authentication, failed logins, the rating page) and logs
// see each client rather than the proxy. With no trusted proxies it
// returns next.
//
// A request whose peer is a trusted proxy takes its client from
// X-Forwarded-For: walking from the right (each proxy appends the address
// it received from), the first address that is not itself a trusted proxy.
// Entries left of it were written by the client and may be forged, so
// they are never used. A malformed entry stops the walk at the last
// trusted hop. A request from any other peer keeps its address and its
// X-Forwarded-For is ignored: a client cannot choose its own bucket.
func NewClientIP(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	c := clientIP{trusted: trusted, next: next}
	return &c
}

type clientIP struct {
	trusted []netip.Prefix
	next    http.Handler
}

func (c *clientIP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if addr, ok := c.client(r); ok {
		r2 := *r
		r2.RemoteAddr = netip.AddrPortFrom(addr, 0).String()
		r = &r2
	}
	c.next.ServeHTTP(w, r)
}

// client returns the client address of r when its peer is a trusted proxy.
func (c *clientIP) client(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok || !c.isTrusted(peer) {
		return netip.Addr{}, false
	}
	hops := r.Header.Values("X-Forwarded-For")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseHost(strings.TrimSpace(entries[j]))
			if !ok {
				return addr, true
			}
			addr = a
			if !c.isTrusted(a) {
				return a, true
			}
		}
	}
	return addr, true // every hop a trusted proxy: the leftmost
}

func (c *clientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost reads an IP address, with or without a port ("192.0.2.1",
// "192.0.2.1:5000", "[2001:db8::1]:5000", "2001:db8::1").
func parseHost(s string) (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
