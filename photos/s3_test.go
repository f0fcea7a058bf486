package photos_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

var bucketSeq atomic.Int64

func newBucket() string { return fmt.Sprintf("photos-test-%d", bucketSeq.Add(1)) }

// countObjects lists a bucket through a plain minio client.
func countObjects(t *testing.T, srv *s3test.Server, bucket string) int {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for obj := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	return n
}

func TestUploadIntoS3AndReadThroughPresignedURL(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket))
	data := photostest.JPEG(200_000, 20)
	w.surgery("rep", data, nil, nil)
	ph := w.upload("rep", data)
	checkPhoto(t, ph, w.p["rep"].DeviceID, w.clock.Now())
	checkObject(t, w.store, data, imagecheck.JPEG)

	url, _, err := w.svc.MediaURL(context.Background(), w.p["rep"], ph.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(got) != string(data) {
		t.Fatalf("GET presigned URL: %s, %d bytes, %v", resp.Status, len(got), err)
	}

	declared, sent := photostest.JPEG(100_000, 23), photostest.JPEG(100_000, 24)
	u := w.create("rep", declared)
	w.send("rep", u, sent, 50_000)
	_, _, err = w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeDataLoss)
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects after a refused upload, want 1", n)
	}
}

func TestS3DownFailsCompleteWithUnavailableAndLosesNothing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket))
	ctx := context.Background()
	data := photostest.JPEG(50_000, 21)
	u := w.create("rep", data)
	w.send("rep", u, data, 16_000)

	srv.Stop()
	_, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeUnavailable)
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.State != photos.StateInProgress || got.Offset != int64(len(data)) || w.stagedSize(u.ID) != int64(len(data)) {
		t.Fatalf("after the outage: %+v, %v, staged %d", got, err, w.stagedSize(u.ID))
	}

	srv.Restart()
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("CompleteUpload after restart: %v", err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects, want 1", n)
	}
}

func TestTwoDevicesUploadingOnePhotoAtOnceStoreOneObject(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket))
	data := photostest.JPEG(300_000, 22)
	ups := map[string]*photos.Upload{"rep": w.create("rep", data), "rep2": w.create("rep2", data)}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for who, u := range ups {
		wg.Go(func() {
			for off := int64(0); off < u.Size; off += 64 << 10 {
				chunk := data[off:min(off+64<<10, u.Size)]
				if _, err := w.svc.PutChunk(context.Background(), w.p[who], u.ID, off, chunk, photos.CRC32C(chunk)); err != nil {
					errs <- err
					return
				}
			}
			_, _, err := w.svc.CompleteUpload(context.Background(), w.p[who], u.ID)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects, want 1", n)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}
