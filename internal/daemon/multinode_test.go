package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// cluster is PostgreSQL, NATS and versitygw shared by daemons that each
// get a fresh, empty data dir of their own.
type cluster struct {
	t        *testing.T
	database string
	nats     string
	s3       *s3test.Server
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &cluster{t: t, database: pgtest.DB(t), nats: srv.ClientURL(), s3: s3test.Start(t)}
}

// node starts a daemon of the cluster on an empty data dir.
func (c *cluster) node(edit func(*Config)) *Daemon {
	c.t.Helper()
	cfg := testConfig(c.t)
	cfg.Database, cfg.NATSURL = c.database, c.nats
	cfg.S3Endpoint, cfg.S3Bucket, cfg.S3AccessKey, cfg.S3SecretKey = c.s3.Endpoint, "nodes", c.s3.AccessKey, c.s3.SecretKey
	if edit != nil {
		edit(&cfg)
	}
	return startDaemon(c.t, cfg)
}

// device is one enrolled device's clients of each node.
type device struct {
	sync  []fieldsyncv1connect.SyncServiceClient
	media []fieldsyncv1connect.MediaServiceClient
}

func newDevice(token string, nodes ...*Daemon) *device {
	d := &device{}
	auth := connect.WithInterceptors(fieldsync.BearerAuth(token))
	for _, n := range nodes {
		d.sync = append(d.sync, fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, n.URL(), auth))
		d.media = append(d.media, fieldsyncv1connect.NewMediaServiceClient(http.DefaultClient, n.URL(), auth))
	}
	return d
}

func systemClient(d *Daemon, token string) fieldsyncv1connect.SystemServiceClient {
	return fieldsyncv1connect.NewSystemServiceClient(http.DefaultClient, d.URL(), connect.WithInterceptors(fieldsync.BearerAuth(token)))
}

// tenants lists the tenants through a node's SystemService.
func tenants(t *testing.T, d *Daemon, token string) ([]string, error) {
	t.Helper()
	res, err := systemClient(d, token).ListTenants(context.Background(), connect.NewRequest(&fieldsyncv1.ListTenantsRequest{}))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, tn := range res.Msg.GetTenants() {
		names = append(names, tn.GetName())
	}
	return names, nil
}

// pushVisit writes a visit with notes through a node.
func pushVisit(t *testing.T, c fieldsyncv1connect.SyncServiceClient, seq uint64, notes string) string {
	t.Helper()
	v, _ := anypb.New(&fieldsyncv1.Visit{Notes: notes, Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE})
	id := ids.New()
	res, err := c.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: seq, RecordType: "fieldsync.v1.Visit", RecordId: id, Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "kind"}}, Hlc: seq << 16,
	}}}))
	if err != nil {
		t.Fatalf("push %d: %v", seq, err)
	}
	if got := res.Msg.Results[0].Outcome; got != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		t.Fatalf("push %d: %v", seq, res.Msg.Results[0])
	}
	return id
}

// attachPhoto writes a surgery support draft citing the photo through a
// node: a photo is readable where it is attached to a record.
func attachPhoto(t *testing.T, c fieldsyncv1connect.SyncServiceClient, seq uint64, photo []byte) {
	t.Helper()
	ref := &fieldsyncv1.PhotoRef{Sha256: photostest.Key(photo), SizeBytes: int64(len(photo)), ContentType: "image/jpeg"}
	v, _ := anypb.New(&fieldsyncv1.SurgerySupport{HospitalId: "hosp-1", PreOpPhoto: ref})
	res, err := c.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: seq, RecordType: "fieldsync.v1.SurgerySupport", RecordId: ids.New(), Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"hospital_id", "pre_op_photo"}}, Hlc: seq << 16,
	}}}))
	if err != nil || res.Msg.Results[0].Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		t.Fatalf("push surgery support: %v %v", res, err)
	}
}

// pullFrom pulls every page after cursor, each page from the next node in
// turn, and returns the record ids and the last cursor.
func pullFrom(t *testing.T, cursor string, nodes ...fieldsyncv1connect.SyncServiceClient) (map[string]bool, string) {
	t.Helper()
	got := map[string]bool{}
	for i := 0; ; i++ {
		res, err := nodes[i%len(nodes)].Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor, Limit: 2}))
		if err != nil {
			t.Fatalf("pull page %d: %v", i, err)
		}
		for _, r := range res.Msg.GetRecords() {
			got[r.GetId()] = true
		}
		cursor = res.Msg.GetNextCursor()
		if !res.Msg.GetHasMore() {
			return got, cursor
		}
	}
}

// ack acknowledges a cursor through a node, stored at.
func ack(c fieldsyncv1connect.SyncServiceClient, cursor string, at time.Time) (time.Time, error) {
	res, err := c.Ack(context.Background(), connect.NewRequest(&fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.New(at)}))
	if err != nil {
		return time.Time{}, err
	}
	return res.Msg.GetReceiptTime().AsTime(), nil
}

// uploadAlternately sends a photo in chunks of n bytes, creating it on
// the first node and sending each chunk to the next node in turn, and
// completes it on the node after the last chunk's.
func uploadAlternately(t *testing.T, dev *device, data []byte, n int) {
	t.Helper()
	ctx := context.Background()
	created, err := dev.media[0].CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
		Sha256: photostest.Key(data), SizeBytes: int64(len(data)), ContentType: "image/jpeg",
	}))
	if err != nil {
		t.Fatalf("create upload: %v", err)
	}
	id := created.Msg.GetUpload().GetUploadId()
	call := 1
	for off := int64(0); off < int64(len(data)); call++ {
		chunk := data[off:min(off+int64(n), int64(len(data)))]
		res, err := dev.media[call%len(dev.media)].PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{
			UploadId: id, Offset: off, Data: chunk, Crc32C: photos.CRC32C(chunk),
		}))
		if err != nil {
			t.Fatalf("chunk at %d on node %d: %v", off, call%len(dev.media), err)
		}
		if want := off + int64(len(chunk)); res.Msg.GetOffset() != want {
			t.Fatalf("chunk at %d on node %d: offset %d, want %d", off, call%len(dev.media), res.Msg.GetOffset(), want)
		}
		off = res.Msg.GetOffset()
	}
	if _, err := dev.media[call%len(dev.media)].CompleteUpload(ctx, connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: id})); err != nil {
		t.Fatalf("complete upload on node %d: %v", call%len(dev.media), err)
	}
}

// readPhoto reads a photo through the URL a node hands out.
func readPhoto(t *testing.T, c fieldsyncv1connect.MediaServiceClient, sha string) []byte {
	t.Helper()
	res, err := c.GetMediaURL(context.Background(), connect.NewRequest(&fieldsyncv1.GetMediaURLRequest{Sha256: sha}))
	if err != nil {
		t.Fatalf("media url: %v", err)
	}
	resp, err := http.Get(res.Msg.GetUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("read photo: %s, %v", resp.Status, err)
	}
	return b
}

// TestNodesWithEmptyDataDirsServeOneDevice: two daemons on one PostgreSQL,
// NATS and S3, each on a fresh data dir of its own, serve a device that
// talks to them in turn, as behind a round-robin proxy: pushes and pulls,
// acks of pages the other node served, a photo whose chunks alternate, and
// the operator's calls with the token one of them generated. A third node
// started later on an empty data dir serves all of it.
func TestNodesWithEmptyDataDirsServeOneDevice(t *testing.T) {
	c := newCluster(t)
	a := c.node(func(cfg *Config) { cfg.Demo = true })
	b := c.node(nil)
	creds, err := demo.Load(filepath.Join(a.DataDir(), "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := os.ReadFile(filepath.Join(a.DataDir(), OperatorTokenFile))
	if err != nil {
		t.Fatalf("node a made no operator token: %v", err)
	}
	token := strings.TrimSpace(string(op))
	if _, err := os.Stat(filepath.Join(b.DataDir(), OperatorTokenFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("node b made a token of its own: %v", err)
	}

	// The operator: a tenant created on b is listed by a.
	if _, err := systemClient(b, token).CreateTenant(context.Background(), connect.NewRequest(&fieldsyncv1.CreateTenantRequest{
		Name: "Second", AdminDisplayName: "Ada"})); err != nil {
		t.Fatalf("create tenant on node b with node a's token: %v", err)
	}
	if names, err := tenants(t, a, token); err != nil || len(names) != 2 {
		t.Fatalf("tenants on node a = %v, %v; want 2", names, err)
	}

	// The device: writes on either node, pulls page by page from both,
	// acks on the node that did not serve the last page.
	rep, _ := creds.User("rep")
	dev := newDevice(rep.DeviceToken, a, b)
	var want []string
	for i := range 5 {
		want = append(want, pushVisit(t, dev.sync[i%2], uint64(i+1), "visit"))
	}
	got, cursor := pullFrom(t, "", dev.sync...)
	for _, id := range want {
		if !got[id] {
			t.Fatalf("visit %s pulled from the two nodes: missing", id)
		}
	}
	for i := range 2 { // the last page came from either node: ack on both
		stored := time.Now().Add(-time.Second)
		if at, err := ack(dev.sync[i], cursor, stored); err != nil || at.Before(stored.Add(-time.Second)) {
			t.Fatalf("ack on node %d = %v, %v", i, at, err)
		}
	}
	more := pushVisit(t, dev.sync[1], 6, "one more")
	if got, next := pullFrom(t, cursor, dev.sync[0]); !got[more] {
		t.Fatalf("pull on node a after a push on node b: %v", got)
	} else if _, err := ack(dev.sync[1], next, time.Now()); err != nil {
		t.Fatalf("ack on node b of a page node a served: %v", err)
	}

	// A photo whose chunks alternate between the nodes.
	photo := photostest.JPEG(600<<10, 7)
	attachPhoto(t, dev.sync[1], 7, photo)
	uploadAlternately(t, dev, photo, 64<<10)
	if got := readPhoto(t, dev.media[0], photostest.Key(photo)); !bytes.Equal(got, photo) {
		t.Fatalf("photo read through node a: %d bytes, want the %d sent", len(got), len(photo))
	}

	// A third node on an empty data dir serves everything.
	cn := c.node(nil)
	all := append(dev.sync, newDevice(rep.DeviceToken, cn).sync...)
	got, cursor = pullFrom(t, "", all[2])
	for _, id := range append(want, more) {
		if !got[id] {
			t.Fatalf("visit %s pulled from node c: missing", id)
		}
	}
	if _, err := ack(all[0], cursor, time.Now()); err != nil {
		t.Fatalf("ack on node a of a page node c served: %v", err)
	}
	if got := readPhoto(t, newDevice(rep.DeviceToken, cn).media[0], photostest.Key(photo)); !bytes.Equal(got, photo) {
		t.Fatalf("photo read through node c: %d bytes", len(got))
	}
	if names, err := tenants(t, cn, token); err != nil || len(names) != 2 {
		t.Fatalf("tenants on node c = %v, %v; want 2", names, err)
	}
	// Node c wrote nothing but its lock and an empty staging folder.
	entries, err := os.ReadDir(cn.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != APILockFile && e.Name() != "uploads" {
			t.Errorf("node c's data dir holds %s", e.Name())
		}
	}
	if staged, err := os.ReadDir(filepath.Join(cn.DataDir(), "uploads")); err != nil || len(staged) != 0 {
		t.Errorf("node c staged %d files, %v", len(staged), err)
	}
}

// TestOperatorTokenFileSetsTheTokenOfEveryNode: a node started with
// --operator-token-file makes its token the one every node accepts, at
// once; the token generated before stops working everywhere.
func TestOperatorTokenFileSetsTheTokenOfEveryNode(t *testing.T) {
	c := newCluster(t)
	a := c.node(nil)
	op, err := os.ReadFile(filepath.Join(a.DataDir(), OperatorTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	old := strings.TrimSpace(string(op))
	file := filepath.Join(t.TempDir(), "operator-token")
	mine := "fso_" + strings.Repeat("m", 40)
	if err := os.WriteFile(file, []byte(mine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := c.node(func(cfg *Config) { cfg.OperatorTokenFile = file })
	for name, n := range map[string]*Daemon{"a": a, "b": b} {
		if _, err := tenants(t, n, mine); err != nil {
			t.Errorf("node %s refuses the token of --operator-token-file: %v", name, err)
		}
		if _, err := tenants(t, n, old); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("node %s with the replaced token: %v, want Unauthenticated", name, err)
		}
	}
	d := c.node(nil) // an empty data dir: takes the database's token, writes none
	if _, err := os.Stat(filepath.Join(d.DataDir(), OperatorTokenFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("node d wrote a token file: %v", err)
	}
	if _, err := tenants(t, d, mine); err != nil {
		t.Errorf("node d refuses the cluster's token: %v", err)
	}
}
