package photos

import (
	"context"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/syncengine"
)

// Store is the database the photo service needs: uploads, stored photos
// and the records that refer to them. storage/sqlite implements it.
type Store interface {
	// UpdatePhotos runs fn in one write transaction and commits it when fn
	// returns nil.
	UpdatePhotos(ctx context.Context, fn func(tx Tx) error) error
	// Upload returns the upload with the id, or nil when there is none.
	Upload(ctx context.Context, id string) (*Upload, error)
	// Photo returns the stored photo with the hash, or nil when it is not
	// stored. held says whether the tenant has uploaded it itself; only
	// then are the Photo's tenant fields set.
	Photo(ctx context.Context, tenantID, sha256 string) (ph *Photo, held bool, err error)
	// Holds reports whether the user of the tenant proved holding the photo
	// by completing an upload of its bytes (see Tx.AddPhoto).
	Holds(ctx context.Context, tenantID, sha256, userID string) (bool, error)
	// PhotoRecords lists the tenant's live (not deleted) records whose photo
	// refs name the hash, each saying whether its ref is available: a user
	// who attached the ref to the record (the user of the device whose
	// write carried it) holds the photo. Refs an API key attached are
	// available when any user of the tenant holds it; refs the server wrote
	// (alert evidence) when the photo is available on one of the record's
	// photo sources ((fieldsync.v1.field).photo_sources), as are a device's
	// refs on a source its user could read when writing (a quote's diagnosis).
	PhotoRecords(ctx context.Context, tenantID, sha256 string) ([]RecordRef, error)
	// GetRecords returns current records by id (absent ids are missing
	// from the map), as syncengine.Store does.
	GetRecords(ctx context.Context, tenantID string, ids []string) (map[string]*syncengine.StoredRecord, error)
	// ExpiredUploads returns up to limit uploads still in progress whose
	// expiry is at or before now.
	ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]*Upload, error)
	// PhotoNotices returns up to limit pending notices, oldest first.
	PhotoNotices(ctx context.Context, limit int) ([]Notice, error)
	// DonePhotoNotice deletes a notice; deleting a missing one is no error.
	DonePhotoNotice(ctx context.Context, n Notice) error
	// HeldSurgeries returns up to limit live surgery supports of any tenant
	// written after position after of the server's commit sequence (across
	// tenants; not the per-tenant versions), in that order, that refer to at
	// least one photo and whose refs are all available (see PhotoRecords);
	// and the position the scan covered (the next call's after).
	HeldSurgeries(ctx context.Context, after uint64, limit int) (refs []RecordRef, covered uint64, err error)
	// Meta and SetMeta read and write a small persistent setting ("" when unset).
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Tx is one write transaction of a Store.
type Tx interface {
	// Upload returns the upload with the id, or nil.
	Upload(id string) (*Upload, error)
	// ActiveUpload returns the device's upload of the hash that is in
	// StateInProgress (expired or not), or nil.
	ActiveUpload(deviceID, sha256 string) (*Upload, error)
	// DeviceUploads returns the device's uploads in StateInProgress
	// (expired or not), least recently updated first.
	DeviceUploads(deviceID string) ([]*Upload, error)
	// PutUpload inserts an upload or, for an existing id, writes its
	// offset, state and times. At most one upload per device and hash may
	// be in progress.
	PutUpload(u *Upload) error
	// AddPhoto records that ph.TenantID and its user ph.UserID hold the
	// photo, storing its facts unless the photo is already stored. It
	// reports whether the user did not hold it before.
	AddPhoto(ph *Photo) (added bool, err error)
	// PhotoRecords is Store.PhotoRecords inside the transaction.
	PhotoRecords(tenantID, sha256 string) ([]RecordRef, error)
	// AddPhotoNotice adds a pending notice (once per tenant and hash).
	AddPhotoNotice(n Notice) error
	// AppendEvent writes an event to the outbox.
	AppendEvent(ev syncengine.Event) error
}

// ObjectStore keeps photo bytes under their hash: the one call of
// media.Store that uploads need (see media.Store.Put for its contract).
type ObjectStore interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
}

// Linker makes a URL that reads a stored object until expires, without
// further credentials. See PresignedLinks and SignedLinks.
type Linker interface {
	Link(ctx context.Context, key string, expires time.Time) (string, error)
}

// Records re-delivers records whose photos became available: the sync
// engine's server write (*syncengine.Engine implements it).
type Records interface {
	ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error)
}

// RecordToucher is an optional capability of Records: give a live record a
// new version without changing its value, so devices pull it again. It
// must leave a deleted or missing record alone. Without it, only surgery
// supports are re-delivered when a photo becomes available.
type RecordToucher interface {
	TouchRecord(ctx context.Context, tenantID, recordType, id string) error
}
