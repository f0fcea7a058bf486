package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
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

// The watcher process of BenchmarkWatchPokeRemote is this test binary run
// again with these variables set; TestWatchStreamsProcess does its work.
const (
	watchProcURL    = "FIELDSYNC_WATCHPROC_URL"
	watchProcToken  = "FIELDSYNC_WATCHPROC_TOKEN"
	watchProcCursor = "FIELDSYNC_WATCHPROC_CURSOR"
	watchProcN      = "FIELDSYNC_WATCHPROC_N"
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
func BenchmarkWatchPokeRemote(b *testing.B) {
	d, creds := benchEnv(b)
	rep, _ := creds.User("rep")
	watchers := *benchWatchers
	cursor := currentCursor(b, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken)))
	pokes, stop := startWatcherProcess(b, d.URL(), rep.DeviceToken, cursor, watchers)
	defer stop()
	push := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken))
	clock := syncengine.NewClock(nil)
	var fromRet, fromCall []time.Duration
	cpu0 := benchenv.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		pushWatchedVisit(b, push, clock, i)
		ret := time.Now()
		for j := 0; j < watchers; j++ {
			at := <-pokes
			fromCall = append(fromCall, at.Sub(start))
			fromRet = append(fromRet, max(0, at.Sub(ret)))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((benchenv.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "server_cpu_ms/push")
	reportPercentiles(b, "ret", fromRet)
	reportPercentiles(b, "call", fromCall)
	benchenv.ReportLoad(b)
}

func reportPercentiles(b *testing.B, name string, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), name+"_p50_ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), name+"_p99_ms")
	b.ReportMetric(ms(lat[len(lat)-1]), name+"_max_ms")
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

// startWatcherProcess runs the watcher process, waits until its n streams
// are live and returns the arrival times of the pokes it reports; stop
// ends it.
func startWatcherProcess(b *testing.B, url, token, cursor string, n int) (<-chan time.Time, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchStreamsProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), watchProcURL+"="+url, watchProcToken+"="+token, watchProcCursor+"="+cursor, watchProcN+"="+strconv.Itoa(n))
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
	pokes, ready := make(chan time.Time, n*4), make(chan string, 1)
	go readWatcherReports(stdout, ready, pokes)
	select {
	case line := <-ready:
		if line != fmt.Sprint("ready ", n) {
			stop()
			b.Fatalf("watcher process: %s, want ready %d", line, n)
		}
	case <-time.After(5 * time.Minute):
		stop()
		b.Fatal("watcher process: streams not live after 5 minutes")
	}
	return pokes, stop
}

// readWatcherReports reads "ready <live streams>" and "poke <unix ns>" lines.
func readWatcherReports(r io.Reader, ready chan<- string, pokes chan<- time.Time) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ready "):
			ready <- line
		case strings.HasPrefix(line, "poke "):
			ns, err := strconv.ParseInt(strings.TrimPrefix(line, "poke "), 10, 64)
			if err == nil {
				pokes <- time.Unix(0, ns)
			}
		}
	}
	ready <- "watcher process ended"
}

// TestWatchStreamsProcess is the watcher process of
// BenchmarkWatchPokeRemote; run directly it has nothing to do. It holds
// the streams until its stdin closes, printing "ready <live streams>" once
// they are all live (or failed), then "poke <unix ns>" per poke.
func TestWatchStreamsProcess(t *testing.T) {
	url := os.Getenv(watchProcURL)
	if url == "" {
		t.Skip("the watcher process of BenchmarkWatchPokeRemote")
	}
	n, err := strconv.Atoi(os.Getenv(watchProcN))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	transport := &http.Transport{MaxIdleConnsPerHost: n + 10}
	c := fieldsyncv1connect.NewSyncServiceClient(&http.Client{Transport: transport}, url, bearer(os.Getenv(watchProcToken)))
	reports := make(chan int64, n*4)
	var ready sync.WaitGroup
	var live atomic.Int64
	ready.Add(n)
	for i := 0; i < n; i++ {
		go watchStream(ctx, c, os.Getenv(watchProcCursor), &ready, &live, reports)
	}
	ready.Wait()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %d\n", live.Load())
	out.Flush()
	for {
		select {
		case <-ctx.Done():
			return
		case ns := <-reports:
			fmt.Fprintf(out, "poke %d\n", ns)
			if len(reports) == 0 {
				out.Flush()
			}
		}
	}
}

// watchStream holds one Watch stream from an up-to-date cursor (its first
// message is the heartbeat that says it is live), reporting each poke's
// arrival; live counts the streams that went live.
func watchStream(ctx context.Context, c fieldsyncv1connect.SyncServiceClient, cursor string, ready *sync.WaitGroup, live *atomic.Int64, reports chan<- int64) {
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
			reports <- time.Now().UnixNano()
		}
	}
}
