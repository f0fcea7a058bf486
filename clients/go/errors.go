package fieldsync

import "errors"

// Errors of local operations, and ErrUnreachable. Sync and Watch also
// return errors from the server and the network, wrapping a
// *connect.Error: use connect.CodeOf to read their code.
var (
	// ErrNotRecordType: the message or type name is not a synced record type
	// (a message of fieldsync.v1 marked with the record option).
	ErrNotRecordType = errors.New("not a record type")
	// ErrUnknownField: a field mask names a field the record type lacks, or
	// a nested path.
	ErrUnknownField = errors.New("unknown field")
	// ErrNoFields: a Put names no field and its value has none set.
	ErrNoFields = errors.New("no field to write")
	// ErrTypeMismatch: the message passed to Get is not of the record type asked for.
	ErrTypeMismatch = errors.New("message type does not match the record type")
	// ErrInvalidID: a record id is not 1 to 64 letters, digits, '_' or '-'.
	ErrInvalidID = errors.New("invalid record id")
	// ErrNoServer: Sync or Watch on a client opened without WithServer.
	ErrNoServer = errors.New("no server configured")
	// ErrUnreachable: Sync could not reach the server (no connection, no
	// answer within WithConnectTimeout, or Unavailable) for
	// WithUnreachableAfter. The error wraps the last failure too. Nothing
	// is lost: the outbox and the photo queue wait for the next Sync.
	ErrUnreachable = errors.New("server unreachable")
	// ErrWrongDevice: Open was given a device token other than the one the
	// store was first used with. A store belongs to one device: its outbox
	// holds that device's changes, under its sequence numbers. Open it with
	// its own token, or Reset it to start a new device.
	ErrWrongDevice = errors.New("the device store belongs to another device")
	// ErrUnsynced: Reset refused because local changes or photos have not
	// reached the server (pass force to drop them).
	ErrUnsynced = errors.New("unsynced changes")
	// ErrNotOnDevice: the record asked for is not in the local store (never
	// synced to this device, or deleted).
	ErrNotOnDevice = errors.New("record not on this device")
)
