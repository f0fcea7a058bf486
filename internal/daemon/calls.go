package daemon

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// calls keeps the HTTP requests being served, so that a shutdown whose
// grace period runs out can name what held it up, and the connections that
// have not sent a request yet, so that a shutdown can close them at once.
type calls struct {
	mu    sync.Mutex
	next  uint64
	live  map[uint64]call
	fresh map[net.Conn]struct{} // in http.StateNew: no request read yet
	// closed is set by closeNew: a connection the listener accepted just
	// before it closed may report StateNew after closeNew ran; it is
	// closed at once instead of being kept.
	closed bool
}

type call struct {
	method, path string
	start        time.Time
}

// wrap serves h, keeping each request in c while its handler runs.
func (c *calls) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.live == nil {
			c.live = make(map[uint64]call)
		}
		c.next++
		id := c.next
		c.live[id] = call{method: r.Method, path: r.URL.Path, start: time.Now()}
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.live, id)
			c.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// running describes the requests whose handlers have not returned, oldest
// first: "POST /fieldsync.v1.SyncService/Ack for 6.1s, …", or "none" when
// every handler returned (a connection, not a handler, held the shutdown).
func (c *calls) running() string {
	c.mu.Lock()
	live := make([]call, 0, len(c.live))
	for _, k := range c.live {
		live = append(live, k)
	}
	c.mu.Unlock()
	if len(live) == 0 {
		return "none"
	}
	slices.SortFunc(live, func(a, b call) int { return a.start.Compare(b.start) })
	parts := make([]string, len(live))
	for i, k := range live {
		parts[i] = fmt.Sprintf("%s %s for %s", k.method, k.path, time.Since(k.start).Round(time.Millisecond))
	}
	return strings.Join(parts, ", ")
}

// connState is the server's ConnState hook: it keeps the connections in
// http.StateNew, and closes a new one once closeNew ran.
func (c *calls) connState(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if state == http.StateNew {
		if c.closed {
			conn.Close() // its serving goroutine then sees it closed (StateClosed)
			return
		}
		if c.fresh == nil {
			c.fresh = make(map[net.Conn]struct{})
		}
		c.fresh[conn] = struct{}{}
		return
	}
	delete(c.fresh, conn)
}

// closeNew closes the connections that have not sent a request. Shutdown
// counts such a connection as busy for its first 5 seconds (a request may
// be on its way), which is as long as Close's grace: a client that opened
// one and never used it (Go's transport keeps a dial that finished after
// its request went elsewhere or was cancelled) held every shutdown to the
// full grace period and then failed it. Call once the listener is closed;
// a connection it accepted before, whose StateNew comes after this call,
// is closed by connState.
func (c *calls) closeNew() {
	c.mu.Lock()
	fresh := c.fresh
	c.fresh, c.closed = nil, true
	c.mu.Unlock()
	for conn := range fresh {
		conn.Close()
	}
}
