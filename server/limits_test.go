package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

func withLimits(l server.Limits) func(*server.Config) {
	return func(c *server.Config) { c.Limits = &l }
}

// TestWatchStreamsAreCappedInTotal fills the server's Watch cap from
// different devices: the next one is refused with ResourceExhausted.
func TestWatchStreamsAreCappedInTotal(t *testing.T) {
	e := newEdgeServer(t, time.Hour, true, withLimits(server.Limits{WatchTotal: 2}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := e.watch(ctx, e.token("rep")), e.watch(ctx, e.token("store_manager"))
	req := connect.NewRequest(&fieldsyncv1.WatchRequest{})
	req.Header().Set("Authorization", "Bearer "+e.creds.AdminToken)
	s, err := e.sync().Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if s.Receive() || connect.CodeOf(s.Err()) != connect.CodeResourceExhausted {
		t.Fatalf("third stream: %v, want ResourceExhausted", s.Err())
	}
	a.Close() // frees a place
	for i := 0; ; i++ {
		req := connect.NewRequest(&fieldsyncv1.WatchRequest{})
		req.Header().Set("Authorization", "Bearer "+e.creds.AdminToken)
		s, _ := e.sync().Watch(ctx, req)
		if s.Receive() {
			s.Close()
			break
		}
		if connect.CodeOf(s.Err()) != connect.CodeResourceExhausted || i == 1000 {
			t.Fatalf("after a close: %v", s.Err())
		}
		time.Sleep(time.Millisecond) // the server notices the close
	}
	b.Close()
}

// TestRateLimitIsPerPrincipalWithARetryHint spends a device's burst: the
// next call fails with ResourceExhausted, a Retry-After header and a
// RetryInfo detail, while another device is unaffected. Unauthenticated
// calls are limited per client IP.
func TestRateLimitIsPerPrincipalWithARetryHint(t *testing.T) {
	const burst = 5
	e := newEdgeServer(t, 0, true, withLimits(server.Limits{Rate: 0.01, Burst: burst}))
	whoami := func(token string) error {
		c := fieldsyncv1connect.NewIdentityServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(token)))
		_, err := c.WhoAmI(context.Background(), connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
		return err
	}
	rep := e.token("rep")
	for i := range burst {
		if err := whoami(rep); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := whoami(rep)
	var ce *connect.Error
	if !connect.IsWireError(err) || connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("call past the burst: %v, want ResourceExhausted", err)
	}
	if errors.As(err, &ce); ce.Meta().Get("Retry-After") == "" {
		t.Errorf("no Retry-After header: %v", ce.Meta())
	} else if secs, _ := strconv.Atoi(ce.Meta().Get("Retry-After")); secs < 1 {
		t.Errorf("Retry-After %q", ce.Meta().Get("Retry-After"))
	}
	if !hasRetryInfo(ce) {
		t.Errorf("no RetryInfo detail")
	}
	if err := whoami(e.token("store_manager")); err != nil {
		t.Errorf("another device: %v", err)
	}
	var anon error
	for range burst + 1 {
		anon = whoami("fsd_not-a-token")
	}
	if connect.CodeOf(anon) != connect.CodeResourceExhausted {
		t.Errorf("unauthenticated calls past the burst: %v", anon)
	}
}

func hasRetryInfo(ce *connect.Error) bool {
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ri, ok := v.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
				return true
			}
		}
	}
	return false
}

// TestTricklingBodyIsCut sends a request body one byte at a time over
// HTTP/1.1: the server answers (or hangs up) before the body is complete.
func TestTricklingBodyIsCut(t *testing.T) {
	e := newEdgeServer(t, 0, false, withLimits(server.Limits{BodyReadTimeout: 200 * time.Millisecond}))
	u, _ := url.Parse(e.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 10000
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/proto\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		fieldsyncv1connect.IdentityServiceWhoAmIProcedure, u.Host, e.token("rep"), size)
	sent := make(chan int, 1)
	stop := make(chan struct{})
	go func() {
		n := 0
		defer func() { sent <- n }()
		for ; n < size; n++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	n := <-sent
	if n >= size {
		t.Fatalf("the whole trickled body was read")
	}
	if err == nil && res.StatusCode == http.StatusOK {
		t.Fatalf("trickled request succeeded")
	}
}

// TestWatchOutlivesTheBodyDeadline keeps a Watch over HTTP/1.1 open for
// many heartbeats past the body deadline: the deadline covers the request
// body only.
func TestWatchOutlivesTheBodyDeadline(t *testing.T) {
	const heartbeat, deadline = 20 * time.Millisecond, 50 * time.Millisecond
	e := newEdgeServer(t, heartbeat, false, withLimits(server.Limits{BodyReadTimeout: deadline}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := e.watch(ctx, e.token("rep"))
	defer s.Close()
	for i := range 3 * int(deadline/heartbeat) {
		if !s.Receive() {
			t.Fatalf("stream ended after %d heartbeats: %v", i, s.Err())
		}
	}
}
