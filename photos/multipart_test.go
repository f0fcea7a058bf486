package photos_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

// largePhoto is a 17 MiB photo: too large to stream in one request, so
// it goes to S3 in parts of 5 MiB and a tail.
const largePhoto = 17 << 20

// withMaxBytes raises the largest photo the service takes.
func withMaxBytes(n int64) option { return func(w *world) { w.maxBytes = n } }

// multipartUploads counts the bucket's unfinished multipart uploads.
func multipartUploads(t *testing.T, srv *s3test.Server, bucket string) int {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := minio.Core{Client: c}.ListMultipartUploads(context.Background(), bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(res.Uploads)
}

const chunk256KiB = 256 << 10

func TestLargePhotoGoesToS3InPartsAndResumesAfterARestart(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(24<<20))
	data := photostest.JPEG(largePhoto, 30)
	u := w.create("rep", data)
	w.send("rep", u, data[:6<<20], chunk256KiB)
	if n := multipartUploads(t, srv, bucket); n != 1 {
		t.Fatalf("%d multipart uploads after 6 MiB, want 1 holding the first part", n)
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects before completion, want 0", n)
	}
	w.start() // a new process over the same database and folders
	got, err := w.svc.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 6<<20 {
		t.Fatalf("GetUpload after restart = %+v, %v; want offset 6 MiB", got, err)
	}
	w.send("rep", got, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left, want 0", n)
	}
	if w.stagedSize(u.ID) != -1 {
		t.Fatal("staged bytes left after completion")
	}
}

func TestWrongBytesOfALargePhotoAbortItsPartsAndShowNothing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(24<<20))
	declared, sent := photostest.JPEG(largePhoto, 31), photostest.JPEG(largePhoto, 32)
	u := w.create("rep", declared)
	w.send("rep", u, sent, chunk256KiB)
	if n := multipartUploads(t, srv, bucket); n != 1 {
		t.Fatalf("%d multipart uploads before completion, want 1", n)
	}
	_, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeDataLoss)
	noObject(t, w.store, declared)
	noObject(t, w.store, sent)
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads after refusing the bytes, want 0 (aborted)", n)
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects, want 0", n)
	}
}

func TestS3DownMidUploadAnswersUnavailableThenCompletesFromItsParts(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(24<<20))
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 33)
	u := w.create("rep", data)
	w.send("rep", u, data[:6<<20], chunk256KiB) // the first part is in S3

	srv.Stop()
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.send("rep", got, data, chunk256KiB) // staged durably while S3 is down
	_, _, err = w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeUnavailable)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.State != photos.StateInProgress || got.Offset != largePhoto {
		t.Fatalf("after the outage: %+v, %v", got, err)
	}

	srv.Restart()
	w.clock.Add(time.Minute)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("CompleteUpload after S3 is back: %v", err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left, want 0", n)
	}
}

// TestCrashAfterPartsOfUnflushedChunksDropsThemAndStoresThePhotoOnce: a
// part sent to S3 may hold chunks acknowledged but not yet durable; when
// a crash loses them, the parts past the durable offset are aborted with
// them, the device resends, and one object appears with the photo's bytes.
func TestCrashAfterPartsOfUnflushedChunksDropsThemAndStoresThePhotoOnce(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(24<<20))
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 34)
	u := w.create("rep", data)
	w.send("rep", u, data[:2<<20], chunk256KiB)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 2<<20 {
		t.Fatalf("GetUpload = %+v, %v; want the durable offset 2 MiB", got, err)
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 2 << 20}, data[:6<<20], chunk256KiB)
	photos.WaitTracked(w.svc)
	if n := multipartUploads(t, srv, bucket); n != 1 {
		t.Fatalf("%d multipart uploads after 6 MiB, want 1 holding the first part", n)
	}
	w.crash()
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.Offset != 2<<20 {
		t.Fatalf("GetUpload after the crash = %+v, %v; want 2 MiB", got, err)
	}
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads after the crash, want 0 (its part held lost chunks)", n)
	}
	w.send("rep", got, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects, want 1", n)
	}
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left, want 0", n)
	}
}

// TestPowerLossThatDropsTheWholeUnsyncedTailStillDropsItsParts: a power
// loss usually loses every byte written since the last fsync, so the
// staged file is exactly the durable offset long, while the progress of a
// part sent from those bytes was fsynced. The part must still be aborted:
// here the lost chunks differ from the ones the device sends again (a
// faulty or hostile device), and an object made of the old part would
// hold bytes CompleteUpload never verified.
func TestPowerLossThatDropsTheWholeUnsyncedTailStillDropsItsParts(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(24<<20))
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 35)
	u := w.create("rep", data)
	w.send("rep", u, data[:2<<20], chunk256KiB)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 2<<20 {
		t.Fatalf("GetUpload = %+v, %v; want the durable offset 2 MiB", got, err)
	}
	wrong := slices.Clone(data[:6<<20])
	for i := 2 << 20; i < len(wrong); i++ {
		wrong[i] ^= 0x5a
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 2 << 20}, wrong, chunk256KiB)
	photos.WaitTracked(w.svc)
	if n := multipartUploads(t, srv, bucket); n != 1 {
		t.Fatalf("%d multipart uploads after 6 MiB, want 1 holding the first part", n)
	}
	w.crash()
	if err := os.Truncate(filepath.Join(w.dir, "uploads", u.ID), 2<<20); err != nil {
		t.Fatal(err) // the power loss took every unsynced byte
	}
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.Offset != 2<<20 {
		t.Fatalf("GetUpload after the crash = %+v, %v; want 2 MiB", got, err)
	}
	w.send("rep", got, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left, want 0", n)
	}
}
