// Command clusterproxy is a tiny round-robin reverse proxy for
// scripts/cluster.sh: each request (Connect, gRPC, gRPC-Web, HTTP/1.1 or
// h2c) goes to the next backend over h2c, streamed both ways, so Watch and
// other gRPC streams work through it. Not for production: no TLS, no
// health checks.
//
//	go run ./scripts/clusterproxy -addr 127.0.0.1:8080 http://127.0.0.1:8081 http://127.0.0.1:8082
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"time"
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
	if len(backends) == 0 {
		return fmt.Errorf("name at least one backend URL")
	}
	var targets []*url.URL
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return fmt.Errorf("backend %q is not a URL", b)
		}
		targets = append(targets, u)
	}
	var next atomic.Uint64
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[next.Add(1)%uint64(len(targets))])
			r.SetXForwarded()
		},
		Transport:     &http.Transport{Protocols: &h2c, ForceAttemptHTTP2: true, IdleConnTimeout: time.Minute},
		FlushInterval: -1, // stream every write: Watch, server streams
	}
	var both http.Protocols
	both.SetHTTP1(true)
	both.SetUnencryptedHTTP2(true)
	srv := &http.Server{Addr: addr, Handler: proxy, Protocols: &both, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("clusterproxy on http://%s → %v", addr, backends)
	return srv.ListenAndServe()
}
