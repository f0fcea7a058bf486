package photos

import (
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// State is where an upload stands. The values are those of the wire enum
// fieldsync.v1.UploadState and of the uploads.state column.
type State int

const (
	// StateInProgress takes chunks until the upload is completed,
	// cancelled or expires.
	StateInProgress State = 1
	// StateComplete means the photo is verified and stored.
	StateComplete State = 2
	// StateCancelled means the device discarded the upload.
	StateCancelled State = 3
	// StateExpired means the upload was left unfinished for too long.
	StateExpired State = 4
)

// String names the state for messages.
func (s State) String() string {
	switch s {
	case StateInProgress:
		return "in progress"
	case StateComplete:
		return "complete"
	case StateCancelled:
		return "cancelled"
	case StateExpired:
		return "expired"
	}
	return "unknown"
}

// Upload is one device's upload of one photo.
type Upload struct {
	ID       string
	TenantID string
	DeviceID string
	UserID   string
	// SHA256 (lower-case hex) and Size are what the device declared; the
	// bytes must match both.
	SHA256 string
	Size   int64
	// ContentType is the declared type; the stored photo gets the type
	// detected from its bytes.
	ContentType string
	// RecordID and Slot say what the device meant the photo for
	// (informational: the records' own photo refs are authoritative).
	RecordID string
	Slot     string
	// Offset is the number of bytes staged durably: where the next chunk goes.
	Offset int64
	State  State
	// DeviceHLC is the device's hybrid logical clock at CreateUpload, when
	// it sent one (0 otherwise).
	DeviceHLC uint64
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when an unfinished upload expires; every chunk moves it
	// to one expiry period after the chunk.
	ExpiresAt time.Time
}

// CreateRequest is what a device declares when it starts an upload.
type CreateRequest struct {
	SHA256      string
	Size        int64
	ContentType string
	RecordID    string
	Slot        string
	DeviceHLC   uint64
}

// Photo is a stored, verified photo as one tenant holds it: facts read from
// the bytes (shared by every tenant that uploaded them) beside the
// tenant's own receipt.
type Photo struct {
	SHA256 string
	Size   int64
	// ContentType is detected from the bytes (imagecheck.Detect).
	ContentType string
	// CaptureTime, HasLocation, Latitude and Longitude come from the EXIF
	// data, where present (imagecheck.ReadMetadata).
	CaptureTime         time.Time
	HasLocation         bool
	Latitude, Longitude float64

	// The tenant's first complete upload: who sent it, the device's HLC at
	// CreateUpload and when the server received the last byte.
	TenantID   string
	UploadID   string
	DeviceID   string
	UserID     string
	DeviceHLC  uint64
	ReceivedAt time.Time
}

// RecordRef is a live record that refers to a photo, with its placement
// (for authorisation and events) and whether the ref is available.
type RecordRef struct {
	TenantID string
	ID       string
	Type     string
	Scope    syncengine.Scope
	Version  uint64
	// Available says the ref shows the photo: one of the users who attached
	// it to this record holds the photo (see Store.PhotoRecords).
	Available bool
}

// Notice is a photo that became available to a tenant, whose referencing
// records are still to be re-delivered.
type Notice struct {
	TenantID string
	SHA256   string
}
