package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// The watcher process of BenchmarkWatchPokeRemote and
// BenchmarkNodesWatchPoke is this test binary run again with these
// variables set; TestWatchStreamsProcess does its work.
const (
	watchProcURL    = "FIELDSYNC_WATCHPROC_URL" // comma-separated: streams go round-robin
	watchProcToken  = "FIELDSYNC_WATCHPROC_TOKEN"
	watchProcCursor = "FIELDSYNC_WATCHPROC_CURSOR"
	watchProcN      = "FIELDSYNC_WATCHPROC_N"
	watchProcBare   = "FIELDSYNC_WATCHPROC_BARE" // "1": plain streams of a bareFanout
)

// BenchmarkWatchPokeRemote measures the poke latency of -watchers Watch
// streams (default 1,000; HTTP/1.1, one connection each, as separate
// devices have) held by another process: this test binary run again as
// the watchers, so the server's process does not also run the clients.
// Each round pushes one visit to the rep all streams watch and waits for
// every stream's poke. The processes share the machine's clock: the
// watcher process stamps each poke's arrival (time.Now, Unix nanoseconds)
// and the latencies are measured from the Push's return ("ret"; a poke
// that came before the Push returned counts 0) and from just before the
// Push call ("call").
//
// The ceiling, alternating with it round by round: a bare net/http
// fan-out of the same size (bareFanout) — as many plain HTTP/1.1 streams
// held by a second watcher process, each written one short line and
// flushed per poke, the poke set off by a plain POST whose return is the
// "ret" reference. bare_* are its figures; ret_p99/bare is the ratio of
// the two p99s. server_cpu_ms/push and bare_cpu_ms/poke are the CPU time
// of this process (server and pushing client) per round of each side.
func BenchmarkWatchPokeRemote(b *testing.B) {
	d, creds := benchEnv(b)
	rep, _ := creds.User("rep")
	watchers := *benchWatchers
	cursor := currentCursor(b, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken)))
	pokes, stop := startWatcherProcess(b, watcherSpec{urls: []string{d.URL()}, token: rep.DeviceToken, cursor: cursor, n: watchers})
	defer stop()
	bare := newBareFanout()
	defer bare.Close()
	barePokes, stopBare := startWatcherProcess(b, watcherSpec{urls: []string{bare.URL}, n: watchers, bare: true})
	defer stopBare()
	push := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken))
	clock := syncengine.NewClock(nil)
	var fs, ceil latencies
	var fsCPU, bareCPU time.Duration
	benchenv.ReportLoad(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range 2 {
			cpu0 := benchenv.CPUTime()
			if (i+k)%2 == 0 {
				fs.round(b, pokes, watchers, func() { pushWatchedVisit(b, push, clock, i) }, nil)
				fsCPU += benchenv.CPUTime() - cpu0
			} else {
				ceil.round(b, barePokes, watchers, func() { bare.poke(b) }, nil)
				bareCPU += benchenv.CPUTime() - cpu0
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(fsCPU.Microseconds())/1000/float64(b.N), "server_cpu_ms/push")
	b.ReportMetric(float64(bareCPU.Microseconds())/1000/float64(b.N), "bare_cpu_ms/poke")
	fs.report(b, "")
	ceil.report(b, "bare_")
	b.ReportMetric(fs.p99(true)/ceil.p99(true), "ret_p99/bare")
	benchenv.ReportLoad(b)
}

// latencies are the pokes' latencies of one side of a benchmark, from the
// return of the call that set them off ("ret", 0 for a poke that came
// before it) and from just before that call ("call").
type latencies struct{ fromRet, fromCall []time.Duration }

// arrival is a poke's arrival at a watcher process's stream.
type arrival struct {
	at     time.Time
	stream int // the stream's index in the process (its URL: urls[stream%len(urls)])
}

// round calls fire and waits for n pokes from arrivals; each is also
// added to the latencies more picks for it, when more is set.
func (l *latencies) round(b *testing.B, arrivals <-chan arrival, n int, fire func(), more func(stream int) *latencies) {
	b.Helper()
	start := time.Now()
	fire()
	ret := time.Now()
	for j := 0; j < n; j++ {
		select {
		case a := <-arrivals:
			for _, l := range []*latencies{l, pick(more, a.stream)} {
				if l != nil {
					l.fromCall = append(l.fromCall, a.at.Sub(start))
					l.fromRet = append(l.fromRet, max(0, a.at.Sub(ret)))
				}
			}
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d watchers got no poke within a minute", n-j, n)
		}
	}
}

func pick(more func(int) *latencies, stream int) *latencies {
	if more == nil {
		return nil
	}
	return more(stream)
}

func (l *latencies) p99(ret bool) float64 {
	lat := l.fromCall
	if ret {
		lat = l.fromRet
	}
	lat = slices.Sorted(slices.Values(lat))
	return float64(lat[len(lat)*99/100].Microseconds()) / 1000
}

func (l *latencies) report(b *testing.B, prefix string) {
	reportPercentiles(b, prefix+"ret", l.fromRet)
	reportPercentiles(b, prefix+"call", l.fromCall)
}

func reportPercentiles(b *testing.B, name string, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), name+"_p50_ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), name+"_p99_ms")
	b.ReportMetric(ms(lat[len(lat)-1]), name+"_max_ms")
}

// bareFanout is the ceiling of a poke's fan-out: a bare net/http server
// (HTTP/1.1) whose GET streams each get one short line, flushed, per
// poke, woken through one-slot mailboxes as the watch hub's streams are.
// A POST sets a poke off and returns once every mailbox was offered it.
type bareFanout struct {
	*httptest.Server
	mu      sync.RWMutex
	streams map[chan uint64]struct{}
	version atomic.Uint64
}

func newBareFanout() *bareFanout {
	f := &bareFanout{streams: map[chan uint64]struct{}{}}
	f.Server = httptest.NewServer(f)
	return f
}

func (f *bareFanout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		v := f.version.Add(1)
		f.mu.RLock()
		for ch := range f.streams {
			select {
			case ch <- v:
			default:
			}
		}
		f.mu.RUnlock()
		return
	}
	ch := make(chan uint64, 1)
	f.mu.Lock()
	f.streams[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.streams, ch)
		f.mu.Unlock()
	}()
	flusher := w.(http.Flusher)
	io.WriteString(w, "live\n")
	flusher.Flush()
	var buf []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case v := <-ch:
			buf = append(strconv.AppendUint(buf[:0], v, 10), '\n')
			if _, err := w.Write(buf); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

func (f *bareFanout) poke(b *testing.B) {
	res, err := http.Post(f.URL, "text/plain", nil)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

// pushWatchedVisit pushes one new visit of the caller and checks it was applied.
func pushWatchedVisit(b *testing.B, c fieldsyncv1connect.SyncServiceClient, clock *syncengine.Clock, i int) {
	v, _ := anypb.New(benchVisit(i))
	res, err := c.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: uint64(i + 1), RecordType: "fieldsync.v1.Visit", RecordId: ids.New(), Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"kind", "customer_id", "notes", "action_tags"}}, Hlc: uint64(clock.Now()),
	}}}))
	if err != nil {
		b.Fatal(err)
	}
	if r := res.Msg.Results[0]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		b.Fatalf("push: %v", r)
	}
}

// watcherSpec is what a watcher process holds: n streams spread
// round-robin over urls, Watch streams of the token's caller from cursor,
// or plain streams of a bareFanout.
type watcherSpec struct {
	urls          []string
	token, cursor string
	n             int
	bare          bool
}

// startWatcherProcess runs a watcher process, waits until its streams
// are live and returns the arrival times of the pokes it reports; stop
// ends it.
func startWatcherProcess(b *testing.B, s watcherSpec) (<-chan arrival, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchStreamsProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), watchProcURL+"="+strings.Join(s.urls, ","), watchProcToken+"="+s.token,
		watchProcCursor+"="+s.cursor, watchProcN+"="+strconv.Itoa(s.n))
	if s.bare {
		cmd.Env = append(cmd.Env, watchProcBare+"=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	pokes, ready := make(chan arrival, s.n*4), make(chan string, 1)
	go readWatcherReports(stdout, ready, pokes)
	select {
	case line := <-ready:
		if line != fmt.Sprint("ready ", s.n) {
			stop()
			b.Fatalf("watcher process: %s, want ready %d", line, s.n)
		}
	case <-time.After(5 * time.Minute):
		stop()
		b.Fatal("watcher process: streams not live after 5 minutes")
	}
	return pokes, stop
}

// readWatcherReports reads "ready <live streams>" and "poke <unix ns>
// <stream>" lines.
func readWatcherReports(r io.Reader, ready chan<- string, pokes chan<- arrival) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ready "):
			ready <- line
		case strings.HasPrefix(line, "poke "):
			var ns int64
			var stream int
			if _, err := fmt.Sscanf(line, "poke %d %d", &ns, &stream); err == nil {
				pokes <- arrival{at: time.Unix(0, ns), stream: stream}
			}
		}
	}
	ready <- "watcher process ended"
}

// TestWatchStreamsProcess is the watcher process of the Watch benchmarks;
// run directly it has nothing to do. It holds the streams until its stdin
// closes, printing "ready <live streams>" once they are all live (or
// failed), then "poke <unix ns> <stream index>" per poke.
func TestWatchStreamsProcess(t *testing.T) {
	urls := strings.Split(os.Getenv(watchProcURL), ",")
	if urls[0] == "" {
		t.Skip("the watcher process of the Watch benchmarks")
	}
	n, err := strconv.Atoi(os.Getenv(watchProcN))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 10}}
	reports := make(chan [2]int64, n*4)
	var ready sync.WaitGroup
	var live atomic.Int64
	ready.Add(n)
	for i := 0; i < n; i++ {
		url := urls[i%len(urls)]
		if os.Getenv(watchProcBare) == "1" {
			go bareStream(ctx, hc, url, i, &ready, &live, reports)
			continue
		}
		c := fieldsyncv1connect.NewSyncServiceClient(hc, url, bearer(os.Getenv(watchProcToken)))
		go watchStream(ctx, c, os.Getenv(watchProcCursor), i, &ready, &live, reports)
	}
	ready.Wait()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %d\n", live.Load())
	out.Flush()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-reports:
			fmt.Fprintf(out, "poke %d %d\n", r[0], r[1])
			if len(reports) == 0 {
				out.Flush()
			}
		}
	}
}

// watchStream holds one Watch stream from an up-to-date cursor (its first
// message is the heartbeat that says it is live), reporting each poke's
// arrival; live counts the streams that went live.
func watchStream(ctx context.Context, c fieldsyncv1connect.SyncServiceClient, cursor string, i int, ready *sync.WaitGroup, live *atomic.Int64, reports chan<- [2]int64) {
	stream, err := c.Watch(ctx, connect.NewRequest(&fieldsyncv1.WatchRequest{Cursor: cursor}))
	if err != nil {
		ready.Done()
		return
	}
	defer stream.Close()
	if stream.Receive() {
		live.Add(1)
	}
	ready.Done()
	for stream.Receive() {
		if stream.Msg().GetPoke() != nil {
			reports <- [2]int64{time.Now().UnixNano(), int64(i)}
		}
	}
}

// bareStream holds one stream of a bareFanout: its first line says it is
// live, each later line is a poke.
func bareStream(ctx context.Context, hc *http.Client, url string, i int, ready *sync.WaitGroup, live *atomic.Int64, reports chan<- [2]int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		ready.Done()
		return
	}
	res, err := hc.Do(req)
	if err != nil {
		ready.Done()
		return
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	if sc.Scan() {
		live.Add(1)
	}
	ready.Done()
	for sc.Scan() {
		reports <- [2]int64{time.Now().UnixNano(), int64(i)}
	}
}
