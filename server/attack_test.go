package server_test

// Attack tests: each probes the running server (built in-process over
// SQLite, as the other server tests do) as an outside caller would, for one
// finding of the security review (SECURITY.md, "How it is tested").

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// TestIPv6ClientsOfOnePrefixShareABucket: an IPv6 host is routinely given
// a whole /64, so a per-address bucket let one attacker take 2^64 fresh
// buckets (failed logins, Enroll guesses, the rating page's per-IP rate)
// by changing the low bits of its source address. The addresses of one
// /64 share one bucket; another /64 and IPv4 clients keep their own.
func TestIPv6ClientsOfOnePrefixShareABucket(t *testing.T) {
	const burst = 3
	e := newEdgeServer(t, 0, false, withLimits(server.Limits{Rate: 0.01, Burst: burst}))
	trusted, err := server.ParseTrustedProxies("127.0.0.1,::1")
	if err != nil {
		t.Fatal(err)
	}
	behindProxy := httptest.NewServer(server.NewClientIP(trusted, e.srv.Config.Handler))
	defer behindProxy.Close()
	whoami := func(client string) error {
		c := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, behindProxy.URL, connect.WithInterceptors(bearer("fsd_not-a-token")))
		req := connect.NewRequest(&fieldsyncv1.WhoAmIRequest{})
		req.Header().Set("X-Forwarded-For", client)
		_, err := c.WhoAmI(context.Background(), req)
		return err
	}
	for i := range burst {
		// A fresh address of the same /64 each time.
		if err := whoami("2001:db8:1:2::" + string(rune('a'+i))); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("within the burst: %v, want Unauthenticated", err)
		}
	}
	if err := whoami("2001:db8:1:2:ffff:ffff:ffff:fffe"); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("another address of the same /64 past the burst: %v, want ResourceExhausted", err)
	}
	if err := whoami("2001:db8:1:3::a"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("another /64: %v, want its own bucket (Unauthenticated)", err)
	}
	if err := whoami("::ffff:198.51.100.9"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("an IPv4 client (mapped): %v, want its own bucket (Unauthenticated)", err)
	}
}
