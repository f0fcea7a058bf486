package e2e

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

var (
	benchPushers = flag.Int("nodes-pushers", 4, "BenchmarkNodes: devices pushing (and then first-syncing) at once")
	benchPullers = flag.Int("nodes-pullers", 4, "BenchmarkNodes: devices first-syncing at once")
)

// deployment is one fieldsync deployment under benchmark: fieldsyncd
// processes, and the URL its clients call (a node's, or the proxy's).
type deployment struct {
	name  string
	url   string
	creds *demo.Credentials
}

// benchBinaries builds fieldsyncd and the round-robin proxy once.
func benchBinaries(b *testing.B) (fieldsyncd, proxy string) {
	b.Helper()
	dir := b.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/fieldsync/fieldsync/cmd/fieldsyncd",
		"github.com/fieldsync/fieldsync/scripts/clusterproxy").CombinedOutput()
	if err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "fieldsyncd"), filepath.Join(dir, "clusterproxy")
}

func benchFreeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess starts a process and stops it (SIGTERM, then wait) when
// the benchmark ends.
func startProcess(b *testing.B, bin string, args ...string) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
}

// startBenchNode starts a fieldsyncd process without the edge's limits
// (one token stands for a fleet) and waits until it is healthy.
func startBenchNode(b *testing.B, bin string, args ...string) string {
	b.Helper()
	addr := benchFreeAddr(b)
	startProcess(b, bin, append([]string{"--addr", addr, "--data-dir", b.TempDir(), "--metrics-addr", "", "--log-level", "error",
		"--watch-per-principal", "0", "--watch-total", "0", "--watch-per-tenant", "0", "--rate-limit", "0",
		"--inflight-per-principal", "0"}, args...)...)
	waitHealthy(b, "http://"+addr)
	return "http://" + addr
}

func waitHealthy(b *testing.B, url string) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if status, err := checkHealth(context.Background(), url, false); err == nil && status != "" {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not become healthy", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// demoCreds reads the demo organisation a node created in its data dir.
func demoCreds(b *testing.B, dataDir string) *demo.Credentials {
	b.Helper()
	creds, err := demo.Load(filepath.Join(dataDir, "demo-credentials.json"))
	if err != nil {
		b.Fatal(err)
	}
	return creds
}

// startDeployments starts the three deployments BenchmarkNodes compares:
// one fieldsyncd on SQLite; one on PostgreSQL; three on one PostgreSQL,
// sharing a NATS server (for events and Watch pokes across nodes), behind
// scripts/clusterproxy. PostgreSQL is internal/pgtest's (fsync off, as
// for every test): the figures compare round trips and CPU, not disks.
func startDeployments(b *testing.B, three bool) []*deployment {
	fieldsyncd, proxy := benchBinaries(b)
	var out []*deployment
	node := func(name string, args ...string) *deployment {
		dir := b.TempDir()
		url := startBenchNode(b, fieldsyncd, append([]string{"--demo", "--data-dir", dir}, args...)...)
		return &deployment{name: name, url: url, creds: demoCreds(b, dir)}
	}
	if !three {
		out = append(out, node("sqlite"), node("pg1", "--database", pgtest.DB(b)))
	}
	ns, err := embedded.Start(embedded.Config{StoreDir: b.TempDir(), Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)
	url := pgtest.DB(b)
	cluster := node("pg3", "--database", url, "--nats-url", ns.ClientURL())
	nodes := []string{cluster.url,
		startBenchNode(b, fieldsyncd, "--database", url, "--nats-url", ns.ClientURL()),
		startBenchNode(b, fieldsyncd, "--database", url, "--nats-url", ns.ClientURL())}
	proxyAddr := benchFreeAddr(b)
	startProcess(b, proxy, append([]string{"-addr", proxyAddr}, nodes...)...)
	cluster.url = "http://" + proxyAddr
	waitHealthy(b, cluster.url)
	return append(out, cluster)
}

// enrollRepDevices enrolls n more devices of the deployment's demo rep and
// returns their tokens.
func enrollRepDevices(b *testing.B, d *deployment, n int) []string {
	b.Helper()
	ctx := context.Background()
	rep, _ := d.creds.User("rep")
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, d.url, bearer(d.creds.AdminToken))
	identity := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, d.url)
	var tokens []string
	for i := range n {
		code, err := admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: rep.UserID, Ttl: durationpb.New(time.Hour)}))
		if err != nil {
			b.Fatalf("%s: enrollment code: %v", d.name, err)
		}
		res, err := identity.Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{
			EnrollmentCode: code.Msg.GetEnrollmentCode(), DeviceName: fmt.Sprintf("bench %d", i), Platform: "bench"}))
		if err != nil {
			b.Fatalf("%s: enroll: %v", d.name, err)
		}
		tokens = append(tokens, res.Msg.GetDeviceToken())
	}
	return tokens
}

// benchClient is a client with connections enough for many calls at once.
func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns + 10}}
}

// BenchmarkNodes compares three deployments fed the same work, in one
// run with the rounds alternating between them (their order rotating):
// one fieldsyncd on SQLite, one on PostgreSQL, and three on one
// PostgreSQL behind a round-robin proxy (startDeployments). Each is a
// fieldsyncd process; this process only drives them, over HTTP/1.1
// (Connect). Push: each op, per deployment, -nodes-pushers devices of
// one rep push a batch of 100 new visits each, at once; push_mut/s is
// mutations acknowledged per second of those rounds. Then first sync:
// -nodes-pullers devices of the rep each pull its whole scope (every
// visit pushed, and the demo's records) from an empty cursor in pages of
// 1,000, at once, twice per deployment alternating; sync_rec/s counts
// the records received per second. The relay and consumers that a push
// sets off run in the background, into the next deployment's round: the
// rotation spreads that over all three.
func BenchmarkNodes(b *testing.B) {
	deps := startDeployments(b, false)
	pushers, pullers := *benchPushers, *benchPullers
	type side struct {
		tokens             []string
		clock              *syncengine.Clock
		seq                []uint64
		pushTime, pullTime time.Duration
		pushed, pulled     int
	}
	sides := make([]*side, len(deps))
	hc := benchClient(pushers + pullers)
	for i, d := range deps {
		sides[i] = &side{tokens: enrollRepDevices(b, d, max(pushers, pullers)), clock: syncengine.NewClock(nil), seq: make([]uint64, max(pushers, pullers))}
	}
	benchenv.ReportLoad(b)
	round := 0
	for b.Loop() {
		for k := range deps {
			i := (round + k) % len(deps)
			d, s := deps[i], sides[i]
			reqs := make([]*fieldsyncv1.PushRequest, pushers)
			for p := range reqs {
				reqs[p] = benchPushRequest(s.clock, &s.seq[p], 100)
			}
			start := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, pushers)
			for p := range pushers {
				c := fieldsyncv1connect.NewSyncServiceClient(hc, d.url, bearer(s.tokens[p]))
				wg.Go(func() {
					res, err := c.Push(context.Background(), connect.NewRequest(reqs[p]))
					if err == nil && res.Msg.Results[99].Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
						err = fmt.Errorf("push: %v", res.Msg.Results[99])
					}
					errs[p] = err
				})
			}
			wg.Wait()
			s.pushTime += time.Since(start)
			s.pushed += 100 * pushers
			for _, err := range errs {
				if err != nil {
					b.Fatalf("%s: %v", d.name, err)
				}
			}
		}
		round++
	}
	b.StopTimer()
	for rep := range 2 {
		for k := range deps {
			i := (rep + k) % len(deps)
			d, s := deps[i], sides[i]
			start := time.Now()
			var wg sync.WaitGroup
			counts, errs := make([]int, pullers), make([]error, pullers)
			for p := range pullers {
				c := fieldsyncv1connect.NewSyncServiceClient(hc, d.url, bearer(s.tokens[p]))
				wg.Go(func() { counts[p], errs[p] = pullScope(c) })
			}
			wg.Wait()
			s.pullTime += time.Since(start)
			for p := range pullers {
				if errs[p] != nil {
					b.Fatalf("%s: pull: %v", d.name, errs[p])
				}
				s.pulled += counts[p]
			}
		}
	}
	for i, d := range deps {
		s := sides[i]
		b.ReportMetric(float64(s.pushed)/s.pushTime.Seconds(), d.name+"_push_mut/s")
		b.ReportMetric(float64(s.pulled)/s.pullTime.Seconds(), d.name+"_sync_rec/s")
	}
	base := sides[0]
	for i, d := range deps[1:] {
		s := sides[i+1]
		b.ReportMetric((float64(s.pushed)/s.pushTime.Seconds())/(float64(base.pushed)/base.pushTime.Seconds()), d.name+"/sqlite_push")
		b.ReportMetric((float64(s.pulled)/s.pullTime.Seconds())/(float64(base.pulled)/base.pullTime.Seconds()), d.name+"/sqlite_sync")
	}
	benchenv.ReportLoad(b)
}

// pullScope pulls a scope from an empty cursor in pages of 1,000 and
// returns how many records came.
func pullScope(c fieldsyncv1connect.SyncServiceClient) (int, error) {
	n, cursor := 0, ""
	for {
		res, err := c.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor, Limit: 1000}))
		if err != nil {
			return n, err
		}
		n += len(res.Msg.Records)
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return n, nil
		}
	}
}

// BenchmarkNodesWatchPoke opens -watchers Watch streams (1,000 by
// default; HTTP/1.1, one connection each) for a rep through the proxy in
// front of three fieldsyncd nodes on one PostgreSQL (startDeployments),
// so round-robin spreads them over the nodes; each op pushes one visit
// through the proxy (to one node) and measures, for every watcher, the
// time from just before the Push call to its poke's arrival: two thirds of
// the pokes cross nodes (core NATS). The watchers run in this process,
// the nodes in their own.
func BenchmarkNodesWatchPoke(b *testing.B) {
	d := startDeployments(b, true)[0]
	rep, _ := d.creds.User("rep")
	watchers := *benchWatchers
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamClient := fieldsyncv1connect.NewSyncServiceClient(benchClient(watchers), d.url, bearer(rep.DeviceToken))
	pokes := make(chan time.Time, watchers*4)
	cursor := currentCursor(b, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.url, bearer(rep.DeviceToken)))
	var ready sync.WaitGroup
	ready.Add(watchers)
	for range watchers {
		go watchOnce(ctx, streamClient, cursor, &ready, pokes)
	}
	ready.Wait()
	push := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.url, bearer(rep.DeviceToken))
	var lat []time.Duration
	clock := syncengine.NewClock(nil)
	var seq uint64
	benchenv.ReportLoad(b)
	for b.Loop() {
		req := benchPushRequest(clock, &seq, 1)
		start := time.Now()
		res, err := push.Push(ctx, connect.NewRequest(req))
		if err != nil {
			b.Fatal(err)
		}
		if r := res.Msg.Results[0]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
			b.Fatalf("push: %v", r)
		}
		for range watchers {
			select {
			case at := <-pokes:
				lat = append(lat, at.Sub(start))
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d watchers got no poke within a minute", watchers-len(lat)%watchers, watchers)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
	benchenv.ReportLoad(b)
}
