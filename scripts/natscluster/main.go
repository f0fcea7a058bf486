// Command natscluster runs a NATS JetStream cluster on loopback, built from
// the pinned github.com/nats-io/nats-server/v2 (internal/natscluster), for
// scripts/cluster.sh and the cluster fault test (e2e/cluster).
//
// Without -node it runs every node in this one process, prints the client
// URL list and runs until interrupted:
//
//	go run ./scripts/natscluster -dir data/cluster/nats -ports 4222,4223,4224
//
// With -node i it runs node i only (store dir/node<i>, client port the
// i-th of -ports, route port the i-th of -route-ports, routes to the
// others), so each node is a process that can be killed; start one process
// per node with the same -dir, -ports and -route-ports. It prints the URL
// list once the node is current with the JetStream meta leader, which
// takes a majority of the nodes running:
//
//	natscluster -dir D -ports 4222,4223,4224 -route-ports 6222,6223,6224 -node 0
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/fieldsync/fieldsync/internal/natscluster"
)

func main() {
	dir := flag.String("dir", "data/cluster/nats", "folder for the nodes' JetStream stores")
	ports := flag.String("ports", "4222,4223,4224", "client ports, one per node")
	routePorts := flag.String("route-ports", "", "cluster route ports, one per node (required with -node; default free ports)")
	node := flag.Int("node", -1, "run only this node (0-based) of the cluster, in this process")
	verbose := flag.Bool("v", false, "log the servers' notices")
	flag.Parse()
	if err := run(*dir, *ports, *routePorts, *node, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "natscluster:", err)
		os.Exit(1)
	}
}

func parsePorts(flagName, list string) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	var ports []int
	for p := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%s: %q is not a port", flagName, p)
		}
		ports = append(ports, n)
	}
	return ports, nil
}

func run(dir, portList, routeList string, node int, verbose bool) error {
	ports, err := parsePorts("-ports", portList)
	if err != nil {
		return err
	}
	routes, err := parsePorts("-route-ports", routeList)
	if err != nil {
		return err
	}
	cfg := natscluster.Config{Dir: dir, Nodes: len(ports), ClientPorts: ports, RoutePorts: routes}
	if verbose {
		cfg.Logger = slog.Default()
	}
	var c *natscluster.Cluster
	if node >= 0 {
		if len(routes) == 0 {
			return fmt.Errorf("-node needs -route-ports")
		}
		c, err = natscluster.StartNode(cfg, node)
	} else {
		c, err = natscluster.Start(cfg)
	}
	if err != nil {
		return err
	}
	defer c.Shutdown()
	fmt.Println(c.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
