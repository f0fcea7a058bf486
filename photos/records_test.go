package photos_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/syncengine"
)

// photoStates returns the state of each photo of a pulled record.
func photoStates(r *fieldsyncv1.Record) map[string]fieldsyncv1.PhotoState {
	out := map[string]fieldsyncv1.PhotoState{}
	for _, p := range r.GetPhotos() {
		out[p.Sha256] = p.State
	}
	return out
}

func surgeryOf(t *testing.T, r *fieldsyncv1.Record) *fieldsyncv1.SurgerySupport {
	t.Helper()
	var ss fieldsyncv1.SurgerySupport
	if err := r.GetValue().UnmarshalTo(&ss); err != nil {
		t.Fatal(err)
	}
	return &ss
}

func TestPullShowsPendingThenAvailableAndSurgeryCompletes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pre, intra, post := photostest.JPEG(2000, 30), photostest.JPEG(2000, 31), photostest.JPEG(2000, 32)
	id := w.surgery("rep", pre, intra, post)
	recs, cursor := w.pull("rep", "")
	for h, st := range photoStates(recs[id]) {
		if st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
			t.Fatalf("photo %s is %v before any upload", h[:8], st)
		}
	}
	for i, data := range [][]byte{pre, intra, post} {
		w.upload("rep", data)
		recs, cursor = w.pull("rep", cursor)
		r := recs[id]
		if r == nil {
			t.Fatalf("upload %d: the surgery was not re-delivered", i)
		}
		if st := photoStates(r)[photostest.Key(data)]; st != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
			t.Fatalf("upload %d: photo is %v after completion", i, st)
		}
		if got, want := surgeryOf(t, r).GetPhotosComplete(), i == 2; got != want {
			t.Fatalf("upload %d: photos_complete = %v, want %v", i, got, want)
		}
	}
	if again, _ := w.pull("rep", cursor); len(again) != 0 {
		t.Fatalf("records re-delivered with nothing new: %v", again)
	}
}

// photoEvents returns the records of the pending photo-state events of
// data, checking each event.
func (w *world) photoEvents(data []byte) map[string]int {
	w.t.Helper()
	evs, err := w.db.PendingEvents(context.Background(), 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	seen := map[string]int{}
	for _, oe := range evs {
		var ev fieldsyncv1.ChangeEvent
		if err := proto.Unmarshal(oe.Data, &ev); err != nil {
			w.t.Fatal(err)
		}
		if ev.Op == fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE {
			if !ev.PhotoAvailable || ev.PhotoSha256 != photostest.Key(data) || ev.TenantId != w.tenant ||
				!strings.HasSuffix(oe.Subject, ".changes.SurgerySupport") || ev.OwnerUserId == "" {
				w.t.Fatalf("photo event %v on %s", &ev, oe.Subject)
			}
			seen[ev.RecordId]++
		}
	}
	return seen
}

func TestAvailablePhotoWritesPhotoStateEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(2000, 33)
	a, b := w.surgery("rep", data, nil, nil), w.surgery("rep2", nil, data, nil)
	w.upload("rep", data)
	if seen := w.photoEvents(data); len(seen) != 1 || seen[a] != 1 {
		t.Fatalf("photo events for %v after rep's upload, want %s only", seen, a)
	}
	w.upload("rep2", data) // rep2's own record becomes available with rep2's bytes
	if seen := w.photoEvents(data); len(seen) != 2 || seen[a] != 1 || seen[b] != 1 {
		t.Fatalf("photo events for %v after rep2's upload, want %s and %s once", seen, a, b)
	}
	w.secondDevice("rep-tablet", "rep")
	w.upload("rep-tablet", data) // held already: nothing new
	if seen := w.photoEvents(data); len(seen) != 2 || seen[a] != 1 || seen[b] != 1 {
		t.Fatalf("photo events for %v after a repeated upload", seen)
	}
}

// touchRecorder is Records with the TouchRecord capability, recording its
// calls; it fails the first failures calls of either method.
type touchRecorder struct {
	photos.Records
	mu       sync.Mutex
	touched  []string
	failures int
}

func (r *touchRecorder) fail() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return errors.New("engine hiccup")
	}
	return nil
}

func (r *touchRecorder) TouchRecord(_ context.Context, _, recordType, id string) error {
	if err := r.fail(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touched = append(r.touched, recordType+" "+id)
	return nil
}

func (r *touchRecorder) ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error) {
	if err := r.fail(); err != nil {
		return false, err
	}
	return r.Records.ServerWrite(ctx, tenantID, recordType, id, value, fields)
}

func TestOtherRecordTypesAreTouchedWhenRecordsCan(t *testing.T) {
	t.Parallel()
	rec := &touchRecorder{}
	w := newWorld(t, withRecords(func(w *world) photos.Records { rec.Records = w.engine; return rec }))
	data := photostest.JPEG(2000, 34)
	id := ids.New()
	w.push("advisor", id, &fieldsyncv1.Diagnosis{Photos: []*fieldsyncv1.PhotoRef{ref(data)}}, "photos")
	w.upload("advisor", data)
	if len(rec.touched) != 1 || rec.touched[0] != "fieldsync.v1.Diagnosis "+id {
		t.Fatalf("touched %v, want the diagnosis", rec.touched)
	}
}

func TestSweeperRetriesRecordsNotReDelivered(t *testing.T) {
	t.Parallel()
	rec := &touchRecorder{failures: 1}
	w := newWorld(t, withRecords(func(w *world) photos.Records { rec.Records = w.engine; return rec }))
	data := photostest.JPEG(2000, 35)
	id := w.surgery("rep", data, nil, nil)
	_, cursor := w.pull("rep", "")
	w.upload("rep", data) // the bump fails; the photo is stored all the same
	if ns, _ := w.db.PhotoNotices(context.Background(), 10); len(ns) != 1 {
		t.Fatalf("notices = %v, want the failed one", ns)
	}
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ns, _ := w.db.PhotoNotices(context.Background(), 10); len(ns) != 0 {
		t.Fatalf("notices after the sweep = %v", ns)
	}
	recs, _ := w.pull("rep", cursor)
	if recs[id] == nil || photoStates(recs[id])[photostest.Key(data)] != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
		t.Fatalf("after the sweep the surgery was not re-delivered as available: %v", recs)
	}
}

func TestMediaURLOnlyForCallersWhoSeeARecordOfThePhoto(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	data := photostest.JPEG(2000, 36)
	w.upload("rep", data)
	key := photostest.Key(data)
	_, _, err := w.svc.MediaURL(ctx, w.p["rep"], key)
	wantCode(t, err, syncengine.CodeNotFound) // uploaded, but no record uses it yet
	id := w.surgery("rep", data, nil, nil)
	for who, ok := range map[string]bool{"rep": true, "director": true, "key": true, "rep2": false, "other": false} {
		_, _, err := w.svc.MediaURL(ctx, w.p[who], key)
		if ok != (err == nil) || (!ok && syncengine.ErrorCode(err) != syncengine.CodeNotFound) {
			t.Errorf("%s: MediaURL err = %v, want allowed %v", who, err, ok)
		}
	}
	_, _, err = w.svc.MediaURL(ctx, w.p["rep"], photostest.Key([]byte("never uploaded")))
	wantCode(t, err, syncengine.CodeNotFound)
	w.seq["rep"]++
	if _, err := w.engine.Push(ctx, w.p["rep"], []syncengine.Mutation{{Seq: w.seq["rep"], Type: "fieldsync.v1.SurgerySupport",
		RecordID: id, Delete: true, HLC: w.engine.Clock().Now()}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.svc.MediaURL(ctx, w.p["rep"], key)
	wantCode(t, err, syncengine.CodeNotFound)
}

func TestSignedLinkServesThePhotoUntilItExpires(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(2000, 37)
	w.surgery("rep", data, nil, nil)
	w.upload("rep", data)
	link, expires, err := w.svc.MediaURL(context.Background(), w.p["rep"], photostest.Key(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := w.clock.Now().Add(photos.DefaultLinkTTL); !expires.Equal(want) {
		t.Fatalf("expires %v, want %v", expires, want)
	}
	srv := httptest.NewServer(media.NewHandler(w.store, w.signer))
	defer srv.Close()
	path := strings.TrimPrefix(link, "http://fieldsync.test")
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(got) != string(data) {
		t.Fatalf("GET %s: %s, %d bytes", path, resp.Status, len(got))
	}
	if err := w.signer.Verify(photostest.Key(data), "1", "x", expires); err == nil {
		t.Fatal("forged link verified")
	}
}

func TestSurgeryPushedAfterItsPhotosCompletesOnTheNextSweep(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pre, intra, post := photostest.JPEG(2000, 38), photostest.JPEG(2000, 39), photostest.JPEG(2000, 40)
	for _, data := range [][]byte{pre, intra, post} {
		w.upload("rep", data)
	}
	partial := w.surgery("rep", pre, intra, nil)
	id := w.surgery("rep", pre, intra, post)
	recs, cursor := w.pull("rep", "")
	if surgeryOf(t, recs[id]).GetPhotosComplete() {
		t.Fatal("photos_complete set before any sweep")
	}
	for _, st := range photoStates(recs[id]) {
		if st != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
			t.Fatalf("photo state %v, want available", st)
		}
	}
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, cursor = w.pull("rep", cursor)
	if len(recs) != 1 || !surgeryOf(t, recs[id]).GetPhotosComplete() {
		t.Fatalf("after the sweep: %v, want only %s, complete", recs, id)
	}
	_ = partial // two staged photos only: left incomplete
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again, _ := w.pull("rep", cursor); len(again) != 0 {
		t.Fatalf("a second sweep bumped records again: %v", again)
	}
}
