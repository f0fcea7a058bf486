package fieldsync

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// MaxPhotoSize is the largest photo a record may refer to (the limit of
// PhotoRef.size_bytes). The server's own limit may be lower (25 MiB by
// default): a larger photo fails at upload, with state PhotoFailed.
const MaxPhotoSize = 256 << 20

// Errors of AddPhoto.
var (
	// ErrNotPhotoSlot: the slot is not a photo field devices may write: a
	// PhotoRef field, or a repeated one merged as a set union (e.g.
	// Diagnosis.photos).
	ErrNotPhotoSlot = errors.New("not a photo slot")
	// ErrNotImage: the bytes are not a JPEG, PNG, WebP or HEIC/HEIF image,
	// the types the server accepts.
	ErrNotImage = errors.New("not a supported image")
	// ErrPhotoTooLarge: the photo has more than MaxPhotoSize bytes.
	ErrPhotoTooLarge = errors.New("photo too large")
)

// PhotoState is where a photo of the device's queue stands.
type PhotoState int

const (
	// PhotoQueued: waiting for Sync; no upload on the server yet.
	PhotoQueued PhotoState = iota
	// PhotoUploading: the server has an upload of it in progress, holding
	// Offset bytes.
	PhotoUploading
	// PhotoDone: the server stored and verified the photo.
	PhotoDone
	// PhotoFailed: the server refused the photo for good, or its local copy
	// is damaged or gone (Err says which). Attaching it again retries it.
	PhotoFailed
)

// String names the state: queued, uploading, done or failed.
func (s PhotoState) String() string {
	switch s {
	case PhotoQueued:
		return "queued"
	case PhotoUploading:
		return "uploading"
	case PhotoDone:
		return "done"
	case PhotoFailed:
		return "failed"
	}
	return "unknown"
}

// Photo is one photo of the device's upload queue.
type Photo struct {
	// SHA256 (lower-case hex), Size and ContentType (sniffed from the bytes)
	// are what the records' PhotoRefs say.
	SHA256      string
	Size        int64
	ContentType string
	// RecordType, RecordID and Slot are where the photo was first attached.
	RecordType, RecordID, Slot string
	State                      PhotoState
	// UploadID is the server's upload; Offset the bytes it acknowledged.
	UploadID string
	Offset   int64
	// Path is the local copy; empty once it was deleted (see WithKeepPhotos).
	Path string
	// Err is why the photo failed (PhotoFailed), or why the last attempt
	// was put off (the server was unavailable); empty otherwise.
	Err string
	// RetryAt is when a put-off photo is tried again; zero when not put off.
	RetryAt  time.Time
	Attached time.Time
	// Completed is when CompleteUpload succeeded; zero before.
	Completed time.Time

	hlc       uint64 // the device's HLC at the attach (CreateUpload.device_hlc)
	recreated int    // uploads cancelled after a refused completion
	failures  int    // transient server refusals in a row
}

// AddPhoto attaches a photo to a record. It copies r's bytes into the
// device's photo folder (WithPhotoDir), hashing them (SHA-256) and
// sniffing their type, then, in one local transaction, queues the upload
// and writes the record's slot through the outbox as Put does: a PhotoRef
// field (e.g. SurgerySupport's "pre_op_photo") is set to the photo, a
// repeated one (e.g. Diagnosis's "photos") gets it added. The record
// refers to the photo by hash at once, online or not; Sync pushes the
// record first and uploads the bytes after. The returned ref is what the
// record holds.
//
// The record need not exist yet (it is created with only the slot set);
// if it does, it must be of recordType. A photo already queued or stored
// is not queued again (one upload per content, whatever the number of
// records); a failed one is queued again with the new copy.
//
// Errors: ErrInvalidID, ErrNotRecordType, ErrNotPhotoSlot, ErrNotImage,
// ErrPhotoTooLarge, ErrTypeMismatch, r's error, or a file or store error.
func (c *Client) AddPhoto(ctx context.Context, recordType, recordID, slot string, r io.Reader) (*fieldsyncv1.PhotoRef, error) {
	if !validID(recordID) {
		return nil, fmt.Errorf("add photo to %q: %w", recordID, ErrInvalidID)
	}
	fd, err := photoSlot(recordType, slot)
	if err != nil {
		return nil, fmt.Errorf("add photo to %s: %w", recordID, err)
	}
	ref, err := c.copyPhoto(r)
	if err != nil {
		return nil, fmt.Errorf("add photo to %s: %w", recordID, err)
	}
	e, err := photoEntry(fd, recordID, ref)
	if err != nil {
		return nil, fmt.Errorf("add photo to %s: %w", recordID, err)
	}
	p := &Photo{SHA256: ref.GetSha256(), Size: ref.GetSizeBytes(), ContentType: ref.GetContentType(),
		RecordType: recordType, RecordID: recordID, Slot: slot}
	if err := c.attach(ctx, e, p); err != nil {
		c.dropCopy(ctx, p.SHA256, false)
		return nil, fmt.Errorf("add photo to %s: %w", recordID, err)
	}
	c.wrote()
	return ref, nil
}

// AddPhotoFile is AddPhoto with the bytes of the file at path. Errors: as
// AddPhoto's, or the file cannot be opened.
func (c *Client) AddPhotoFile(ctx context.Context, recordType, recordID, slot, path string) (*fieldsyncv1.PhotoRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("add photo to %s: %w", recordID, err)
	}
	defer f.Close()
	return c.AddPhoto(ctx, recordType, recordID, slot, f)
}

// photoRefName is the full name of the PhotoRef message.
var photoRefName = (&fieldsyncv1.PhotoRef{}).ProtoReflect().Descriptor().FullName()

// photoSlot returns the field of a record type that a photo may go into.
// Errors wrap ErrNotRecordType or ErrNotPhotoSlot.
func photoSlot(recordType, slot string) (protoreflect.FieldDescriptor, error) {
	mt, err := lookupType(recordType)
	if err != nil {
		return nil, err
	}
	fd := mt.Descriptor().Fields().ByName(protoreflect.Name(slot))
	switch {
	case fd == nil || fd.IsMap() || fd.Message() == nil || fd.Message().FullName() != photoRefName:
		return nil, fmt.Errorf("%w: %s has no PhotoRef field %q", ErrNotPhotoSlot, recordType, slot)
	case mergePolicy(fd) == fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY:
		return nil, fmt.Errorf("%w: %s.%s is written by the server only", ErrNotPhotoSlot, recordType, slot)
	case fd.IsList() && mergePolicy(fd) != fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION:
		return nil, fmt.Errorf("%w: %s.%s is a list without set-union merge", ErrNotPhotoSlot, recordType, slot)
	}
	return fd, nil
}

// photoEntry is the mutation that puts ref into a record's slot.
func photoEntry(fd protoreflect.FieldDescriptor, recordID string, ref *fieldsyncv1.PhotoRef) (*entry, error) {
	md := fd.ContainingMessage()
	mt, err := lookupType(string(md.FullName()))
	if err != nil {
		return nil, err
	}
	m := mt.New()
	v := protoreflect.ValueOfMessage(ref.ProtoReflect())
	if fd.IsList() {
		m.Mutable(fd).List().Append(v)
	} else {
		m.Set(fd, v)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return &entry{Type: string(md.FullName()), RecordID: recordID, Fields: []string{string(fd.Name())}, Value: b}, nil
}

// attach writes a photo's mutation as Client.write does and queues the
// photo, in one transaction. A local copy the queue no longer needs (the
// photo was stored already) is deleted after the commit.
func (c *Client) attach(ctx context.Context, e *entry, p *Photo) error {
	var st PhotoState
	err := c.db.update(ctx, func(tx *sql.Tx) error {
		if err := c.writeTx(ctx, tx, e); err != nil {
			return err
		}
		p.hlc, p.Attached = e.HLC, e.Created
		var err error
		st, err = queuePhoto(ctx, tx, p)
		return err
	})
	if err != nil {
		return err
	}
	if st == PhotoDone {
		c.dropCopy(ctx, p.SHA256, true)
	}
	return nil
}

// Photos lists the device's photo queue, oldest attach first: the photos
// waiting, uploading, done and failed, with the bytes the server holds.
// A photo leaves the upload queue only once CompleteUpload succeeded; it
// stays listed as done after that. Errors: a store error.
func (c *Client) Photos(ctx context.Context) ([]Photo, error) {
	ps, err := listPhotos(ctx, c.db.read, `1`)
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	for i := range ps {
		ps[i].Path = c.localCopy(ps[i].SHA256)
	}
	return ps, nil
}

// RecordPhoto is the server's state of a photo a record refers to.
type RecordPhoto struct {
	SHA256 string
	// Available: the server holds the photo's bytes, verified.
	Available bool
}

// RecordPhotos returns the states of the photos a record refers to, as the
// server reported them when the device last pulled the record, by hash;
// none before the record was pulled. Errors: a store error.
func (c *Client) RecordPhotos(ctx context.Context, recordID string) ([]RecordPhoto, error) {
	rows, err := c.db.read.QueryContext(ctx, `SELECT sha256, available FROM record_photos
		WHERE record_id = ? AND record_id IN (SELECT id FROM records) ORDER BY sha256`, recordID)
	if err != nil {
		return nil, fmt.Errorf("record photos of %s: %w", recordID, err)
	}
	defer rows.Close()
	var out []RecordPhoto
	for rows.Next() {
		var rp RecordPhoto
		if err := rows.Scan(&rp.SHA256, &rp.Available); err != nil {
			return nil, fmt.Errorf("record photos of %s: %w", recordID, err)
		}
		out = append(out, rp)
	}
	return out, rows.Err()
}

// PhotoURL returns a short-lived URL to read a stored photo the device may
// see (a record in its scope refers to it), and when the URL expires.
//
// Errors: ErrNoServer, or the server's *connect.Error (NotFound for a
// photo not stored or not visible to the device).
func (c *Client) PhotoURL(ctx context.Context, sha256 string) (string, time.Time, error) {
	if c.media == nil {
		return "", time.Time{}, ErrNoServer
	}
	res, err := c.media.GetMediaURL(ctx, connect.NewRequest(&fieldsyncv1.GetMediaURLRequest{Sha256: sha256}))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("photo url %s: %w", sha256, err)
	}
	return res.Msg.GetUrl(), res.Msg.GetExpireTime().AsTime(), nil
}

// photoDir is the folder of a device's photo copies (see WithPhotoDir).
func photoDir(dbPath string, cfg *config) string {
	if cfg.photoDir != "" {
		return cfg.photoDir
	}
	return dbPath + ".photos"
}

// photoPath is where the local copy of a photo is (or would be).
func (c *Client) photoPath(sha string) string { return filepath.Join(c.photoDir, sha) }

// localCopy returns the path of a photo's local copy; "" when there is none.
func (c *Client) localCopy(sha string) string {
	p := c.photoPath(sha)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// copyPhoto copies r into the photo folder under its SHA-256, synced to
// disk, and returns the photo's ref.
func (c *Client) copyPhoto(r io.Reader) (*fieldsyncv1.PhotoRef, error) {
	if err := os.MkdirAll(c.photoDir, 0o750); err != nil {
		return nil, fmt.Errorf("photo folder: %w", err)
	}
	f, err := os.CreateTemp(c.photoDir, ".add-*")
	if err != nil {
		return nil, fmt.Errorf("copy photo: %w", err)
	}
	ref, err := hashInto(f, r)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("copy photo: %w", cerr)
	}
	if err == nil {
		err = os.Rename(f.Name(), c.photoPath(ref.GetSha256()))
	}
	if err == nil {
		err = syncDir(c.photoDir)
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return ref, nil
}

// hashInto copies r to f, synced, and returns the bytes' ref.
func hashInto(f *os.File, r io.Reader) (*fieldsyncv1.PhotoRef, error) {
	h := sha256.New()
	head := &headBuffer{}
	n, err := io.Copy(io.MultiWriter(f, h, head), io.LimitReader(r, MaxPhotoSize+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("copy photo: %w", err)
	case n > MaxPhotoSize:
		return nil, fmt.Errorf("%w: more than %d bytes", ErrPhotoTooLarge, MaxPhotoSize)
	}
	ct, ok := imagecheck.Detect(head.b)
	if !ok {
		return nil, fmt.Errorf("%w: %d bytes of an unknown type", ErrNotImage, n)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("copy photo: %w", err)
	}
	return &fieldsyncv1.PhotoRef{Sha256: hex.EncodeToString(h.Sum(nil)), SizeBytes: n, ContentType: ct}, nil
}

// headBuffer keeps the first bytes written to it, for type sniffing.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := imagecheck.HeadSize - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// dropCopy deletes a photo's local copy when the queue does not need it:
// the photo is stored (done) and copies are not kept, or, when not
// onlyDone, the photo is not queued at all (a failed attach).
func (c *Client) dropCopy(ctx context.Context, sha string, onlyDone bool) {
	st, found, err := photoState(ctx, c.db.read, sha)
	keep := err != nil || (found && (st != PhotoDone || c.cfg.keepPhotos)) || (!found && onlyDone)
	if keep {
		return
	}
	if err := os.Remove(c.photoPath(sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.cfg.logger.WarnContext(ctx, "fieldsync: delete local photo copy", "sha256", sha, "err", err)
	}
}

// syncDir fsyncs a folder so that a file just renamed into it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
