package photos_test

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/syncengine"
)

// countingStore is a remote object store that counts what the services
// send it: multipart uploads started and aborted, part bytes, whole puts.
type countingStore struct {
	media.Store
	mp                          media.Multipart
	starts, aborts, wholePuts   atomic.Int64
	partBytes, completedUploads atomic.Int64
}

func newCountingStore(t *testing.T, st media.Store) *countingStore {
	mp, ok := st.(media.Multipart)
	if !ok {
		t.Fatal("the object store takes no parts")
	}
	return &countingStore{Store: st, mp: mp}
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	c.wholePuts.Add(1)
	return c.Store.Put(ctx, key, r, size, contentType)
}

func (c *countingStore) PutFile(ctx context.Context, key, path string, size int64, contentType string) error {
	c.wholePuts.Add(1)
	return c.Store.(media.FilePutter).PutFile(ctx, key, path, size, contentType)
}

func (c *countingStore) StartMultipart(ctx context.Context, key, contentType string) (string, error) {
	c.starts.Add(1)
	return c.mp.StartMultipart(ctx, key, contentType)
}

func (c *countingStore) PutPart(ctx context.Context, key, id string, number int, r io.Reader, size int64) (media.Part, error) {
	c.partBytes.Add(size)
	return c.mp.PutPart(ctx, key, id, number, r, size)
}

func (c *countingStore) CompleteMultipart(ctx context.Context, key, id string, parts []media.Part) error {
	c.completedUploads.Add(1)
	return c.mp.CompleteMultipart(ctx, key, id, parts)
}

func (c *countingStore) AbortMultipart(ctx context.Context, key, id string) error {
	c.aborts.Add(1)
	return c.mp.AbortMultipart(ctx, key, id)
}

// TestTwoNodesSendALargePhotoToS3OnceAndCompleteItOnce: a photo too large
// to stream, its chunks alternating between two nodes, goes to S3 in one
// multipart upload whose every byte is sent once, whichever node took the
// chunk; completed on both nodes at once (a device that retried on the
// other node), it is completed once — the other node answers Unavailable
// or the stored photo — and stored once under its hash, with no multipart
// upload left in the bucket and no sweep needed.
func TestTwoNodesSendALargePhotoToS3OnceAndCompleteItOnce(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(largePhoto+1<<20))
	objects := newCountingStore(t, w.store)
	w.cfg.Objects = objects
	a, b := twoNodes(w)
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 43)
	u := w.create("rep", data)
	sendAlternately(w, "rep", u, data, chunk256KiB, a, b)
	photos.WaitTracked(a)
	photos.WaitTracked(b)

	nodes := []*photos.Service{a, b}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { _, _, errs[i] = n.CompleteUpload(ctx, w.p["rep"], u.ID) })
	}
	wg.Wait()
	for i, err := range errs {
		if syncengine.IsCode(err, syncengine.CodeUnavailable) {
			_, _, err = nodes[i].CompleteUpload(ctx, w.p["rep"], u.ID) // the device asks again
		}
		if err != nil {
			t.Fatalf("CompleteUpload on node %d: %v", i, err)
		}
	}

	checkObject(t, w.store, data, "image/jpeg")
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects in the bucket, want 1", n)
	}
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left in the bucket, want 0", n)
	}
	if got := objects.starts.Load(); got != 1 {
		t.Errorf("%d multipart uploads started, want 1", got)
	}
	if got := objects.completedUploads.Load(); got != 1 {
		t.Errorf("%d multipart completions, want 1", got)
	}
	if got := objects.partBytes.Load(); got != int64(len(data)) {
		t.Errorf("%d bytes sent as parts, want the photo's %d once", got, len(data))
	}
	if got := objects.wholePuts.Load(); got != 0 {
		t.Errorf("%d whole puts besides the parts", got)
	}
	ph, held, err := w.db.Photo(ctx, w.tenant, photostest.Key(data))
	if err != nil || ph == nil || !held || ph.SHA256 != photostest.Key(data) {
		t.Fatalf("stored photo: %+v held=%v %v", ph, held, err)
	}
}

// TestCompletingOnTheOtherNodeWhileTheLastPartIsSentStoresThePhotoOnce:
// the device completes on the other node right after its last chunk,
// while the node that took the chunk still sends a part; both nodes then
// complete again (a retry). The photo is stored once, whole, under its
// hash, and no multipart upload is left in the bucket without a sweep.
func TestCompletingOnTheOtherNodeWhileTheLastPartIsSentStoresThePhotoOnce(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(largePhoto+1<<20))
	a, b := twoNodes(w)
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 44)
	u := w.create("rep", data)
	calls := sendAlternately(w, "rep", u, data, chunk256KiB, a, b)
	nodes := []*photos.Service{a, b}
	other := nodes[calls%2] // not the node of the last chunk
	if _, _, err := other.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("CompleteUpload on the other node: %v", err)
	}
	for i, n := range nodes {
		if _, _, err := n.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
			t.Fatalf("CompleteUpload again on node %d: %v", i, err)
		}
	}
	photos.WaitTracked(a)
	photos.WaitTracked(b)
	checkObject(t, w.store, data, "image/jpeg")
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects in the bucket, want 1", n)
	}
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left in the bucket, want 0", n)
	}
}

// TestCancellingOnTheOtherNodeAbortsTheSharedMultipartUpload: parts sent
// by one node are aborted when the device cancels the upload on the
// other, with no sweep: nothing is left in the bucket.
func TestCancellingOnTheOtherNodeAbortsTheSharedMultipartUpload(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(largePhoto+1<<20))
	objects := newCountingStore(t, w.store)
	w.cfg.Objects = objects
	a, b := twoNodes(w)
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 45)
	u := w.create("rep", data)
	half := &photos.Upload{ID: u.ID}
	sendAlternately(w, "rep", half, data[:11<<20], chunk256KiB, a, b)
	photos.WaitTracked(a)
	photos.WaitTracked(b)
	if n := multipartUploads(t, srv, bucket); n != 1 || objects.partBytes.Load() != 2*(5<<20) {
		t.Fatalf("after 11 MiB: %d multipart uploads, %d part bytes; want 1 and two 5 MiB parts", n, objects.partBytes.Load())
	}
	if err := b.CancelUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left after the cancel, want 0", n)
	}
	if n := countObjects(t, srv, bucket); n != 0 {
		t.Fatalf("%d objects in the bucket after the cancel, want 0", n)
	}
}

// gatedStore holds CompleteMultipart until release is closed, after
// closing entered.
type gatedStore struct {
	*countingStore
	entered, release chan struct{}
}

func (g *gatedStore) CompleteMultipart(ctx context.Context, key, id string, parts []media.Part) error {
	close(g.entered)
	<-g.release
	return g.countingStore.CompleteMultipart(ctx, key, id, parts)
}

// TestACompletionWhileAnotherNodeCompletesIsUnavailableThenTheStoredPhoto:
// while node a completes an upload (held inside S3's completion), the same
// completion on node b answers Unavailable and sends nothing to S3; asked
// again once node a is done, node b answers with the stored photo.
func TestACompletionWhileAnotherNodeCompletesIsUnavailableThenTheStoredPhoto(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(largePhoto+1<<20))
	gated := &gatedStore{countingStore: newCountingStore(t, w.store), entered: make(chan struct{}), release: make(chan struct{})}
	w.cfg.Objects = gated
	a, b := twoNodes(w)
	ctx := context.Background()
	data := photostest.JPEG(largePhoto, 46)
	u := w.create("rep", data)
	sendAlternately(w, "rep", u, data, chunk256KiB, a, b)
	photos.WaitTracked(a)
	photos.WaitTracked(b)
	done := make(chan error, 1)
	go func() {
		_, _, err := a.CompleteUpload(ctx, w.p["rep"], u.ID)
		done <- err
	}()
	<-gated.entered
	sent := gated.partBytes.Load()
	_, _, err := b.CompleteUpload(ctx, w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeUnavailable)
	if got := gated.partBytes.Load(); got != sent {
		t.Fatalf("node b sent %d part bytes while node a completed", got-sent)
	}
	close(gated.release)
	if err := <-done; err != nil {
		t.Fatalf("CompleteUpload on node a: %v", err)
	}
	got, ph, err := b.CompleteUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.State != photos.StateComplete || ph.SHA256 != photostest.Key(data) {
		t.Fatalf("CompleteUpload again on node b: %+v %+v %v", got, ph, err)
	}
	checkObject(t, w.store, data, "image/jpeg")
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left in the bucket, want 0", n)
	}
	if got := gated.completedUploads.Load(); got != 1 {
		t.Fatalf("%d multipart completions, want 1", got)
	}
}
