package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestEveryCallAnswersUnavailableWhilePostgresIsDown: with PostgreSQL
// stopped, a daemon answers Push, Pull, Watch, CreateUpload, an admin call
// and an operator call with Unavailable (never Unknown or Internal) and a
// message that names neither the database's address nor its driver; once
// PostgreSQL is back, the same calls succeed on the same daemon.
func TestEveryCallAnswersUnavailableWhilePostgresIsDown(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	url, err := pg.CreateDB(ctx, "fieldsync")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Demo, cfg.Database = true, url
	d := startDaemon(t, cfg)
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := os.ReadFile(filepath.Join(cfg.DataDir, OperatorTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := creds.User("rep")
	calls := downCalls(d, rep.DeviceToken, creds.AdminToken, strings.TrimSpace(string(op)))
	seq := uint64(0)
	for name, call := range calls {
		if err := call(ctx, &seq); err != nil {
			t.Fatalf("%s with PostgreSQL up: %v", name, err)
		}
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	for range 2 { // the first call finds the pool's dead connections, the second none
		for name, call := range calls {
			err := call(ctx, &seq)
			if connect.CodeOf(err) != connect.CodeUnavailable {
				t.Fatalf("%s with PostgreSQL down: %v, want Unavailable", name, err)
			}
			for _, leak := range []string{"127.0.0.1", port, "postgres", "SQLSTATE", "dial", "connect:"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("%s with PostgreSQL down: %q shows %q", name, err, leak)
				}
			}
		}
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		if err := call(ctx, &seq); err != nil {
			t.Errorf("%s with PostgreSQL back: %v", name, err)
		}
	}
}

// downCalls are one call of each kind a client makes, by name; each
// returns the call's error. seq numbers the rep's pushes.
func downCalls(d *Daemon, repToken, adminToken, operatorToken string) map[string]func(context.Context, *uint64) error {
	rep := connect.WithInterceptors(fieldsync.BearerAuth(repToken))
	syncc := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), rep)
	media := fieldsyncv1connect.NewMediaServiceClient(http.DefaultClient, d.URL(), rep)
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, d.URL(), connect.WithInterceptors(fieldsync.BearerAuth(adminToken)))
	system := systemClient(d, operatorToken)
	photo := photostest.JPEG(8<<10, 3)
	return map[string]func(context.Context, *uint64) error{
		"Push": func(ctx context.Context, seq *uint64) error {
			err := tryPushVisit(ctx, syncc, *seq+1)
			if err == nil {
				*seq++
			}
			return err
		},
		"Pull": func(ctx context.Context, _ *uint64) error {
			_, err := syncc.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Limit: 10}))
			return err
		},
		"Watch": func(ctx context.Context, _ *uint64) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			pulled, err := syncc.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Limit: 1}))
			cursor := ""
			if err == nil {
				cursor = pulled.Msg.GetNextCursor()
			}
			s, err := syncc.Watch(ctx, connect.NewRequest(&fieldsyncv1.WatchRequest{Cursor: cursor}))
			if err != nil {
				return err
			}
			defer s.Close()
			if s.Receive() {
				return nil
			}
			if s.Err() == nil {
				return errors.New("watch ended without a message or an error")
			}
			return s.Err()
		},
		"CreateUpload": func(ctx context.Context, _ *uint64) error {
			_, err := media.CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
				Sha256: photostest.Key(photo), SizeBytes: int64(len(photo)), ContentType: "image/jpeg",
			}))
			return err
		},
		"GetOrganization": func(ctx context.Context, _ *uint64) error {
			_, err := admin.GetOrganization(ctx, connect.NewRequest(&fieldsyncv1.GetOrganizationRequest{}))
			return err
		},
		"ListTenants": func(ctx context.Context, _ *uint64) error {
			_, err := system.ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{}))
			return err
		},
	}
}

// tryPushVisit pushes a visit as mutation seq and returns the call's
// error, or an error naming an outcome other than applied.
func tryPushVisit(ctx context.Context, c fieldsyncv1connect.SyncServiceClient, seq uint64) error {
	v, _ := anypb.New(&fieldsyncv1.Visit{Notes: "while the database restarts", Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE})
	res, err := c.Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: seq, RecordType: "fieldsync.v1.Visit", RecordId: ids.New(), Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "kind"}}, Hlc: seq << 16,
	}}}))
	if err != nil {
		return err
	}
	if got := res.Msg.Results[0].Outcome; got != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		return fmt.Errorf("push %d: %v", seq, res.Msg.Results[0])
	}
	return nil
}

// TestTheGoSDKSyncsOnceTheDatabaseIsBack: a device syncing with the Go
// SDK while PostgreSQL is down is answered Unavailable, keeps retrying,
// and its Sync succeeds — the change stored once — when PostgreSQL is back.
func TestTheGoSDKSyncsOnceTheDatabaseIsBack(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	url, err := pg.CreateDB(ctx, "fieldsync")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Demo, cfg.Database = true, url
	d := startDaemon(t, cfg)
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := creds.User("rep")
	seen := &unavailableSeen{next: http.DefaultTransport, ch: make(chan struct{})}
	c, err := fieldsync.Open(ctx, filepath.Join(t.TempDir(), "device.db"),
		fieldsync.WithServer(d.URL()), fieldsync.WithToken(rep.DeviceToken),
		fieldsync.WithHTTPClient(&http.Client{Transport: seen}),
		fieldsync.WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		fieldsync.WithUnreachableAfter(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := ids.New()
	if err := c.Put(ctx, id, &fieldsyncv1.Visit{Notes: "written while the database is down", Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE}); err != nil {
		t.Fatal(err)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	synced := make(chan error, 1)
	go func() { synced <- c.Sync(ctx) }()
	select {
	case <-seen.ch:
	case err := <-synced:
		t.Fatalf("sync with PostgreSQL down ended before an Unavailable: %v", err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if err := <-synced; err != nil {
		t.Fatalf("sync once PostgreSQL is back: %v", err)
	}
	got, err := d.Store().GetRecords(ctx, creds.TenantID, []string{id})
	if err != nil || got[id] == nil || got[id].Version == 0 {
		t.Fatalf("the visit on the server: %v, %v", got[id], err)
	}
}

// unavailableSeen is a transport that closes ch at the first answer
// with HTTP status 503 (Connect's Unavailable).
type unavailableSeen struct {
	next http.RoundTripper
	ch   chan struct{}
	once sync.Once
}

func (u *unavailableSeen) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := u.next.RoundTrip(r)
	if err == nil && res.StatusCode == http.StatusServiceUnavailable {
		u.once.Do(func() { close(u.ch) })
	}
	return res, err
}
