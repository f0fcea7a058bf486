package server_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// TestRevokingThroughTheServerFailsTheNextCallAtOnce authenticates a
// device and a key (their principals now cached), revokes both through
// AdminService and expects the very next call of each to fail, though the
// cache would keep them for an hour.
func TestRevokingThroughTheServerFailsTheNextCallAtOnce(t *testing.T) {
	e := newEdgeServer(t, time.Hour, false, func(c *server.Config) { c.AuthCacheTTL = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, _ := e.creds.User("rep")
	whoAmI := func(token string) error {
		c := fieldsyncv1connect.NewIdentityServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(token)))
		_, err := c.WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
		return err
	}
	for _, token := range []string{rep.DeviceToken, e.creds.IntegratorKey} {
		for range 2 { // the second from the cache
			if err := whoAmI(token); err != nil {
				t.Fatal(err)
			}
		}
	}
	admin := fieldsyncv1connect.NewAdminServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(e.creds.AdminToken)))
	if _, err := admin.RevokeDevice(ctx, connect.NewRequest(&fieldsyncv1.RevokeDeviceRequest{DeviceId: rep.DeviceID})); err != nil {
		t.Fatal(err)
	}
	if code := connect.CodeOf(whoAmI(rep.DeviceToken)); code != connect.CodeUnauthenticated {
		t.Fatalf("revoked device's next call: %v, want Unauthenticated", code)
	}
	p, err := e.db.Authenticate(ctx, e.creds.IntegratorKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeApiKey(ctx, connect.NewRequest(&fieldsyncv1.RevokeApiKeyRequest{ApiKeyId: p.APIKeyID})); err != nil {
		t.Fatal(err)
	}
	if code := connect.CodeOf(whoAmI(e.creds.IntegratorKey)); code != connect.CodeUnauthenticated {
		t.Fatalf("revoked key's next call: %v, want Unauthenticated", code)
	}
}

// TestARevocationMadeElsewhereEndsTheCachedToken revokes a cached device
// token straight in the store (as another process or node would): its
// calls are refused once the cache entry expires.
func TestARevocationMadeElsewhereEndsTheCachedToken(t *testing.T) {
	e := newEdgeServer(t, time.Hour, false, func(c *server.Config) { c.AuthCacheTTL = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, _ := e.creds.User("rep")
	c := fieldsyncv1connect.NewIdentityServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(rep.DeviceToken)))
	if _, err := c.WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RevokeDevice(ctx, e.creds.TenantID, rep.DeviceID); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the revoked token still works: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
