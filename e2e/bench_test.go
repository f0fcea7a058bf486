package e2e

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "modernc.org/sqlite"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// benchEnv starts the daemon for a benchmark.
func benchEnv(b *testing.B) (*daemon.Daemon, *demo.Credentials) {
	b.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", b.TempDir(), true, "error"
	cfg.MetricsAddr = "" // daemons run side by side
	// Benchmarks measure the engine, not the edge: one token stands for a
	// fleet (1,000 Watch streams) and calls as fast as it can.
	cfg.WatchPerPrincipal, cfg.RateLimit, cfg.InFlight = 0, 0, 0
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		b.Fatal(err)
	}
	return d, creds
}

func benchVisit(i int) *fieldsyncv1.Visit {
	return &fieldsyncv1.Visit{
		Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: fmt.Sprintf("cust-%d", i%50),
		Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"},
	}
}

// BenchmarkPushVsBareInsert pushes batches of 100 new visits over real HTTP
// (loopback, Connect protocol, bearer auth) and, alternating with it, inserts
// 100 equivalent rows per transaction in a bare modernc loop with the same
// pragmas, and reports both rates and their ratio from the same run.
//
// Each side is timed on a quiet daemon: before it, the benchmark waits
// (untimed) until the outbox relay and the consumers have caught up with
// every earlier push, so neither side runs beside background work. The
// push's own commit would wake the relay (JetStream publishes, then the
// consumers) while the answer is still on its way; the benchmark holds
// that kick until the call has returned (Daemon.HoldRelay), so the event
// delivery a push starts is excluded from its figures as it is absent from
// the bare side's (-push-relay-beside lets it run, as before). How long
// the background took to catch up after each push, and the CPU it used,
// are reported as settle_ms (per op) and settle_cpu_us/mut, and the
// machine's load average as load1. The CPU time the process spent in each
// side's timed part, per row, is reported too (push_cpu_us, bare_cpu_us):
// on a busy machine it varies far less than the wall-time rates. Both push
// figures include the client's side of the call (encoding the request,
// decoding the response).
func BenchmarkPushVsBareInsert(b *testing.B) {
	d, creds := benchEnv(b)
	rep, _ := creds.User("rep")
	client := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken))
	bare := openBare(b)
	const batch = 100
	var pushTime, settleTime, bareTime, pushCPU, settleCPU, bareCPU time.Duration
	var seq uint64
	clock := syncengine.NewClock(nil)
	benchenv.ReportLoad(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := benchPushRequest(clock, &seq, batch)
		waitIdle(b, d)
		release := func() {}
		if !*pushRelayBeside {
			release = d.HoldRelay()
		}
		stopProfile := startPushProfile(b, i)
		start, cpu := time.Now(), benchenv.CPUTime()
		res, err := client.Push(context.Background(), connect.NewRequest(req))
		if err != nil {
			b.Fatal(err)
		}
		pushTime, pushCPU = pushTime+time.Since(start), pushCPU+benchenv.CPUTime()-cpu
		stopProfile()
		if r := res.Msg.Results[batch-1]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
			b.Fatalf("push: %v", r)
		}
		start, cpu = time.Now(), benchenv.CPUTime()
		release()
		waitIdle(b, d)
		settleTime, settleCPU = settleTime+time.Since(start), settleCPU+benchenv.CPUTime()-cpu
		start, cpu = time.Now(), benchenv.CPUTime()
		bare.insertBatch(b, batch)
		bareTime, bareCPU = bareTime+time.Since(start), bareCPU+benchenv.CPUTime()-cpu
	}
	b.StopTimer()
	n := float64(b.N * batch)
	pushRate, bareRate := n/pushTime.Seconds(), n/bareTime.Seconds()
	b.ReportMetric(pushRate, "push_mut/s")
	b.ReportMetric(bareRate, "bare_rows/s")
	b.ReportMetric(pushRate/bareRate, "push/bare")
	b.ReportMetric(float64(settleTime.Microseconds())/1000/float64(b.N), "settle_ms")
	b.ReportMetric(float64(pushCPU.Microseconds())/n, "push_cpu_us/mut")
	b.ReportMetric(float64(bareCPU.Microseconds())/n, "bare_cpu_us/row")
	b.ReportMetric(float64(settleCPU.Microseconds())/n, "settle_cpu_us/mut")
	benchenv.ReportLoad(b)
}

// benchPushRequest builds a push of n new visits with the next seqs.
func benchPushRequest(clock *syncengine.Clock, seq *uint64, n int) *fieldsyncv1.PushRequest {
	req := &fieldsyncv1.PushRequest{}
	for j := 0; j < n; j++ {
		*seq++
		v, _ := anypb.New(benchVisit(j))
		req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{Seq: *seq, RecordType: "fieldsync.v1.Visit", RecordId: ids.New(),
			Value: v, FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"kind", "customer_id", "notes", "action_tags"}}, Hlc: uint64(clock.Now())})
	}
	return req
}

// waitIdle waits until the daemon's relay and consumers have caught up.
func waitIdle(b *testing.B, d *daemon.Daemon) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.WaitIdle(ctx); err != nil {
		b.Fatalf("wait for the relay and consumers: %v", err)
	}
}

type bareDB struct {
	db *sql.DB
}

func openBare(b *testing.B) *bareDB {
	dsn := "file:" + filepath.Join(b.TempDir(), "bare.db") +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)" +
		"&_pragma=temp_store(MEMORY)&_pragma=cache_size(-16000)&_pragma=mmap_size(1073741824)&_txlock=immediate" // as storage/sqlite's writer
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE records (tenant_id TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
		version INTEGER NOT NULL, owner_id TEXT NOT NULL, region_id TEXT NOT NULL, value BLOB NOT NULL,
		hlc INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (tenant_id, id))`); err != nil {
		b.Fatal(err)
	}
	return &bareDB{db: db}
}

var bareVersion int64

func (d *bareDB) insertBatch(b *testing.B, n int) {
	tx, err := d.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for j := 0; j < n; j++ {
		bareVersion++
		value, _ := proto.Marshal(benchVisit(j))
		if _, err := tx.Exec(`INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?)`, "tenant", ids.New(), "fieldsync.v1.Visit",
			bareVersion, "owner", "region", value, bareVersion, time.Now().UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

var pushRelayBeside = flag.Bool("push-relay-beside", false,
	"PushVsBareInsert: let the relay and consumers a push's commit wakes run during the timed call")

var pushCPUProfile = flag.String("push-cpuprofile", "",
	"PushVsBareInsert: write a CPU profile of each timed push (alone: no bare insert, no relay) into this directory, "+
		"sampled at 1 kHz; read them together with go tool pprof DIR/*.prof")

// startPushProfile starts the CPU profile of push i when -push-cpuprofile
// asks for one and returns what stops it. Each push gets a file of its
// own: the profile of the whole benchmark mixes the push with the relay,
// the consumers and the bare side.
func startPushProfile(b *testing.B, i int) (stop func()) {
	if *pushCPUProfile == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(*pushCPUProfile, fmt.Sprintf("push-%05d.prof", i)))
	if err != nil {
		b.Fatal(err)
	}
	// A push takes a few milliseconds: 100 Hz would sample it about once.
	// StartCPUProfile then warns that the rate is set already, and keeps it.
	runtime.SetCPUProfileRate(1000)
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

var benchWatchers = flag.Int("watchers", 1000, "Watch streams in the Watch benchmarks")

// BenchmarkWatchPokeLatency opens 1,000 Watch streams (HTTP/1.1, one
// connection each) for a rep, pushes a change to the rep's scope and
// measures, for every watcher, the time from just before the Push call to
// the poke's arrival. Reports p50 and p99 over all watchers and pushes.
func BenchmarkWatchPokeLatency(b *testing.B) {
	d, creds := benchEnv(b)
	rep, _ := creds.User("rep")
	watchers := *benchWatchers
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: watchers + 10, MaxConnsPerHost: 0}
	streamClient := fieldsyncv1connect.NewSyncServiceClient(&http.Client{Transport: transport}, d.URL(), bearer(rep.DeviceToken))
	pokes := make(chan time.Time, watchers*4)
	cursor := currentCursor(b, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken)))
	var ready sync.WaitGroup
	ready.Add(watchers)
	for i := 0; i < watchers; i++ {
		go watchOnce(ctx, streamClient, cursor, &ready, pokes)
	}
	ready.Wait()
	push := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken))
	var lat []time.Duration
	clock := syncengine.NewClock(nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, _ := anypb.New(benchVisit(i))
		start := time.Now()
		res, err := push.Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
			Seq: uint64(i + 1), RecordType: "fieldsync.v1.Visit", RecordId: ids.New(), Value: v,
			FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"kind", "customer_id", "notes", "action_tags"}}, Hlc: uint64(clock.Now()),
		}}}))
		if err != nil {
			b.Fatal(err)
		}
		if r := res.Msg.Results[0]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
			b.Fatalf("push: %v", r)
		}
		for j := 0; j < watchers; j++ {
			lat = append(lat, (<-pokes).Sub(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

// currentCursor pulls everything and returns the cursor after it.
func currentCursor(b *testing.B, c fieldsyncv1connect.SyncServiceClient) string {
	cursor := ""
	for {
		res, err := c.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor}))
		if err != nil {
			b.Fatal(err)
		}
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return cursor
		}
	}
}

// watchOnce holds one Watch stream from an up-to-date cursor (so the first
// message is the heartbeat that says the watch is live) and reports each
// poke's arrival time.
func watchOnce(ctx context.Context, c fieldsyncv1connect.SyncServiceClient, cursor string, ready *sync.WaitGroup, pokes chan<- time.Time) {
	stream, err := c.Watch(ctx, connect.NewRequest(&fieldsyncv1.WatchRequest{Cursor: cursor}))
	if err != nil {
		ready.Done()
		return
	}
	defer stream.Close()
	live := false
	for stream.Receive() {
		if !live {
			live = true
			ready.Done()
			continue
		}
		if stream.Msg().GetPoke() != nil {
			pokes <- time.Now()
		}
	}
	if !live {
		ready.Done()
	}
}
