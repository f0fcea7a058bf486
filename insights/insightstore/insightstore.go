// Package insightstore declares the storage the insights consumers need:
// the transaction interface, split by capability, and the rows it reads
// and writes. storage/sqlite and storage/postgres implement it.
//
// It is a package of its own, not part of insights, because insights'
// tests run on storage/sqlite, which implements these interfaces and so
// cannot import insights itself.
package insightstore

import (
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Tx is one write transaction over the insights tables. The insights
// consumer does everything one change event causes in one Tx, together
// with the record that the event was applied.
type Tx interface {
	Events
	Actions
	Deliveries
	PhiDays
	Places
	PhotoUses
	Stalls
	Effects
	Findings
	Grants
	Directory
}

// Events records which change events were applied, and the tenant's
// configuration as stored.
type Events interface {
	// MarkEventApplied records that a change event is applied and reports
	// whether it is new; false means it was applied before and must be skipped.
	MarkEventApplied(tenantID, eventID string) (bool, error)
	// MarkEventsApplied is MarkEventApplied for many events of a tenant at
	// once, in one statement: fresh[i] reports whether eventIDs[i] is new.
	// An id given twice is new at most once, at its first place.
	MarkEventsApplied(tenantID string, eventIDs []string) (fresh []bool, err error)
	// InsightsConfig returns a tenant's stored insights configuration
	// (JSON), or nil when the tenant uses the defaults.
	InsightsConfig(tenantID string) ([]byte, error)
}

// Actions keeps the key actions and quality records PHI is computed from.
type Actions interface {
	// Action returns a stored action, or nil.
	Action(tenantID, recordID string) (*Action, error)
	// ActionsByID returns the stored actions of these records, in any
	// order, leaving out those not stored: Action for many records in one
	// query.
	ActionsByID(tenantID string, recordIDs []string) ([]*Action, error)
	PutAction(a *Action) error
	// SubmittedActions returns the submitted action records of a customer
	// with the given record type whose action time is in [fromMS, toMS],
	// by record id.
	SubmittedActions(tenantID, customerID, recordType string, fromMS, toMS int64) ([]*Action, error)
	// Actions returns the action records of a scope (the whole tenant for
	// SCOPE_KIND_UNSPECIFIED) first submitted in [fromMS, toMS). For speed
	// the records carry only what PHI reads: TenantID, CustomerID,
	// Conclusion, Value and SubmittedVersion are left empty.
	Actions(tenantID string, kind fieldsyncv1.ScopeKind, scopeID string, fromMS, toMS int64) ([]*Action, error)
}

// Deliveries keeps campaign materials and their delivery to reps.
type Deliveries interface {
	// PutMaterialRelease stores a material's release time and reports
	// whether it changed.
	PutMaterialRelease(tenantID, materialID string, releasedMS int64) (bool, error)
	// MaterialReleased returns a material's release time (0 unknown).
	MaterialReleased(tenantID, materialID string) (int64, error)
	// Delivery returns a stored delivery, or nil.
	Delivery(tenantID, materialID, repUserID string) (*Delivery, error)
	PutDelivery(d *Delivery) error
	MaterialDeliveries(tenantID, materialID string) ([]*Delivery, error)
	// Deliveries returns the deliveries of a scope (the whole tenant for
	// SCOPE_KIND_UNSPECIFIED) made in [fromMS, toMS).
	Deliveries(tenantID string, kind fieldsyncv1.ScopeKind, scopeID string, fromMS, toMS int64) ([]*Delivery, error)
	// SweepFeedbackDeadlines returns the deliveries made at or before
	// deliveredByMS that were not swept yet, and marks them swept.
	SweepFeedbackDeadlines(tenantID string, deliveredByMS int64) ([]*Delivery, error)
}

// PhiDays keeps the materialised PHI, one row per scope and day.
type PhiDays interface {
	PutPhiDay(tenantID string, d *fieldsyncv1.PhiDay) error
	DeletePhiDay(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, date string) error
	// DeletePhiDays deletes every scope's days in [fromDate, toDate].
	DeletePhiDays(tenantID, fromDate, toDate string) error
	// PhiDays returns a scope's days in [fromDate, toDate], by date.
	PhiDays(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error)
	// PhiDayCounts returns the tallies stored with a scope's day
	// (PutPhiDayCounts), or nil when the day has no row or was stored
	// without them (PutPhiDay). It claims the day for the rest of the
	// transaction: another transaction's PhiDayCounts of the same day, or
	// a write of its row, waits until this one ends, so the tallies a
	// transaction reads are the ones it updates (PostgreSQL; SQLite has
	// one writer).
	PhiDayCounts(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, date string) (*PhiCounts, error)
	// PutPhiDayCounts stores one scope's PHI for one day with the tallies
	// it was computed from, replacing what was there.
	PutPhiDayCounts(tenantID string, d *fieldsyncv1.PhiDay, c *PhiCounts) error
}

// Places keeps what the rules need of customers and stock records.
type Places interface {
	// PutCustomer stores a customer unless a newer version is stored already.
	PutCustomer(c *Customer) error
	// Customer returns a stored customer, or nil.
	Customer(tenantID, customerID string) (*Customer, error)
	// StockState returns the last version seen of a stock-level record and
	// the event that started its current below-safety-stock episode (""
	// when not below or never seen).
	StockState(tenantID, recordID string) (version uint64, episode string, err error)
	PutStockState(tenantID, recordID string, version uint64, episode string) error
}

// PhotoUses keeps which records each photo hash is attached to (A6).
type PhotoUses interface {
	// AddPhotoUse records that a photo is attached to a record (once per record).
	AddPhotoUse(tenantID, sha256 string, u PhotoUse) error
	RemovePhotoUses(tenantID, recordID string) error
	PhotoUses(tenantID, sha256 string) ([]PhotoUse, error)
}

// Stalls keeps A5's candidates and the progress made on customers.
type Stalls interface {
	// AddStall records a stall candidate; a visit already recorded is kept as is.
	AddStall(s *Stall) error
	// DueStalls returns the unresolved stalls that started at or before startedByMS.
	DueStalls(tenantID string, startedByMS int64) ([]*Stall, error)
	ResolveStall(tenantID, visitID string) error
	PutProgress(tenantID, customerID, recordID, linkedVisitID string, atMS int64) error
	// ProgressTimes returns the times of a customer's progress records
	// other than visitID itself and its own open commitments.
	ProgressTimes(tenantID, customerID, visitID string) ([]int64, error)
}

// Effects queues alerts and flags, performed after the commit.
type Effects interface {
	// EnqueueEffect stores an effect unless one with its dedup key exists
	// (or, with e.Update, replaces its alert when it differs and queues it
	// again), and reports whether it stored anything.
	EnqueueEffect(e *Effect) (bool, error)
}

// Findings keeps the rules' findings and A4's interventions.
type Findings interface {
	// Finding returns a stored finding, or nil.
	Finding(tenantID, key string) (*Finding, error)
	PutFinding(tenantID string, f *Finding) error
	// OpenFindings returns the keys of the tenant's open findings (episode
	// set) whose key starts with prefix.
	OpenFindings(tenantID, prefix string) ([]string, error)
	// LatestIntervention returns the last day of the latest A3
	// intervention in a region, or "".
	LatestIntervention(tenantID, regionID string) (string, error)
	AddIntervention(tenantID, regionID, endDate string) error
}

// Grants creates A3's access grants.
type Grants interface {
	// CreateGrant grants grantee read access to subject's device operation
	// logs from create to expire, once per dedupKey: a second call returns
	// the first grant.
	CreateGrant(tenantID, granteeUserID, subjectUserID, reason, dedupKey string, create, expire time.Time) (*fieldsyncv1.AccessGrant, error)
}

// Directory reads the tenant's users and devices.
type Directory interface {
	// UsersByRole returns the tenant's users with a role, in a region or
	// store when given.
	UsersByRole(tenantID string, role fieldsyncv1.Role, regionID, storeID string) ([]*syncengine.User, error)
	// User returns a user of the tenant, or nil.
	User(tenantID, userID string) (*syncengine.User, error)
	// Names returns the display names of the tenant's users, regions and
	// stores among ids, by id; unknown ids are left out.
	Names(tenantID string, ids ...string) (map[string]string, error)
	// StaleDevices returns the tenant's unrevoked devices whose reported
	// oldest unsynced write was made before beforeMS, by device id.
	StaleDevices(tenantID string, beforeMS int64) ([]*StaleDevice, error)
	// EnrolledDevices returns the tenant's devices enrolled at or after
	// sinceMS, revoked since or not, by enrolled time then device id.
	EnrolledDevices(tenantID string, sinceMS int64) ([]*EnrolledDevice, error)
}
