package insightstore

import fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"

// The rows the insights tables hold, as Tx reads and writes them.

// Action is what the insights consumer keeps of one key-action or
// quality record (Visit, SurgerySupport, Diagnosis, Quote). Times are unix ms.
type Action struct {
	TenantID, RecordID, RecordType string
	OwnerUserID, StoreID, RegionID string
	CustomerID                     string
	ActionMS                       int64 // the action's own time; 0 unknown
	SubmittedMS                    int64 // commit of the first SUBMITTED version; 0 not yet
	SubmittedVersion               uint64
	QualityKind, QualityCount      int
	Tags                           []string
	Conclusion                     string
	Value                          []byte // diagnoses: the record as first submitted
}

// Delivery is campaign material reaching one rep: the first delivery
// to any of the rep's devices and the rep's first feedback. Times are unix ms.
type Delivery struct {
	TenantID, MaterialID, RepUserID string
	StoreID, RegionID               string // the rep's
	ReleasedMS                      int64  // read only: the material's release; 0 unknown
	DeliveredMS                     int64  // 0: not delivered yet
	FeedbackMS                      int64  // 0: no feedback yet
}

// Customer is what A2 keeps of a customer (a terminal): its rep.
type Customer struct {
	TenantID, CustomerID, AssignedRepID string
	StoreID, RegionID, Name             string
	Version                             uint64
}

// PhotoUse is one record a photo hash is attached to.
type PhotoUse struct {
	RecordType, RecordID           string
	OwnerUserID, StoreID, RegionID string
}

// Stall is a visit tagged decision-maker-confirmed waiting for
// progress (A5). StartMS is the visit's time.
type Stall struct {
	TenantID, VisitID, CustomerID, RepUserID string
	StoreID, RegionID                        string
	StartMS                                  int64
}

// Effect is an alert to raise or a record to flag, performed after
// the transaction that decided it commits.
type Effect struct {
	ID       int64
	TenantID string
	// DedupKey makes the effect happen once per tenant.
	DedupKey string
	// Alert is set for alerts.
	Alert *fieldsyncv1.Alert
	// RecordType, RecordID and Field are set for flags.
	RecordType, RecordID, Field string
	// Update makes EnqueueEffect replace the alert of a stored effect with
	// the same key when it differs, and queue it again (a finding's new
	// evidence). Without it the first effect of a key stays.
	Update bool
	// Revision counts such replacements (read only).
	Revision int64
	// Attempts counts the failed tries of this revision (read only).
	Attempts int
}

// Finding is the current episode of a rule's finding about one
// subject (A1 a customer, A2 a terminal, A6 a photo) and its evidence.
type Finding struct {
	Key      string // rule and subject, e.g. "A1:<customer>"
	Episode  string // "" when closed
	OpenedMS int64
	LastMS   int64  // the latest evidence's time
	Evidence []byte // rule-specific JSON
}

// StaleDevice is an unrevoked device whose last report held a write made
// before the stale-device alert's cutoff, with its user's place.
type StaleDevice struct {
	DeviceID, DeviceName   string
	UserID, UserName       string
	StoreID, RegionID      string // the user's store; the user's region, else the store's
	OutboxDepth            int
	OldestUnsyncedMS       int64
	ReportedMS             int64
	AppVersion, SDKVersion string
}

// EnrolledDevice is a device as enrolled, revoked since or not, with its
// user and the user who issued its enrollment code.
type EnrolledDevice struct {
	DeviceID, DeviceName, Platform string
	EnrolledMS                     int64
	UserID, UserName               string
	IssuerID, IssuerName           string // "" when unknown (see storage's enrolled_by)
	// Prior: the user had a device enrolled before this one (by enrolled
	// time, then device id), revoked since or not.
	Prior bool
}

// PhiCounts are the tallies of the action components behind one stored
// PHI day, kept so that a change adds or takes back one record's part
// instead of recounting the day. Config names the counting settings they
// were tallied under: tallies under other settings are counted again.
type PhiCounts struct {
	Config                       string
	KeyActionsOnTime, KeyActions int64
	QualityMet, QualityRecords   int64
	HighValueVisits, Visits      int64
}
