package server

// Fuzz targets for the edge's decoders of untrusted request data that had
// none: X-Forwarded-For (behind --trusted-proxies), the peer address that
// names a rate-limit bucket, Accept-Encoding, and QueryService page tokens.
// Their seeds run with every `go test`; `go test -fuzz FuzzX ./server`
// explores further.

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: whatever X-Forwarded-For says, the client address comes
// from a trusted peer's header only, is an address the header or the peer
// names, and is never an entry left of the rightmost untrusted one (those
// the client wrote itself).
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct{ peer, xff string }{
		{"10.0.0.2:4000", "198.51.100.1"},
		{"10.0.0.2:4000", "203.0.113.9, 198.51.100.1, 10.0.0.3"},
		{"10.0.0.2:4000", "garbage, 198.51.100.1"},
		{"10.0.0.2:4000", "198.51.100.1,\x00,10.0.0.9"},
		{"[::1]:4000", "[2001:db8::1]:5000, fe80::1%eth0"},
		{"192.0.2.50:1", "198.51.100.1"},
		{"not an address", "198.51.100.1"},
		{"10.0.0.2:4000", ""},
		{"10.0.0.2:4000", "::ffff:10.0.0.7, ::ffff:198.51.100.7"},
	} {
		f.Add(s.peer, s.xff)
	}
	trusted, err := ParseTrustedProxies("10.0.0.0/8,::1")
	if err != nil {
		f.Fatal(err)
	}
	c := &clientIP{trusted: trusted}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
		r.Header.Add("X-Forwarded-For", xff)
		addr, ok := c.client(r)
		p, peerOK := parseHost(peer)
		if !peerOK || !c.isTrusted(p) {
			if ok {
				t.Fatalf("peer %q is no trusted proxy, yet the header named client %v", peer, addr)
			}
			return
		}
		if !ok || !addr.IsValid() {
			t.Fatalf("trusted peer %q: no client address", peer)
		}
		// The entries from the right up to the first untrusted one.
		allowed := map[netip.Addr]bool{p: true}
		entries := strings.Split(xff, ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseHost(strings.TrimSpace(entries[j]))
			if !ok {
				break
			}
			allowed[a] = true
			if !c.isTrusted(a) {
				break
			}
		}
		if !allowed[addr] {
			t.Fatalf("peer %q, X-Forwarded-For %q: client %v is not the rightmost untrusted hop", peer, xff, addr)
		}
	})
}

// FuzzPeerKey: any peer address names a bucket without panicking, and
// every address of one IPv6 /64 names the same one.
func FuzzPeerKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1:5000", "[2001:db8:1:2::1]:5000", "2001:db8:1:2::1", "[fe80::1%eth0]:1", "::ffff:192.0.2.1", "", "pipe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		key := peerKey(addr)
		a, ok := parseHost(addr)
		if !ok || !a.Is6() {
			return
		}
		b := a.As16()
		b[15] ^= 0xff
		b[8] ^= 0x01
		if other := peerKey(netip.AddrFrom16(b).String()); other != key {
			t.Fatalf("%q and another address of its /64 name buckets %q and %q", addr, key, other)
		}
	})
}

// FuzzAcceptsGzip: any Accept-Encoding header parses without panicking;
// one that does not name gzip (or *) never gets gzip.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "br, gzip;q=0.5", "*;q=0", "identity", "gzip;q=", ";;,,", "GZIP", "gzip ; q = 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		if acceptsGzip(accept) && !strings.Contains(accept, "gzip") && !strings.Contains(accept, "*") {
			t.Fatalf("%q does not ask for gzip, yet gets it", accept)
		}
	})
}

// FuzzParsePageToken: any page token decodes without panicking, only for
// the record type it was minted for, and a minted one reads back exactly.
func FuzzParsePageToken(f *testing.F) {
	f.Add(pageToken("fieldsync.v1.Visit", 42), "fieldsync.v1.Visit", uint64(7))
	f.Add("", "fieldsync.v1.Visit", uint64(0))
	f.Add("Zm9vOjE6MA", "foo", uint64(1))
	f.Add(pageToken("a:b", 1), "a", uint64(1<<63))
	f.Fuzz(func(t *testing.T, token, typ string, through uint64) {
		if v, ok := parsePageToken(token, typ); ok {
			if tok := pageToken(typ, v); tok != token && strings.TrimRight(tok, "=") != token {
				// Another spelling of the same body is fine only if it
				// reads back to the same position.
				if v2, ok2 := parsePageToken(tok, typ); !ok2 || v2 != v {
					t.Fatalf("token %q read as %d of %q, which does not round-trip", token, v, typ)
				}
			}
		}
		if v, ok := parsePageToken(pageToken(typ, through), typ); !ok || v != through {
			t.Fatalf("minted token of %q at %d read back as %d %v", typ, through, v, ok)
		}
	})
}
