package e2e

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestPostgresBackupRestoresIntoAFreshCluster follows docs/operations.md,
// "Backups on PostgreSQL": pg_dump of a daemon's database, pg_restore into
// a new cluster, a daemon on the restored database serves the data of the
// backup; a device whose cursor is ahead of the backup is told to resync,
// and its next push learns which seq the server expects.
func TestPostgresBackupRestoresIntoAFreshCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", "", t.TempDir(), true, "warn"
	cfg.Database = pgtest.DB(t)
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := creds.User("rep")
	dev := &backupDevice{token: rep.DeviceToken}
	kept := []string{dev.push(t, d.URL()), dev.push(t, d.URL())}
	dev.pull(t, d.URL())
	atBackup := dev.cursor
	// The backup is taken of a quiet daemon: the relay and the insights
	// consumer have applied what the pushes started. Otherwise the restored
	// daemon writes their derived records itself, and its latest version
	// may pass the cursor minted after the backup, which is then no longer
	// ahead (the gate's flake: the Pull below was answered).
	idle(t, d)

	dump := filepath.Join(t.TempDir(), "fieldsync.dump")
	if out, err := exec.Command(pgtest.Program(t, "pg_dump"), "--format=custom", "--file="+dump, "--dbname="+cfg.Database).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	lost := dev.push(t, d.URL()) // after the backup: lost by the restore
	idle(t, d)
	dev.pull(t, d.URL())
	ahead := dev.cursor
	d.Close()

	restored, err := pgtest.Start(t).CreateDB(ctx, "fieldsync")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pgtest.Program(t, "pg_restore"), "--no-owner", "--exit-on-error", "--dbname="+restored, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	cfg.Database, cfg.DataDir, cfg.Demo = restored, t.TempDir(), false
	if d, err = daemon.Start(ctx, cfg); err != nil {
		t.Fatalf("a daemon on the restored database: %v", err)
	}

	who, err := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, d.URL(), bearer(creds.AdminToken)).
		WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	if err != nil || who.Msg.TenantId != creds.TenantID {
		t.Fatalf("the admin's token on the restored database: %v %v", who, err)
	}
	fresh := &backupDevice{token: rep.DeviceToken}
	all := fresh.pull(t, d.URL())
	if all[kept[0]] == nil || all[kept[1]] == nil || all[lost] != nil {
		t.Fatalf("the restored database serves %d records: kept %v %v, lost %v", len(all), all[kept[0]] != nil, all[kept[1]] != nil, all[lost] != nil)
	}
	dev.cursor = atBackup
	if got := dev.pull(t, d.URL()); got[lost] != nil {
		t.Fatal("a cursor of the backup's time brought a record written after the backup")
	}

	// The device that pulled after the backup holds a cursor the restored
	// database never minted: ResyncRequired.
	_, err = dev.sync(d.URL()).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: ahead}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition || !hasDetail[*fieldsyncv1.ResyncRequired](ce) {
		t.Fatalf("a cursor ahead of the restored database: %v, want FailedPrecondition with ResyncRequired", err)
	}
	// Its push seqs are ahead too: the server names the seq it expects
	// (the SDK renumbers its outbox from it and sends again).
	_, err = dev.sync(d.URL()).Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{
		dev.visit(t, dev.seq+1)}}))
	if !errors.As(err, &ce) || ce.Code() != connect.CodeAborted || !hasDetail[*fieldsyncv1.SequenceGap](ce) {
		t.Fatalf("a push after seqs the restore lost: %v, want Aborted with SequenceGap", err)
	}
	for _, det := range ce.Details() {
		if v, _ := det.Value(); v != nil {
			if gap, ok := v.(*fieldsyncv1.SequenceGap); ok && gap.ExpectedSeq != 3 {
				t.Errorf("the server expects seq %d, want 3 (the backup had seqs 1 and 2)", gap.ExpectedSeq)
			}
		}
	}
	d.Close()

	// The documented step after restoring to an earlier point: every
	// tenant's versions move past any handed out before, so every cursor
	// is refused (even one of the backup's time) and none is reused.
	conn, err := pgx.Connect(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `UPDATE tenant_versions SET version = version + 1000000000, purged_through = version + 1000000000`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = daemon.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, cursor := range []string{atBackup, ahead} {
		_, err = dev.sync(d.URL()).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor}))
		if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition || !hasDetail[*fieldsyncv1.ResyncRequired](ce) {
			t.Fatalf("after moving the versions, an old cursor: %v, want FailedPrecondition with ResyncRequired", err)
		}
	}
	resynced := &backupDevice{token: rep.DeviceToken, seq: 2}
	if all := resynced.pull(t, d.URL()); all[kept[0]] == nil || all[kept[1]] == nil {
		t.Fatalf("a full pull after moving the versions brought %d records, without the backup's visits", len(all))
	}
	next := resynced.push(t, d.URL())
	if got := resynced.pull(t, d.URL()); len(got) != 1 || got[next] == nil || got[next].Version <= 1000000000 {
		t.Fatalf("after moving the versions, a new write came as %v", got)
	}
	d.Close()
}

// backupDevice is a device driven by raw calls: its next seq and cursor.
type backupDevice struct {
	token  string
	seq    uint64
	cursor string
}

func (b *backupDevice) sync(url string) fieldsyncv1connect.SyncServiceClient {
	return fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, url, bearer(b.token))
}

func (b *backupDevice) visit(t *testing.T, seq uint64) *fieldsyncv1.Mutation {
	return &fieldsyncv1.Mutation{Seq: seq, RecordType: visitType, RecordId: ids.New(),
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: "visit"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}},
		Hlc: uint64(time.Now().UnixMilli()) << 16}
}

// push writes a new draft visit and returns its id.
func (b *backupDevice) push(t *testing.T, url string) string {
	t.Helper()
	b.seq++
	m := b.visit(t, b.seq)
	res, err := b.sync(url).Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{m}}))
	if err != nil || res.Msg.Results[0].Outcome != applied {
		t.Fatalf("push: %v %v", res, err)
	}
	return m.RecordId
}

// pull pulls every page from the cursor and returns the records by id.
func (b *backupDevice) pull(t *testing.T, url string) map[string]*fieldsyncv1.Record {
	t.Helper()
	out := map[string]*fieldsyncv1.Record{}
	for {
		res, err := b.sync(url).Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: b.cursor}))
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, r := range res.Msg.Records {
			out[r.Id] = r
		}
		if b.cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return out
		}
	}
}

// hasDetail reports whether a Connect error carries a detail of type T.
func hasDetail[T any](ce *connect.Error) bool {
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if _, ok := v.(T); ok {
				return true
			}
		}
	}
	return false
}

// idle waits until d's relay and consumers have caught up.
func idle(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.WaitIdle(ctx); err != nil {
		t.Fatalf("wait for the relay and consumers: %v", err)
	}
}
