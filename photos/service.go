// Package photos takes photos from devices in resumable, content-addressed
// uploads: create → put chunks at offsets → complete, surviving dropped
// connections and server restarts. Chunks are staged in a folder
// (appended and acknowledged at once; the staged file is fsynced before
// its length is recorded as the offset a device resumes from, lazily: see
// acked) and hashed as they arrive; a remote object store gets them as they arrive too (a
// streamed Put whose last byte waits for the verdict, or multipart parts
// of large photos), so each byte is written to it once. Completion
// verifies size, SHA-256 and real image type, reads the EXIF capture time
// and position, commits the object once under its hash and makes the photo
// available on the records its uploader attached it to: those records are
// re-delivered and a photo-state event is written. Reading a photo is a
// short-lived URL for callers who may see a record on which it is
// available.
//
// Possession is per user: knowing a hash grants nothing. A user holds a
// photo once an upload of its bytes by one of the user's devices
// completed and verified (also when the object was stored already: the
// bytes are sent once per user). A photo ref on a record is available
// only when a user who attached it there (the user of the device whose
// write carried it) holds the photo, so a record citing a hash its author
// never uploaded stays pending and yields no URL. Photo references are
// PhotoRef fields and string fields marked (fieldsync.v1.field).photo_hash
// (the hashes a quote cites). Refs the server writes (alert evidence) are
// available only where the photo is available on the alert's source
// records ((fieldsync.v1.field).photo_sources), never because someone else
// in the tenant holds it.
//
// Every error is a *syncengine.Error (the domain vocabulary the server maps
// to Connect codes) or a wrapped internal fault. Staging is local to one
// process unless Config.SharedStaging keeps each chunk in the Store too:
// then several servers behind a load balancer serve any upload, each
// fetching the bytes the others took into its own folder when it needs them.
package photos

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// Defaults for zero Config fields.
const (
	DefaultMaxBytes      = 25 << 20
	DefaultExpiry        = 24 * time.Hour
	DefaultLinkTTL       = 15 * time.Minute
	DefaultSweepInterval = time.Minute
	// DefaultMaxDeviceUploads bounds a device's uploads in progress. The
	// SDKs send one photo at a time, so a device reaches it only with
	// uploads it left behind (or by creating uploads it never sends).
	DefaultMaxDeviceUploads = 16
)

// Config holds the service's dependencies and settings.
type Config struct {
	// Store, Objects, Links and StagingDir are required.
	Store   Store
	Objects ObjectStore
	Links   Linker
	// StagingDir holds the bytes of unfinished uploads; created if missing.
	StagingDir string
	// SharedStaging keeps every chunk in the Store as well, in the
	// transaction that records it, and deletes them when the upload ends;
	// a server missing an upload's bytes (another took them) fetches them
	// from there. The staging folder is then written without fsync (the
	// store's commit makes a chunk durable), and after a restart a server
	// stages an upload's bytes again from the store. The servers also
	// share each upload's work on a remote object store: one multipart
	// upload, each part sent once, one completion at a time (see
	// ObjectTx). Set it when several servers share the Store; the Store
	// must implement ChunkStore and its Tx ChunkTx and ObjectTx.
	SharedStaging bool
	// Records re-delivers the records of a photo that became available.
	// Without it they are not bumped (events are still written).
	Records Records
	// Registry knows the record types (default syncengine.DefaultRegistry()).
	Registry *syncengine.Registry
	// MaxBytes is the largest photo accepted (default DefaultMaxBytes).
	MaxBytes int64
	// Expiry is how long an upload may go without a chunk (default DefaultExpiry).
	Expiry time.Duration
	// MaxDeviceUploads is how many uploads one device may have in progress
	// (default DefaultMaxDeviceUploads). A new upload beyond it ends the
	// device's least recently used ones as expired and removes their staged
	// bytes, so a device cannot hold more than MaxDeviceUploads × MaxBytes
	// of staging, whatever it sends.
	MaxDeviceUploads int
	// LinkTTL is how long a media URL works (default DefaultLinkTTL).
	LinkTTL time.Duration
	// SweepInterval is the period of Run's sweeps (default DefaultSweepInterval).
	SweepInterval time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil || c.Objects == nil || c.Links == nil:
		return errors.New("photos: Store, Objects and Links are required")
	case c.StagingDir == "":
		return errors.New("photos: StagingDir is required")
	case c.SharedStaging && !implementsChunkStore(c.Store):
		return errors.New("photos: SharedStaging needs a Store that implements ChunkStore")
	case c.MaxBytes < 0 || c.Expiry < 0 || c.LinkTTL < 0 || c.SweepInterval < 0 || c.MaxDeviceUploads < 0:
		return errors.New("photos: limits and durations must not be negative")
	}
	c.MaxBytes = orDefault(c.MaxBytes, DefaultMaxBytes)
	c.Expiry = orDefault(c.Expiry, DefaultExpiry)
	c.LinkTTL = orDefault(c.LinkTTL, DefaultLinkTTL)
	c.SweepInterval = orDefault(c.SweepInterval, DefaultSweepInterval)
	c.MaxDeviceUploads = orDefault(c.MaxDeviceUploads, DefaultMaxDeviceUploads)
	if c.Registry == nil {
		c.Registry = syncengine.DefaultRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func implementsChunkStore(st Store) bool {
	_, ok := st.(ChunkStore)
	return ok
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Service is the photo upload service. It is safe for concurrent use.
type Service struct {
	cfg     Config
	staging *staging
	locks   keyedMutex
	// bumpMu serialises the re-delivery of records, so that two photos of
	// one record completing together cannot write its completeness out of order.
	bumpMu chan struct{}
	// partsPausedUntil (Unix ns of Config.Now) stops parts going to an
	// object store that just failed one (see sendPart).
	partsPausedUntil atomic.Int64
	// streams are the uploads being sent to the object store as they
	// arrive, by id (see stream).
	streamMu sync.Mutex
	streams  map[string]*stream
	// tracking counts the chunks being hashed after PutChunk returned.
	tracking sync.WaitGroup
	// acks are the uploads with chunks acknowledged but not yet durable,
	// by id (see acked); closed stops their timers' flushes (Crash).
	ackedMu sync.Mutex
	acks    map[string]*acked
	hashes  map[string]*hashed // see track
	closed  atomic.Bool
	// flushAfter is flushAfter, or another delay in tests.
	flushAfter time.Duration
}

// New checks cfg and returns a service; it creates the staging folder.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := newStaging(cfg.StagingDir, !cfg.SharedStaging)
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	return &Service{cfg: cfg, staging: st, bumpMu: make(chan struct{}, 1), flushAfter: flushAfter}, nil
}

// requireDevice refuses callers that are not an enrolled device.
func requireDevice(p *syncengine.Principal) error {
	if p == nil || p.TenantID == "" || !p.IsDevice() {
		return syncengine.Errorf(syncengine.CodePermissionDenied, "photo uploads need an enrolled device's token")
	}
	return nil
}

// uploadNotFound is the answer for an unknown upload id and for another
// device's: the two are indistinguishable to the caller.
func uploadNotFound(id string) error {
	return syncengine.Errorf(syncengine.CodeNotFound, "upload %q not found", id)
}

// notInProgress refuses a chunk or completion of a finished upload.
func notInProgress(u *Upload) error {
	return syncengine.Errorf(syncengine.CodeFailedPrecondition, "upload %s is %s: create the upload again", u.ID, u.State)
}
