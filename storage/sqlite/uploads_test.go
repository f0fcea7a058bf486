package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/photos"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

const hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func openUploadsDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "uploads.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newUpload(id, device string, st photos.State) *photos.Upload {
	return &photos.Upload{
		ID: id, TenantID: "t1", DeviceID: device, UserID: "u1", SHA256: hashA, Size: 100, ContentType: "image/jpeg",
		RecordID: "r1", Slot: "pre_op_photo", State: st, DeviceHLC: 1 << 40,
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
}

func putUpload(t *testing.T, db *sqlite.DB, u *photos.Upload) error {
	t.Helper()
	return db.UpdatePhotos(context.Background(), func(tx photos.Tx) error { return tx.PutUpload(u) })
}

func TestUploadRoundTripsAndUpdates(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	u := newUpload("up1", "d1", photos.StateInProgress)
	if err := putUpload(t, db, u); err != nil {
		t.Fatal(err)
	}
	got, err := db.Upload(ctx, "up1")
	if err != nil || *got != *u {
		t.Fatalf("Upload = %+v, %v; want %+v", got, err, u)
	}
	u.Offset, u.State, u.UpdatedAt, u.ExpiresAt = 60, photos.StateComplete, t0.Add(time.Minute), t0.Add(2*time.Hour)
	if err := putUpload(t, db, u); err != nil {
		t.Fatal(err)
	}
	if got, _ = db.Upload(ctx, "up1"); *got != *u {
		t.Fatalf("after update %+v, want %+v", got, u)
	}
	if got, err := db.Upload(ctx, "missing"); got != nil || err != nil {
		t.Fatalf("missing upload = %+v, %v", got, err)
	}
}

func TestOneUploadInProgressPerDeviceAndHash(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	if err := putUpload(t, db, newUpload("up1", "d1", photos.StateInProgress)); err != nil {
		t.Fatal(err)
	}
	if err := putUpload(t, db, newUpload("up2", "d1", photos.StateInProgress)); err == nil {
		t.Fatal("a second upload in progress of the same hash by the same device was accepted")
	}
	for _, u := range []*photos.Upload{newUpload("up3", "d2", photos.StateInProgress), newUpload("up4", "d1", photos.StateCancelled)} {
		if err := putUpload(t, db, u); err != nil {
			t.Fatalf("%s: %v", u.ID, err)
		}
	}
	err := db.UpdatePhotos(context.Background(), func(tx photos.Tx) error {
		got, err := tx.ActiveUpload("d1", hashA)
		if err != nil || got == nil || got.ID != "up1" {
			t.Errorf("ActiveUpload = %+v, %v; want up1", got, err)
		}
		none, err := tx.ActiveUpload("d9", hashA)
		if err != nil || none != nil {
			t.Errorf("ActiveUpload of another device = %+v, %v", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExpiredUploadsAreThoseInProgressPastExpiry(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	late := newUpload("late", "d1", photos.StateInProgress)
	fresh := newUpload("fresh", "d2", photos.StateInProgress)
	fresh.ExpiresAt = t0.Add(3 * time.Hour)
	done := newUpload("done", "d3", photos.StateComplete)
	for _, u := range []*photos.Upload{late, fresh, done} {
		if err := putUpload(t, db, u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ExpiredUploads(context.Background(), t0.Add(time.Hour), 10)
	if err != nil || len(got) != 1 || got[0].ID != "late" {
		t.Fatalf("ExpiredUploads = %v, %v; want late only", got, err)
	}
}

func TestAddPhotoIsPerTenantAndKeepsTheFirstFacts(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	first := &photos.Photo{SHA256: hashA, Size: 100, ContentType: "image/jpeg", CaptureTime: t0.Add(-time.Hour),
		HasLocation: true, Latitude: 31.5, Longitude: -121.25, TenantID: "t1", UploadID: "up1", DeviceID: "d1",
		UserID: "u1", DeviceHLC: 1 << 40, ReceivedAt: t0}
	second := *first
	second.UploadID, second.DeviceID, second.ReceivedAt = "up2", "d2", t0.Add(time.Minute)
	other := second
	other.TenantID = "t2"
	for i, tc := range []struct {
		ph   *photos.Photo
		want bool
	}{{first, true}, {&second, false}, {&other, true}} {
		var added bool
		err := db.UpdatePhotos(ctx, func(tx photos.Tx) error {
			var err error
			added, err = tx.AddPhoto(tc.ph)
			return err
		})
		if err != nil || added != tc.want {
			t.Fatalf("AddPhoto %d = %v, %v; want %v", i, added, err, tc.want)
		}
	}
	got, held, err := db.Photo(ctx, "t1", hashA)
	if err != nil || !held || *got != *first {
		t.Fatalf("Photo(t1) = %+v, %v, %v; want %+v", got, held, err, first)
	}
	got, held, err = db.Photo(ctx, "t3", hashA)
	if err != nil || held || got.Size != 100 || got.UploadID != "" {
		t.Fatalf("Photo(t3) = %+v, %v, %v; want stored, not held", got, held, err)
	}
	if got, _, err := db.Photo(ctx, "t1", strings.Repeat("b", 64)); got != nil || err != nil {
		t.Fatalf("Photo of an unknown hash = %+v, %v", got, err)
	}
}

func TestPhotoRecordsListsLiveRecordsWithTheirScope(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	e, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ref := &fieldsyncv1.PhotoRef{Sha256: hashA, SizeBytes: 100}
	p := &syncengine.Principal{TenantID: "t1", UserID: "u1", DeviceID: "d1", Role: fieldsyncv1.Role_ROLE_REP, RegionID: "r1"}
	for i, id := range []string{"s1", "s2"} {
		_, err := e.Push(ctx, p, []syncengine.Mutation{{Seq: uint64(i + 1), Type: "fieldsync.v1.SurgerySupport", RecordID: id,
			Value: &fieldsyncv1.SurgerySupport{PreOpPhoto: ref}, Fields: []string{"pre_op_photo"}, HLC: e.Clock().Now()}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Push(ctx, p, []syncengine.Mutation{{Seq: 3, Type: "fieldsync.v1.SurgerySupport", RecordID: "s2", Delete: true, HLC: e.Clock().Now()}}); err != nil {
		t.Fatal(err)
	}
	refs, err := db.PhotoRecords(ctx, "t1", hashA)
	want := photos.RecordRef{ID: "s1", Type: "fieldsync.v1.SurgerySupport", Scope: syncengine.Scope{Owner: "u1", Region: "r1"}}
	if err != nil || len(refs) != 1 || refs[0].Version == 0 || refs[0].ID != want.ID || refs[0].Type != want.Type || refs[0].Scope != want.Scope {
		t.Fatalf("PhotoRecords = %+v, %v; want %+v", refs, err, want)
	}
	if refs, _ := db.PhotoRecords(ctx, "t2", hashA); len(refs) != 0 {
		t.Fatalf("another tenant's PhotoRecords = %+v", refs)
	}
}

func TestNoticesAndEventsCommitWithTheTransaction(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	n := photos.Notice{TenantID: "t1", SHA256: hashA}
	data, _ := proto.Marshal(&fieldsyncv1.ChangeEvent{EventId: "ev1"})
	ev := syncengine.Event{ID: "ev1", Subject: events.ChangeSubject("t1", "fieldsync.v1.SurgerySupport"), Data: data}
	err := db.UpdatePhotos(ctx, func(tx photos.Tx) error {
		if err := tx.AddPhotoNotice(n); err != nil {
			return err
		}
		if err := tx.AddPhotoNotice(n); err != nil { // once per tenant and hash
			return err
		}
		return tx.AppendEvent(ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := db.PhotoNotices(ctx, 10); err != nil || len(ns) != 1 || ns[0] != n {
		t.Fatalf("PhotoNotices = %v, %v", ns, err)
	}
	if evs, err := db.PendingEvents(ctx, 10); err != nil || len(evs) != 1 || evs[0].ID != "ev1" {
		t.Fatalf("PendingEvents = %v, %v", evs, err)
	}
	if err := db.UpdatePhotos(ctx, func(tx photos.Tx) error { return tx.AppendEvent(syncengine.Event{ID: "ev2", Subject: "bad"}) }); err == nil {
		t.Fatal("an event with a bad subject was appended")
	}
	if err := db.DonePhotoNotice(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := db.DonePhotoNotice(ctx, n); err != nil {
		t.Fatalf("second DonePhotoNotice: %v", err)
	}
	if ns, _ := db.PhotoNotices(ctx, 10); len(ns) != 0 {
		t.Fatalf("notices after done = %v", ns)
	}
}

// enrolledRep creates a tenant with a rep and returns the principal of an
// enrolled device of the rep.
func enrolledRep(t *testing.T, db *sqlite.DB) *syncengine.Principal {
	t.Helper()
	ctx := context.Background()
	tn, err := db.CreateTenant(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	u := &syncengine.User{TenantID: tn.ID, DisplayName: "rep", Role: fieldsyncv1.Role_ROLE_REP}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	code, _, err := db.IssueEnrollmentCode(ctx, tn.ID, u.ID, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := db.Enroll(ctx, code, "phone", "test")
	if err != nil {
		t.Fatal(err)
	}
	return u.Principal(d.ID)
}

func TestHeldSurgeriesAreThoseWhosePhotosAreAvailable(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	e, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	hashB := strings.Repeat("b", 64)
	p := enrolledRep(t, db)
	for i, ss := range []*fieldsyncv1.SurgerySupport{
		{PreOpPhoto: &fieldsyncv1.PhotoRef{Sha256: hashA}},
		{PreOpPhoto: &fieldsyncv1.PhotoRef{Sha256: hashA}, IntraOpPhoto: &fieldsyncv1.PhotoRef{Sha256: hashB}},
		{HospitalId: "h"},
	} {
		id := []string{"held", "pending", "none"}[i]
		_, err := e.Push(ctx, p, []syncengine.Mutation{{Seq: uint64(i + 1), Type: "fieldsync.v1.SurgerySupport", RecordID: id,
			Value: ss, Fields: []string{"pre_op_photo", "intra_op_photo", "hospital_id"}, HLC: e.Clock().Now()}})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = db.UpdatePhotos(ctx, func(tx photos.Tx) error {
		_, err := tx.AddPhoto(&photos.Photo{SHA256: hashA, Size: 1, ContentType: "image/jpeg", TenantID: p.TenantID,
			UploadID: "up", UserID: p.UserID, ReceivedAt: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	refs, covered, err := db.HeldSurgeries(ctx, 0, 10)
	if err != nil || len(refs) != 1 || refs[0].ID != "held" || refs[0].TenantID != p.TenantID || covered != 3 {
		t.Fatalf("HeldSurgeries = %+v, %d, %v; want held, covered 3", refs, covered, err)
	}
	if refs, covered, _ := db.HeldSurgeries(ctx, covered, 10); len(refs) != 0 || covered != 3 {
		t.Fatalf("HeldSurgeries after the mark = %+v, %d", refs, covered)
	}
	if refs, covered, _ := db.HeldSurgeries(ctx, 0, 1); len(refs) != 1 || covered != refs[0].Version {
		t.Fatalf("a full page covers up to its last row: %+v, %d", refs, covered)
	}
}

func TestPossessionBackfillKeepsTheUploadersPhotosAvailable(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	e, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := enrolledRep(t, db)
	rep2 := &syncengine.User{TenantID: p.TenantID, DisplayName: "rep2", Role: fieldsyncv1.Role_ROLE_REP}
	if err := db.CreateUser(ctx, rep2); err != nil {
		t.Fatal(err)
	}
	for i, who := range []*syncengine.Principal{p, rep2.Principal("unenrolled")} {
		_, err := e.Push(ctx, who, []syncengine.Mutation{{Seq: 1, Type: "fieldsync.v1.SurgerySupport", RecordID: []string{"mine", "theirs"}[i],
			Value: &fieldsyncv1.SurgerySupport{PreOpPhoto: &fieldsyncv1.PhotoRef{Sha256: hashA}}, Fields: []string{"pre_op_photo"}, HLC: e.Clock().Now()}})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = db.UpdatePhotos(ctx, func(tx photos.Tx) error {
		_, err := tx.AddPhoto(&photos.Photo{SHA256: hashA, Size: 1, ContentType: "image/jpeg", TenantID: p.TenantID,
			UploadID: "up", UserID: p.UserID, ReceivedAt: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Run the migration's backfill over the data as an older server left it.
	body, err := os.ReadFile("migrations/0007_photo_possession.sql")
	if err != nil {
		t.Fatal(err)
	}
	backfill := string(body)[strings.Index(string(body), "-- Existing data"):]
	if _, err := db.Writer().ExecContext(ctx, "DELETE FROM photo_holders; DELETE FROM photo_attachers;"+backfill); err != nil {
		t.Fatal(err)
	}
	refs, err := db.PhotoRecords(ctx, p.TenantID, hashA)
	if err != nil || len(refs) != 2 {
		t.Fatalf("PhotoRecords = %+v, %v", refs, err)
	}
	for _, r := range refs {
		if r.Available != (r.ID == "mine") {
			t.Errorf("after the backfill %s is available %v, want %v", r.ID, r.Available, r.ID == "mine")
		}
	}
}
