package syncengine

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync/events"
)

// Store is the storage the sync engine needs. storage/sqlite implements it.
type Store interface {
	// Update runs fn in one write transaction and commits it when fn returns
	// nil; the transaction's clock reading is tx.Now().
	Update(ctx context.Context, fn func(tx Tx) error) error
	// ScanChanges returns up to limit change rows of sel's tenant that sel
	// selects, with a version greater than after, in version order: every
	// record last changed after it (with its current state in Record), and
	// every scope exit after it. It reads only what sel selects (indexes by
	// scope), so its cost follows the rows it returns, not the tenant.
	ScanChanges(ctx context.Context, sel Selection, after uint64, limit int) (*ChangePage, error)
	// GetRecords returns the current stored records with these ids (absent
	// ids are missing from the map).
	GetRecords(ctx context.Context, tenantID string, ids []string) (map[string]*StoredRecord, error)
	// GetRecordValues returns the current records with these ids as stored
	// bytes, without decoding them (Pull).
	GetRecordValues(ctx context.Context, tenantID string, ids []string) (map[string]*RawRecord, error)
	// CursorBounds returns the tenant's purge horizon, the highest version
	// whose tombstones and scope exits have been purged (cursors below it
	// cannot be served), and its latest version (no cursor beyond it was
	// minted). Versions are per tenant: unique and increasing within one.
	CursorBounds(ctx context.Context, tenantID string) (purged, latest uint64, err error)
	// ListConflicts returns conflicts of the tenant with id > afterID in id
	// order, filtered by the given predicate fields.
	ListConflicts(ctx context.Context, q ConflictQuery) ([]*Conflict, error)
	// Receipts returns each device's delivery receipts for versions ≥ minVersion:
	// the earliest time each device acknowledged a cursor at or beyond it.
	Receipts(ctx context.Context, tenantID string, minVersion uint64) ([]Delivery, error)
	// CreatedBetween is Tx.CreatedBetween outside a transaction.
	CreatedBetween(ctx context.Context, sel Selection, types []string, from, to uint64) ([]ChangeRow, error)
	// NoteServed adds a page to the served-pages log: the device was served
	// a page whose cursor ends at pg.Version, at pg.At. In the same write it
	// drops every entry served before expireBefore and all but the device's
	// keep newest, so the log stays small. Serving the same version again
	// moves its time.
	NoteServed(ctx context.Context, pg ServedPage, keep int, expireBefore time.Time) error
	// ServedAt returns when the device was last served a page ending at
	// version; ok is false when the log has none (never served, dropped or
	// expired). Every node sharing the store sees the same log.
	ServedAt(ctx context.Context, tenantID, deviceID string, version uint64) (at time.Time, ok bool, err error)
	// PhotoStates reports which photos of the records are available: stored,
	// verified and held by a user who attached them to the record (see
	// package photos); missing keys are pending.
	PhotoStates(ctx context.Context, tenantID string, recordIDs []string) (map[PhotoKey]bool, error)
}

// ServedPage is an entry of the served-pages log (Store.NoteServed).
type ServedPage struct {
	TenantID, DeviceID string
	Version            uint64
	At                 time.Time
}

// PhotoKey names one photo ref of one record.
type PhotoKey struct {
	RecordID, SHA256 string
}

// Tx is one write transaction.
type Tx interface {
	// Now is the transaction's time, read once.
	Now() time.Time
	// LastSeq is the highest seq applied for an actor (0 if none).
	LastSeq(actor string) (uint64, error)
	SetLastSeq(actor string, seq uint64) error
	// PushResult returns the stored result of an applied seq.
	PushResult(actor string, seq uint64) ([]byte, bool, error)
	SavePushResult(actor string, seq uint64, result []byte) error
	// GetRecord returns the stored record, or nil when absent.
	GetRecord(tenantID, id string) (*StoredRecord, error)
	// GetRecords returns the stored records with these ids in one read
	// (absent ids are missing from the map): Push reads a batch's records
	// ahead with it.
	GetRecords(tenantID string, ids []string) (map[string]*StoredRecord, error)
	// PutRecord writes a record's new state under the next version, which it
	// sets on rec and returns. When the record's scope changed, oldScope is
	// the scope it left: a scope exit row, at a version of its own just
	// before the record's.
	PutRecord(rec *StoredRecord, oldScope *Scope) (uint64, error)
	// UserPlace returns where a user of the tenant is: Owner is the user,
	// Store and Region the user's. ok is false for a user the tenant lacks.
	UserPlace(tenantID, userID string) (sc Scope, ok bool, err error)
	// StoreRegion returns the region of a store of the tenant; ok is false
	// for a store the tenant lacks.
	StoreRegion(tenantID, storeID string) (region string, ok bool, err error)
	// RegionExists reports whether the tenant has the region.
	RegionExists(tenantID, regionID string) (bool, error)
	// AddConflict appends to the conflict log.
	AddConflict(c *Conflict) error
	// AppendEvent writes an event to the outbox.
	AppendEvent(ev Event) error
	// AddReceipt records that a device acknowledged everything in its scope
	// up to version (a Pull cursor) at a time; it returns the device's
	// previous receipt.
	AddReceipt(tenantID, deviceID, userID string, version uint64, at time.Time) (uint64, error)
	// CreatedBetween returns the headers of the records of sel's tenant that
	// sel selects, of the given types, with created versions in (from, to]
	// (delivery events), in created-version order; Version holds the created
	// version. Like ScanChanges it reads only what sel selects.
	CreatedBetween(sel Selection, types []string, from, to uint64) ([]ChangeRow, error)
	// ClaimRatingToken marks a live (unused, unexpired) R10 rating token of
	// the tenant, by its hash, used in this transaction, so the rating
	// written with it is the token's only one. A token that is unknown,
	// used, expired or of another tenant is CodeNotFound and changes nothing.
	ClaimRatingToken(hash []byte, tenantID string) error
}

// StoredRecord is a record as stored: its merge state and placement.
type StoredRecord struct {
	TenantID       string
	ID             string
	Type           string
	State          *State
	Scope          Scope
	Version        uint64
	CreatedVersion uint64
	HLC            HLC
	Actor          string
	UpdatedAt      time.Time
	// Encoded is State.Value's protobuf encoding as PutRecord stored it (set
	// by PutRecord), so the change event need not encode it again.
	Encoded []byte
	// Precoded, when the caller sets it, is State.Value's deterministic
	// encoding, which PutRecord may store instead of encoding the value
	// again (a push prepares it ahead of its transaction).
	Precoded []byte
}

// RawRecord is a record's current state as stored: the merged value's
// protobuf bytes, not decoded.
type RawRecord struct {
	Type      string
	Value     []byte
	Scope     Scope
	Version   uint64
	HLC       HLC
	Deleted   bool
	UpdatedAt time.Time
}

// ChangePage is one page of a scan of the change log.
type ChangePage struct {
	Rows []ChangeRow
	// Through is the version up to which the scan looked: a cursor there
	// misses nothing. When the scan stopped early (More), it is the last
	// version it read; else the tenant's latest version when the scan began
	// (every later change gets a greater version).
	Through uint64
	// More is set when the scan stopped at its limit: rows after Through may
	// be selected too.
	More bool
}

// ChangeRow is a header from the change log: a record's current placement,
// or (Exit) a scope it left at Version.
type ChangeRow struct {
	Version  uint64
	RecordID string
	Type     string
	Scope    Scope
	Deleted  bool
	Exit     bool
	// Record is the record's current state, on record rows from ScanChanges.
	Record *RawRecord
}

// Conflict is a value that lost a merge, kept with the value that won.
type Conflict struct {
	ID         uint64
	TenantID   string
	RecordType string
	RecordID   string
	Field      string
	Losing     []byte // record-type value with only Field set
	Winning    []byte
	LosingAt   Version
	WinningAt  Version
	Reason     string
	Scope      Scope
	CreatedAt  time.Time
	// LosingPlace and WinningPlace are where the user of the device that
	// wrote each value works (Owner, Store, Region), filled by
	// Store.ListConflicts; nil for an API key, the server, or a device the
	// store does not know. ListConflicts names a device only to callers
	// who may know of it.
	LosingPlace, WinningPlace *Scope
}

// ConflictQuery selects conflicts for ListConflicts. Empty fields do not filter.
type ConflictQuery struct {
	TenantID    string
	RecordID    string
	LosingActor string
	StoreID     string
	RegionID    string
	AfterID     uint64
	Limit       int
}

// Delivery is when a device's acknowledged cursor first covered a version.
type Delivery struct {
	DeviceID string
	UserID   string
	// Reader is the device's user as a principal, to check it sees the record.
	Reader    *Principal
	Version   uint64
	Delivered time.Time
}

// Event is an outbox event: published on Subject with ID as the message
// id. The store sets Seq and CreatedAt.
type Event = events.OutboxEvent
