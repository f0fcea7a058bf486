package photos_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/media/local"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestWrongOffsetAnswersTheServersOffset(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(3000, 10)
	u := w.create("rep", data)
	w.send("rep", u, data[:1000], 1000)
	for _, off := range []int64{0, 500, 2000} { // a resent chunk, a bad seek, a skipped chunk
		_, err := w.svc.PutChunk(context.Background(), w.p["rep"], u.ID, off, data[off:off+100], photos.CRC32C(data[off:off+100]))
		wantCode(t, err, syncengine.CodeWrongOffset)
		var de *syncengine.Error
		if !errors.As(err, &de) || de.Detail.(*fieldsyncv1.UploadOffset).GetOffset() != 1000 {
			t.Fatalf("at %d: detail of %v = %v, want offset 1000", off, err, de.Detail)
		}
	}
	if got := w.stagedSize(u.ID); got != 1000 {
		t.Fatalf("staged %d bytes after refused chunks, want 1000", got)
	}
}

func TestCorruptedChunkWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(3000, 11)
	u := w.create("rep", data)
	w.send("rep", u, data[:1000], 1000)
	chunk := append([]byte(nil), data[1000:2000]...)
	crc := photos.CRC32C(chunk)
	chunk[10] ^= 0xFF // flipped in transit
	_, err := w.svc.PutChunk(ctx, w.p["rep"], u.ID, 1000, chunk, crc)
	wantCode(t, err, syncengine.CodeDataLoss)
	if got, _ := w.svc.GetUpload(ctx, w.p["rep"], u.ID); got.Offset != 1000 || w.stagedSize(u.ID) != 1000 {
		t.Fatalf("after a corrupted chunk: offset %d, staged %d; want 1000", got.Offset, w.stagedSize(u.ID))
	}
	_, err = w.svc.PutChunk(ctx, w.p["rep"], u.ID, 1000, data[1000:], photos.CRC32C(data[1000:])+1)
	wantCode(t, err, syncengine.CodeDataLoss)
	over := append(append([]byte(nil), data[1000:]...), 'x')
	_, err = w.svc.PutChunk(ctx, w.p["rep"], u.ID, 1000, over, photos.CRC32C(over))
	wantCode(t, err, syncengine.CodeInvalid)
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 1000}, data, 1000)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
}

func TestCompleteRefusesWrongHashNonImageAndMissingBytes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	good := photostest.JPEG(3000, 12)
	badJPEG := append([]byte(nil), good...)
	badJPEG[4], badJPEG[5] = 0xFF, 0xFF // an EXIF segment longer than the file
	for name, tc := range map[string]struct {
		declared, sent []byte
		code           syncengine.Code
	}{
		"wrong hash":    {good, photostest.JPEG(3000, 13), syncengine.CodeDataLoss},
		"not an image":  {photostest.NotAnImage(3000, 12), photostest.NotAnImage(3000, 12), syncengine.CodeInvalid},
		"bad jpeg":      {badJPEG, badJPEG, syncengine.CodeInvalid},
		"missing bytes": {good, good[:2000], syncengine.CodeFailedPrecondition},
	} {
		u := w.create("rep", tc.declared)
		w.send("rep", u, tc.sent, 1000)
		_, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
		if syncengine.ErrorCode(err) != tc.code {
			t.Errorf("%s: err = %v, want code %d", name, err, tc.code)
		}
		noObject(t, w.store, tc.declared)
		got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
		if err != nil || got.State != photos.StateInProgress || got.Offset != int64(len(tc.sent)) {
			t.Errorf("%s: the refusal changed the upload: %+v, %v", name, got, err)
		}
		if err := w.svc.CancelUpload(ctx, w.p["rep"], u.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestartResumesFromTheDurableOffset(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 14)
	u := w.create("rep", data)
	w.send("rep", u, data[:3000], 1000)
	w.start() // a new process over the same database and folders
	got, err := w.svc.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 3000 {
		t.Fatalf("GetUpload after restart = %+v, %v; want offset 3000", got, err)
	}
	w.send("rep", got, data, 1000)
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, "image/jpeg")
}

func TestStagedTailBeyondTheRecordedOffsetIsCut(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 15)
	u := w.create("rep", data)
	w.send("rep", u, data[:2000], 1000)
	// A crash after a chunk's fsync but before its offset was recorded.
	appendFile(t, filepath.Join(w.dir, "uploads", u.ID), []byte("half of a chunk"))
	w.start()
	got, err := w.svc.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 2000 || w.stagedSize(u.ID) != 2000 {
		t.Fatalf("after restart: %+v, %v, staged %d; want 2000 both", got, err, w.stagedSize(u.ID))
	}
	w.send("rep", got, data, 1000)
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
}

func TestShorterStagedFileMovesTheOffsetBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 16)
	u := w.create("rep", data)
	w.send("rep", u, data[:3000], 1000)
	if got, err := w.svc.GetUpload(context.Background(), w.p["rep"], u.ID); err != nil || got.Offset != 3000 {
		t.Fatalf("GetUpload = %+v, %v; want the durable offset 3000", got, err)
	}
	if err := os.Truncate(filepath.Join(w.dir, "uploads", u.ID), 1500); err != nil {
		t.Fatal(err)
	}
	_, err := w.svc.PutChunk(context.Background(), w.p["rep"], u.ID, 3000, data[3000:4000], photos.CRC32C(data[3000:4000]))
	wantCode(t, err, syncengine.CodeWrongOffset)
	got, err := w.svc.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 1500 {
		t.Fatalf("GetUpload = %+v, %v; want offset 1500", got, err)
	}
	if stored, _ := w.db.Upload(context.Background(), u.ID); stored.Offset != 1500 {
		t.Fatalf("stored offset %d, want 1500", stored.Offset)
	}
	w.send("rep", got, data, 1000)
	if _, _, err := w.svc.CompleteUpload(context.Background(), w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestCrashLosesOnlyUnflushedChunksAndTheDeviceResendsThem: chunks are
// acknowledged before they are durable. After a crash the upload goes on
// from the last durable offset (what GetUpload said before), the staged
// bytes past it (here garbled, as unsynced pages may be) are cut, a chunk
// the device sends from where it was acknowledged is answered with that
// durable offset, and the resent photo is stored whole, once.
func TestCrashLosesOnlyUnflushedChunksAndTheDeviceResendsThem(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(6000, 17)
	u := w.create("rep", data)
	w.send("rep", u, data[:2000], 1000)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 2000 {
		t.Fatalf("GetUpload = %+v, %v; want the durable offset 2000", got, err)
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 2000}, data[:4500], 1000)
	photos.WaitTracked(w.svc)
	if stored, _ := w.db.Upload(ctx, u.ID); stored.Offset != 2000 || photos.Acknowledged(w.svc, u.ID) != 4500 {
		t.Fatalf("recorded offset %d, acknowledged %d; want 2000 and 4500 (not yet durable)", stored.Offset, photos.Acknowledged(w.svc, u.ID))
	}
	staged := filepath.Join(w.dir, "uploads", u.ID)
	garbled := append(slices.Clone(data[:2000]), bytes.Repeat([]byte{0xa5}, 1700)...)
	if err := os.WriteFile(staged, garbled, 0o600); err != nil {
		t.Fatal(err)
	}
	w.crash()

	_, err := w.svc.PutChunk(ctx, w.p["rep"], u.ID, 4500, data[4500:5500], photos.CRC32C(data[4500:5500]))
	wantCode(t, err, syncengine.CodeWrongOffset)
	if off := offsetDetail(t, err); off != 2000 {
		t.Fatalf("wrong offset answered %d, want the durable 2000", off)
	}
	if n := w.stagedSize(u.ID); n != 2000 {
		t.Fatalf("staged %d bytes after the restart, want 2000 (the unsynced tail cut)", n)
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 2000}, data, 1000)
	_, ph, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	if err != nil || ph.SHA256 != photostest.Key(data) {
		t.Fatalf("CompleteUpload = %+v, %v", ph, err)
	}
	checkObject(t, w.store, data, "image/jpeg")
	if stored, _ := w.db.Upload(ctx, u.ID); stored.State != photos.StateComplete || stored.Offset != int64(len(data)) {
		t.Fatalf("stored upload %+v, want complete at its size", stored)
	}
}

// TestOffsetsToldToTheDeviceAreDurable: the offset in a wrong-offset
// answer, in GetUpload, in CreateUpload of an upload in progress and in a
// completion refused for missing bytes is recorded before it is told.
func TestOffsetsToldToTheDeviceAreDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, ask := range map[string]func(w *world, u *photos.Upload, data []byte) int64{
		"wrong offset": func(w *world, u *photos.Upload, data []byte) int64 {
			_, err := w.svc.PutChunk(ctx, w.p["rep"], u.ID, 1000, data[1000:2000], photos.CRC32C(data[1000:2000]))
			wantCode(t, err, syncengine.CodeWrongOffset)
			return offsetDetail(t, err)
		},
		"get": func(w *world, u *photos.Upload, _ []byte) int64 {
			got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Offset
		},
		"create": func(w *world, _ *photos.Upload, data []byte) int64 { return w.create("rep", data).Offset },
		"complete": func(w *world, u *photos.Upload, _ []byte) int64 {
			_, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
			wantCode(t, err, syncengine.CodeFailedPrecondition)
			return offsetDetail(t, err)
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			data := photostest.JPEG(5000, 18)
			u := w.create("rep", data)
			w.send("rep", u, data[:3000], 1000)
			if got := ask(w, u, data); got != 3000 {
				t.Fatalf("told offset %d, want 3000", got)
			}
			if stored, _ := w.db.Upload(ctx, u.ID); stored.Offset != 3000 || photos.Acknowledged(w.svc, u.ID) != -1 {
				t.Fatalf("recorded offset %d (acknowledged beyond it: %d), want 3000 recorded", stored.Offset, photos.Acknowledged(w.svc, u.ID))
			}
			w.crash()
			if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 3000 {
				t.Fatalf("GetUpload after a crash = %+v, %v; want 3000", got, err)
			}
		})
	}
}

// offsetDetail returns the UploadOffset detail of a domain error.
func offsetDetail(t *testing.T, err error) int64 {
	t.Helper()
	var se *syncengine.Error
	if !errors.As(err, &se) {
		t.Fatalf("%v is not a domain error", err)
	}
	off, ok := se.Detail.(*fieldsyncv1.UploadOffset)
	if !ok {
		t.Fatalf("%v has no UploadOffset detail", err)
	}
	return off.GetOffset()
}

// TestAcknowledgedChunksBecomeDurableOnTheirOwn: a device that stops
// sending (its connection cut) has its acknowledged chunks made durable
// by the flush timer, without asking.
func TestAcknowledgedChunksBecomeDurableOnTheirOwn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	photos.SetFlushAfter(w.svc, 10*time.Millisecond)
	ctx := context.Background()
	data := photostest.JPEG(5000, 19)
	u := w.create("rep", data)
	w.send("rep", u, data[:3000], 1000)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if stored, _ := w.db.Upload(ctx, u.ID); stored.Offset == 3000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("acknowledged chunks not durable 30 s after they were sent")
		}
	}
	w.crash()
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 3000 {
		t.Fatalf("GetUpload after a crash = %+v, %v; want 3000", got, err)
	}
}

// diesAfterPutFile is a local store whose PutFile places the object and
// then reports failure, as a process that died before committing the
// upload would leave it.
type diesAfterPutFile struct {
	*local.Store
}

func (d diesAfterPutFile) PutFile(ctx context.Context, key, path string, size int64, contentType string) error {
	if err := d.Store.PutFile(ctx, key, path, size, contentType); err != nil {
		return err
	}
	return errors.New("the process died here")
}

// TestCrashAfterTheObjectIsPlacedKeepsItsBytes: the local store hard-links
// a completed upload's staged file into place. When the process dies
// before the upload is recorded complete, the restarted service must not
// cut that file back to an older recorded offset (chunks acknowledged but
// not yet durable), which would cut the stored object too: the object
// under the photo's key keeps the photo's bytes.
func TestCrashAfterTheObjectIsPlacedKeepsItsBytes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(w *world) { w.store = diesAfterPutFile{w.store.(*local.Store)} })
	ctx := context.Background()
	data := photostest.JPEG(5000, 20)
	u := w.create("rep", data)
	w.send("rep", u, data[:2000], 1000)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 2000 {
		t.Fatalf("GetUpload = %+v, %v; want the durable offset 2000", got, err)
	}
	w.send("rep", &photos.Upload{ID: u.ID, Offset: 2000}, data, 1000)
	photos.WaitTracked(w.svc)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID); err == nil {
		t.Fatal("CompleteUpload succeeded, want the injected failure")
	}
	w.crash()
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkObject(t, w.store, data, "image/jpeg")
	if got.Offset != int64(len(data)) {
		w.send("rep", got, data, 1000)
	}
	checkObject(t, w.store, data, "image/jpeg")
}
