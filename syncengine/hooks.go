package syncengine

import "google.golang.org/protobuf/proto"

// TypeHooks is what record types do beyond syncing that their schema
// options cannot declare. Package records implements it (records.Hooks);
// the engine calls it with values of any record type and knows none of
// them.
type TypeHooks interface {
	// ComputeServerFields sets the server-only fields of m derived from m
	// itself, after every merge and before validation. Fields derived from
	// other state (photo availability) are set by server writes elsewhere.
	ComputeServerFields(m proto.Message)
}
