package sqlite_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/photos"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// putDiagnosis stores a diagnosis of the tenant written by actor at hlc,
// citing hashes.
func putDiagnosis(t *testing.T, db *sqlite.DB, tenantID, id, actor string, hlc syncengine.HLC, hashes ...string) {
	t.Helper()
	at := syncengine.Version{HLC: hlc, Actor: actor}
	d := &fieldsyncv1.Diagnosis{}
	st := &syncengine.State{Value: d, Fields: map[string]syncengine.Version{"photos": at}, Elements: map[string][]syncengine.Version{}, Created: at}
	for _, h := range hashes {
		d.Photos = append(d.Photos, &fieldsyncv1.PhotoRef{Sha256: h, SizeBytes: 1, ContentType: "image/jpeg"})
		st.Elements["photos"] = append(st.Elements["photos"], at)
	}
	rec := &syncengine.StoredRecord{TenantID: tenantID, ID: id, Type: "fieldsync.v1.Diagnosis", State: st, HLC: hlc, Actor: actor, UpdatedAt: t0}
	if err := db.Update(context.Background(), func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
		t.Fatal(err)
	}
}

// putQuote stores a quote written by actor citing hashA of a diagnosis.
func putQuote(t *testing.T, db *sqlite.DB, tenantID, id, actor, diagnosisID string, hlc syncengine.HLC) {
	t.Helper()
	at := syncengine.Version{HLC: hlc, Actor: actor}
	st := &syncengine.State{Value: &fieldsyncv1.Quote{DiagnosisId: diagnosisID, DiagnosisPhotoSha256S: []string{hashA}},
		Fields:   map[string]syncengine.Version{"diagnosis_id": at, "diagnosis_photo_sha256s": at},
		Elements: map[string][]syncengine.Version{"diagnosis_photo_sha256s": {at}}, Created: at}
	rec := &syncengine.StoredRecord{TenantID: tenantID, ID: id, Type: "fieldsync.v1.Quote", State: st, HLC: hlc, Actor: actor, UpdatedAt: t0}
	if err := db.Update(context.Background(), func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
		t.Fatal(err)
	}
}

// TestAnAPIKeysRefIsNotAvailableBecauseSomeoneHoldsThePhoto: a key holds
// no photo, so a ref it attached is pending although a user of the tenant
// holds the photo; the same ref a device of that user attached is
// available, and so is a key's ref citing that record as its source, when
// the key may read it.
func TestAnAPIKeysRefIsNotAvailableBecauseSomeoneHoldsThePhoto(t *testing.T) {
	t.Parallel()
	db := openUploadsDB(t)
	ctx := context.Background()
	rep := enrolledRep(t, db)
	key, _, err := db.CreateAPIKey(ctx, rep.TenantID, "integration", []string{syncengine.PermRecordsRead})
	if err != nil {
		t.Fatal(err)
	}
	hlc := syncengine.MakeHLC(t0.UnixMilli(), 0)
	putDiagnosis(t, db, rep.TenantID, "by-key", "key:"+key.ID, hlc, hashA)
	putDiagnosis(t, db, rep.TenantID, "by-rep", rep.DeviceID, hlc, hashA)
	blind, _, err := db.CreateAPIKey(ctx, rep.TenantID, "blind", []string{"customers:write"})
	if err != nil {
		t.Fatal(err)
	}
	putQuote(t, db, rep.TenantID, "quote-by-key", "key:"+key.ID, "by-rep", hlc)
	putQuote(t, db, rep.TenantID, "quote-by-blind-key", "key:"+blind.ID, "by-rep", hlc)
	err = db.UpdatePhotos(ctx, func(tx photos.Tx) error {
		_, err := tx.AddPhoto(&photos.Photo{SHA256: hashA, Size: 1, ContentType: "image/jpeg", TenantID: rep.TenantID,
			UploadID: "up", UserID: rep.UserID, ReceivedAt: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	states, err := db.PhotoStates(ctx, rep.TenantID, []string{"by-key", "by-rep", "quote-by-key", "quote-by-blind-key"})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := db.PhotoRecords(ctx, rep.TenantID, hashA)
	if err != nil || len(refs) != 4 {
		t.Fatalf("PhotoRecords = %+v, %v", refs, err)
	}
	for _, r := range refs {
		// Through its source, a key's ref is available where the key may
		// read the source.
		want := r.ID == "by-rep" || r.ID == "quote-by-key"
		if r.Available != want || states[syncengine.PhotoKey{RecordID: r.ID, SHA256: hashA}] != want {
			t.Errorf("%s: PhotoRecords available %v, PhotoStates %v; want %v", r.ID, r.Available, states, want)
		}
	}
}
