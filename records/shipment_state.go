package records

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// ShipmentsPermission is the API-key permission of the logistics system
// (the ERP or a shipping integration): it moves sample shipments to
// approved, shipped and delivered.
const ShipmentsPermission = "shipments:write"

// ChangeError refuses a change a record type's rules forbid: Denied when
// the caller may not make it (another role could), else the change is not
// a legal move for anyone.
type ChangeError struct {
	Denied bool
	Msg    string
}

func (e *ChangeError) Error() string { return e.Msg }

// PermissionDenied tells the sync engine which code to answer with.
func (e *ChangeError) PermissionDenied() bool { return e.Denied }

// CheckChange checks what a device or key's write changes against the
// record type's rules; before is nil for a new record, after nil for a
// delete. Only SampleShipment
// has any today: who may move its state where (see shipmentSetters).
// role is the device's (ROLE_UNSPECIFIED for a key); can reports a key's
// named permissions.
func (Hooks) CheckChange(role fieldsyncv1.Role, can func(permission string) bool, before, after proto.Message) error {
	from := fieldsyncv1.ShipmentState_SHIPMENT_STATE_UNSPECIFIED
	b, wasShipment := before.(*fieldsyncv1.SampleShipment)
	if wasShipment && b != nil {
		from = b.GetState()
	}
	if after == nil { // a delete
		if from == fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED || from == fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED {
			return &ChangeError{Msg: fmt.Sprintf("state: a sample shipment in %s is kept: it cannot be deleted", from)}
		}
		return nil
	}
	s, ok := after.(*fieldsyncv1.SampleShipment)
	if !ok {
		return nil
	}
	return checkShipmentState(role, can, from, s.GetState())
}

// shipmentSetter says who may set a shipment state and from which states.
type shipmentSetter struct {
	to   fieldsyncv1.ShipmentState
	from []fieldsyncv1.ShipmentState
	// roles are the device roles that may set it; logistics says a key
	// with ShipmentsPermission may.
	roles     []fieldsyncv1.Role
	logistics bool
}

var (
	anyWriter = []fieldsyncv1.Role{
		fieldsyncv1.Role_ROLE_REP, fieldsyncv1.Role_ROLE_STORE_STAFF,
		fieldsyncv1.Role_ROLE_STORE_MANAGER, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR,
	}
	approvers = []fieldsyncv1.Role{fieldsyncv1.Role_ROLE_STORE_MANAGER, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR}
)

// shipmentSetters is B3's state machine: the device drafts and requests
// (and may cancel until it ships), a store manager or regional director
// approves (or sends an approved request back), the logistics system
// ships and delivers. Delivered and cancelled are final.
var shipmentSetters = []shipmentSetter{
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT, from: states(0, 1), roles: anyWriter},
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED, from: states(0, 1, 2), roles: anyWriter},
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED, from: states(3), roles: approvers, logistics: true},
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_APPROVED, from: states(2, 3), roles: approvers, logistics: true},
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED, from: states(3, 4), logistics: true},
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED, from: states(4, 5), logistics: true},
	{to: fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED, from: states(0, 1, 2, 3, 6), roles: anyWriter, logistics: true},
}

func states(vs ...int32) []fieldsyncv1.ShipmentState {
	out := make([]fieldsyncv1.ShipmentState, len(vs))
	for i, v := range vs {
		out[i] = fieldsyncv1.ShipmentState(v)
	}
	return out
}

func checkShipmentState(role fieldsyncv1.Role, can func(string) bool, from, to fieldsyncv1.ShipmentState) error {
	if from == to {
		return nil
	}
	legal := false
	for _, r := range shipmentSetters {
		if r.to != to || !slices.Contains(r.from, from) {
			continue
		}
		legal = true
		if slices.Contains(r.roles, role) || r.logistics && can != nil && can(ShipmentsPermission) {
			return nil
		}
	}
	name := func(s fieldsyncv1.ShipmentState) string { return s.String() }
	if !legal {
		return &ChangeError{Msg: fmt.Sprintf("state: a sample shipment cannot move from %s to %s", name(from), name(to))}
	}
	return &ChangeError{Denied: true, Msg: fmt.Sprintf("state: %s is set by %s", name(to), shipmentSetterNames(to))}
}

// shipmentSetterNames says, for an error message, who may set a state.
func shipmentSetterNames(to fieldsyncv1.ShipmentState) string {
	switch to {
	case fieldsyncv1.ShipmentState_SHIPMENT_STATE_APPROVED:
		return "a store manager, a regional director or a key with " + ShipmentsPermission
	case fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED, fieldsyncv1.ShipmentState_SHIPMENT_STATE_DELIVERED:
		return "the logistics system (a key with " + ShipmentsPermission + ")"
	}
	return "the shipment's writers"
}
