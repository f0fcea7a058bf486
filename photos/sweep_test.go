package photos_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestSweepExpiresUnfinishedUploadsAndRemovesTheirBytes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(3000, 40)
	u := w.create("rep", data)
	w.send("rep", u, data[:1000], 1000)
	w.clock.Add(time.Hour)
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.State != photos.StateExpired {
		t.Fatalf("GetUpload past expiry = %+v, %v; want expired", got, err)
	}
	_, err = w.svc.PutChunk(ctx, w.p["rep"], u.ID, 1000, data[1000:], photos.CRC32C(data[1000:]))
	wantCode(t, err, syncengine.CodeFailedPrecondition)
	if err := w.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if stored, _ := w.db.Upload(ctx, u.ID); stored.State != photos.StateExpired || w.stagedSize(u.ID) != -1 {
		t.Fatalf("after the sweep: %+v, staged %d", stored, w.stagedSize(u.ID))
	}
	if fresh := w.create("rep", data); fresh.ID == u.ID || fresh.Offset != 0 {
		t.Fatalf("create after expiry = %+v, want a new upload", fresh)
	}
}

func TestChunksKeepAnUploadAlive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(3000, 41)
	u := w.create("rep", data)
	for off := int64(0); off < 3000; off += 1000 {
		w.clock.Add(50 * time.Minute)
		if _, err := w.svc.PutChunk(ctx, w.p["rep"], u.ID, off, data[off:off+1000], photos.CRC32C(data[off:off+1000])); err != nil {
			t.Fatalf("chunk at %d, %v after the last: %v", off, 50*time.Minute, err)
		}
	}
	if err := w.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("CompleteUpload of an upload active within its expiry: %v", err)
	}
}

func TestCreateReplacesAnExpiredUploadNotSweptYet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(3000, 42)
	old := w.create("rep", data)
	w.send("rep", old, data[:1000], 1000)
	w.clock.Add(2 * time.Hour)
	fresh := w.create("rep", data)
	if fresh.ID == old.ID || fresh.State != photos.StateInProgress {
		t.Fatalf("create = %+v, want a new upload", fresh)
	}
	if stored, _ := w.db.Upload(context.Background(), old.ID); stored.State != photos.StateExpired {
		t.Fatalf("old upload is %v, want expired", stored.State)
	}
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.stagedSize(old.ID) != -1 {
		t.Fatal("the replaced upload's bytes survived the sweep")
	}
}

func TestSweepRemovesLeftoverStagedFilesAndCutsTails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := filepath.Join(w.dir, "uploads")
	data := photostest.JPEG(3000, 43)
	done := w.create("rep", data)
	w.send("rep", done, data, 1000)
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], done.ID); err != nil {
		t.Fatal(err)
	}
	other := photostest.JPEG(3000, 44)
	active := w.create("rep", other)
	w.send("rep", active, other[:1000], 1000)
	unknown := ids.New()
	for _, name := range []string{done.ID, unknown, "README"} { // a crash before removal; a lost row; not ours
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left over"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	appendFile(t, filepath.Join(dir, active.ID), []byte("torn chunk"))
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.stagedSize(done.ID) != -1 || w.stagedSize(unknown) != -1 {
		t.Fatal("leftover staged files survived the sweep")
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Fatalf("the sweep removed a file that is not an upload's: %v", err)
	}
	if got := w.stagedSize(active.ID); got != 1000 {
		t.Fatalf("active upload has %d staged bytes after the sweep, want 1000", got)
	}
}

func TestRunSweepsUntilCancelled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(3000, 45)
	u := w.create("rep", data)
	w.send("rep", u, data[:1000], 1000)
	w.clock.Add(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.svc.Run(ctx) }()
	for w.stagedSize(u.ID) != -1 { // Run sweeps at once
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
