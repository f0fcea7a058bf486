package photos_test

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

// lend lends u's stream the chunk at off of data, copied into a buffer
// of its own as the raw chunk route reads it: the first half arrives and
// the stream is seen sending it before the rest arrives. It returns the
// buffer and the arrival.
func lend(t *testing.T, w *world, who string, u *photos.Upload, data []byte, off, n int64) ([]byte, *photos.Arrival) {
	t.Helper()
	buf := make([]byte, n)
	a := w.svc.Arriving(w.p[who], u.ID, off, buf)
	if a == nil {
		t.Fatalf("chunk at %d not lent to the stream", off)
	}
	half := n / 2
	copy(buf, data[off:off+half])
	a.Arrived(int(half))
	waitSent(t, w.svc, u.ID, off+1)
	copy(buf[half:], data[off+half:off+n])
	a.Arrived(int(n))
	return buf, a
}

// waitSent waits until an upload's stream has sent at least n bytes.
func waitSent(t *testing.T, svc *photos.Service, id string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); photos.StreamSent(svc, id) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stream sent %d bytes, want %d before the chunk has arrived", photos.StreamSent(svc, id), n)
		}
	}
}

func TestChunkStreamedWhileItArrivesIsStoredOnceAccepted(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(5<<20, 60)
	u := w.create("rep", data)
	for off := int64(0); off < int64(len(data)); {
		n := min(int64(4<<20), int64(len(data))-off)
		buf, a := lend(t, w, "rep", u, data, off, n)
		next, err := w.svc.PutChunkThen(ctx, w.p["rep"], u.ID, off, buf, photos.CRC32C(buf), a.Close)
		if err != nil {
			t.Fatalf("chunk at %d: %v", off, err)
		}
		off = next
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects before completion, want 0 (the last byte waits for the verdict)", n)
	}
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("the stream that took the chunks as they arrived has ended")
	}
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}

func TestChunkStreamedWhileItArrivesButRefusedStoresNothingFromIt(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(2<<20, 61)
	wrong := append([]byte(nil), data...)
	wrong[100] ^= 0xff // in the half the stream sends before the chunk is checked

	// A wrong CRC32C (the bytes were damaged on the way): the chunk is
	// refused, the stream that sent some of it ends, the device resends
	// and the photo is stored with the right bytes.
	u := w.create("rep", data)
	buf, a := lend(t, w, "rep", u, wrong, 0, 1<<20)
	_, err := w.svc.PutChunkThen(ctx, w.p["rep"], u.ID, 0, buf, photos.CRC32C(data[:1<<20]), a.Close)
	wantCode(t, err, syncengine.CodeDataLoss)
	if photos.Streaming(w.svc, u.ID) {
		t.Fatal("the stream that sent a refused chunk's bytes goes on")
	}
	w.send("rep", u, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)

	// A body cut short: the chunk never reaches the service.
	other := photostest.JPEG(2<<20, 62)
	v := w.create("rep", other)
	_, a = lend(t, w, "rep", v, other, 0, 1<<20)
	a.Close()
	if photos.Streaming(w.svc, v.ID) {
		t.Fatal("the stream that sent a cut chunk's bytes goes on")
	}
	w.send("rep", v, other, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], v.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, other, imagecheck.JPEG)

	// Another chunk at the same offset, with other bytes, is applied
	// first (a resend on another connection): the stream that sent the
	// lent bytes ends; the lent chunk is then refused for its offset.
	third := photostest.JPEG(2<<20, 63)
	x := w.create("rep", third)
	w.send("rep", x, third[:1<<20], chunk256KiB)
	damaged := append([]byte(nil), third...)
	damaged[(1<<20)+5] ^= 0xff
	buf, a = lend(t, w, "rep", x, damaged, 1<<20, 1<<20)
	w.send("rep", &photos.Upload{ID: x.ID, Offset: 1 << 20}, third, 1<<20)
	if photos.Streaming(w.svc, x.ID) {
		t.Fatal("the stream goes on after bytes it was lent were replaced by another chunk's")
	}
	_, err = w.svc.PutChunkThen(ctx, w.p["rep"], x.ID, 1<<20, buf, photos.CRC32C(buf), a.Close)
	wantCode(t, err, syncengine.CodeWrongOffset)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], x.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, third, imagecheck.JPEG)
	if n := countObjects(t, srv, bucket); n != 3 {
		t.Fatalf("%d objects, want 3", n)
	}
}

func TestChunkArrivingIsNotLentToAnotherDevicesStream(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	w := newWorld(t, withS3(srv, newBucket()), withMaxBytes(8<<20))
	data := photostest.JPEG(2<<20, 64)
	u := w.create("rep", data)
	if !photos.Streaming(w.svc, u.ID) {
		t.Fatal("no stream begun at CreateUpload")
	}
	for _, who := range []string{"rep2", "director", "staff"} {
		if a := w.svc.Arriving(w.p[who], u.ID, 0, make([]byte, 1<<20)); a != nil {
			t.Fatalf("%s's chunk was lent to rep's stream", who)
		}
	}
	// Nor a chunk that does not continue the stream's bytes.
	if a := w.svc.Arriving(w.p["rep"], u.ID, 1<<20, make([]byte, 1<<20)); a != nil {
		t.Fatal("a chunk ahead of the stream's bytes was lent to it")
	}
	w.send("rep", u, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}

func TestCrashWhileAChunkIsLentStoresNothingAndResumes(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	ctx := context.Background()
	data := photostest.JPEG(3<<20, 65)
	u := w.create("rep", data)
	w.send("rep", u, data[:1<<20], chunk256KiB)
	_, a := lend(t, w, "rep", u, data, 1<<20, 1<<20)
	w.crash() // the process dies with the chunk half sent to S3
	a.Close()
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects after the crash, want 0", n)
	}
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset > 1<<20 {
		t.Fatalf("resumes at %d, past the acknowledged %d", got.Offset, 1<<20)
	}
	w.send("rep", got, data, chunk256KiB)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}
