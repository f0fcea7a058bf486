package fieldsync

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// encodings records the Content-Encoding of each answer its next transport
// returns, by request path.
type encodings struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string][]string
}

func (r *encodings) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.seen[req.URL.Path] = append(r.seen[req.URL.Path], res.Header.Get("Content-Encoding"))
		r.mu.Unlock()
	}
	return res, err
}

func TestPulledPagesTravelGzippedOverConnect(t *testing.T) {
	t.Parallel()
	e := start(t)
	seedVisits(t, e, 300) // ≈ 65 KB a page: gzipped by the server
	wire := &encodings{next: http.DefaultTransport, seen: map[string][]string{}}
	hc := &http.Client{Transport: wire}
	rep := e.device(e.token("rep"), WithHTTPClient(hc), WithPullLimit(100))
	mustSync(t, rep)
	if got := len(records(t, rep, visitType)); got != 300 {
		t.Fatalf("the device holds %d visits, want 300", got)
	}
	if err := rep.WaitAcked(context.Background()); err != nil { // the receipt, sent in the background
		t.Fatal(err)
	}
	wire.mu.Lock()
	pulls := wire.seen["/fieldsync.v1.SyncService/Pull"]
	wire.mu.Unlock()
	if len(pulls) < 3 {
		t.Fatalf("%d pulls, want pages of 100", len(pulls))
	}
	for i, enc := range pulls[:3] {
		if enc != "gzip" {
			t.Errorf("pull %d came with Content-Encoding %q, want gzip", i, enc)
		}
	}
	if hc.Transport != wire {
		t.Fatal("the SDK changed the caller's HTTP client")
	}
}

func TestPulledPagesTravelGzippedOverGRPC(t *testing.T) {
	t.Parallel()
	e := start(t)
	seedVisits(t, e, 300)
	rep := e.device(e.token("rep"), WithProtocol(ProtocolGRPC), WithPullLimit(100))
	mustSync(t, rep)
	if got := len(records(t, rep, visitType)); got != 300 {
		t.Fatalf("the device holds %d visits, want 300", got)
	}
}

// BenchmarkPullAnswers pulls a first sync's pages (1,000, 2,000, 4,000
// and 3,000 visits) from the daemon in this process, alternating each
// iteration between a plain Connect client ("connect": Connect's gzip and
// codec, as the SDK's client was before pageCodec) and the
// SDK's client ("sdk"). It reports, for each, the wall time, the process's
// CPU (the server's pull included, the same for both) and the bytes
// allocated (both sides) per first sync.
func BenchmarkPullAnswers(b *testing.B) {
	e := start(b)
	seedVisits(b, e, 10_000)
	waitIdle(b, e)
	token := e.token("rep")
	plain := func() fieldsyncv1connect.SyncServiceClient {
		hc := withOneWrite(defaultHTTPClient(ProtocolConnect, 10*time.Second))
		return fieldsyncv1connect.NewSyncServiceClient(hc, e.d.URL(), connect.WithInterceptors(authInterceptor(token)))
	}()
	sdk := newSyncClient(newConfig([]Option{WithServer(e.d.URL()), WithToken(token)}))
	clients := []fieldsyncv1connect.SyncServiceClient{plain, sdk}
	names := []string{"connect", "sdk"}
	var wall, cpu [2]time.Duration
	var alloc [2]uint64
	pullAll := func(sc fieldsyncv1connect.SyncServiceClient) {
		cursor := ""
		for _, limit := range []uint32{1000, 2000, 4000, 3000} {
			res, err := sc.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor, Limit: limit, Ahead: cursor != ""}))
			if err != nil {
				b.Fatal(err)
			}
			cursor = res.Msg.GetNextCursor()
		}
	}
	pullAll(plain) // warm both
	pullAll(sdk)
	var ms runtime.MemStats
	b.ResetTimer()
	for i := range b.N {
		for _, k := range []int{i % 2, 1 - i%2} {
			runtime.ReadMemStats(&ms)
			a0, c0, t0 := ms.TotalAlloc, benchenv.CPUTime(), time.Now()
			pullAll(clients[k])
			wall[k] += time.Since(t0)
			cpu[k] += benchenv.CPUTime() - c0
			runtime.ReadMemStats(&ms)
			alloc[k] += ms.TotalAlloc - a0
		}
	}
	for k, name := range names {
		b.ReportMetric(float64(wall[k].Microseconds())/1000/float64(b.N), name+"-ms/sync")
		b.ReportMetric(float64(cpu[k].Microseconds())/1000/float64(b.N), name+"-cpu-ms/sync")
		b.ReportMetric(float64(alloc[k])/(1<<20)/float64(b.N), name+"-MB/sync")
	}
}

// TestAGzipBombIsRefusedNotInflated checks that an answer inflating past
// maxAnswerBytes (a hostile server or proxy: 80 KB on the wire, 80 MiB
// inflated) fails the call with ResourceExhausted instead of filling the
// device's memory: Connect stops inflating at the limit.
func TestAGzipBombIsRefusedNotInflated(t *testing.T) {
	t.Parallel()
	var member bytes.Buffer // 1 MiB of zeros, ≈ 1 KB gzipped
	zw := gzip.NewWriter(&member)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	bomb := bytes.Repeat(member.Bytes(), 80) // gzip readers read concatenated members as one stream
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/proto")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
	}))
	defer srv.Close()
	cfg := newConfig(nil)
	cfg.server, cfg.token = srv.URL, "t"
	_, err := newSyncClient(cfg).Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("a Pull answered by a gzip bomb: %v, want ResourceExhausted", err)
	}
}
