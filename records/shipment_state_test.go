package records

import (
	"errors"
	"slices"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestShipmentStateChanges(t *testing.T) {
	const (
		none      = fieldsyncv1.ShipmentState_SHIPMENT_STATE_UNSPECIFIED
		draft     = fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT
		requested = fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED
		approved  = fieldsyncv1.ShipmentState_SHIPMENT_STATE_APPROVED
		shipped   = fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED
		delivered = fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED
		cancelled = fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED
		rep       = fieldsyncv1.Role_ROLE_REP
		staff     = fieldsyncv1.Role_ROLE_STORE_STAFF
		manager   = fieldsyncv1.Role_ROLE_STORE_MANAGER
		director  = fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR
		key       = fieldsyncv1.Role_ROLE_UNSPECIFIED
	)
	logistics := func(p string) bool { return p == ShipmentsPermission }
	nothing := func(string) bool { return false }
	for _, tc := range []struct {
		name     string
		role     fieldsyncv1.Role
		can      func(string) bool
		from, to fieldsyncv1.ShipmentState
		denied   bool // else a refused change is an illegal transition
		ok       bool
	}{
		{"rep drafts", rep, nothing, none, draft, false, true},
		{"rep requests", rep, nothing, draft, requested, false, true},
		{"rep requests at once", rep, nothing, none, requested, false, true},
		{"rep cancels a request", rep, nothing, requested, cancelled, false, true},
		{"rep cancels an approved one", rep, nothing, approved, cancelled, false, true},
		{"rep approves", rep, nothing, requested, approved, true, false},
		{"staff approves", staff, nothing, requested, approved, true, false},
		{"manager approves", manager, nothing, requested, approved, false, true},
		{"director approves", director, nothing, requested, approved, false, true},
		{"key approves", key, logistics, requested, approved, false, true},
		{"key without permission approves", key, nothing, requested, approved, true, false},
		{"rep ships", rep, nothing, approved, shipped, true, false},
		{"manager ships", manager, nothing, approved, shipped, true, false},
		{"director marks delivered", director, nothing, shipped, delivered, true, false},
		{"logistics ships", key, logistics, approved, shipped, false, true},
		{"logistics delivers", key, logistics, shipped, delivered, false, true},
		{"rep creates it delivered", rep, nothing, none, delivered, false, false},
		{"logistics ships an unapproved request", key, logistics, requested, shipped, false, false},
		{"logistics delivers what was not shipped", key, logistics, approved, delivered, false, false},
		{"rep cancels a shipped one", rep, nothing, shipped, cancelled, false, false},
		{"logistics cancels a shipped one", key, logistics, shipped, cancelled, false, false},
		{"rep reopens a cancelled one", rep, nothing, cancelled, requested, false, false},
		{"manager reopens a delivered one", manager, nothing, delivered, approved, false, false},
		{"logistics takes a delivery back", key, logistics, delivered, shipped, false, false},
		{"rep moves an approved one back to requested", rep, nothing, approved, requested, true, false},
		{"manager sends an approved one back to requested", manager, nothing, approved, requested, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before *fieldsyncv1.SampleShipment
			if tc.from != none {
				before = &fieldsyncv1.SampleShipment{State: tc.from}
			}
			err := Hooks{}.CheckChange(tc.role, tc.can, before, &fieldsyncv1.SampleShipment{State: tc.to})
			var ce *ChangeError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.ok:
			case !errors.As(err, &ce):
				t.Fatalf("allowed (%v), want refused", err)
			case ce.Denied != tc.denied:
				t.Fatalf("refused with denied=%v (%v), want denied=%v", ce.Denied, err, tc.denied)
			}
		})
	}
}

func TestShippedOrDeliveredShipmentsAreKept(t *testing.T) {
	for st, kept := range map[fieldsyncv1.ShipmentState]bool{
		fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT: false, fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED: false,
		fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED: false, fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED: true,
		fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED: true,
	} {
		err := Hooks{}.CheckChange(fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, nil, &fieldsyncv1.SampleShipment{State: st}, nil)
		if (err != nil) != kept {
			t.Errorf("delete of a %v shipment: %v, want refused %v", st, err, kept)
		}
	}
	if err := (Hooks{}).CheckChange(fieldsyncv1.Role_ROLE_REP, nil, &fieldsyncv1.Visit{}, nil); err != nil {
		t.Errorf("delete of a visit: %v", err)
	}
}

func TestShipmentStateUnchangedOrOtherTypesAreNotChecked(t *testing.T) {
	s := &fieldsyncv1.SampleShipment{State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED, Notes: "x"}
	if err := (Hooks{}).CheckChange(fieldsyncv1.Role_ROLE_REP, nil, s, &fieldsyncv1.SampleShipment{State: s.State}); err != nil {
		t.Fatalf("an edit that keeps the state: %v", err)
	}
	if err := (Hooks{}).CheckChange(fieldsyncv1.Role_ROLE_REP, nil, nil, &fieldsyncv1.Visit{}); err != nil {
		t.Fatalf("a visit: %v", err)
	}
	// Every state has a rule.
	for v := range fieldsyncv1.ShipmentState_name {
		st := fieldsyncv1.ShipmentState(v)
		if st != fieldsyncv1.ShipmentState_SHIPMENT_STATE_UNSPECIFIED && !slices.ContainsFunc(shipmentSetters, func(r shipmentSetter) bool { return r.to == st }) {
			t.Errorf("no rule says who may set %v", st)
		}
	}
}
