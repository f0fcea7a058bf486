package syncengine_test

import (
	"strings"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

// A sample shipment's state moves only as B3's state machine says
// (records.CheckChange): a rep requests, a director approves, the logistics
// key ships and delivers; a rep cannot mark it shipped, nobody reopens it.
func TestSampleShipmentStateIsCheckedOnEveryWrite(t *testing.T) {
	w := newWorld(t)
	w.p["logistics"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k1",
		Permissions: []string{records.ShipmentsPermission, syncengine.PermRecordsRead}}
	customer, shipment := newID(), newID()
	w.push("rep", w.mut("rep", customer, &fieldsyncv1.Customer{Name: "C", AssignedRepId: w.p["rep"].UserID, RegionId: w.region},
		"name", "assigned_rep_id", "region_id"))
	set := func(who string, st fieldsyncv1.ShipmentState, fields ...string) *fieldsyncv1.MutationResult {
		t.Helper()
		v := &fieldsyncv1.SampleShipment{State: st}
		if len(fields) > 0 {
			v.CustomerId, v.RecipientAddress = customer, "1 Road"
			v.Items = []*fieldsyncv1.ShipmentItem{{ProductId: "P1", Quantity: 1}}
		}
		return w.push(who, w.mut(who, shipment, v, append([]string{"state"}, fields...)...))[0]
	}
	applied := fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED
	expect := func(r *fieldsyncv1.MutationResult, code fieldsyncv1.RejectCode, what string) {
		t.Helper()
		if code == fieldsyncv1.RejectCode_REJECT_CODE_UNSPECIFIED && r.Outcome != applied {
			t.Fatalf("%s: %v, want applied", what, r)
		}
		if code != fieldsyncv1.RejectCode_REJECT_CODE_UNSPECIFIED && (r.RejectCode != code || !strings.HasPrefix(r.Reason, "state: ")) {
			t.Fatalf("%s: %v, want %v naming the state", what, r, code)
		}
	}
	expect(set("rep", fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED, "customer_id", "recipient_address", "items"), 0, "rep requests")
	expect(set("rep", fieldsyncv1.ShipmentState_SHIPMENT_STATE_APPROVED), fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED, "rep approves")
	expect(set("rep", fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED), fieldsyncv1.RejectCode_REJECT_CODE_INVALID, "rep ships a request")
	expect(set("director", fieldsyncv1.ShipmentState_SHIPMENT_STATE_APPROVED), 0, "director approves")
	expect(set("director", fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED), fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED, "director ships")
	expect(set("logistics", fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED), 0, "logistics ships")
	expect(set("rep", fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED), fieldsyncv1.RejectCode_REJECT_CODE_INVALID, "rep cancels a shipped one")
	expect(set("logistics", fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED), 0, "logistics delivers")
	expect(set("director", fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED), fieldsyncv1.RejectCode_REJECT_CODE_INVALID, "director reopens")
	if r := w.push("rep", w.del("rep", "fieldsync.v1.SampleShipment", shipment))[0]; r.RejectCode != fieldsyncv1.RejectCode_REJECT_CODE_INVALID || !strings.HasPrefix(r.Reason, "state: ") {
		t.Fatalf("rep deletes a delivered shipment: %v, want INVALID naming the state", r)
	}
	draft := newID()
	w.push("rep", w.mut("rep", draft, &fieldsyncv1.SampleShipment{State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT}, "state"))
	if r := w.push("rep", w.del("rep", "fieldsync.v1.SampleShipment", draft))[0]; r.Outcome != applied {
		t.Fatalf("rep deletes its draft: %v", r)
	}
	recs, _ := w.pullAll("rep", "")
	if got := recs[shipment].GetValue(); got == nil {
		t.Fatal("the rep does not hold the shipment")
	}
}
