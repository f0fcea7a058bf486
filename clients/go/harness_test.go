package fieldsync

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// tb is what the harness needs of a test: *testing.T, *testing.B and
// *rapid.T all have it.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// env is a running fieldsyncd with the demo organisation, on a loopback
// port and a temp data dir (as e2e/harness_test.go starts it).
type env struct {
	t       tb
	d       *daemon.Daemon
	creds   *demo.Credentials
	dir     string
	devices atomic.Int64
}

func start(t testing.TB) *env { return startIn(t, t.TempDir()) }

// startIn starts the daemon with its data under dir; device files go there too.
func startIn(t tb, dir string) *env { return startWith(t, dir, func(*daemon.Config) {}) }

// startWith is startIn with the daemon's configuration changed by set.
func startWith(t tb, dir string, set func(*daemon.Config)) *env {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "" // daemons run side by side
	cfg.DataDir = dir
	cfg.Demo = true
	cfg.LogLevel = "error"
	set(&cfg)
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	e := &env{t: t, d: d, dir: dir}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close daemon: %v", err)
		}
	})
	if e.creds, err = demo.Load(filepath.Join(dir, "demo-credentials.json")); err != nil {
		t.Fatalf("demo credentials: %v", err)
	}
	return e
}

// user returns the demo user at index i of the users with a role.
func (e *env) user(role string, i int) demo.UserCreds {
	e.t.Helper()
	for _, u := range e.creds.Users {
		if u.Role != role {
			continue
		}
		if i == 0 {
			return u
		}
		i--
	}
	e.t.Fatalf("no demo user %d with role %s", i, role)
	return demo.UserCreds{}
}

func (e *env) token(role string) string { return e.user(role, 0).DeviceToken }

// device opens a client with its own temp file, talking to the server with
// a token, with short backoff.
func (e *env) device(token string, opts ...Option) *Client {
	e.t.Helper()
	return openDevice(e.t, e.devicePath(), append([]Option{
		WithServer(e.d.URL()), WithToken(token), WithBackoff(time.Millisecond, 20*time.Millisecond),
	}, opts...)...)
}

// devicePath names a new device file.
func (e *env) devicePath() string {
	return filepath.Join(e.dir, fmt.Sprintf("device-%d.db", e.devices.Add(1)))
}

func openDevice(t tb, path string, opts ...Option) *Client {
	t.Helper()
	c, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("open device: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// syncClient is a raw SyncService client for a token.
func (e *env) syncClient(token string) fieldsyncv1connect.SyncServiceClient {
	return fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, e.d.URL(), connect.WithInterceptors(authInterceptor(token)))
}

// enroll registers one more device for a demo user (admin API) and returns
// its token and id.
func (e *env) enroll(userID, name string) (token, deviceID string) {
	e.t.Helper()
	ctx := context.Background()
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, e.d.URL(), connect.WithInterceptors(authInterceptor(e.creds.AdminToken)))
	code, err := admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: userID, Ttl: durationpb.New(time.Hour)}))
	if err != nil {
		e.t.Fatalf("issue enrollment code: %v", err)
		return "", ""
	}
	id := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, e.d.URL())
	res, err := id.Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{EnrollmentCode: code.Msg.GetEnrollmentCode(), DeviceName: name, Platform: "test"}))
	if err != nil {
		e.t.Fatalf("enroll: %v", err)
		return "", ""
	}
	return res.Msg.GetDeviceToken(), res.Msg.GetDeviceId()
}

// serverConflicts returns the whole conflict log, read as admin.
func (e *env) serverConflicts(recordID string) []*fieldsyncv1.Conflict {
	e.t.Helper()
	sc := e.syncClient(e.creds.AdminToken)
	var out []*fieldsyncv1.Conflict
	for after := uint64(0); ; {
		res, err := sc.ListConflicts(context.Background(), connect.NewRequest(&fieldsyncv1.ListConflictsRequest{RecordId: recordID, AfterId: after, Limit: 1000}))
		if err != nil {
			e.t.Fatalf("list conflicts: %v", err)
			return nil
		}
		out = append(out, res.Msg.GetConflicts()...)
		if len(res.Msg.GetConflicts()) < 1000 {
			return out
		}
		after = out[len(out)-1].GetId()
	}
}

// mustSync fails the test unless Sync succeeds.
func mustSync(t tb, c *Client) {
	t.Helper()
	if err := c.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func mustPut(t tb, c *Client, id string, v proto.Message, fields ...string) {
	t.Helper()
	if err := c.Put(context.Background(), id, v, fields...); err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
}

// visit reads a visit's local view.
func visit(t tb, c *Client, id string) (*fieldsyncv1.Visit, bool) {
	t.Helper()
	v := &fieldsyncv1.Visit{}
	found, err := c.Get(context.Background(), visitType, id, v)
	if err != nil {
		t.Fatalf("get visit %s: %v", id, err)
	}
	return v, found
}

const (
	visitType    = "fieldsync.v1.Visit"
	customerType = "fieldsync.v1.Customer"
	opLogType    = "fieldsync.v1.DeviceOperationLog"
)

// records lists a device's records of a type by id, leaving out the
// records the demo organisation seeds (ids "demo-…").
func records(t tb, c *Client, typ string) map[string]Record {
	t.Helper()
	recs, err := c.List(context.Background(), typ)
	if err != nil {
		t.Fatalf("list %s: %v", typ, err)
	}
	out := map[string]Record{}
	for _, r := range recs {
		if !strings.HasPrefix(r.ID, "demo-") {
			out[r.ID] = r
		}
	}
	return out
}
