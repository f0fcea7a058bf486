package insights

import (
	"maps"
	"slices"
	"strings"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestA1AlertsQuoteOnlyWhatTheirRecipientMayRead is the cross-scope read
// through A1: a store manager writes a diagnosis of a customer it cannot
// read, disagreeing with the tech advisor's. The manager may read only its
// own, so it gets no alert (nothing of the advisor's conclusion, record or
// photo); the advisor, who reads both, gets the alert with both.
func TestA1AlertsQuoteOnlyWhatTheirRecipientMayRead(t *testing.T) {
	e := newEnv(t)
	e.upsert("d-tech", e.diagnosis("techN", "hosp-9", "SECRET hospital finding", photo("secret")), at(2, 8, 0))
	e.upsert("d-mgr", e.diagnosis("mgr1", "hosp-9", "something else", photo("mine")), at(2, 9, 0))
	alerts := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES)
	if got := e.recipients(alerts); !slices.Equal(got, []string{"techN"}) {
		t.Fatalf("A1 alerts for %v, want techN's only: mgr1 reads one of the two diagnoses", got)
	}
	for _, a := range alerts {
		if len(a.RelatedRecordIds) != 2 || len(a.Photos) != 2 {
			t.Errorf("techN's alert %v, want both diagnoses and their photos", a)
		}
	}
	// A third diagnosis in mgr1's store that disagrees with mgr1's: now mgr1
	// reads two conflicting ones, and its alert shows those two alone.
	e.upsert("d-staff", e.diagnosis("alice", "hosp-9", "a third view", photo("staff")), at(2, 10, 0))
	for _, a := range e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES) {
		if e.names[a.RecipientUserId] != "mgr1" {
			continue
		}
		if !slices.Equal(a.RelatedRecordIds, []string{"d-mgr", "d-staff"}) || len(a.Photos) != 2 ||
			strings.Contains(a.Body, "SECRET") || strings.Contains(a.Body, "d-tech") {
			t.Errorf("mgr1's alert %v, want only d-mgr and d-staff", a)
		}
		return
	}
	t.Error("mgr1 got no alert about the two diagnoses it may read")
}

// TestA6CountsOnlyPhotosAvailableOnTheirRecords is the hash turned into a
// photo: a store manager cites the hash of a rep's surgery photo without
// holding it. That use does not count: nothing is flagged and nobody is
// alerted. Once the photo is available on the manager's record (its
// upload completed: a PHOTO_STATE event), both records count; each
// recipient's alert names and relates only the records it may read.
func TestA6CountsOnlyPhotosAvailableOnTheirRecords(t *testing.T) {
	e := newEnv(t)
	x := photo("surgery")
	e.upsert("s-bob", e.surgery("bob", at(2, 8, 0), x, photo("b"), photo("c")), at(2, 9, 0))
	e.photos.setPending("d-mgr", x.Sha256, true)
	e.upsert("d-mgr", e.diagnosis("mgr1", "c1", "worn", x), at(2, 10, 0))
	if f := e.sink.flagged(); len(f) != 0 {
		t.Fatalf("flags %v, want none: the manager's record only cites the hash", f)
	}
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO); len(got) != 0 {
		t.Fatalf("alerts %v, want none", got)
	}
	e.photos.setPending("d-mgr", x.Sha256, false)
	ev := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE, "d-mgr", nil, at(2, 11, 0), at(2, 11, 0))
	ev.RecordType, ev.PhotoSha256, ev.PhotoAvailable = diagnosisType, x.Sha256, true
	e.handle(ev)
	if f := e.sink.flagged(); len(f) != 2 {
		t.Fatalf("flags %v, want both records once the photo is available on both", f)
	}
	got := map[string]*fieldsyncv1.Alert{}
	for _, a := range e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO) {
		got[e.names[a.RecipientUserId]] = a
	}
	if len(got) != 2 || got["mgr1"] == nil || got["dirN"] == nil {
		t.Fatalf("alerts for %v, want mgr1 and dirN", slices.Sorted(maps.Keys(got)))
	}
	if a := got["mgr1"]; !slices.Equal(a.RelatedRecordIds, []string{"d-mgr"}) || strings.Contains(a.Body, "s-bob") {
		t.Errorf("mgr1's alert %v, want only its store's d-mgr", a)
	}
	if a := got["dirN"]; !slices.Equal(a.RelatedRecordIds, []string{"d-mgr", "s-bob"}) {
		t.Errorf("dirN's alert %v, want both records of its region", a)
	}
}
