package fieldsync

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// writeCounter is a connection that counts its writes.
type writeCounter struct {
	net.Conn
	writes *atomic.Int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// requestCounter counts the requests that pass to its next transport.
type requestCounter struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (r requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	r.n.Add(1)
	return r.next.RoundTrip(req)
}

func TestUnaryCallSendsHeadersAndBodyInOneWrite(t *testing.T) {
	t.Parallel()
	e := start(t)
	var writes, requests atomic.Int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writeCounter{Conn: c, writes: &writes}, nil
	}}
	hc := &http.Client{Transport: requestCounter{next: tr, n: &requests}}
	rep := e.device(e.token("rep"), WithHTTPClient(hc))
	for i := range 3 {
		mustPut(t, rep, rep.NewID(), &fieldsyncv1.Visit{Notes: "one write", Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c"})
		mustSync(t, rep) // WhoAmI (the first time), Push, Pull, Ack
		if i == 0 && hc.Transport != (requestCounter{next: tr, n: &requests}) {
			t.Fatal("the SDK changed the caller's HTTP client")
		}
	}
	if requests.Load() < 9 || writes.Load() != requests.Load() {
		t.Fatalf("%d requests made %d writes on the connection, want one write per request", requests.Load(), writes.Load())
	}
}
