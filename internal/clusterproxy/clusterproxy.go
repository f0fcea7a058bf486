// Package clusterproxy is a tiny round-robin reverse proxy in front of
// several fieldsyncd nodes, for scripts/cluster.sh (scripts/clusterproxy)
// and the cluster fault test (e2e/cluster): each request (Connect, gRPC,
// gRPC-Web, HTTP/1.1 or h2c) goes to the next backend over h2c, streamed
// both ways, so Watch and other gRPC streams work through it. A backend
// that refuses a connection is skipped for the next few seconds (the
// refused request gets 502). Not for production: no TLS, no active health
// checks.
//
// Every call, photo chunks included, goes to the next node: on a shared
// database a node keeps each acknowledged chunk in the database too, so
// an upload continues on whichever node its next chunk reaches
// (docs/operations.md, "What a node keeps on disk").
package clusterproxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// DownFor is how long a backend that refused a connection is skipped.
const DownFor = 5 * time.Second

// New returns the proxy's handler over backends (base URLs such as
// http://127.0.0.1:8081); logger receives a line per failed request (nil:
// the standard logger).
func New(backends []string, logger *log.Logger) (http.Handler, error) {
	if len(backends) == 0 {
		return nil, errors.New("name at least one backend URL")
	}
	var targets []*url.URL
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("backend %q is not a URL", b)
		}
		targets = append(targets, u)
	}
	if logger == nil {
		logger = log.Default()
	}
	b := &balancer{targets: targets, downUntil: make([]atomic.Int64, len(targets)), log: logger}
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	return &httputil.ReverseProxy{
		Rewrite:       b.rewrite,
		ErrorHandler:  b.failed,
		Transport:     &http.Transport{Protocols: &h2c, ForceAttemptHTTP2: true, IdleConnTimeout: time.Minute},
		FlushInterval: -1, // stream every write: Watch, server streams
		ErrorLog:      logger,
	}, nil
}

// Server returns an HTTP server for h on addr speaking HTTP/1.1 and h2c.
func Server(addr string, h http.Handler) *http.Server {
	var both http.Protocols
	both.SetHTTP1(true)
	both.SetUnencryptedHTTP2(true)
	return &http.Server{Addr: addr, Handler: h, Protocols: &both, ReadHeaderTimeout: 10 * time.Second}
}

// balancer picks backends round-robin, skipping those recently refusing.
type balancer struct {
	targets   []*url.URL
	next      atomic.Uint64
	downUntil []atomic.Int64 // unix nanoseconds
	log       *log.Logger
}

type backendKey struct{}

func (b *balancer) rewrite(r *httputil.ProxyRequest) {
	i := b.pickFrom(int(b.next.Add(1) % uint64(len(b.targets))))
	r.Out = r.Out.WithContext(context.WithValue(r.Out.Context(), backendKey{}, i))
	r.SetURL(b.targets[i])
	r.SetXForwarded()
}

// pickFrom returns the first backend from first on not marked down, or
// first when all are.
func (b *balancer) pickFrom(first int) int {
	now := time.Now().UnixNano()
	for k := range b.targets {
		i := (first + k) % len(b.targets)
		if b.downUntil[i].Load() < now {
			return i
		}
	}
	return first
}

// failed marks a backend that refused the connection down, and answers 502.
func (b *balancer) failed(w http.ResponseWriter, r *http.Request, err error) {
	var op *net.OpError
	if i, ok := r.Context().Value(backendKey{}).(int); ok && errors.As(err, &op) && op.Op == "dial" {
		b.downUntil[i].Store(time.Now().Add(DownFor).UnixNano())
	}
	b.log.Printf("clusterproxy: %s %s: %v", r.Method, r.URL, err)
	w.WriteHeader(http.StatusBadGateway)
}
