package server_test

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

func TestClientIPTakesTheFirstUntrustedHopFromTheRight(t *testing.T) {
	trusted, err := server.ParseTrustedProxies("10.0.0.0/8, 192.0.2.7,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer keeps its address, forged header ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9:4000"},
		{"trusted peer without header keeps its address", "10.1.2.3:4000", nil, "10.1.2.3:0"},
		{"one proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"client-forged entries left of the real one are skipped", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1:0"},
		{"a chain of trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 192.0.2.7, 10.9.9.9"}, "198.51.100.1:0"},
		{"several header lines are one list", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1", "10.9.9.9"}, "198.51.100.1:0"},
		{"every hop trusted: the leftmost", "10.1.2.3:4000", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1:0"},
		{"malformed entry stops at the last trusted hop", "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip, 10.9.9.9"}, "10.9.9.9:0"},
		{"entry with a port", "10.1.2.3:4000", []string{"198.51.100.1:5555"}, "198.51.100.1:0"},
		{"IPv6 client", "10.1.2.3:4000", []string{"2001:db9::1"}, "[2001:db9::1]:0"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"IPv6 trusted peer", "[2001:db8::5]:4000", []string{"198.51.100.1"}, "198.51.100.1:0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			h := server.NewClientIP(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != c.want {
				t.Errorf("RemoteAddr %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseTrustedProxiesRefusesWhatIsNotAnAddress(t *testing.T) {
	for _, bad := range []string{"example.com", "10.0.0.0/33", "10.0.0.1:80", "*"} {
		if _, err := server.ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p, err := server.ParseTrustedProxies(" , "); err != nil || len(p) != 0 {
		t.Errorf("empty list: %v %v", p, err)
	}
}

// TestClientsBehindATrustedProxyHaveTheirOwnRateLimit spends one client's
// unauthenticated burst through a trusted proxy: another client behind
// the same proxy is unaffected, and a client that forges X-Forwarded-For
// without going through the proxy cannot pick a fresh bucket.
func TestClientsBehindATrustedProxyHaveTheirOwnRateLimit(t *testing.T) {
	const burst = 3
	e, behindProxy := newProxiedEdge(t, burst)
	for range burst {
		if err := whoAmIFrom(behindProxy.URL, "198.51.100.1"); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("within the burst: %v, want Unauthenticated", err)
		}
	}
	if err := whoAmIFrom(behindProxy.URL, "198.51.100.1"); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("past the burst: %v, want ResourceExhausted", err)
	}
	if err := whoAmIFrom(behindProxy.URL, "198.51.100.2"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("another client behind the proxy: %v, want its own bucket (Unauthenticated)", err)
	}

	// Straight to the server (no trusted proxy): one bucket for the peer,
	// whatever the header says.
	for i := range burst + 1 {
		err := whoAmIFrom(e.srv.URL, "198.51.100."+string(rune('3'+i)))
		if i == burst && connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("forged X-Forwarded-For past the burst: %v, want ResourceExhausted", err)
		}
	}
}

// newProxiedEdge starts an edge server whose unauthenticated callers get
// burst calls (then one per 100 s), and in front of it a trusted proxy
// (NewClientIP trusting loopback) that passes X-Forwarded-For on.
func newProxiedEdge(t *testing.T, burst int) (*edgeServer, *httptest.Server) {
	t.Helper()
	e := newEdgeServer(t, 0, false, withLimits(server.Limits{Rate: 0.01, Burst: burst}))
	trusted, err := server.ParseTrustedProxies("127.0.0.1,::1")
	if err != nil {
		t.Fatal(err)
	}
	behindProxy := httptest.NewServer(server.NewClientIP(trusted, e.srv.Config.Handler))
	t.Cleanup(behindProxy.Close)
	return e, behindProxy
}

// whoAmIFrom calls WhoAmI at url with a token that is no token, as the
// client forwardedFor names in X-Forwarded-For.
func whoAmIFrom(url, forwardedFor string) error {
	c := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearer("fsd_not-a-token")))
	req := connect.NewRequest(&fieldsyncv1.WhoAmIRequest{})
	req.Header().Set("X-Forwarded-For", forwardedFor)
	_, err := c.WhoAmI(context.Background(), req)
	return err
}
