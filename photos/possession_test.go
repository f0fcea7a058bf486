package photos_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// mayOpen reports whether who gets a media URL for data's photo, failing
// the test on an error other than NotFound.
func (w *world) mayOpen(who string, data []byte) bool {
	w.t.Helper()
	_, _, err := w.svc.MediaURL(context.Background(), w.p[who], photostest.Key(data))
	if err != nil && syncengine.ErrorCode(err) != syncengine.CodeNotFound {
		w.t.Fatalf("MediaURL as %s: %v", who, err)
	}
	return err == nil
}

// stateFor is the state of data's photo on record id as who pulls it.
func (w *world) stateFor(who, id string, data []byte) fieldsyncv1.PhotoState {
	w.t.Helper()
	recs, _ := w.pull(who, "")
	return photoStates(recs[id])[photostest.Key(data)]
}

func TestAHashAloneDoesNotGrantThePhoto(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(2000, 50)
	w.surgery("rep", data, nil, nil)
	w.upload("rep", data)
	// rep2 learned the hash and cites it in a record of its own.
	stolen := w.surgery("rep2", data, nil, nil)
	if st := w.stateFor("rep2", stolen, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Fatalf("a record citing a hash its author never uploaded shows %v, want pending", st)
	}
	if w.mayOpen("rep2", data) {
		t.Fatal("rep2 got a link to rep's photo by citing its hash")
	}
	if !w.mayOpen("rep", data) || !w.mayOpen("director", data) {
		t.Fatal("readers of rep's record lost the photo")
	}
	// A surgery of rep2's citing three photos of rep's never completes.
	pre, intra := photostest.JPEG(2000, 51), photostest.JPEG(2000, 52)
	w.upload("rep", pre)
	w.upload("rep", intra)
	complete := w.surgery("rep2", pre, intra, data)
	if err := w.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, _ := w.pull("rep2", "")
	if surgeryOf(t, recs[complete]).GetPhotosComplete() {
		t.Fatal("photos_complete set from photos another user uploaded")
	}
	// Sending the bytes proves possession: rep2's record shows the photo.
	w.upload("rep2", data)
	if st := w.stateFor("rep2", stolen, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
		t.Fatalf("after rep2 uploaded the bytes its record shows %v, want available", st)
	}
	if !w.mayOpen("rep2", data) {
		t.Fatal("rep2 has no link after uploading the photo itself")
	}
}

func TestPhotoOfAnotherUsersRecordNeedsItsAttachersBytes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data, other := photostest.JPEG(2000, 53), photostest.JPEG(2000, 54)
	w.upload("staff", data)
	// staff2 adds staff's photo (hash learned elsewhere) to a diagnosis of
	// the store it may write, next to one of its own.
	id := ids.New()
	w.push("staff2", id, &fieldsyncv1.Diagnosis{StoreId: w.shop, Photos: []*fieldsyncv1.PhotoRef{ref(data), ref(other)}}, "store_id", "photos")
	w.upload("staff2", other)
	if w.mayOpen("staff2", data) || w.mayOpen("admin", data) {
		t.Fatal("a photo attached by a user who never uploaded it was served")
	}
	if !w.mayOpen("staff", other) {
		t.Fatal("staff2's own photo on a store record is not served to the store")
	}
	// staff attaching it too (its device carries the photo) makes it available.
	w.push("staff", id, &fieldsyncv1.Diagnosis{Photos: []*fieldsyncv1.PhotoRef{ref(data)}}, "photos")
	if !w.mayOpen("staff2", data) || w.stateFor("admin", id, data) != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
		t.Fatal("the photo its uploader attached is not available")
	}
}

// oracleProbe declares data's hash as who with a wrong size, then sends
// junk of the declared size and completes: it returns what each answer
// says, with the hash and ids blanked.
func (w *world) oracleProbe(who string, data []byte) string {
	w.t.Helper()
	ctx := context.Background()
	key := photostest.Key(data)
	size := int64(len(data) + 7)
	u, err := w.svc.CreateUpload(ctx, w.p[who], photos.CreateRequest{SHA256: key, Size: size, ContentType: "image/jpeg"})
	if err != nil {
		return "create: " + strings.ReplaceAll(err.Error(), key, "H")
	}
	junk := photostest.JPEG(int(size), 77)
	if _, err := w.svc.PutChunk(ctx, w.p[who], u.ID, 0, junk, photos.CRC32C(junk)); err != nil {
		w.t.Fatal(err)
	}
	_, _, err = w.svc.CompleteUpload(ctx, w.p[who], u.ID)
	if err := w.svc.CancelUpload(ctx, w.p[who], u.ID); err != nil {
		w.t.Fatal(err)
	}
	if err == nil {
		w.t.Fatal("junk completed an upload")
	}
	msg := strings.ReplaceAll(err.Error(), key, "H")
	return u.State.String() + " " + strings.ReplaceAll(msg, u.ID, "U")
}

func TestUploadsRevealNothingAboutPhotosOthersStored(t *testing.T) {
	for _, s3 := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "s3"}[s3], func(t *testing.T) {
			t.Parallel()
			var opts []option
			if s3 {
				opts = append(opts, withS3(s3test.Start(t), newBucket()))
			}
			w := newWorld(t, opts...)
			stored, unknown := photostest.JPEG(1825, 55), photostest.JPEG(1825, 56)
			w.surgery("rep", stored, nil, nil)
			w.upload("rep", stored)
			for _, who := range []string{"other", "rep2"} {
				got, want := w.oracleProbe(who, stored), w.oracleProbe(who, unknown)
				if got != want || strings.Contains(got, "1825") {
					t.Errorf("%s: for a stored photo %q, for an unknown one %q", who, got, want)
				}
			}
		})
	}
}

// quote pushes a quote of who's in the store citing the photos' hashes.
func (w *world) quote(who, diagnosisID string, cited ...[]byte) string {
	w.t.Helper()
	q := &fieldsyncv1.Quote{StoreId: w.shop, DiagnosisId: diagnosisID}
	for _, data := range cited {
		q.DiagnosisPhotoSha256S = append(q.DiagnosisPhotoSha256S, photostest.Key(data))
	}
	id := ids.New()
	w.push(who, id, q, "store_id", "diagnosis_id", "diagnosis_photo_sha256s")
	return id
}

func TestAPhotoOnlyAQuoteCitesOpensForReadersOfTheQuote(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	own, stolen := photostest.JPEG(2000, 57), photostest.JPEG(2000, 58)
	w.upload("staff", own)
	w.surgery("rep", stolen, nil, nil) // rep's, outside the store
	w.upload("rep", stolen)
	id := w.quote("staff", "", own, stolen)
	for _, who := range []string{"admin", "staff", "staff2", "key"} {
		if !w.mayOpen(who, own) {
			t.Errorf("%s reads the quote but gets no link to the photo its author uploaded and cited", who)
		}
		if w.mayOpen(who, stolen) && who != "admin" && who != "key" {
			t.Errorf("%s got a link to rep's photo through a quote citing its hash", who)
		}
	}
	if st := w.stateFor("admin", id, own); st != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
		t.Errorf("the quote shows its author's cited photo %v, want available", st)
	}
	if st := w.stateFor("admin", id, stolen); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Errorf("the quote shows a hash its author never uploaded %v, want pending", st)
	}
	for _, who := range []string{"rep2", "other"} {
		if w.mayOpen(who, own) {
			t.Errorf("%s reads no record of the photo but got a link", who)
		}
	}
}

// TestQuotedDiagnosisPhotoOpensForReadersOfTheQuoteAndTheDiagnosis: a quote
// citing the photos of its diagnosis shows those available on the
// diagnosis, whoever wrote the quote, when the quote's writer may read the
// diagnosis; a hash nobody holds, or one the named record only cites, or
// one on a record the writer cannot read, stays pending.
func TestQuotedDiagnosisPhotoOpensForReadersOfTheQuoteAndTheDiagnosis(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data, unsent, reps := photostest.JPEG(2000, 57), photostest.JPEG(2000, 58), photostest.JPEG(2000, 63)
	diag, citing := ids.New(), ids.New()
	w.push("staff", diag, &fieldsyncv1.Diagnosis{StoreId: w.shop, Photos: []*fieldsyncv1.PhotoRef{ref(data)}}, "store_id", "photos")
	w.upload("staff", data)
	w.push("staff2", citing, &fieldsyncv1.Diagnosis{StoreId: w.shop, Photos: []*fieldsyncv1.PhotoRef{ref(data)}}, "store_id", "photos")
	mine := w.quote("staff", diag, data)
	theirs := w.quote("staff2", diag, data, unsent)
	for _, who := range []string{"admin", "staff", "staff2", "key"} {
		if !w.mayOpen(who, data) {
			t.Errorf("%s sees the quote and the diagnosis but gets no link to the cited photo", who)
		}
		if w.mayOpen(who, unsent) {
			t.Errorf("%s got a link to a photo nobody uploaded", who)
		}
	}
	for _, id := range []string{mine, theirs} {
		if st := w.stateFor("staff2", id, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
			t.Errorf("a quote shows its diagnosis's photo %v, want available", st)
		}
	}
	if st := w.stateFor("staff2", theirs, unsent); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Errorf("a quote shows a hash nobody uploaded %v, want pending", st)
	}
	// Naming a record that only cites the hash, or one the writer cannot
	// read (rep's surgery), grants nothing.
	surgery := w.surgery("rep", reps, nil, nil)
	w.upload("rep", reps)
	viaCiting := w.quote("staff2", citing, data)
	viaHidden := w.quote("staff2", surgery, reps)
	if st := w.stateFor("admin", viaCiting, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Errorf("a quote naming a diagnosis that only cites the photo shows it %v, want pending", st)
	}
	if st := w.stateFor("admin", viaHidden, reps); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Errorf("a quote naming a record its writer cannot read shows its photo %v, want pending", st)
	}
	if w.mayOpen("staff2", reps) || w.mayOpen("staff", reps) {
		t.Error("a quote naming rep's surgery served rep's photo to the store")
	}
	for _, who := range []string{"rep", "other"} {
		if w.mayOpen(who, data) {
			t.Errorf("%s sees neither record but got a link", who)
		}
	}
}

// alert writes an alert for the director as the server, showing the photo
// from the source records.
func (w *world) alert(data []byte, sources ...string) string {
	w.t.Helper()
	id := ids.New()
	a := &fieldsyncv1.Alert{RecipientUserId: w.p["director"].UserID, Title: "A1", Photos: []*fieldsyncv1.PhotoRef{ref(data)}, RelatedRecordIds: sources}
	if _, err := w.engine.ServerWrite(context.Background(), w.tenant, "fieldsync.v1.Alert", id, a, syncengine.AllFields(a)); err != nil {
		w.t.Fatal(err)
	}
	return id
}

func TestAlertPhotosShowOnlyWhereTheirSourceRecordShowsThem(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data, victims := photostest.JPEG(2000, 59), photostest.JPEG(2000, 62)
	legit := w.alert(data, w.surgery("rep", data, nil, nil))
	if st := w.stateFor("director", legit, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Fatalf("alert photo before any upload: %v", st)
	}
	w.upload("rep", data)
	if st := w.stateFor("director", legit, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE {
		t.Fatalf("alert photo after its source's uploader sent it: %v", st)
	}
	// staff holds a photo on a diagnosis of its store; staff2 cites its
	// hash on a diagnosis of its own, which an alert then shows.
	w.push("staff", ids.New(), &fieldsyncv1.Diagnosis{StoreId: w.shop, Photos: []*fieldsyncv1.PhotoRef{ref(victims)}}, "store_id", "photos")
	w.upload("staff", victims)
	cited := ids.New()
	w.push("staff2", cited, &fieldsyncv1.Diagnosis{StoreId: w.shop, Photos: []*fieldsyncv1.PhotoRef{ref(victims)}}, "store_id", "photos")
	w.p["director"] = w.p["rep2"] // an alert's recipient who reads neither diagnosis
	laundered := w.alert(victims, cited)
	orphan := w.alert(victims)
	for _, id := range []string{laundered, orphan} {
		if st := w.stateFor("rep2", id, victims); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
			t.Errorf("an alert shows a photo its source record only cites: %v, want pending", st)
		}
	}
	if w.mayOpen("rep2", victims) {
		t.Error("the alert's recipient got a link to a photo its source record never held")
	}
}

func TestARefPutBackByAnotherUserNeedsThatUsersBytes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data, next := photostest.JPEG(2000, 60), photostest.JPEG(2000, 61)
	id := w.surgery("rep", data, nil, nil)
	w.upload("rep", data)
	w.push("rep", id, &fieldsyncv1.SurgerySupport{PreOpPhoto: ref(next)}, "pre_op_photo") // rep replaces its photo
	w.push("director", id, &fieldsyncv1.SurgerySupport{PreOpPhoto: ref(data)}, "pre_op_photo")
	if st := w.stateFor("rep", id, data); st != fieldsyncv1.PhotoState_PHOTO_STATE_PENDING {
		t.Fatalf("a ref the director put back shows %v, want pending: its uploader's attachment left with it", st)
	}
	if w.mayOpen("director", data) {
		t.Fatal("the director got a link by putting back a hash it never uploaded")
	}
}
