package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// migDevice is a demo device as the migration test drives it: its token,
// the next push seq, and the records it holds after its pulls.
type migDevice struct {
	token  string
	seq    uint64
	cursor string
	held   map[string]*fieldsyncv1.Record
}

var migHLC atomic.Uint64

func nextHLC() uint64 {
	now := uint64(time.Now().UnixMilli()) << 16
	for {
		old := migHLC.Load()
		next := max(now, old+1)
		if migHLC.CompareAndSwap(old, next) {
			return next
		}
	}
}

func (d *migDevice) sync(url string) fieldsyncv1connect.SyncServiceClient {
	return fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearerInterceptor(d.token)))
}

// push sends one mutation with the device's next seq and wants it applied.
func (d *migDevice) push(t *testing.T, url string, m *fieldsyncv1.Mutation) {
	t.Helper()
	d.seq++
	m.Seq, m.Hlc = d.seq, nextHLC()
	res, err := d.sync(url).Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{m}}))
	if err != nil {
		t.Fatalf("push %s: %v", m.RecordId, err)
	}
	if o := res.Msg.Results[0].Outcome; o != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED && o != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_MERGED {
		t.Fatalf("push %s: %v", m.RecordId, res.Msg.Results[0])
	}
}

// pull pulls every page from the device's cursor, applies them to what it
// holds and returns the records that came, by id.
func (d *migDevice) pull(t *testing.T, url string) map[string]*fieldsyncv1.Record {
	t.Helper()
	got := map[string]*fieldsyncv1.Record{}
	for {
		res, err := d.sync(url).Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: d.cursor}))
		if err != nil {
			t.Fatalf("pull from %q: %v", d.cursor, err)
		}
		for _, r := range res.Msg.Records {
			got[r.Id] = r
			if r.Removed != fieldsyncv1.RemovalReason_REMOVAL_REASON_UNSPECIFIED {
				delete(d.held, r.Id)
			} else {
				d.held[r.Id] = r
			}
		}
		if d.cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return got
		}
	}
}

func submittedVisit(t *testing.T, notes string) *fieldsyncv1.Mutation {
	t.Helper()
	v, err := anypb.New(&fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, CustomerId: "demo-ruijin",
		VisitTime: timestamppb.Now(), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, Notes: notes})
	if err != nil {
		t.Fatal(err)
	}
	return &fieldsyncv1.Mutation{RecordType: "fieldsync.v1.Visit", RecordId: ids.New(), Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"status", "customer_id", "visit_time", "kind", "notes"}}}
}

func draftVisit(t *testing.T, notes string) *fieldsyncv1.Mutation {
	t.Helper()
	v, err := anypb.New(&fieldsyncv1.Visit{Notes: notes})
	if err != nil {
		t.Fatal(err)
	}
	return &fieldsyncv1.Mutation{RecordType: "fieldsync.v1.Visit", RecordId: ids.New(), Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}}
}

func bearerInterceptor(token string) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	})
}

// listAllRecords lists every record of a type with an API key.
func listAllRecords(t *testing.T, url, key, recordType string) []*fieldsyncv1.ListedRecord {
	t.Helper()
	q := fieldsyncv1connect.NewQueryServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearerInterceptor(key)))
	var out []*fieldsyncv1.ListedRecord
	req := &fieldsyncv1.ListRecordsRequest{RecordType: recordType}
	for {
		res, err := q.ListRecords(context.Background(), connect.NewRequest(req))
		if err != nil {
			t.Fatalf("list %s: %v", recordType, err)
		}
		out = append(out, res.Msg.Records...)
		if !res.Msg.HasMore {
			return out
		}
		req = &fieldsyncv1.ListRecordsRequest{RecordType: recordType, PageToken: res.Msg.NextPageToken}
	}
}

// waitForConsumers waits until the relay has published every event, the
// insights consumer has applied some and has no effect left to perform,
// and no new event came for two checks in a row: the server has stopped
// writing, so the devices' cursors can be compared with what follows.
func waitForConsumers(t *testing.T, db *sql.DB) {
	t.Helper()
	last, quiet := int64(-1), 0
	for range 600 {
		var unsent, applied, effects int
		var top int64
		if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM outbox_unsent),
			(SELECT COUNT(*) FROM insights_actions WHERE submitted_ms > 0),
			(SELECT COUNT(*) FROM insights_effects WHERE done_at IS NULL),
			(SELECT COALESCE(MAX(seq), 0) FROM outbox)`).Scan(&unsent, &applied, &effects, &top); err != nil {
			t.Fatal(err)
		}
		if unsent == 0 && applied > 0 && effects == 0 && top == last {
			if quiet++; quiet == 2 {
				return
			}
		} else {
			quiet = 0
		}
		last = top
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the consumers did not settle within 60 s")
}

func daemonConfig(dir string) daemon.Config {
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel, cfg.MetricsAddr = "127.0.0.1:0", dir, "warn", ""
	return cfg
}

// TestMigrateStoreMovesADaemonToPostgresWithoutItsDevicesNoticing fills a
// SQLite daemon through the API (pushes from two reps, a delete, a photo,
// insights), runs `fieldsync migrate-store`, starts the daemon on the
// PostgreSQL copy and checks that each device goes on from its old cursor
// and gets exactly the changes made since, that an API key lists the same
// records, and that tokens and push seqs carry over.
func TestMigrateStoreMovesADaemonToPostgresWithoutItsDevicesNoticing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := daemonConfig(dir)
	cfg.Demo = true
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	creds, err := demo.Load(filepath.Join(dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var reps []*migDevice
	for _, u := range creds.Users {
		if u.Role == "rep" {
			reps = append(reps, &migDevice{token: u.DeviceToken, held: map[string]*fieldsyncv1.Record{}})
		}
	}
	if len(reps) < 2 {
		t.Fatal("the demo has fewer than two reps")
	}
	url := d.URL()
	drafts := make([][]string, len(reps)) // two drafts per rep
	for i, r := range reps {
		for j := range 3 {
			r.push(t, url, submittedVisit(t, fmt.Sprintf("rep %d visit %d", i, j)))
		}
		for range 2 {
			m := draftVisit(t, fmt.Sprintf("rep %d draft", i))
			r.push(t, url, m)
			drafts[i] = append(drafts[i], m.RecordId)
		}
		r.push(t, url, &fieldsyncv1.Mutation{RecordType: "fieldsync.v1.Visit", RecordId: drafts[i][0], Delete: true})
	}
	// A surgery support with three photos, uploaded after it: the last
	// upload completes it (photos_complete), so no sweep is left to do.
	var refs []*fieldsyncv1.PhotoRef
	var photoData [][]byte
	for seed := range uint64(3) {
		photo := photostest.JPEG(2000, seed)
		photoData = append(photoData, photo)
		refs = append(refs, &fieldsyncv1.PhotoRef{Sha256: photostest.Key(photo), SizeBytes: int64(len(photo)), ContentType: "image/jpeg"})
	}
	ss, err := anypb.New(&fieldsyncv1.SurgerySupport{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, HospitalId: "demo-ruijin",
		SurgeryTime: timestamppb.Now(), ConsumableModels: []string{"stent-x"}, PreOpPhoto: refs[0], IntraOpPhoto: refs[1], PostOpCountPhoto: refs[2]})
	if err != nil {
		t.Fatal(err)
	}
	reps[0].push(t, url, &fieldsyncv1.Mutation{RecordType: "fieldsync.v1.SurgerySupport", RecordId: ids.New(), Value: ss,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"status", "hospital_id", "surgery_time", "consumable_models",
			"pre_op_photo", "intra_op_photo", "post_op_count_photo"}}})
	for _, photo := range photoData {
		uploadTestPhoto(t, url, reps[0].token, photo)
	}
	waitForConsumers(t, d.Store().(*sqlite.DB).Reader())
	for _, r := range reps {
		r.pull(t, url)
	}
	phiBefore := exportPhi(t, url, creds.IntegratorKey, creds.RegionID)
	if len(phiBefore.Days) == 0 {
		t.Fatal("the insights consumer computed no PHI day before the move")
	}
	customersBefore := listAllRecords(t, url, creds.IntegratorKey, "fieldsync.v1.Customer")
	visitsBefore := listAllRecords(t, url, creds.IntegratorKey, "fieldsync.v1.Visit")

	target := pgtest.DB(t)
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"migrate-store", "--data-dir", dir, "--to", target}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "fieldsyncd is running on this data dir") {
		t.Fatalf("migrate-store beside a running daemon: exit %d\n%s", code, stderr.String())
	}
	d.Close()
	stdout.Reset()
	stderr.Reset()
	if code := run(ctx, []string{"migrate-store", "--data-dir", dir, "--to", target}, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate-store: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `"verified": true`) || !strings.Contains(stderr.String(), "records: ") {
		t.Fatalf("migrate-store printed\n%s\n%s", stdout.String(), stderr.String())
	}
	if code := run(ctx, []string{"migrate-store", "--data-dir", dir, "--to", target}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "--replace") {
		t.Fatalf("a second migrate-store into the filled target: exit %d\n%s", code, stderr.String())
	}

	cfg = daemonConfig(dir)
	cfg.Database = target
	d, err = daemon.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Store().(*sqlite.DB); ok {
		t.Fatal("the daemon still runs on SQLite")
	}
	url = d.URL()

	// Right after the move: every cursor is valid and nothing is new.
	for i, r := range reps {
		if got := r.pull(t, url); len(got) != 0 {
			t.Fatalf("rep %d's first pull on PostgreSQL brought %d records, want none: %v", i, len(got), got)
		}
	}
	if got := exportPhi(t, url, creds.IntegratorKey, creds.RegionID); !proto.Equal(got, phiBefore) {
		t.Errorf("the region's PHI on PostgreSQL differs from SQLite's:\n%v\n%v", got, phiBefore)
	}
	// A replayed push gets its first answer; the next seq follows on.
	replay := submittedVisit(t, "replayed")
	replay.Seq, replay.Hlc = reps[1].seq, nextHLC()
	res, err := reps[1].sync(url).Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{replay}}))
	if err != nil || len(res.Msg.Results) != 1 || res.Msg.Results[0].RecordId == replay.RecordId {
		t.Fatalf("a replayed seq on PostgreSQL: %v %v (want the first answer, for another record)", res, err)
	}
	newVisit := submittedVisit(t, "after the move")
	reps[1].push(t, url, newVisit)
	edit, _ := anypb.New(&fieldsyncv1.Visit{Notes: "edited after the move"})
	reps[0].push(t, url, &fieldsyncv1.Mutation{RecordType: "fieldsync.v1.Visit", RecordId: drafts[0][1], Value: edit,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}})
	reps[1].push(t, url, &fieldsyncv1.Mutation{RecordType: "fieldsync.v1.Visit", RecordId: drafts[1][1], Delete: true})

	// Each device gets exactly what changed in its scope (the changed
	// records it held or may now see), and then holds what a device
	// starting from scratch gets.
	changed := []string{drafts[0][1], newVisit.RecordId, drafts[1][1]}
	for i, r := range reps {
		before := maps.Clone(r.held)
		got := slices.Sorted(maps.Keys(r.pull(t, url)))
		fresh := &migDevice{token: r.token, held: map[string]*fieldsyncv1.Record{}}
		fresh.pull(t, url)
		var want []string
		for _, id := range changed {
			if before[id] != nil || fresh.held[id] != nil {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("rep %d's incremental pull brought %v, want %v", i, got, want)
		}
		if !sameRecords(r.held, fresh.held) {
			t.Errorf("rep %d holds %d records after incremental pulls, a full pull gives %d (or they differ)", i, len(r.held), len(fresh.held))
		}
	}
	if got := listAllRecords(t, url, creds.IntegratorKey, "fieldsync.v1.Customer"); !sameListing(got, customersBefore) {
		t.Errorf("the API key lists %d customers on PostgreSQL, %d on SQLite (or they differ)", len(got), len(customersBefore))
	}
	unchanged := func(l []*fieldsyncv1.ListedRecord) []*fieldsyncv1.ListedRecord {
		return slices.DeleteFunc(l, func(r *fieldsyncv1.ListedRecord) bool { return slices.Contains(changed, r.Id) })
	}
	visitsAfter := listAllRecords(t, url, creds.IntegratorKey, "fieldsync.v1.Visit")
	if a, b := unchanged(visitsAfter), unchanged(visitsBefore); len(a) == 0 || !sameListing(a, b) {
		t.Errorf("the visits unchanged since the move: %d listed on PostgreSQL, %d on SQLite (or they differ)", len(a), len(b))
	}
	who := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearerInterceptor(creds.AdminToken)))
	if res, err := who.WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{})); err != nil || res.Msg.TenantId != creds.TenantID {
		t.Fatalf("the admin's token on PostgreSQL: %v %v", res, err)
	}
	d.Close()
}

// exportPhi reads a region's PHI around today with an API key.
func exportPhi(t *testing.T, url, key, regionID string) *fieldsyncv1.ExportPhiResponse {
	t.Helper()
	q := fieldsyncv1connect.NewQueryServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearerInterceptor(key)))
	now := time.Now().UTC()
	res, err := q.ExportPhi(context.Background(), connect.NewRequest(&fieldsyncv1.ExportPhiRequest{
		ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, ScopeId: regionID,
		FromDate: now.AddDate(0, 0, -7).Format(time.DateOnly), ToDate: now.AddDate(0, 0, 2).Format(time.DateOnly)}))
	if err != nil {
		t.Fatalf("export PHI: %v", err)
	}
	return res.Msg
}

// uploadTestPhoto uploads a whole photo as a device.
func uploadTestPhoto(t *testing.T, url, token string, data []byte) {
	t.Helper()
	ctx := context.Background()
	m := fieldsyncv1connect.NewMediaServiceClient(http.DefaultClient, url, connect.WithInterceptors(bearerInterceptor(token)))
	up, err := m.CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
		Sha256: photostest.Key(data), SizeBytes: int64(len(data)), ContentType: "image/jpeg"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{UploadId: up.Msg.Upload.UploadId,
		Data: data, Crc32C: photos.CRC32C(data)})); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CompleteUpload(ctx, connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: up.Msg.Upload.UploadId})); err != nil {
		t.Fatal(err)
	}
}

func sameRecords(a, b map[string]*fieldsyncv1.Record) bool {
	return maps.EqualFunc(a, b, func(x, y *fieldsyncv1.Record) bool { return proto.Equal(x, y) })
}

func sameListing(a, b []*fieldsyncv1.ListedRecord) bool {
	return slices.EqualFunc(a, b, func(x, y *fieldsyncv1.ListedRecord) bool { return proto.Equal(x, y) })
}
