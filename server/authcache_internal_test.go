package server

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// countingAuth accepts "good" tokens, counts lookups and can run a hook
// in the middle of one (as a revocation racing it would).
type countingAuth struct {
	calls  int
	during func()
}

func (a *countingAuth) Authenticate(_ context.Context, token string) (*syncengine.Principal, error) {
	a.calls++
	if a.during != nil {
		a.during()
	}
	if token != "good" {
		return nil, syncengine.Errorf(syncengine.CodeUnauthenticated, "unknown token")
	}
	return &syncengine.Principal{TenantID: "t", DeviceID: "d", Permissions: []string{"x"}}, nil
}

func TestAuthCacheKeepsPrincipalsForItsTTLOnly(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	next := &countingAuth{}
	c := newAuthCache(next, time.Second)
	c.now = func() time.Time { return now }
	for range 3 {
		p, err := c.Authenticate(ctx, "good")
		if err != nil || p.DeviceID != "d" {
			t.Fatalf("%+v, %v", p, err)
		}
		p.Permissions[0] = "changed by a caller"
	}
	if next.calls != 1 {
		t.Fatalf("%d store lookups for three calls within the TTL, want 1", next.calls)
	}
	if p, _ := c.Authenticate(ctx, "good"); p.Permissions[0] != "x" {
		t.Fatalf("a caller changed the cached principal: %v", p.Permissions)
	}
	now = now.Add(time.Second)
	if _, err := c.Authenticate(ctx, "good"); err != nil || next.calls != 2 {
		t.Fatalf("after the TTL: %v, %d lookups, want 2", err, next.calls)
	}
	for range 2 {
		if _, err := c.Authenticate(ctx, "bad"); !syncengine.IsCode(err, syncengine.CodeUnauthenticated) {
			t.Fatalf("bad token: %v", err)
		}
	}
	if next.calls != 4 {
		t.Fatalf("%d lookups: a refusal must not be cached", next.calls)
	}
	c.forget()
	if _, err := c.Authenticate(ctx, "good"); err != nil || next.calls != 5 {
		t.Fatalf("after forget: %v, %d lookups, want 5", err, next.calls)
	}
}

// TestAuthCacheDoesNotKeepALookupARevocationRaced: a lookup that began
// before forget (a revocation through this server) is answered but not
// cached, so the next call asks the store again.
func TestAuthCacheDoesNotKeepALookupARevocationRaced(t *testing.T) {
	ctx := context.Background()
	next := &countingAuth{}
	c := newAuthCache(next, time.Hour)
	next.during = c.forget
	if _, err := c.Authenticate(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	next.during = nil
	if _, err := c.Authenticate(ctx, "good"); err != nil || next.calls != 2 {
		t.Fatalf("%v, %d lookups, want 2: the raced lookup was cached", err, next.calls)
	}
}

func TestAuthCacheOffWithANegativeTTL(t *testing.T) {
	next := &countingAuth{}
	c := newAuthCache(next, -1)
	for range 2 {
		if _, err := c.Authenticate(context.Background(), "good"); err != nil {
			t.Fatal(err)
		}
	}
	if next.calls != 2 {
		t.Fatalf("%d lookups, want 2", next.calls)
	}
}
