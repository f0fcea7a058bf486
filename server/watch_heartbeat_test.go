package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

// stallingAuth is an Authenticator whose next call, once armed, hangs
// until released (or its context ends); every other call goes through.
type stallingAuth struct {
	server.Authenticator
	mu       sync.Mutex
	armed    bool
	stalled  chan struct{} // closed when the armed call started hanging
	released chan struct{}
}

func (a *stallingAuth) arm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed, a.stalled, a.released = true, make(chan struct{}), make(chan struct{})
}

func (a *stallingAuth) Authenticate(ctx context.Context, token string) (*syncengine.Principal, error) {
	a.mu.Lock()
	stall := a.armed
	a.armed = false
	a.mu.Unlock()
	if stall {
		close(a.stalled)
		select {
		case <-a.released:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return a.Authenticator.Authenticate(ctx, token)
}

// TestAPokeIsNotHeldUpByAHeartbeatsTokenCheck hangs the token check of a
// Watch stream's heartbeat in the store, then pushes a change in the
// stream's scope: the poke reaches the stream while the check still
// hangs. When the check then finds the device revoked, the stream ends
// with Unauthenticated.
func TestAPokeIsNotHeldUpByAHeartbeatsTokenCheck(t *testing.T) {
	auth := &stallingAuth{}
	e := newEdgeServer(t, 10*time.Millisecond, true, func(c *server.Config) {
		auth.Authenticator = c.Auth
		c.Auth = auth
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, _ := e.creds.User("rep")
	s := e.watch(ctx, rep.DeviceToken)
	auth.arm()
	select {
	case <-auth.stalled: // a heartbeat's check hangs
	case <-ctx.Done():
		t.Fatal("no heartbeat checked the token")
	}
	push := fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(rep.DeviceToken)))
	if _, err := push.Push(ctx, connect.NewRequest(visitPush(1, nil))); err != nil {
		t.Fatal(err)
	}
	for s.Msg().GetPoke() == nil {
		if !s.Receive() {
			t.Fatalf("stream ended before the poke: %v", s.Err())
		}
	}
	if _, err := e.db.RevokeDevice(ctx, e.creds.TenantID, rep.DeviceID); err != nil {
		t.Fatal(err)
	}
	close(auth.released)
	for s.Receive() {
	}
	if code := connect.CodeOf(s.Err()); code != connect.CodeUnauthenticated {
		t.Fatalf("stream ended with %v (%v), want Unauthenticated", code, s.Err())
	}
}
