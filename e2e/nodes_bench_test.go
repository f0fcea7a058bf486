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
	benchNodeBin = flag.String("nodes-fieldsyncd", "", "BenchmarkNodes*: a fieldsyncd binary to run instead of building this tree's (to compare builds)")
)

// deployment is one fieldsync deployment under benchmark: fieldsyncd
// processes, and the URL its clients call (a node's, or the proxy's).
type deployment struct {
	name  string
	url   string
	nodes []string // the nodes' own URLs, behind url (a proxy's) when several
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
	if *benchNodeBin != "" {
		return *benchNodeBin, filepath.Join(dir, "clusterproxy")
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
		return &deployment{name: name, url: url, nodes: []string{url}, creds: demoCreds(b, dir)}
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
	cluster.url, cluster.nodes = "http://"+proxyAddr, nodes
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

// BenchmarkNodesWatchPoke measures Watch pokes on three fieldsyncd nodes
// over one PostgreSQL (startDeployments), for -watchers streams (1,000 by
// default; HTTP/1.1, one connection each) held by another process (this
// test binary again, as in BenchmarkWatchPokeRemote), two ways alternating
// round by round:
//
//   - proxy: the first demo rep's streams through scripts/clusterproxy,
//     which spreads them over the nodes (and carries each poke one more
//     hop, over h2c); the rep pushes one visit through the proxy;
//   - direct: the second demo rep's streams spread over the three nodes'
//     own addresses; the rep pushes one visit to the next node in turn.
//
// Either way two thirds of a push's pokes cross nodes (core NATS). The
// latencies are measured from the Push's return ("ret"; a poke that came
// before it counts 0) and from just before the Push call ("call": it
// includes the push itself, on PostgreSQL).
func BenchmarkNodesWatchPoke(b *testing.B) {
	d := startDeployments(b, true)[0]
	var reps []demo.UserCreds
	for _, u := range d.creds.Users {
		if u.Role == "rep" {
			reps = append(reps, u)
		}
	}
	if len(reps) < 2 {
		b.Fatalf("the demo has %d reps, want 2", len(reps))
	}
	watchers := *benchWatchers
	type side struct {
		name   string
		pokes  <-chan arrival
		push   []fieldsyncv1connect.SyncServiceClient
		clock  *syncengine.Clock
		seq    uint64
		lat    latencies
		local  latencies // direct: streams on the node that took the push
		remote latencies // direct: streams on the other nodes
	}
	var sides []*side
	for i, urls := range [][]string{{d.url}, d.nodes} {
		rep := reps[i]
		cursor := currentCursor(b, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, urls[0], bearer(rep.DeviceToken)))
		pokes, stop := startWatcherProcess(b, watcherSpec{urls: urls, token: rep.DeviceToken, cursor: cursor, n: watchers})
		b.Cleanup(stop)
		s := &side{name: []string{"proxy", "direct"}[i], pokes: pokes, clock: syncengine.NewClock(nil)}
		for _, u := range urls {
			s.push = append(s.push, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, u, bearer(rep.DeviceToken)))
		}
		sides = append(sides, s)
	}
	benchenv.ReportLoad(b)
	round := 0
	for b.Loop() {
		for k := range sides {
			s := sides[(round+k)%len(sides)]
			node := round % len(s.push)
			c := s.push[node]
			var byNode func(int) *latencies
			if len(s.push) > 1 {
				byNode = func(stream int) *latencies {
					if stream%len(s.push) == node {
						return &s.local
					}
					return &s.remote
				}
			}
			s.lat.round(b, s.pokes, watchers, func() {
				res, err := c.Push(context.Background(), connect.NewRequest(benchPushRequest(s.clock, &s.seq, 1)))
				if err != nil {
					b.Fatalf("%s: %v", s.name, err)
				}
				if r := res.Msg.Results[0]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
					b.Fatalf("%s: push: %v", s.name, r)
				}
			}, byNode)
		}
		round++
	}
	b.StopTimer()
	for _, s := range sides {
		s.lat.report(b, s.name+"_")
	}
	reportPercentiles(b, "direct_same_node_ret", sides[1].local.fromRet)
	reportPercentiles(b, "direct_other_node_ret", sides[1].remote.fromRet)
	b.ReportMetric(sides[0].lat.p99(true)/sides[1].lat.p99(true), "ret_p99_proxy/direct")
	benchenv.ReportLoad(b)
}
