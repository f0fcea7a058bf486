package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/freeport"
)

// natsCluster is a 3-node NATS JetStream cluster of three processes, each
// running one node (scripts/natscluster -node i, built from the pinned
// nats-server), restartable on the same ports and store dir.
type natsCluster struct {
	bin               string
	dir               string
	ports, routePorts []int
	nodes             []*natsNode
}

// natsNode is one NATS server process.
type natsNode struct {
	c     *natsCluster
	i     int
	log   *os.File
	cmd   *exec.Cmd
	done  chan struct{} // closed when cmd has exited
	ready chan struct{} // closed when the node printed its URL line
}

// startNATS builds scripts/natscluster into dir and starts the nodes, each
// its own process, and waits until each is current with the JetStream
// meta leader.
func startNATS(dir string, nodes int) (*natsCluster, error) {
	c := &natsCluster{bin: filepath.Join(dir, "natscluster"), dir: filepath.Join(dir, "nats")}
	out, err := exec.Command("go", "build", "-o", c.bin, "github.com/fieldsync/fieldsync/scripts/natscluster").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("build natscluster: %v\n%s", err, out)
	}
	ports, err := freeport.Ports(2 * nodes)
	if err != nil {
		return nil, err
	}
	c.ports, c.routePorts = ports[:nodes], ports[nodes:]
	for i := range nodes {
		n := &natsNode{c: c, i: i}
		if n.log, err = os.Create(filepath.Join(dir, fmt.Sprintf("nats%d.log", i))); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	// Every node waits for a meta leader, which takes a majority running:
	// start them all, then wait for each.
	for _, n := range c.nodes {
		if err := n.spawn(); err != nil {
			c.kill()
			return nil, err
		}
	}
	for _, n := range c.nodes {
		if err := n.waitReady(); err != nil {
			c.kill()
			return c, err
		}
	}
	return c, nil
}

func joinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// URL is every node's client URL, comma-separated (for --nats-url).
func (c *natsCluster) URL() string {
	urls := make([]string, len(c.ports))
	for i, p := range c.ports {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	return strings.Join(urls, ",")
}

// kill SIGKILLs every node still running.
func (c *natsCluster) kill() {
	for _, n := range c.nodes {
		n.kill()
	}
}

// streamLeader returns the index of the node leading stream, as the
// cluster reports it to a client.
func (c *natsCluster) streamLeader(ctx context.Context, stream string) (int, error) {
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Name: "cluster-test"})
	if err != nil {
		return -1, err
	}
	defer nc.Close()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return -1, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, fmt.Errorf("%s has no leader", stream)
	}
	var i int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &i); err != nil || i < 0 || i >= len(c.nodes) {
		return -1, fmt.Errorf("%s: leader %q is no node", stream, info.Cluster.Leader)
	}
	return i, nil
}

// replicasCurrent reports whether stream has a leader and every other
// node is a current replica of it (a node killed and started again has
// caught up).
func (c *natsCluster) replicasCurrent(ctx context.Context, stream string) (bool, error) {
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Name: "cluster-test"})
	if err != nil {
		return false, err
	}
	defer nc.Close()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return false, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return false, fmt.Errorf("%s has no leader", stream)
	}
	if len(info.Cluster.Replicas) != len(c.nodes)-1 {
		return false, fmt.Errorf("%s: leader %s, %d other replicas", stream, info.Cluster.Leader, len(info.Cluster.Replicas))
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false, fmt.Errorf("%s: replica %s current %v offline %v lag %d", stream, r.Name, r.Current, r.Offline, r.Lag)
		}
	}
	return true, nil
}

// spawn starts the node's process on its ports and store dir.
func (n *natsNode) spawn() error {
	c := n.c
	n.cmd = exec.Command(c.bin, "-dir", c.dir, "-ports", joinPorts(c.ports), "-route-ports", joinPorts(c.routePorts),
		"-node", strconv.Itoa(n.i), "-v")
	fmt.Fprintf(n.log, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	n.ready = make(chan struct{})
	n.cmd.Stdout = &readyWriter{w: n.log, ready: n.ready}
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(n.cmd, n.done)
	return nil
}

// waitReady waits until the node is current with the meta leader (it
// prints the URL list then).
func (n *natsNode) waitReady() error {
	select {
	case <-n.ready:
		return nil
	case <-n.done:
		return fmt.Errorf("NATS node %d exited at start (log %s)", n.i, n.log.Name())
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("NATS node %d not current with a meta leader within 2 minutes (log %s)", n.i, n.log.Name())
	}
}

// start starts the node again and waits until it is current.
func (n *natsNode) start() error {
	if err := n.spawn(); err != nil {
		return err
	}
	return n.waitReady()
}

// kill ends the node with SIGKILL: no shutdown, no flush beyond what
// the server synced (it syncs every write: SyncAlways).
func (n *natsNode) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	fmt.Fprintf(n.log, "=== SIGKILL %s\n", time.Now().Format(time.RFC3339Nano))
	n.cmd = nil
}

// readyWriter copies a process's output to w and closes ready at the
// first full line.
type readyWriter struct {
	w     *os.File
	ready chan struct{}
	once  sync.Once
}

func (r *readyWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if bytes.IndexByte(p, '\n') >= 0 {
		r.once.Do(func() { close(r.ready) })
	}
	return n, err
}
