package daemon

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestADaemonOnPostgresKeepsItsStateThere: with --database the daemon
// keeps everything in PostgreSQL (no SQLite file), serves the demo tenant
// from it, and finds its edits there after a restart.
func TestADaemonOnPostgresKeepsItsStateThere(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.Demo, cfg.Database = true, pgtest.DB(t)
	d := startDaemon(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "fieldsync.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a SQLite file exists on PostgreSQL: %v", err)
	}
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	client := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, "http://"+d.Addr())
	req := connect.NewRequest(&fieldsyncv1.WhoAmIRequest{})
	req.Header().Set("Authorization", "Bearer "+creds.AdminToken)
	who, err := client.WhoAmI(ctx, req)
	if err != nil || who.Msg.GetTenantId() != creds.TenantID {
		t.Fatalf("WhoAmI with the demo admin's token: %v %v", who, err)
	}
	edit := &fieldsyncv1.Customer{Address: "moved: 1 New Rd, Shanghai"}
	if changed, err := d.Engine().ServerWrite(ctx, creds.TenantID, "fieldsync.v1.Customer", "demo-ruijin", edit, []string{"address"}); err != nil || !changed {
		t.Fatalf("edit: changed=%v err=%v", changed, err)
	}
	before, err := d.Store().GetRecords(ctx, creds.TenantID, []string{"demo-ruijin"})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	d = startDaemon(t, cfg)
	after, err := d.Store().GetRecords(ctx, creds.TenantID, []string{"demo-ruijin"})
	if err != nil {
		t.Fatal(err)
	}
	if b, a := before["demo-ruijin"], after["demo-ruijin"]; a == nil || a.Version != b.Version {
		t.Fatalf("after a restart on PostgreSQL: version %d before, %+v after", b.Version, a)
	}
}

func TestDatabaseMustBeAPostgresURL(t *testing.T) {
	cfg := testConfig(t)
	cfg.Database = "mysql://db/fieldsync"
	if err := cfg.Validate(); err == nil {
		t.Error("a mysql:// database was accepted")
	}
}
