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

// hasNew reports whether a connection is in http.StateNew (tests).
func (c *calls) hasNew() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fresh) > 0
}
