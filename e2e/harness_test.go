// Package e2e tests fieldsyncd end to end: the real daemon on a loopback
// port and a temp data dir, called through generated Connect and gRPC clients.
package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// env is a running daemon with the demo organisation.
type env struct {
	t     *testing.T
	d     *daemon.Daemon
	dir   string
	creds *demo.Credentials
}

// start runs fieldsyncd --demo on a random port over dir (a new temp dir when empty).
func start(t *testing.T, dir string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := daemon.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "" // daemons run side by side
	cfg.DataDir = dir
	cfg.Demo = true
	cfg.LogLevel = "warn"
	return startWith(t, cfg)
}

// startWith runs fieldsyncd with a given configuration (Demo on).
func startWith(t *testing.T, cfg daemon.Config) *env {
	t.Helper()
	dir := cfg.DataDir
	if cfg.MetricsAddr == daemon.DefaultConfig().MetricsAddr {
		cfg.MetricsAddr = "" // daemons run side by side: never the fixed default port
	}
	onTestStore(t, &cfg)
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	e := &env{t: t, d: d, dir: dir}
	t.Cleanup(func() { e.stop() })
	if e.creds, err = demo.Load(filepath.Join(dir, "demo-credentials.json")); err != nil {
		t.Fatalf("demo credentials: %v", err)
	}
	return e
}

func (e *env) stop() {
	if e.d != nil {
		if err := e.d.Close(); err != nil {
			e.t.Errorf("close daemon: %v", err)
		}
		e.d = nil
	}
}

// bearer adds an Authorization header to every call and stream.
func bearer(token string) connect.ClientOption {
	return connect.WithInterceptors(fieldsync.BearerAuth(token))
}

// token returns the device token of the first demo user with a role.
func (e *env) token(role string) string {
	e.t.Helper()
	u, ok := e.creds.User(role)
	if !ok {
		e.t.Fatalf("no demo user with role %s", role)
	}
	return u.DeviceToken
}

func (e *env) identity(token string, opts ...connect.ClientOption) fieldsyncv1connect.IdentityServiceClient {
	return fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, e.d.URL(), append(opts, bearer(token))...)
}

func (e *env) admin(token string) fieldsyncv1connect.AdminServiceClient {
	return fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, e.d.URL(), bearer(token))
}

func (e *env) sync(token string) fieldsyncv1connect.SyncServiceClient {
	return fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, e.d.URL(), bearer(token))
}

// wantCode fails the test unless err carries the Connect code.
func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("got %v (%v), want %v", got, err, code)
	}
}

func httpClient() *http.Client { return http.DefaultClient }
