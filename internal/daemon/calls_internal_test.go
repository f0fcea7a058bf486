package daemon

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCallsNameTheHandlersStillRunning(t *testing.T) {
	var c calls
	entered, release := make(chan struct{}), make(chan struct{})
	h := c.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
	}))
	if got := c.running(); got != "none" {
		t.Fatalf("before any call: %q", got)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/quick", nil))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/slow?secret=1", nil))
	}()
	<-entered
	got := c.running()
	if !strings.HasPrefix(got, "POST /slow for ") || strings.Contains(got, "quick") || strings.Contains(got, "secret") {
		t.Fatalf("while /slow runs: %q, want only POST /slow, without its query", got)
	}
	close(release)
	<-done
	if got := c.running(); got != "none" {
		t.Fatalf("after every call returned: %q", got)
	}
}

// TestCloseDoesNotWaitForAConnectionThatSentNothing checks that a client's
// connection with no request on it (Go's transport keeps dials that
// finished after their request was served elsewhere or cancelled) does not
// hold Close for its grace period: Shutdown counts such a connection as
// busy for 5 s, and Close then failed with "context deadline exceeded".
func TestCloseDoesNotWaitForAConnectionThatSentNothing(t *testing.T) {
	d, err := Start(t.Context(), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", d.Addr())
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	defer conn.Close()
	// Once the server saw it, the connection is in StateNew.
	for !d.calls.hasNew() {
		time.Sleep(time.Millisecond)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The connection was closed, not left to the client.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open after Close")
	}
}

// TestCloseNewClosesAConnectionThatComesNewAfterIt drives by hand the
// race Close had: a connection the listener accepted just before it closed
// reports StateNew only after closeNew ran. It was kept, so Shutdown
// waited out its 5 s grace for it and Close failed with "still running:
// none"; now it is closed at once, as those closeNew found are.
func TestCloseNewClosesAConnectionThatComesNewAfterIt(t *testing.T) {
	t.Parallel()
	var c calls
	early, busy, late := &fakeConn{}, &fakeConn{}, &fakeConn{}
	c.connState(early, http.StateNew)
	c.connState(busy, http.StateNew)
	c.connState(busy, http.StateActive) // a request arrived: not closeNew's
	c.closeNew()
	if !early.closed {
		t.Fatal("a connection new before closeNew is open after it")
	}
	c.connState(late, http.StateNew) // accepted before the listener closed, seen after closeNew
	if !late.closed || c.hasNew() {
		t.Fatalf("a connection new after closeNew: closed %v, kept %v", late.closed, c.hasNew())
	}
	if busy.closed {
		t.Fatal("closeNew closed a connection serving a request")
	}
}

// fakeConn is a connection that only records its Close.
type fakeConn struct {
	net.Conn
	closed bool
}

func (f *fakeConn) Close() error { f.closed = true; return nil }

// hasNew reports whether a connection is in http.StateNew (tests).
func (c *calls) hasNew() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fresh) > 0
}
