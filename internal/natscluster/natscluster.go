// Package natscluster runs a NATS JetStream cluster inside the process, on
// loopback, for tests and for scripts/cluster.sh: each node has its own
// client port, route port and store folder, and a node can be stopped and
// started again on the same ports and store. StartNode runs one node of
// such a cluster, so that each node can be its own process (scripts/natscluster
// -node, which the cluster fault test SIGKILLs).
package natscluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/fieldsync/fieldsync/internal/freeport"
)

// Config configures a cluster.
type Config struct {
	// Dir holds one store folder per node (node0, node1, …). Required.
	Dir string
	// Nodes is the number of servers. Default 3.
	Nodes int
	// Name is the cluster's name. Default "fieldsync".
	Name string
	// ClientPorts, when set, are the nodes' client ports (one per node);
	// default free ports.
	ClientPorts []int
	// RoutePorts, when set, are the nodes' cluster route ports (one per
	// node); default free ports. StartNode needs both port lists, so
	// that every process of the cluster names the same routes.
	RoutePorts []int
	// ReadyTimeout bounds the wait for a node to accept clients and for
	// JetStream to elect a meta leader. Default 30s.
	ReadyTimeout time.Duration
	// Logger receives the servers' logs at Info and above; nil silences them.
	Logger *slog.Logger
}

// Cluster is a running cluster.
type Cluster struct {
	cfg   Config
	solo  bool // StartNode's: the other nodes are other processes
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	name            string
	dir             string
	port, routePort int
	srv             *server.Server
}

// Start starts every node and waits until JetStream has a meta leader.
func Start(cfg Config) (*Cluster, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	for i := range c.nodes {
		if err := c.startNode(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.WaitReady(); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// StartNode starts node i of the cluster cfg describes (cfg.ClientPorts
// and cfg.RoutePorts name every node's ports), alone in this process, and
// waits until it is current with the JetStream meta leader. The other
// nodes are other processes started with the same cfg: the meta leader is
// elected once a majority of them runs, so StartNode waits for it within
// cfg.ReadyTimeout. Stop, Restart and StreamLeader apply to node i only;
// URL names every node.
func StartNode(cfg Config, i int) (*Cluster, error) {
	if len(cfg.ClientPorts) == 0 || len(cfg.RoutePorts) == 0 {
		return nil, errors.New("natscluster: StartNode needs ClientPorts and RoutePorts")
	}
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(c.nodes) {
		return nil, fmt.Errorf("natscluster: node %d of %d", i, len(c.nodes))
	}
	c.solo = true
	if err := c.startNode(i); err != nil {
		return nil, err
	}
	if err := c.WaitCurrent(i); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// WaitCurrent waits until node i is current with the JetStream meta
// leader (which may be another process's node).
func (c *Cluster) WaitCurrent(i int) error {
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	for {
		c.mu.Lock()
		srv := c.nodes[i].srv
		c.mu.Unlock()
		if srv == nil {
			return fmt.Errorf("natscluster: node %d is not running", i)
		}
		if srv.JetStreamIsCurrent() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natscluster: node %d not current with a JetStream meta leader after %s", i, c.cfg.ReadyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newCluster checks cfg, sets its defaults and names the nodes' ports and
// stores; it starts nothing.
func newCluster(cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("natscluster: Dir is required")
	}
	cfg.Nodes = max(cfg.Nodes, 0)
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Name == "" {
		cfg.Name = "fieldsync"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if len(cfg.ClientPorts) != 0 && len(cfg.ClientPorts) != cfg.Nodes {
		return nil, fmt.Errorf("natscluster: %d client ports for %d nodes", len(cfg.ClientPorts), cfg.Nodes)
	}
	if len(cfg.RoutePorts) != 0 && len(cfg.RoutePorts) != cfg.Nodes {
		return nil, fmt.Errorf("natscluster: %d route ports for %d nodes", len(cfg.RoutePorts), cfg.Nodes)
	}
	ports, err := freeport.Ports(2 * cfg.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg}
	for i := range cfg.Nodes {
		n := &node{name: fmt.Sprintf("n%d", i), dir: filepath.Join(cfg.Dir, fmt.Sprintf("node%d", i)), port: ports[2*i], routePort: ports[2*i+1]}
		if len(cfg.ClientPorts) > 0 {
			n.port = cfg.ClientPorts[i]
		}
		if len(cfg.RoutePorts) > 0 {
			n.routePort = cfg.RoutePorts[i]
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

func (c *Cluster) options(n *node) *server.Options {
	var routes []*url.URL
	for _, o := range c.nodes {
		if o != n {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", o.routePort)})
		}
	}
	return &server.Options{
		ServerName: n.name,
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  true,
		StoreDir:   n.dir,
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      c.cfg.Logger == nil,
		Cluster:    server.ClusterOpts{Name: c.cfg.Name, Host: "127.0.0.1", Port: n.routePort},
		Routes:     routes,
	}
}

func (c *Cluster) startNode(i int) error {
	n := c.nodes[i]
	srv, err := server.NewServer(c.options(n))
	if err != nil {
		return fmt.Errorf("natscluster: node %s: %w", n.name, err)
	}
	if c.cfg.Logger != nil {
		srv.SetLoggerV2(slogAdapter{c.cfg.Logger.With("node", n.name)}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(c.cfg.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("natscluster: node %s not ready after %s", n.name, c.cfg.ReadyTimeout)
	}
	c.mu.Lock()
	n.srv = srv
	c.mu.Unlock()
	return nil
}

// WaitReady waits until every running node sees a JetStream meta leader
// and is current with it.
func (c *Cluster) WaitReady() error {
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	for !c.ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("natscluster: no JetStream meta leader after %s", c.cfg.ReadyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (c *Cluster) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	leader := false
	for _, n := range c.nodes {
		if n.srv == nil {
			continue
		}
		if !n.srv.JetStreamIsCurrent() {
			return false
		}
		leader = leader || n.srv.JetStreamIsLeader()
	}
	return leader
}

// URLs are the nodes' client URLs.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	}
	return urls
}

// URL is every node's client URL, comma-separated (for --nats-url).
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// Stop shuts node i down (its store stays for Restart).
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	srv := n.srv
	n.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts node i again on its ports and store and waits until the
// cluster is ready (for StartNode's node: until it is current with the
// meta leader).
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	running := c.nodes[i].srv != nil
	c.mu.Unlock()
	if running {
		return fmt.Errorf("natscluster: node %d is running", i)
	}
	if err := c.startNode(i); err != nil {
		return err
	}
	if c.solo {
		return c.WaitCurrent(i)
	}
	return c.WaitReady()
}

// StreamLeader returns the index of the node leading stream in the
// default account, or -1 when none does.
func (c *Cluster) StreamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if n.srv != nil && n.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

// slogAdapter lets the NATS servers log through slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
