package insights

import (
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
