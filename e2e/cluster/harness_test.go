// Package cluster tests fieldsync as several nodes under faults: three
// fieldsyncd processes on one PostgreSQL, a 3-node NATS JetStream cluster
// and versitygw, behind the round-robin proxy, with devices syncing
// through it while a node is SIGKILLed, a NATS node SIGKILLed and
// PostgreSQL crashed (docs/testing.md, "The cluster fault test").
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/clusterproxy"
	"github.com/fieldsync/fieldsync/internal/freeport"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/internal/s3test"
)

// bucket is the photo bucket the nodes share.
const bucket = "fieldsync-photos"

// cluster is everything the test runs: the shared services, the nodes
// and the proxy in front of them.
type cluster struct {
	t        *testing.T
	pg       *pgtest.Server
	dbURL    string
	nats     *natsCluster
	s3       *s3test.Server
	bin      string
	dir      string
	nodes    []*node
	proxyURL string
}

// node is one fieldsyncd process, restartable on the same address and
// data dir.
type node struct {
	c    *cluster
	i    int
	dir  string
	addr string
	log  *os.File
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startCluster starts PostgreSQL, NATS, versitygw, the nodes (the first
// alone, seeding the demo organisation) and the proxy.
func startCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	began := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(began).Round(100*time.Millisecond), what) }
	c := &cluster{t: t, dir: t.TempDir()}
	// Build fieldsyncd, and build and start the NATS nodes (a process
	// each), while PostgreSQL and versitygw start; the cleanups wait for
	// both (the test may skip meanwhile).
	var bin string
	var binErr, natsErr error
	var background sync.WaitGroup
	background.Go(func() { bin, binErr = buildDaemon(c.dir) })
	background.Go(func() {
		c.nats, natsErr = startNATS(c.dir, 3)
	})
	t.Cleanup(func() {
		background.Wait()
		if c.nats != nil {
			c.nats.kill()
		}
	})
	c.pg = pgtest.Start(t)
	phase("PostgreSQL up")
	ctx := context.Background()
	var err error
	if c.dbURL, err = c.pg.CreateDB(ctx, "fieldsync"); err != nil {
		t.Fatal(err)
	}
	c.s3 = s3test.Start(t)
	phase("versitygw up")
	background.Wait()
	if natsErr != nil {
		if c.nats != nil {
			c.dumpNATSLogs()
		}
		t.Fatal(natsErr)
	}
	if binErr != nil {
		t.Fatal(binErr)
	}
	c.bin = bin
	phase("NATS up, fieldsyncd built")
	if err := os.WriteFile(filepath.Join(c.dir, "operator-token"), []byte("cluster-test-operator-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var backends []string
	for i := range nodes {
		n := &node{c: c, i: i, dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i)), addr: freeport.TestAddr(t)}
		if n.log, err = os.Create(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i))); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
		backends = append(backends, "http://"+n.addr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.proxyURL = "http://" + ln.Addr().String()
	h, err := clusterproxy.New(backends, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	srv := clusterproxy.Server("", h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpGoroutines()
		}
		for _, n := range c.nodes {
			n.kill()
		}
		if t.Failed() {
			c.dumpLogs()
			c.dumpNATSLogs()
			c.keepLogs()
		}
	})
	c.nodes[0].start("--demo") // applies the migrations and seeds the demo organisation
	phase("first node up")
	for _, n := range c.nodes[1:] {
		n.start()
	}
	phase("all nodes up")
	return c
}

// buildDaemon builds fieldsyncd into dir, so a node is a process SIGKILL
// can end.
func buildDaemon(dir string) (string, error) {
	bin := filepath.Join(dir, "fieldsyncd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fieldsync/fieldsync/cmd/fieldsyncd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build fieldsyncd: %v\n%s", err, out)
	}
	return bin, nil
}

// start runs the node and waits until it accepts connections (it listens
// once its database, NATS and S3 are wired).
func (n *node) start(extra ...string) {
	t := n.c.t
	t.Helper()
	args := append([]string{
		"--data-dir", n.dir, "--addr", n.addr, "--metrics-addr", "", "--log-level", "info",
		"--database", n.c.dbURL,
		"--nats-url", n.c.nats.URL(), "--nats-replicas", "3",
		"--s3-endpoint", n.c.s3.Endpoint, "--s3-bucket", bucket, "--s3-access-key", n.c.s3.AccessKey,
		"--operator-token-file", filepath.Join(n.c.dir, "operator-token"),
		"--public-url", n.c.proxyURL,
	}, extra...)
	n.cmd = exec.Command(n.c.bin, args...)
	n.cmd.Env = append(os.Environ(), "FIELDSYNC_S3_SECRET_KEY="+n.c.s3.SecretKey)
	fmt.Fprintf(n.log, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(n.cmd, n.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", n.addr, time.Second); err == nil {
			conn.Close()
			return
		}
		select {
		case <-n.done:
			t.Fatalf("node %d exited at start (log %s)", n.i, n.log.Name())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not listen on %s within a minute", n.i, n.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the node with SIGKILL: no shutdown, no lease released.
func (n *node) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	fmt.Fprintf(n.log, "=== SIGKILL %s\n", time.Now().Format(time.RFC3339Nano))
	n.cmd = nil
}

// dumpGoroutines ends each running node with SIGQUIT, which makes the Go
// runtime write every goroutine's stack to the node's log, and prints the
// stacks that pass through fieldsync's own packages: what a stalled node
// was waiting for.
func (c *cluster) dumpGoroutines() {
	for _, n := range c.nodes {
		if n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		mark := fmt.Sprintf("=== SIGQUIT %s", time.Now().Format(time.RFC3339Nano))
		fmt.Fprintln(n.log, mark)
		n.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.done:
			n.cmd = nil
		case <-time.After(10 * time.Second):
		}
		b, _ := os.ReadFile(n.log.Name())
		_, after, _ := strings.Cut(string(b), mark)
		var own []string
		for _, g := range strings.Split(after, "\n\n") {
			if strings.Contains(g, "fieldsync/fieldsync/") && !strings.Contains(g, "net/http.(*conn).serve") {
				own = append(own, g)
			}
		}
		dump := strings.Join(own, "\n\n")
		if len(dump) > 48<<10 {
			dump = dump[:48<<10] + "\n…"
		}
		c.t.Logf("node %d goroutines in fieldsync's packages at the end:\n%s", n.i, dump)
	}
}

// dumpLogs prints the tail of every node's log up to the goroutine dump
// (dumpGoroutines prints the dump's relevant part).
func (c *cluster) dumpLogs() {
	for _, n := range c.nodes {
		b, _ := os.ReadFile(n.log.Name())
		if i := bytes.Index(b, []byte("=== SIGQUIT ")); i >= 0 {
			b = b[:i]
		}
		if len(b) > 16<<10 {
			b = b[len(b)-16<<10:]
		}
		c.t.Logf("node %d log (tail, %s):\n%s", n.i, n.log.Name(), b)
	}
}

// keepLogs copies every node's and NATS node's whole log into the folder
// FIELDSYNC_CLUSTER_LOGS names, if set (the test's own folder is removed).
func (c *cluster) keepLogs() {
	dir := os.Getenv("FIELDSYNC_CLUSTER_LOGS")
	if dir == "" {
		return
	}
	dir = filepath.Join(dir, fmt.Sprintf("%s-%d", c.t.Name(), time.Now().Unix()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("keep logs: %v", err)
		return
	}
	logs, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(l)), b, 0o644)
		}
		if err != nil {
			c.t.Logf("keep logs: %v", err)
		}
	}
	c.t.Logf("logs kept in %s", dir)
}

// dumpNATSLogs prints the tail of every NATS node's log.
func (c *cluster) dumpNATSLogs() {
	for _, n := range c.nats.nodes {
		b, _ := os.ReadFile(n.log.Name())
		if len(b) > 8<<10 {
			b = b[len(b)-8<<10:]
		}
		c.t.Logf("NATS node %d log (tail):\n%s", n.i, b)
	}
}

// nodeOf returns the node whose data dir a lease holder's value names.
func (c *cluster) nodeOf(holder string) *node {
	for _, n := range c.nodes {
		if strings.Contains(holder, ":"+n.dir) {
			return n
		}
	}
	return nil
}

// attemptTimeout bounds each try of a condition that asks NATS. A
// JetStream API request that reaches a stream while it has no leader (just
// after a NATS node was killed or came back) is never answered, and nats.go
// applies its own default timeout only to a context without a deadline:
// under the test's context one unanswered request held a wait for
// minutes, past its limit, and failed the test with what it had read
// before (a stale "N outbox events unsent"). A try that times out is
// simply tried again by waitFor.
const attemptTimeout = 15 * time.Second

// attempt returns ctx bounded by attemptTimeout, for one try of a condition.
func attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, attemptTimeout)
}

// waitFor polls cond until it holds; it fails the test after limit (a
// liveness bound, not a measurement) saying what it waited for. A cond
// that asks NATS bounds each try with attempt, so that no single try
// outlasts limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, error)) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(limit)
	var last error
	for {
		ok, err := cond()
		if ok {
			if waited := time.Since(began); waited > 5*time.Second {
				t.Logf("%s: waited %v (last: %v)", what, waited.Round(100*time.Millisecond), last)
			}
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v (last error: %v)", what, limit, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logBuffer is an io.Writer safe for concurrent use (the SDK's logs).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
