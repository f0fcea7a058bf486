package fieldsync

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/daemon"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
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
	if err := rep.WaitAcked(context.Background()); err != nil { // the last receipt, sent in the background
		t.Fatal(err)
	}
	if requests.Load() < 9 || writes.Load() != requests.Load() {
		t.Fatalf("%d requests made %d writes on the connection, want one write per request", requests.Load(), writes.Load())
	}
}

// BenchmarkUnaryCallOneWrite makes Pull calls (a cursor at the head: the
// server finds nothing new) from 16 clients at once, each on its own
// connection, alternating in every iteration between a transport as
// net/http has it (headers and body in two writes) and oneWrite (each
// side first every other iteration); it
// reports the process's CPU (client and server: the daemon runs in the
// test) per call of each. Run with -benchtime 20x or more.
func BenchmarkUnaryCallOneWrite(b *testing.B) {
	e := startWith(b, b.TempDir(), func(c *daemon.Config) { c.RateLimit = 0 }) // one token, 16 clients
	token := e.token("rep")
	clients := func(wrap bool) []fieldsyncv1connect.SyncServiceClient {
		cs := make([]fieldsyncv1connect.SyncServiceClient, 16)
		for i := range cs {
			hc := &http.Client{Transport: &http.Transport{}}
			if wrap {
				hc = withOneWrite(hc)
			}
			cs[i] = fieldsyncv1connect.NewSyncServiceClient(hc, e.d.URL(), connect.WithInterceptors(authInterceptor(token)))
		}
		return cs
	}
	sides := [2][]fieldsyncv1connect.SyncServiceClient{clients(false), clients(true)}
	ctx := context.Background()
	res, err := sides[0][0].Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Limit: 5000}))
	for err == nil && res.Msg.GetHasMore() {
		res, err = sides[0][0].Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: res.Msg.GetNextCursor(), Limit: 5000}))
	}
	if err != nil {
		b.Fatal(err)
	}
	head := res.Msg.GetNextCursor()
	const perClient = 25
	var cpu [2]time.Duration
	calls := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range sides {
			s := (i + k) % 2 // each side first every other iteration
			start := benchenv.CPUTime()
			var wg sync.WaitGroup
			for _, c := range sides[s] {
				wg.Go(func() {
					for range perClient {
						if _, err := c.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: head, Limit: 100})); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			cpu[s] += benchenv.CPUTime() - start
		}
		calls += len(sides[0]) * perClient
	}
	b.ReportMetric(float64(cpu[0].Microseconds())/float64(calls), "cpu-µs/call-two-writes")
	b.ReportMetric(float64(cpu[1].Microseconds())/float64(calls), "cpu-µs/call-one-write")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "ratio")
}
