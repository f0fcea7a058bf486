package syncengine

import (
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TypeHooks is what record types do beyond syncing that their schema
// options cannot declare. Package records implements it (records.Hooks);
// the engine calls it with values of any record type and knows none of
// them.
type TypeHooks interface {
	// ComputeServerFields sets the server-only fields of m derived from m
	// itself, after every merge and before validation. Fields derived from
	// other state (photo availability) are set by server writes elsewhere.
	// It must be a function of m alone, safe to call concurrently: a push
	// computes a new record's fields on a goroutine of its own, beside
	// its transaction (see prepared).
	ComputeServerFields(m proto.Message)
	// CheckChange checks a device's or key's write against rules of the
	// type beyond its writer roles (who may move a sample shipment's
	// state where): before is the stored value (nil for a new record),
	// after the merged one (nil for a delete); role is the device's (ROLE_UNSPECIFIED for a
	// key) and can reports a key's permissions. An error refuses the write
	// as invalid, or as permission denied when it has a method
	// PermissionDenied() returning true.
	CheckChange(role fieldsyncv1.Role, can func(permission string) bool, before, after proto.Message) error
}
