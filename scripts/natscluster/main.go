// Command natscluster runs a 3-node NATS JetStream cluster on loopback in
// one process, built from the pinned github.com/nats-io/nats-server/v2
// (internal/natscluster), for scripts/cluster.sh. It prints the client URL
// list and runs until interrupted.
//
//	go run ./scripts/natscluster -dir data/cluster/nats -ports 4222,4223,4224
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
	verbose := flag.Bool("v", false, "log the servers' notices")
	flag.Parse()
	if err := run(*dir, *ports, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "natscluster:", err)
		os.Exit(1)
	}
}

func run(dir, portList string, verbose bool) error {
	var ports []int
	for p := range strings.SplitSeq(portList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("-ports: %q is not a port", p)
		}
		ports = append(ports, n)
	}
	cfg := natscluster.Config{Dir: dir, Nodes: len(ports), ClientPorts: ports}
	if verbose {
		cfg.Logger = slog.Default()
	}
	c, err := natscluster.Start(cfg)
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
