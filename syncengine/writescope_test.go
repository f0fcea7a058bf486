package syncengine_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

const (
	denied = fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED
)

func TestARecipientMayAcknowledgeButNotDeleteAnAlert(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	if err := w.e.RaiseAlert(ctx, w.tenant, &fieldsyncv1.Alert{RecipientUserId: w.p["manager"].UserID, DedupKey: "a1", Title: "two conclusions"}); err != nil {
		t.Fatal(err)
	}
	id := syncengine.AlertID(w.tenant, "a1")
	if r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Alert{AcknowledgedTime: timestamppb.Now()}, "acknowledged_time"))[0]; r.Outcome != applied {
		t.Fatalf("acknowledge: %v", r)
	}
	if r := w.push("manager", w.mut("manager", id, &fieldsyncv1.Alert{Title: "nothing"}, "title"))[0]; r.Outcome != rejected {
		t.Fatalf("rewrite the title: %v", r)
	}
	if r := w.push("manager", w.del("manager", "fieldsync.v1.Alert", id))[0]; r.Outcome != rejected || r.RejectCode != denied {
		t.Fatalf("delete by the recipient: %v", r)
	}
	if r := w.push("admin", w.del("admin", "fieldsync.v1.Alert", id))[0]; r.Outcome != rejected || r.RejectCode != denied {
		t.Fatalf("delete by an admin's device: %v", r)
	}
	recs, _ := w.pullAll("manager", "")
	if recs[id] == nil || recs[id].Removed != 0 {
		t.Fatalf("the alert after the refused deletes: %v", recs[id])
	}
}

// A record the caller may not read is refused alike whatever its type: the
// answer names neither the type nor anything else about it.
func TestAHiddenRecordIsRefusedWithoutNamingItsType(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	diag, visit := newID(), newID()
	w.push("staff", w.mut("staff", diag, &fieldsyncv1.Diagnosis{VehicleModel: "A4L"}, "vehicle_model"))
	w.push("rep2", w.mut("rep2", visit, &fieldsyncv1.Visit{Notes: "mine"}, "notes"))
	other := w.push("rep", w.mut("rep", diag, &fieldsyncv1.Visit{Notes: "x"}, "notes"))[0]
	same := w.push("rep", w.mut("rep", visit, &fieldsyncv1.Visit{Notes: "x"}, "notes"))[0]
	for _, r := range []*fieldsyncv1.MutationResult{other, same} {
		if r.Outcome != rejected || strings.Contains(r.Reason, "Diagnosis") || strings.Contains(r.Reason, "type") {
			t.Errorf("result = %v", r)
		}
	}
	if strings.ReplaceAll(other.Reason, diag, "ID") != strings.ReplaceAll(same.Reason, visit, "ID") || other.RejectCode != same.RejectCode {
		t.Errorf("a hidden record of another type answers %q (%v), of the same type %q (%v)", other.Reason, other.RejectCode, same.Reason, same.RejectCode)
	}
}
