package photos_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
)

// twoNodes makes the world's service and a second one over the same store
// and object store, each with a staging folder of its own and staging
// shared through the store: two servers behind one load balancer.
func twoNodes(w *world) (a, b *photos.Service) {
	w.t.Helper()
	w.cfg.SharedStaging = true
	a, err := photos.New(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := w.cfg
	cfg.StagingDir = filepath.Join(w.t.TempDir(), "uploads-b")
	if b, err = photos.New(cfg); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { photos.WaitTracked(a); photos.WaitTracked(b) })
	w.svc = a
	return a, b
}

// sendAlternately puts data in chunks of n bytes, each to the other node,
// as a round-robin proxy does.
func sendAlternately(w *world, who string, u *photos.Upload, data []byte, n int, nodes ...*photos.Service) int {
	w.t.Helper()
	calls := 0
	for off := u.Offset; off < int64(len(data)); calls++ {
		end := min(off+int64(n), int64(len(data)))
		next, err := nodes[calls%len(nodes)].PutChunk(context.Background(), w.p[who], u.ID, off, data[off:end], photos.CRC32C(data[off:end]))
		if err != nil {
			w.t.Fatalf("PutChunk at %d on node %d: %v", off, calls%len(nodes), err)
		}
		if next != end {
			w.t.Fatalf("PutChunk at %d on node %d moved the upload to %d, want %d", off, calls%len(nodes), next, end)
		}
		off = next
	}
	return calls
}

// chunksLeft counts the bytes the store keeps for an upload.
func chunksLeft(t *testing.T, w *world, id string) int {
	t.Helper()
	n := 0
	err := w.db.(photos.ChunkStore).UploadChunks(context.Background(), id, 0, func(_ int64, data []byte) error {
		n += len(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChunksAlternatingBetweenTwoNodesMakeOnePhoto: with staging shared
// through the store, every chunk of an upload lands on the other node than
// the one before and none is refused; completion on either node stores the
// photo once, with its hash; the store keeps no chunk after it, and the
// other node's sweep removes its copy of the bytes.
func TestChunksAlternatingBetweenTwoNodesMakeOnePhoto(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := twoNodes(w)
	ctx := context.Background()
	data := photostest.JPEG(300<<10, 41)
	u := w.create("rep", data)
	if calls := sendAlternately(w, "rep", u, data, 64<<10, a, b); calls != 5 {
		t.Fatalf("%d chunk calls, want 5 (none refused)", calls)
	}
	if n := chunksLeft(t, w, u.ID); n != len(data) {
		t.Fatalf("the store keeps %d bytes of the unfinished upload, want %d", n, len(data))
	}
	got, err := b.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.Offset != int64(len(data)) {
		t.Fatalf("GetUpload on node b = %+v, %v", got, err)
	}
	if _, ph, err := b.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil || ph.SHA256 != photostest.Key(data) {
		t.Fatalf("CompleteUpload on node b = %+v, %v", ph, err)
	}
	checkObject(t, w.store, data, "image/jpeg")
	if n := chunksLeft(t, w, u.ID); n != 0 {
		t.Fatalf("the store keeps %d bytes of a completed upload", n)
	}
	photos.WaitTracked(a)
	if err := a.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.stagedSize(u.ID); n != -1 {
		t.Fatalf("node a keeps %d staged bytes of an upload completed on node b", n)
	}
}

// TestLargePhotoAlternatingBetweenNodesGoesToS3Once: the same with S3: a
// 6 MiB photo sent to two nodes in turn (the first streams it to S3 from
// its first chunk, the other sends no parts of it) is stored once, whole,
// and after both nodes' sweeps no multipart upload is left in the bucket.
func TestLargePhotoAlternatingBetweenNodesGoesToS3Once(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := newBucket()
	w := newWorld(t, withS3(srv, bucket), withMaxBytes(8<<20))
	a, b := twoNodes(w)
	ctx := context.Background()
	data := photostest.JPEG(6<<20, 42)
	u := w.create("rep", data)
	sendAlternately(w, "rep", u, data, chunk256KiB, a, b)
	if _, _, err := a.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("CompleteUpload on node a: %v", err)
	}
	checkObject(t, w.store, data, "image/jpeg")
	if n := countObjects(t, srv, bucket); n != 1 {
		t.Fatalf("%d objects in the bucket, want 1", n)
	}
	photos.WaitTracked(a)
	photos.WaitTracked(b)
	if err := errors.Join(a.Sweep(ctx), b.Sweep(ctx)); err != nil {
		t.Fatal(err)
	}
	if n := multipartUploads(t, srv, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left after both nodes swept, want 0", n)
	}
}

// TestSharedStagingRestagesFromTheStoreAfterARestart: with staging shared
// through the store, the staged file is written without fsync, so after a
// crash it may hold anything (here: every byte wrong, and a tail past the
// recorded offset). A restarted server trusts only the store: it stages
// the upload again from there, the device resumes at the recorded offset
// and the photo completes with the right bytes.
func TestSharedStagingRestagesFromTheStoreAfterARestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cfg.SharedStaging = true
	first, err := photos.New(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = first
	data := photostest.JPEG(5000, 43)
	u := w.create("rep", data)
	w.send("rep", u, data[:3000], 1000)
	photos.WaitTracked(first)
	// What a crash may leave of a file the kernel had not written yet.
	staged := filepath.Join(w.dir, "uploads", u.ID)
	if err := os.WriteFile(staged, bytes.Repeat([]byte{0x5a}, 3500), 0o600); err != nil {
		t.Fatal(err)
	}
	restarted, err := photos.New(w.cfg) // a new process over the same database and folder
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { photos.WaitTracked(restarted) })
	w.svc = restarted
	got, err := restarted.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 3000 {
		t.Fatalf("GetUpload after restart = %+v, %v; want offset 3000", got, err)
	}
	w.send("rep", got, data, 1000)
	if _, ph, err := restarted.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil || ph.SHA256 != photostest.Key(data) {
		t.Fatalf("CompleteUpload after restart = %+v, %v", ph, err)
	}
	checkObject(t, w.store, data, "image/jpeg")
}

// TestSwitchingToSharedStagingKeepsTheFsyncedPrefix: an upload begun while
// staging was local (its bytes fsynced in the staged file, none in the
// store) and continued with shared staging resumes after a crash from its
// recorded offset: the fsynced prefix is kept, the rest staged again from
// the store.
func TestSwitchingToSharedStagingKeepsTheFsyncedPrefix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 44)
	u := w.create("rep", data)
	w.send("rep", u, data[:2000], 1000) // local staging
	photos.WaitTracked(w.svc)
	if err := w.svc.Flush(context.Background()); err != nil { // a graceful restart
		t.Fatal(err)
	}
	w.cfg.SharedStaging = true
	shared, err := photos.New(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = shared
	u.Offset = 2000
	w.send("rep", u, data[:3000], 1000)
	photos.WaitTracked(shared)
	if n := chunksLeft(t, w, u.ID); n != 1000 {
		t.Fatalf("the store keeps %d bytes, want the 1000 sent with shared staging", n)
	}
	staged := filepath.Join(w.dir, "uploads", u.ID)
	garbled := append(slices.Clone(data[:2000]), bytes.Repeat([]byte{0x5a}, 1500)...) // the unsynced tail lost
	if err := os.WriteFile(staged, garbled, 0o600); err != nil {
		t.Fatal(err)
	}
	restarted, err := photos.New(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { photos.WaitTracked(restarted) })
	w.svc = restarted
	got, err := restarted.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 3000 {
		t.Fatalf("GetUpload after restart = %+v, %v; want offset 3000", got, err)
	}
	w.send("rep", got, data, 1000)
	if _, ph, err := restarted.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil || ph.SHA256 != photostest.Key(data) {
		t.Fatalf("CompleteUpload after restart = %+v, %v", ph, err)
	}
	checkObject(t, w.store, data, "image/jpeg")
}
