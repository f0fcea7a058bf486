package syncengine_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
)

// TestANewAlertIsPublishedOnTheAlertsSubjectOfItsKindOnce checks
// publish_alerts: creating an alert writes one event on the alerts subject
// named by its kind (a number for a kind the enum lacks); raising it again
// or acknowledging it writes none.
func TestANewAlertIsPublishedOnTheAlertsSubjectOfItsKindOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	manager := w.p["manager"].UserID
	for _, a := range []*fieldsyncv1.Alert{
		{RecipientUserId: manager, DedupKey: "k1", Title: "low stock", Kind: fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT},
		{RecipientUserId: manager, DedupKey: "k1", Title: "again", Kind: fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT},
		{RecipientUserId: manager, DedupKey: "k2", Title: "from a newer rule", Kind: fieldsyncv1.AlertKind(99)},
	} {
		if err := w.raiseAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	id := records.AlertID(w.tenant, "k1")
	if r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Alert{AcknowledgedTime: timestamppb.Now()}, "acknowledged_time"))[0]; r.Outcome != applied {
		t.Fatalf("acknowledge: %v", r)
	}
	got := alertEvents(t, w)
	want := map[string]string{
		"fieldsync." + w.tenant + ".alerts.ALERT_KIND_REPLENISHMENT": id,
		"fieldsync." + w.tenant + ".alerts.99":                       records.AlertID(w.tenant, "k2"),
	}
	if len(got) != len(want) {
		t.Fatalf("alert events %v; want %v", got, want)
	}
	for subject, rid := range want {
		if len(got[subject]) != 1 || got[subject][0] != rid {
			t.Errorf("events on %s: %v; want one of record %s", subject, got[subject], rid)
		}
	}
}

// alertEvents returns the record ids of the outbox's events on alerts
// subjects, by subject.
func alertEvents(t *testing.T, w *world) map[string][]string {
	t.Helper()
	evs, err := w.db.PendingEvents(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	prefix := "fieldsync." + w.tenant + ".alerts."
	for _, ev := range evs {
		var ce fieldsyncv1.ChangeEvent
		if strings.HasPrefix(ev.Subject, prefix) && proto.Unmarshal(ev.Data, &ce) == nil {
			out[ev.Subject] = append(out[ev.Subject], ce.RecordId)
		}
	}
	return out
}

// TestAlertIDsCannotBeSquatted checks that no device takes the id of a
// future alert with a record of another type (the alert's write would then
// fail for ever): a push creating a record with the reserved prefix is
// rejected, naming record_id; the alert is raised afterwards, and its
// recipient may still acknowledge it.
func TestAlertIDsCannotBeSquatted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	manager := w.p["manager"].UserID
	id := records.AlertID(w.tenant, "A6:hash:"+manager)
	r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Visit{Notes: "squat"}, "notes"))[0]
	if r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED ||
		r.RejectCode != fieldsyncv1.RejectCode_REJECT_CODE_INVALID || !strings.Contains(r.Reason, "record_id") {
		t.Fatalf("squatting push: %v; want rejected as invalid, naming record_id", r)
	}
	if err := w.raiseAlert(ctx, &fieldsyncv1.Alert{RecipientUserId: manager, DedupKey: "A6:hash:" + manager, Title: "t"}); err != nil {
		t.Fatalf("raise the alert: %v", err)
	}
	if r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Alert{AcknowledgedTime: timestamppb.Now()}, "acknowledged_time"))[0]; r.Outcome != applied {
		t.Fatalf("acknowledge: %v", r)
	}
}
