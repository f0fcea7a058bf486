package photos_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestPhotoStreamsToS3AsItArrivesAndAppearsOnlyWhenComplete(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	data := photostest.JPEG(3<<20, 40)
	u := w.create("rep", data)
	w.send("rep", u, data, chunk256KiB)
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("the upload is not streamed to S3")
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects before completion, want 0 (the last byte waits for the verdict)", n)
	}
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if photos.Streaming(w.svc, u.ID) || countObjects(t, srv, bucket) != 1 {
		t.Fatalf("after completion: streaming %v, %d objects; want no stream, 1 object",
			photos.Streaming(w.svc, u.ID), countObjects(t, srv, bucket))
	}
}

func TestWrongOrCancelledStreamedBytesStoreNothing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	declared, sent := photostest.JPEG(2<<20, 41), photostest.JPEG(2<<20, 42)
	u := w.create("rep", declared)
	w.send("rep", u, sent, chunk256KiB)
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("the upload is not streamed to S3")
	}
	_, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeDataLoss)
	noObject(t, w.store, declared)
	noObject(t, w.store, sent)

	other := photostest.JPEG(2<<20, 43)
	v := w.create("rep", other)
	w.send("rep", v, other[:1<<20], chunk256KiB)
	if err := w.svc.CancelUpload(ctx, w.p["rep"], v.ID); err != nil {
		t.Fatal(err)
	}
	if photos.Streaming(w.svc, v.ID) {
		t.Fatal("a cancelled upload is still streamed")
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects, want 0", n)
	}
}

func TestS3DownWhileStreamingKeepsTheChunksAndCompletesLater(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(3<<20, 44)
	u := w.create("rep", data)
	w.send("rep", u, data[:1<<20], chunk256KiB)
	srv.Stop()
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.send("rep", got, data, chunk256KiB) // every chunk is taken: staged durably
	_, _, err = w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeUnavailable)
	srv.Restart()
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("CompleteUpload after S3 is back: %v", err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}

func TestRestartMidStreamResumesFromTheServersOffset(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(3<<20, 45)
	u := w.create("rep", data)
	w.send("rep", u, data[:1<<20], chunk256KiB)
	photos.StopStreams(w.svc) // the old process dies with its request
	w.start()
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.Offset != 1<<20 {
		t.Fatalf("GetUpload after restart = %+v, %v; want offset 1 MiB", got, err)
	}
	w.send("rep", got, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects, want 1", n)
	}
}

// TestStagedTailCutUnderAStreamStopsIt: when the staged file no longer
// holds the acknowledged chunks (here it grew behind the service's back)
// and is cut back to the recorded offset, the stream that already read
// past that offset is stopped: the bytes sent again must not follow bytes
// it sent from the old tail. The photo is then stored another way.
func TestStagedTailCutUnderAStreamStopsIt(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(3<<20, 43)
	u := w.create("rep", data)
	w.send("rep", u, data[:1<<20], chunk256KiB)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 1<<20 {
		t.Fatalf("GetUpload = %+v, %v; want the durable offset 1 MiB", got, err)
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 1 << 20}, data[:2<<20], chunk256KiB)
	photos.WaitTracked(w.svc)
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("the upload is not streamed to S3")
	}
	appendFile(t, filepath.Join(w.dir, "uploads", u.ID), []byte("junk"))
	_, err := w.svc.PutChunk(ctx, w.p["rep"], u.ID, 2<<20, data[2<<20:], photos.CRC32C(data[2<<20:]))
	wantCode(t, err, syncengine.CodeWrongOffset)
	if off := offsetDetail(t, err); off != 1<<20 {
		t.Fatalf("wrong offset answered %d, want the recorded 1 MiB", off)
	}
	if photos.Streaming(w.svc, u.ID) {
		t.Fatal("the stream goes on after the staged bytes it read were cut")
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 1 << 20}, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}

func TestStreamBegunAtCreateCarriesTheUploadOrYieldsToTheBytesType(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()

	// Declared as what the bytes are: the stream begun at CreateUpload,
	// before any byte, is the one that stores the photo.
	data := photostest.JPEG(2<<20, 46)
	u := w.create("rep", data)
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("no stream begun at CreateUpload")
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects before any byte, want 0", n)
	}
	w.send("rep", u, data, chunk256KiB)
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects before completion, want 0", n)
	}
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)

	// Declared as another image type: the first chunk replaces the stream,
	// and the object gets the type its bytes show.
	other := photostest.JPEG(2<<20, 47)
	v, err := w.svc.CreateUpload(ctx, w.p["rep"], photos.CreateRequest{
		SHA256: photostest.Key(other), Size: int64(len(other)), ContentType: imagecheck.PNG, DeviceHLC: 7 << 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.send("rep", v, other, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], v.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, other, imagecheck.JPEG)

	// Cancelled before any byte: nothing is stored and the stream ends.
	third := photostest.JPEG(2<<20, 48)
	x := w.create("rep", third)
	if err := w.svc.CancelUpload(ctx, w.p["rep"], x.ID); err != nil {
		t.Fatal(err)
	}
	if photos.Streaming(w.svc, x.ID) {
		t.Fatal("a cancelled upload is still streamed")
	}
	if n := countObjects(t, srv, bucket); n != 2 {
		t.Fatalf("%d objects, want 2", n)
	}
}

func TestFailedStreamFreesItsPlace(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(2<<20, 49)
	u := w.create("rep", data)
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("no stream begun at CreateUpload")
	}
	photos.FailStream(w.svc, u.ID)
	if photos.Streaming(w.svc, u.ID) {
		t.Fatal("a failed stream keeps its place")
	}
	w.send("rep", u, data, chunk256KiB) // the first chunk begins another
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("no stream after the first chunk")
	}
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}
