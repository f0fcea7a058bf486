package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// tokenAuth knows one device per token ("dev-a", "dev-b").
type tokenAuth struct{}

func (tokenAuth) Authenticate(_ context.Context, token string) (*syncengine.Principal, error) {
	if !strings.HasPrefix(token, "dev-") {
		return nil, syncengine.Errorf(syncengine.CodeUnauthenticated, "unknown token")
	}
	return &syncengine.Principal{TenantID: "t", UserID: "u-" + token, DeviceID: token}, nil
}

// TestCallsInProgressArePerPrincipal: with a cap of one call in progress,
// a second call of the same device is refused with ResourceExhausted and a
// retry hint while the first is held in its handler; another device is not
// held up; once the first call ends, the device may call again.
func TestCallsInProgressArePerPrincipal(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Hold") != "" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	a := &authInterceptor{auth: tokenAuth{}, inFlight: newInFlight(Limits{InFlight: 1})}
	srv := httptest.NewServer(authFirst(a, h))
	t.Cleanup(srv.Close)
	call := func(token string, hold bool) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+fieldsyncv1connect.IdentityServiceWhoAmIProcedure, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Authorization", "Bearer "+token)
		if hold {
			req.Header.Set("Hold", "1")
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	done := make(chan *http.Response, 1)
	go func() { done <- call("dev-a", true) }()
	<-entered
	res := call("dev-a", false)
	if code, _ := connect.CodeOf(errFromHTTP(res)), 0; code != connect.CodeResourceExhausted || res.Header.Get("Retry-After") == "" {
		t.Errorf("second call of the held device: HTTP %d, code %v, Retry-After %q; want resource_exhausted with a retry hint", res.StatusCode, code, res.Header.Get("Retry-After"))
	}
	if res := call("dev-b", false); res.StatusCode != http.StatusOK {
		t.Errorf("another device while dev-a is held: HTTP %d, want 200", res.StatusCode)
	}
	close(release)
	if res := <-done; res.StatusCode != http.StatusOK {
		t.Fatalf("held call: HTTP %d", res.StatusCode)
	}
	if res := call("dev-a", false); res.StatusCode != http.StatusOK {
		t.Errorf("after the held call ended: HTTP %d, want 200", res.StatusCode)
	}
}

// errFromHTTP maps a Connect unary error response's HTTP status to its code
// (429 is resource_exhausted in the Connect protocol).
func errFromHTTP(res *http.Response) error {
	if res.StatusCode == http.StatusTooManyRequests {
		return connect.NewError(connect.CodeResourceExhausted, errors.New(res.Status))
	}
	if res.StatusCode != http.StatusOK {
		return connect.NewError(connect.CodeUnknown, errors.New(res.Status))
	}
	return nil
}
