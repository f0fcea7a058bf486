package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/freeport"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// startDaemon runs fieldsyncd --demo on a random port over dir (a new temp
// dir when empty) with change applied to the default config, and closes it
// in tb.Cleanup.
func startDaemon(tb testing.TB, dir string, change func(*daemon.Config)) (*daemon.Daemon, *demo.Credentials) {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", dir, true, "warn"
	cfg.MetricsAddr = "" // daemons run side by side
	if change != nil {
		change(&cfg)
	}
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start daemon: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	creds, err := demo.Load(filepath.Join(dir, "demo-credentials.json"))
	if err != nil {
		tb.Fatalf("demo credentials: %v", err)
	}
	return d, creds
}

// withS3 points the daemon's photo store at a bucket of a real versitygw.
func withS3(srv *s3test.Server, bucket string) func(*daemon.Config) {
	return func(c *daemon.Config) {
		c.S3Endpoint, c.S3Bucket, c.S3AccessKey, c.S3SecretKey = srv.Endpoint, bucket, srv.AccessKey, srv.SecretKey
	}
}

var mediaBucketSeq atomic.Int64

func newMediaBucket() string { return fmt.Sprintf("e2e-photos-%d", mediaBucketSeq.Add(1)) }

func mediaClient(d *daemon.Daemon, token string, hc *http.Client) fieldsyncv1connect.MediaServiceClient {
	if hc == nil {
		hc = http.DefaultClient
	}
	return fieldsyncv1connect.NewMediaServiceClient(hc, d.URL(), bearer(token))
}

// secondRep is the device token of the demo's second rep.
func secondRep(t *testing.T, creds *demo.Credentials) string {
	t.Helper()
	n := 0
	for _, u := range creds.Users {
		if u.Role == "rep" {
			if n++; n == 2 {
				return u.DeviceToken
			}
		}
	}
	t.Fatal("the demo has no second rep")
	return ""
}

// chunkSize is what the tests' devices send per PutChunk.
const chunkSize = 256 << 10

// createPhoto starts an upload of data, whose SHA-256 is key (a device
// knows it from the record's photo ref).
func createPhoto(ctx context.Context, c fieldsyncv1connect.MediaServiceClient, key string, data []byte) (*fieldsyncv1.Upload, error) {
	res, err := c.CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
		Sha256: key, SizeBytes: int64(len(data)), ContentType: "image/jpeg",
	}))
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	return res.Msg.Upload, nil
}

// sendPhoto puts data from off to end in chunks of n bytes.
func sendPhoto(ctx context.Context, c fieldsyncv1connect.MediaServiceClient, id string, data []byte, off, end int64, n int) error {
	for off < end {
		chunk := data[off:min(off+int64(n), end)]
		res, err := c.PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{
			UploadId: id, Offset: off, Data: chunk, Crc32C: photos.CRC32C(chunk),
		}))
		if err != nil {
			return fmt.Errorf("put chunk at %d: %w", off, err)
		}
		off = res.Msg.Offset
	}
	return nil
}

func completePhoto(ctx context.Context, c fieldsyncv1connect.MediaServiceClient, id string) (*fieldsyncv1.CompleteUploadResponse, error) {
	res, err := c.CompleteUpload(ctx, connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: id}))
	if err != nil {
		return nil, fmt.Errorf("complete upload: %w", err)
	}
	return res.Msg, nil
}

// uploadPhoto sends a whole photo: create, chunks of n bytes, complete.
func uploadPhoto(ctx context.Context, c fieldsyncv1connect.MediaServiceClient, key string, data []byte, n int) (*fieldsyncv1.CompleteUploadResponse, error) {
	u, err := createPhoto(ctx, c, key, data)
	if err != nil {
		return nil, err
	}
	if u.State == fieldsyncv1.UploadState_UPLOAD_STATE_IN_PROGRESS {
		if err := sendPhoto(ctx, c, u.UploadId, data, u.Offset, u.SizeBytes, n); err != nil {
			return nil, err
		}
	}
	return completePhoto(ctx, c, u.UploadId)
}

func mustUpload(t *testing.T, c fieldsyncv1connect.MediaServiceClient, data []byte) *fieldsyncv1.CompleteUploadResponse {
	t.Helper()
	res, err := uploadPhoto(context.Background(), c, photostest.Key(data), data, chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func photoRef(data []byte) *fieldsyncv1.PhotoRef {
	return &fieldsyncv1.PhotoRef{Sha256: photostest.Key(data), SizeBytes: int64(len(data)), ContentType: "image/jpeg"}
}

// pushSurgery pushes a submitted surgery support with three staged photos.
func pushSurgery(t *testing.T, d *daemon.Daemon, token string, pre, intra, post []byte) string {
	t.Helper()
	id := ids.New()
	ss := &fieldsyncv1.SurgerySupport{
		Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, HospitalId: "hosp-1", SurgeryTime: timestamppb.Now(),
		ConsumableModels: []string{"stent-x"}, PreOpPhoto: photoRef(pre), IntraOpPhoto: photoRef(intra), PostOpCountPhoto: photoRef(post),
	}
	sync := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(token))
	res, err := sync.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: nextSeq(token), RecordType: "fieldsync.v1.SurgerySupport", RecordId: id, Value: anyOf(t, ss),
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"status", "hospital_id", "surgery_time", "consumable_models",
			"pre_op_photo", "intra_op_photo", "post_op_count_photo"}},
		Hlc: uint64(time.Now().UnixMilli()) << 16,
	}}}))
	if err != nil || res.Msg.Results[0].Outcome != applied {
		t.Fatalf("push surgery: %v %v", res, err)
	}
	return id
}

// pullRecord pulls from cursor as token and returns the record with id (nil
// when it did not come) and the next cursor.
func pullRecord(t *testing.T, d *daemon.Daemon, token, cursor, id string) (*fieldsyncv1.Record, string) {
	t.Helper()
	sync := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(token))
	var found *fieldsyncv1.Record
	for {
		res, err := sync.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor}))
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, r := range res.Msg.Records {
			if r.Id == id {
				found = r
			}
		}
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return found, cursor
		}
	}
}

func photoStates(r *fieldsyncv1.Record) map[string]fieldsyncv1.PhotoState {
	out := map[string]fieldsyncv1.PhotoState{}
	for _, p := range r.GetPhotos() {
		out[p.Sha256] = p.State
	}
	return out
}

func surgeryValue(t *testing.T, r *fieldsyncv1.Record) *fieldsyncv1.SurgerySupport {
	t.Helper()
	var ss fieldsyncv1.SurgerySupport
	if err := r.GetValue().UnmarshalTo(&ss); err != nil {
		t.Fatal(err)
	}
	return &ss
}

// fetch GETs a URL and returns the body of a 200 answer.
func fetch(t *testing.T, url string) ([]byte, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET: %s", resp.Status)
	}
	return body, nil
}

func mediaURL(c fieldsyncv1connect.MediaServiceClient, data []byte) (string, error) {
	res, err := c.GetMediaURL(context.Background(), connect.NewRequest(&fieldsyncv1.GetMediaURLRequest{Sha256: photostest.Key(data)}))
	if err != nil {
		return "", err
	}
	return res.Msg.Url, nil
}

func TestSurgeryPhotosGoFromPendingToAvailableAndComplete(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	pre, intra, post := photostest.JPEG(600_000, 1), photostest.JPEG(300_000, 2), photostest.JPEG(100_000, 3)
	id := pushSurgery(t, d, rep.DeviceToken, pre, intra, post)
	rec, cursor := pullRecord(t, d, rep.DeviceToken, "", id)
	for h, st := range photoStates(rec) {
		if st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
			t.Fatalf("photo %s… is %v before its upload", h[:8], st)
		}
	}
	media := mediaClient(d, rep.DeviceToken, nil)
	for i, data := range [][]byte{pre, intra, post} {
		mustUpload(t, media, data)
		rec, cursor = pullRecord(t, d, rep.DeviceToken, cursor, id)
		if rec == nil || photoStates(rec)[photostest.Key(data)] != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
			t.Fatalf("photo %d: the surgery was not pulled again with it available: %v", i, rec)
		}
		if got := surgeryValue(t, rec).PhotosComplete; got != (i == 2) {
			t.Fatalf("photo %d: photos_complete = %v", i, got)
		}
	}
}

func TestPhotoURLsOnlyForCallersWhoSeeTheRecord(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	director, _ := creds.User("regional_director")
	data := photostest.JPEG(200_000, 4)
	pushSurgery(t, d, rep.DeviceToken, data, nil, nil)
	mustUpload(t, mediaClient(d, rep.DeviceToken, nil), data)
	for _, token := range []string{rep.DeviceToken, director.DeviceToken} {
		url, err := mediaURL(mediaClient(d, token, nil), data)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(url, d.URL()+"/media/") {
			t.Fatalf("url %s is not a link to the daemon's media handler", url)
		}
		if got, err := fetch(t, url); err != nil || string(got) != string(data) {
			t.Fatalf("fetch %s: %d bytes, %v", url, len(got), err)
		}
		if _, err := fetch(t, strings.Replace(url, "sig=", "sig=x", 1)); err == nil {
			t.Fatal("a tampered link served the photo")
		}
	}
	_, err := mediaURL(mediaClient(d, secondRep(t, creds), nil), data)
	wantCode(t, err, connect.CodeNotFound)
}

func TestUploadResumesAfterTheDaemonRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, creds := startDaemon(t, dir, nil)
	rep, _ := creds.User("rep")
	ctx := context.Background()
	data := photostest.JPEG(1_000_000, 5)
	u, err := createPhoto(ctx, mediaClient(d, rep.DeviceToken, nil), photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendPhoto(ctx, mediaClient(d, rep.DeviceToken, nil), u.UploadId, data, 0, 3*chunkSize, chunkSize); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, _ = startDaemon(t, dir, nil)
	media := mediaClient(d, rep.DeviceToken, nil)
	got, err := media.GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil || got.Msg.Upload.Offset != 3*chunkSize || got.Msg.Upload.State != fieldsyncv1.UploadState_UPLOAD_STATE_IN_PROGRESS {
		t.Fatalf("GetUpload after restart = %v, %v; want in progress at %d", got, err, 3*chunkSize)
	}
	if err := sendPhoto(ctx, media, u.UploadId, data, 3*chunkSize, int64(len(data)), chunkSize); err != nil {
		t.Fatal(err)
	}
	if res, err := completePhoto(ctx, media, u.UploadId); err != nil || res.Photo.SizeBytes != int64(len(data)) {
		t.Fatalf("complete after restart: %v, %v", res, err)
	}
}

func TestPhotosInS3SurviveAnOutage(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	d, creds := startDaemon(t, "", withS3(srv, newMediaBucket()))
	rep, _ := creds.User("rep")
	ctx := context.Background()
	media := mediaClient(d, rep.DeviceToken, nil)
	data := photostest.JPEG(700_000, 6)
	pushSurgery(t, d, rep.DeviceToken, data, nil, nil)
	u, err := createPhoto(ctx, media, photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendPhoto(ctx, media, u.UploadId, data, 0, int64(len(data)), chunkSize); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	_, err = completePhoto(ctx, media, u.UploadId)
	wantCode(t, err, connect.CodeUnavailable)
	got, err := media.GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil || got.Msg.Upload.Offset != int64(len(data)) || got.Msg.Upload.State != fieldsyncv1.UploadState_UPLOAD_STATE_IN_PROGRESS {
		t.Fatalf("during the outage: %v, %v", got, err)
	}

	srv.Restart()
	if _, err := completePhoto(ctx, media, u.UploadId); err != nil {
		t.Fatal(err)
	}
	url, err := mediaURL(media, data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(url, srv.Endpoint) || !strings.Contains(url, "X-Amz-Signature=") {
		t.Fatalf("url %s is not presigned for the S3 endpoint", url)
	}
	if body, err := fetch(t, url); err != nil || string(body) != string(data) {
		t.Fatalf("fetch presigned: %d bytes, %v", len(body), err)
	}
}

func TestRepeatPhotoIsStillFlaggedWhenItsUploadCompletes(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	director, _ := creds.User("regional_director")
	data := photostest.JPEG(100_000, 7)
	a := pushSurgery(t, d, rep.DeviceToken, data, photostest.JPEG(1000, 8), photostest.JPEG(1000, 9))
	rep2 := secondRep(t, creds)
	b := pushSurgery(t, d, rep2, photostest.JPEG(1000, 10), data, photostest.JPEG(1000, 11))
	mustUpload(t, mediaClient(d, rep.DeviceToken, nil), data)
	mustUpload(t, mediaClient(d, rep2, nil), data) // each rep proves holding the photo it attached
	eventually(t, "both surgeries flagged (A6) and showing the photo available", func() bool {
		for _, id := range []string{a, b} {
			r, _ := pullRecord(t, d, director.DeviceToken, "", id)
			if r == nil || !surgeryValue(t, r).RepeatPhotoFlagged ||
				photoStates(r)[photostest.Key(data)] != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
				return false
			}
		}
		return true
	})
}

func TestAcknowledgedChunksSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	bin := buildDaemon(t)
	t.Run("local staging", func(t *testing.T) {
		t.Parallel()
		// Chunks are acknowledged once staged, before they are durable:
		// what survives is every offset the device was told to resume
		// from (here by GetUpload), and the device resends the rest.
		acknowledgedChunksSurviveSIGKILL(t, &process{t: t, bin: bin, dir: t.TempDir(), addr: freeport.TestAddr(t)}, false)
	})
	// An explicit SQLite file: chunks are kept in the database, the staged
	// copy is written without fsync and staged again after the restart.
	t.Run("shared staging", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		acknowledgedChunksSurviveSIGKILL(t, &process{t: t, bin: bin, dir: dir, addr: freeport.TestAddr(t),
			args: []string{"--sqlite-path", filepath.Join(dir, "fieldsync.db")}}, true)
	})
}

// acknowledgedChunksSurviveSIGKILL kills the server while a device sends
// chunks and checks where the upload resumes: at or past the offset
// GetUpload told before the kill, and, when durable says acknowledged
// chunks are durable, at or past the last acknowledged chunk.
func acknowledgedChunksSurviveSIGKILL(t *testing.T, p *process, durable bool) {
	p.start()
	creds, err := demo.Load(filepath.Join(p.dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := creds.User("rep")
	media := fieldsyncv1connect.NewMediaServiceClient(http.DefaultClient, "http://"+p.addr, bearer(rep.DeviceToken))
	ctx := context.Background()
	data := photostest.JPEG(8<<20, 12)
	u, err := createPhoto(ctx, media, photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	stopped := make(chan struct{})
	go func() { // chunks keep coming until the server dies under them
		defer close(stopped)
		for off := int64(0); off < u.SizeBytes; off += 64 << 10 {
			if sendPhoto(ctx, media, u.UploadId, data, off, min(off+64<<10, u.SizeBytes), 64<<10) != nil {
				return
			}
			acked.Store(min(off+64<<10, u.SizeBytes))
		}
	}()
	waitAcked := func(n int64) {
		for acked.Load() < n {
			select {
			case <-stopped:
				t.Fatalf("the chunks stopped at %d before the kill", acked.Load())
			case <-time.After(time.Millisecond):
			}
		}
	}
	waitAcked(512 << 10)
	told, err := media.GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil {
		t.Fatal(err)
	}
	waitAcked(told.Msg.Upload.Offset + 1<<20)
	p.kill()
	<-stopped // no chunk reaches the restarted server behind our back
	lastAcked := acked.Load()

	p.start()
	defer p.kill()
	got, err := media.GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil {
		t.Fatal(err)
	}
	off := got.Msg.Upload.Offset
	if off < told.Msg.Upload.Offset || (durable && off < lastAcked) || off%(64<<10) != 0 {
		t.Fatalf("after SIGKILL the server is at %d; the device was told %d and had %d acknowledged (chunks of 64 KiB)", off, told.Msg.Upload.Offset, lastAcked)
	}
	if err := sendPhoto(ctx, media, u.UploadId, data, off, u.SizeBytes, chunkSize); err != nil {
		t.Fatal(err)
	}
	if _, err := completePhoto(ctx, media, u.UploadId); err != nil {
		t.Fatalf("complete after SIGKILL (the hash proves no byte was torn): %v", err)
	}
}
