// Command clusterproxy is a tiny round-robin reverse proxy for
// scripts/cluster.sh (see internal/clusterproxy): each request goes to the
// next backend over h2c, streamed both ways, so Watch and other gRPC
// streams work through it. Not for production: no TLS, no active health
// checks.
//
//	go run ./scripts/clusterproxy -addr 127.0.0.1:8080 http://127.0.0.1:8081 http://127.0.0.1:8082
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/fieldsync/fieldsync/internal/clusterproxy"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	if err := run(*addr, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "clusterproxy:", err)
		os.Exit(1)
	}
}

func run(addr string, backends []string) error {
	h, err := clusterproxy.New(backends, nil)
	if err != nil {
		return err
	}
	log.Printf("clusterproxy on http://%s → %v", addr, backends)
	return clusterproxy.Server(addr, h).ListenAndServe()
}
