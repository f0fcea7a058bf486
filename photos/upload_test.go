package photos_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestUploadInChunksStoresVerifiedPhotoWithMetadata(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(10_000, 1)
	u, err := w.svc.CreateUpload(ctx, w.p["rep"], photos.CreateRequest{
		SHA256: photostest.Key(data), Size: int64(len(data)), ContentType: "application/octet-stream",
		RecordID: "rec-1", Slot: "pre_op_photo", DeviceHLC: 7 << 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.State != photos.StateInProgress || u.Offset != 0 || !u.ExpiresAt.Equal(w.clock.Now().Add(time.Hour)) {
		t.Fatalf("new upload = %+v", u)
	}
	w.send("rep", u, data, 3000)
	if got := w.stagedSize(u.ID); got != int64(len(data)) {
		t.Fatalf("staged %d bytes, want %d", got, len(data))
	}
	done, ph, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != photos.StateComplete || done.Offset != done.Size || done.RecordID != "rec-1" {
		t.Fatalf("completed upload = %+v", done)
	}
	checkPhoto(t, ph, w.p["rep"].DeviceID, w.clock.Now())
	if w.stagedSize(u.ID) != -1 {
		t.Fatal("staged bytes left after completion")
	}
	checkObject(t, w.store, data, imagecheck.JPEG)

	again, ph2, err := w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	if err != nil || again.State != photos.StateComplete {
		t.Fatalf("second CompleteUpload = %+v, %v", again, err)
	}
	checkPhoto(t, ph2, w.p["rep"].DeviceID, w.clock.Now())
}

// checkPhoto checks what the service read from a photostest JPEG sent by
// the device with HLC 7<<16.
func checkPhoto(t *testing.T, ph *photos.Photo, device string, received time.Time) {
	t.Helper()
	capture, _ := time.Parse(time.RFC3339, photostest.CaptureTime)
	if ph.ContentType != imagecheck.JPEG || !ph.CaptureTime.Equal(capture) || !ph.HasLocation ||
		math.Abs(ph.Latitude-photostest.Latitude) > 1e-6 || math.Abs(ph.Longitude-photostest.Longitude) > 1e-6 ||
		ph.DeviceHLC != 7<<16 || ph.DeviceID != device || !ph.ReceivedAt.Equal(received) {
		t.Fatalf("photo = %+v", ph)
	}
}

func TestKnownHashCompletesAtCreateOnlyForItsUploader(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 2)
	w.upload("rep", data)
	w.secondDevice("rep-tablet", "rep")
	u := w.create("rep-tablet", data)
	if u.State != photos.StateComplete || u.Offset != u.Size {
		t.Fatalf("create of the user's own photo on another device = %+v, want complete", u)
	}
	got, ph, err := w.svc.CompleteUpload(context.Background(), w.p["rep-tablet"], u.ID)
	if err != nil || got.ID != u.ID || ph.DeviceID != w.p["rep-tablet"].DeviceID || ph.UploadID != u.ID {
		t.Fatalf("CompleteUpload = %+v, %+v, %v", got, ph, err)
	}
	if w.stagedSize(u.ID) != -1 {
		t.Fatal("a complete-at-create upload has staged bytes")
	}
	// Another user of the tenant proves possession by sending the bytes.
	if u := w.create("rep2", data); u.State != photos.StateInProgress || u.Offset != 0 {
		t.Fatalf("another user's create of a stored photo = %+v, want in progress at 0", u)
	}
}

func TestOtherTenantSendsTheBytesOfAStoredPhotoOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 3)
	w.upload("rep", data)
	u := w.create("other", data)
	if u.State != photos.StateInProgress {
		t.Fatalf("another tenant's create of a stored photo = %+v, want in progress (proof of possession)", u)
	}
	// Another photo claiming the known hash proves nothing.
	junk := photostest.JPEG(len(data), 99)
	if _, err := w.svc.PutChunk(context.Background(), w.p["other"], u.ID, 0, junk, photos.CRC32C(junk)); err != nil {
		t.Fatal(err)
	}
	_, _, err := w.svc.CompleteUpload(context.Background(), w.p["other"], u.ID)
	wantCode(t, err, syncengine.CodeDataLoss)
	if err := w.svc.CancelUpload(context.Background(), w.p["other"], u.ID); err != nil {
		t.Fatal(err)
	}
	ph := w.upload("other", data)
	if ph.TenantID != w.p["other"].TenantID || ph.DeviceID != w.p["other"].DeviceID {
		t.Fatalf("other tenant's photo = %+v", ph)
	}
	checkObject(t, w.store, data, imagecheck.JPEG)
}

func TestCreateResumesTheDevicesUploadInProgress(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 4)
	u := w.create("rep", data)
	w.send("rep", u, data[:2000], 2000)
	again := w.create("rep", data)
	if again.ID != u.ID || again.Offset != 2000 {
		t.Fatalf("second create = %+v, want upload %s at 2000", again, u.ID)
	}
	if other := w.create("rep2", data); other.ID == u.ID || other.Offset != 0 {
		t.Fatalf("another device's create = %+v, want its own upload", other)
	}
	_, err := w.svc.CreateUpload(context.Background(), w.p["rep"], photos.CreateRequest{SHA256: u.SHA256, Size: u.Size + 1})
	wantCode(t, err, syncengine.CodeFailedPrecondition)
}

func TestCreateRefusesBadDeclarations(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(5000, 5)
	w.upload("rep", data)
	for name, tc := range map[string]struct {
		req  photos.CreateRequest
		code syncengine.Code
	}{
		"oversize":              {photos.CreateRequest{SHA256: photostest.Key([]byte("x")), Size: w.cfg.MaxBytes + 1}, syncengine.CodeResourceExhausted},
		"zero size":             {photos.CreateRequest{SHA256: photostest.Key([]byte("x")), Size: 0}, syncengine.CodeInvalid},
		"bad hash":              {photos.CreateRequest{SHA256: "ABC", Size: 10}, syncengine.CodeInvalid},
		"size of a known photo": {photos.CreateRequest{SHA256: photostest.Key(data), Size: 4999}, syncengine.CodeInvalid},
	} {
		_, err := w.svc.CreateUpload(context.Background(), w.p["rep"], tc.req)
		if syncengine.ErrorCode(err) != tc.code {
			t.Errorf("%s: err = %v, want code %d", name, err, tc.code)
		}
	}
	expired, err := w.db.ExpiredUploads(context.Background(), w.clock.Now().Add(48*time.Hour), 100)
	if err != nil || len(expired) != 0 {
		t.Fatalf("refused creates left uploads: %v, %v", expired, err)
	}
}

func TestOnlyTheCreatingDeviceMayTouchAnUpload(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(3000, 6)
	u := w.create("rep", data)
	for _, who := range []string{"rep2", "director", "other"} {
		_, err := w.svc.GetUpload(ctx, w.p[who], u.ID)
		wantCode(t, err, syncengine.CodeNotFound)
		_, err = w.svc.PutChunk(ctx, w.p[who], u.ID, 0, data, photos.CRC32C(data))
		wantCode(t, err, syncengine.CodeNotFound)
		_, _, err = w.svc.CompleteUpload(ctx, w.p[who], u.ID)
		wantCode(t, err, syncengine.CodeNotFound)
		wantCode(t, w.svc.CancelUpload(ctx, w.p[who], u.ID), syncengine.CodeNotFound)
	}
	_, err := w.svc.CreateUpload(ctx, w.p["key"], photos.CreateRequest{SHA256: u.SHA256, Size: u.Size})
	wantCode(t, err, syncengine.CodePermissionDenied)
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID); err != nil || got.Offset != 0 || w.stagedSize(u.ID) != -1 {
		t.Fatalf("after refused calls: %+v, %v, staged %d", got, err, w.stagedSize(u.ID))
	}
	_, err = w.svc.GetUpload(ctx, w.p["rep"], "01JUNKJUNKJUNKJUNKJUNKJUNK")
	wantCode(t, err, syncengine.CodeNotFound)
}

func TestCancelDiscardsStagedBytes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(3000, 7)
	u := w.create("rep", data)
	w.send("rep", u, data[:1000], 1000)
	if err := w.svc.CancelUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.CancelUpload(ctx, w.p["rep"], u.ID); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	if w.stagedSize(u.ID) != -1 {
		t.Fatal("staged bytes left after cancel")
	}
	got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
	if err != nil || got.State != photos.StateCancelled {
		t.Fatalf("GetUpload = %+v, %v", got, err)
	}
	_, err = w.svc.PutChunk(ctx, w.p["rep"], u.ID, 1000, data[1000:], photos.CRC32C(data[1000:]))
	wantCode(t, err, syncengine.CodeFailedPrecondition)
	_, _, err = w.svc.CompleteUpload(ctx, w.p["rep"], u.ID)
	wantCode(t, err, syncengine.CodeFailedPrecondition)
	if fresh := w.create("rep", data); fresh.ID == u.ID || fresh.Offset != 0 {
		t.Fatalf("create after cancel = %+v, want a new upload", fresh)
	}
	done := w.create("rep2", photostest.JPEG(300, 70))
	w.send("rep2", done, photostest.JPEG(300, 70), 300)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep2"], done.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, w.svc.CancelUpload(ctx, w.p["rep2"], done.ID), syncengine.CodeFailedPrecondition)
}

func TestCreateOfAPhotoStoredMeanwhileCancelsTheDevicesUpload(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(3000, 8)
	slow := w.create("rep", data)
	w.send("rep", slow, data[:1000], 1000)
	w.secondDevice("rep-tablet", "rep")
	w.upload("rep-tablet", data) // another device of the user gets there first
	u := w.create("rep", data)
	if u.State != photos.StateComplete || u.ID == slow.ID {
		t.Fatalf("create = %+v, want a new upload complete at once", u)
	}
	if old, _ := w.svc.GetUpload(context.Background(), w.p["rep"], slow.ID); old.State != photos.StateCancelled {
		t.Fatalf("the superseded upload is %v, want cancelled", old.State)
	}
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.stagedSize(slow.ID) != -1 {
		t.Fatal("the superseded upload's bytes survived the sweep")
	}
}

func TestADevicesUploadsInProgressAreBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	const extra = 3
	n := photos.DefaultMaxDeviceUploads + extra
	ups, datas := make([]*photos.Upload, n), make([][]byte, n)
	for i := range n {
		datas[i] = photostest.JPEG(2000, uint64(100+i))
		ups[i] = w.create("rep", datas[i])
		w.send("rep", ups[i], datas[i][:1000], 1000)
		if _, err := w.svc.GetUpload(ctx, w.p["rep"], ups[i].ID); err != nil { // its 1000 bytes durable, as after a while
			t.Fatal(err)
		}
		w.clock.Add(time.Second)
	}
	other := w.create("rep2", photostest.JPEG(2000, 99)) // another device's uploads count for it alone
	for i, u := range ups {
		got, err := w.svc.GetUpload(ctx, w.p["rep"], u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if evicted := i < extra; evicted {
			if got.State != photos.StateExpired || w.stagedSize(u.ID) != -1 {
				t.Errorf("upload %d of %d: state %v, staged %d bytes; want the oldest %d ended, their bytes removed", i, n, got.State, w.stagedSize(u.ID), extra)
			}
		} else if got.State != photos.StateInProgress || got.Offset != 1000 {
			t.Errorf("upload %d of %d: state %v at %d; want in progress at 1000", i, n, got.State, got.Offset)
		}
	}
	// An ended upload takes no more bytes; its photo starts over, ending
	// the next least recently used upload, and completes.
	_, err := w.svc.PutChunk(ctx, w.p["rep"], ups[0].ID, 1000, datas[0][1000:], photos.CRC32C(datas[0][1000:]))
	wantCode(t, err, syncengine.CodeFailedPrecondition)
	again := w.create("rep", datas[0])
	if again.ID == ups[0].ID || again.Offset != 0 {
		t.Fatalf("create of an ended upload's photo = %+v, want a new upload at 0", again)
	}
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], ups[extra].ID); err != nil || got.State != photos.StateExpired {
		t.Fatalf("the next oldest upload after one more create: %+v, %v; want it ended", got, err)
	}
	w.send("rep", again, datas[0], 1000)
	if _, _, err := w.svc.CompleteUpload(ctx, w.p["rep"], again.ID); err != nil {
		t.Fatalf("complete the photo started over: %v", err)
	}
	// Resuming an upload in progress ends nothing.
	if resumed := w.create("rep", datas[n-1]); resumed.ID != ups[n-1].ID {
		t.Fatalf("create of an upload in progress = %+v, want it resumed", resumed)
	}
	if got, err := w.svc.GetUpload(ctx, w.p["rep"], ups[extra+1].ID); err != nil || got.State != photos.StateInProgress {
		t.Fatalf("a resume ended upload %s: %+v, %v", ups[extra+1].ID, got, err)
	}
	if got, err := w.svc.GetUpload(ctx, w.p["rep2"], other.ID); err != nil || got.State != photos.StateInProgress {
		t.Fatalf("another device's upload: %+v, %v; want it in progress", got, err)
	}
}
