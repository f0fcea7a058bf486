package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

var _ photos.Store = (*DB)(nil)

// UpdatePhotos runs fn in one write transaction (see photos.Store).
func (db *DB) UpdatePhotos(ctx context.Context, fn func(tx photos.Tx) error) error {
	return db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		return fn(&photoTx{db: db, ctx: ctx, tx: tx, now: now})
	})
}

// photoTx implements photos.Tx over one SQLite transaction.
type photoTx struct {
	db  *DB
	ctx context.Context
	tx  *sql.Tx
	now time.Time
}

const uploadColumns = `id, tenant_id, device_id, user_id, sha256, size, content_type, record_id, slot,
	offset_bytes, state, device_hlc, created_at, updated_at, expires_at`

func scanUpload(row interface{ Scan(...any) error }) (*photos.Upload, error) {
	var u photos.Upload
	var created, updated, expires int64
	var hlc int64
	err := row.Scan(&u.ID, &u.TenantID, &u.DeviceID, &u.UserID, &u.SHA256, &u.Size, &u.ContentType, &u.RecordID, &u.Slot,
		&u.Offset, &u.State, &hlc, &created, &updated, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u.DeviceHLC = uint64(hlc)
	u.CreatedAt, u.UpdatedAt, u.ExpiresAt = fromMS(created), fromMS(updated), fromMS(expires)
	return &u, nil
}

// Upload returns an upload by id, or nil (see photos.Store).
func (db *DB) Upload(ctx context.Context, id string) (*photos.Upload, error) {
	st, err := db.readStmt(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	u, err := scanUpload(st.QueryRowContext(ctx, id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}

func (t *photoTx) Upload(id string) (*photos.Upload, error) {
	u, err := scanUpload(t.db.txQueryRow(t.ctx, t.tx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}

func (t *photoTx) ActiveUpload(deviceID, sha256 string) (*photos.Upload, error) {
	u, err := scanUpload(t.db.txQueryRow(t.ctx, t.tx, `SELECT `+uploadColumns+` FROM uploads
		WHERE device_id = ? AND sha256 = ? AND state = ?`, deviceID, sha256, photos.StateInProgress))
	if err != nil {
		return nil, fmt.Errorf("active upload: %w", err)
	}
	return u, nil
}

// DeviceUploads returns the device's uploads in progress, least recently
// updated first (through uploads_active).
func (t *photoTx) DeviceUploads(deviceID string) ([]*photos.Upload, error) {
	ups, err := queryAll(t.ctx, t.tx, scanUpload, `SELECT `+uploadColumns+` FROM uploads
		WHERE device_id = ? AND state = ? ORDER BY updated_at, id`, deviceID, photos.StateInProgress)
	if err != nil {
		return nil, fmt.Errorf("device uploads: %w", err)
	}
	return ups, nil
}

// PutUpload inserts an upload or updates its offset, state and times.
func (t *photoTx) PutUpload(u *photos.Upload) error {
	_, err := t.db.txExec(t.ctx, t.tx, `INSERT INTO uploads (`+uploadColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET offset_bytes = excluded.offset_bytes, state = excluded.state,
		updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
		u.ID, u.TenantID, u.DeviceID, u.UserID, u.SHA256, u.Size, u.ContentType, u.RecordID, u.Slot,
		u.Offset, u.State, int64(u.DeviceHLC), ms(u.CreatedAt), ms(u.UpdatedAt), ms(u.ExpiresAt))
	if err != nil {
		return fmt.Errorf("put upload %s: %w", u.ID, err)
	}
	if u.State != photos.StateInProgress {
		if _, err := t.db.txExec(t.ctx, t.tx, `DELETE FROM upload_chunks WHERE upload_id = ?`, u.ID); err != nil {
			return fmt.Errorf("put upload %s: drop chunks: %w", u.ID, err)
		}
	}
	return nil
}

// AddPhoto stores the photo's facts unless stored and records the tenant
// and the uploading user as holding it; it reports whether that user did
// not hold it before.
func (t *photoTx) AddPhoto(ph *photos.Photo) (bool, error) {
	var capture any
	if !ph.CaptureTime.IsZero() {
		capture = ph.CaptureTime.UnixMilli()
	}
	var lat, lon any
	if ph.HasLocation {
		lat, lon = ph.Latitude, ph.Longitude
	}
	if _, err := t.db.txExec(t.ctx, t.tx, `INSERT OR IGNORE INTO photos (sha256, size, content_type, capture_time,
		has_location, latitude, longitude, received_at) VALUES (?,?,?,?,?,?,?,?)`,
		ph.SHA256, ph.Size, ph.ContentType, capture, ph.HasLocation, lat, lon, ms(ph.ReceivedAt)); err != nil {
		return false, fmt.Errorf("add photo %s: %w", ph.SHA256, err)
	}
	if _, err := t.db.txExec(t.ctx, t.tx, `INSERT OR IGNORE INTO tenant_photos (tenant_id, sha256, upload_id, device_id,
		user_id, device_hlc, received_at) VALUES (?,?,?,?,?,?,?)`,
		ph.TenantID, ph.SHA256, ph.UploadID, ph.DeviceID, ph.UserID, int64(ph.DeviceHLC), ms(ph.ReceivedAt)); err != nil {
		return false, fmt.Errorf("add photo %s: %w", ph.SHA256, err)
	}
	res, err := t.db.txExec(t.ctx, t.tx, `INSERT OR IGNORE INTO photo_holders (tenant_id, sha256, user_id, upload_id,
		received_at) VALUES (?,?,?,?,?)`, ph.TenantID, ph.SHA256, ph.UserID, ph.UploadID, ms(ph.ReceivedAt))
	if err != nil {
		return false, fmt.Errorf("add photo %s: %w", ph.SHA256, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Holds reports whether the user proved holding the photo (see photos.Store).
func (db *DB) Holds(ctx context.Context, tenantID, sha256, userID string) (bool, error) {
	st, err := db.readStmt(ctx, `SELECT EXISTS (SELECT 1 FROM photo_holders WHERE tenant_id = ? AND sha256 = ? AND user_id = ?)`)
	if err != nil {
		return false, fmt.Errorf("holds %s: %w", sha256, err)
	}
	var ok bool
	if err := st.QueryRowContext(ctx, tenantID, sha256, userID).Scan(&ok); err != nil {
		return false, fmt.Errorf("holds %s: %w", sha256, err)
	}
	return ok, nil
}

const photoQuery = `SELECT p.size, p.content_type, p.capture_time, p.has_location, p.latitude, p.longitude,
	t.upload_id, t.device_id, t.user_id, t.device_hlc, t.received_at
	FROM photos p LEFT JOIN tenant_photos t ON t.sha256 = p.sha256 AND t.tenant_id = ?1 WHERE p.sha256 = ?2`

// Photo returns a stored photo and whether the tenant holds it (see photos.Store).
func (db *DB) Photo(ctx context.Context, tenantID, sha256 string) (*photos.Photo, bool, error) {
	st, err := db.readStmt(ctx, photoQuery)
	if err != nil {
		return nil, false, fmt.Errorf("photo %s: %w", sha256, err)
	}
	var (
		ph                     = &photos.Photo{SHA256: sha256}
		capture, hlc, received sql.NullInt64
		lat, lon               sql.NullFloat64
		upload, device, userID sql.NullString
	)
	err = st.QueryRowContext(ctx, tenantID, sha256).Scan(&ph.Size, &ph.ContentType, &capture, &ph.HasLocation, &lat, &lon,
		&upload, &device, &userID, &hlc, &received)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("photo %s: %w", sha256, err)
	}
	ph.CaptureTime, ph.Latitude, ph.Longitude = nullMS(capture), lat.Float64, lon.Float64
	if !upload.Valid {
		return ph, false, nil
	}
	ph.TenantID, ph.UploadID, ph.DeviceID, ph.UserID = tenantID, upload.String, device.String, userID.String
	ph.DeviceHLC, ph.ReceivedAt = uint64(hlc.Int64), nullMS(received)
	return ph, true, nil
}

const recordRefColumns = `r.tenant_id, r.id, r.type, r.owner_id, r.store_id, r.region_id, r.version`

// availableRef holds for the photo_attachers row a when one of the ref's
// attachers holds the photo. An API key holds no photo (only devices
// upload), so its refs are available only through the attachers of their
// source records, as the server's are (see sourceAttachers): another
// user's holding the photo does not show through a key's record.
const availableRef = `EXISTS (SELECT 1 FROM photo_holders h WHERE h.tenant_id = a.tenant_id AND h.sha256 = a.sha256
	AND h.user_id = a.user_id)`

// refAvailable holds for the record_photos row rp when its ref is available.
const refAvailable = `EXISTS (SELECT 1 FROM photo_attachers a WHERE a.tenant_id = rp.tenant_id AND a.sha256 = rp.sha256
	AND a.record_id = rp.record_id AND ` + availableRef + `)`

const photoRecordsQuery = `SELECT ` + recordRefColumns + `, ` + refAvailable + `
	FROM record_photos rp JOIN records r ON r.tenant_id = rp.tenant_id AND r.id = rp.record_id
	WHERE rp.tenant_id = ? AND rp.sha256 = ? AND r.deleted = 0 ORDER BY r.id`

func scanRecordRefs(rows *sql.Rows) ([]photos.RecordRef, error) {
	defer rows.Close()
	var out []photos.RecordRef
	for rows.Next() {
		var r photos.RecordRef
		if err := rows.Scan(&r.TenantID, &r.ID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Version, &r.Available); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PhotoRecords lists the tenant's live records that refer to a photo (see photos.Store).
func (db *DB) PhotoRecords(ctx context.Context, tenantID, sha256 string) ([]photos.RecordRef, error) {
	st, err := db.readStmt(ctx, photoRecordsQuery)
	if err != nil {
		return nil, fmt.Errorf("photo records: %w", err)
	}
	rows, err := st.QueryContext(ctx, tenantID, sha256)
	if err != nil {
		return nil, fmt.Errorf("photo records: %w", err)
	}
	return scanRecordRefs(rows)
}

func (t *photoTx) PhotoRecords(tenantID, sha256 string) ([]photos.RecordRef, error) {
	rows, err := t.tx.QueryContext(t.ctx, photoRecordsQuery, tenantID, sha256)
	if err != nil {
		return nil, fmt.Errorf("photo records: %w", err)
	}
	return scanRecordRefs(rows)
}

func (t *photoTx) AddPhotoNotice(n photos.Notice) error {
	_, err := t.db.txExec(t.ctx, t.tx, `INSERT OR IGNORE INTO photo_notices (tenant_id, sha256, created_at) VALUES (?,?,?)`,
		n.TenantID, n.SHA256, ms(t.now))
	if err != nil {
		return fmt.Errorf("add photo notice: %w", err)
	}
	return nil
}

// AppendEvent writes an event to the outbox in the transaction.
func (t *photoTx) AppendEvent(ev syncengine.Event) error {
	_, err := AppendEvent(t.ctx, t.tx, ev, t.now)
	return err
}

// ExpiredUploads returns uploads in progress whose expiry has passed (see photos.Store).
func (db *DB) ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]*photos.Upload, error) {
	out, err := queryAll(ctx, db.read, scanUpload, `SELECT `+uploadColumns+` FROM uploads
		WHERE state = ? AND expires_at <= ? ORDER BY expires_at LIMIT +?`, photos.StateInProgress, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("expired uploads: %w", err)
	}
	return out, nil
}

// PhotoNotices returns pending notices, oldest first (see photos.Store).
func (db *DB) PhotoNotices(ctx context.Context, limit int) ([]photos.Notice, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT tenant_id, sha256 FROM photo_notices ORDER BY created_at LIMIT +?`, limit)
	if err != nil {
		return nil, fmt.Errorf("photo notices: %w", err)
	}
	defer rows.Close()
	var out []photos.Notice
	for rows.Next() {
		var n photos.Notice
		if err := rows.Scan(&n.TenantID, &n.SHA256); err != nil {
			return nil, fmt.Errorf("photo notices: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DonePhotoNotice deletes a notice (see photos.Store).
func (db *DB) DonePhotoNotice(ctx context.Context, n photos.Notice) error {
	return db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM photo_notices WHERE tenant_id = ? AND sha256 = ?`, n.TenantID, n.SHA256)
		if err != nil {
			return fmt.Errorf("done photo notice: %w", err)
		}
		return nil
	})
}

// surgeryType is the record type HeldSurgeries scans (records'
// PhotosCompleteType): a literal in the query, so that SQLite can use the
// partial index records_surgery_seq, whose WHERE names the same type.
const surgeryType = records.PhotosCompleteType

// HeldSurgeries returns surgery supports whose photos are all available
// (see photos.Store). It reads one snapshot: the rows and the position
// they cover agree. Positions are the server-internal commit sequence
// across tenants (records.seq), not the per-tenant versions.
func (db *DB) HeldSurgeries(ctx context.Context, after uint64, limit int) ([]photos.RecordRef, uint64, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("held surgeries: %w", err)
	}
	defer tx.Rollback()
	var top uint64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'seq'`).Scan(&top); err != nil {
		return nil, 0, fmt.Errorf("held surgeries: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+recordRefColumns+`, r.seq FROM records r
		WHERE r.type = '`+surgeryType+`' AND r.seq > ?1 AND r.seq <= ?2 AND r.deleted = 0
		AND EXISTS (SELECT 1 FROM record_photos rp WHERE rp.tenant_id = r.tenant_id AND rp.record_id = r.id)
		AND NOT EXISTS (SELECT 1 FROM record_photos rp WHERE rp.tenant_id = r.tenant_id AND rp.record_id = r.id
			AND NOT `+refAvailable+`)
		ORDER BY r.seq LIMIT +?3`, after, top, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("held surgeries: %w", err)
	}
	defer rows.Close()
	var refs []photos.RecordRef
	for rows.Next() {
		var r photos.RecordRef
		var seq uint64
		if err := rows.Scan(&r.TenantID, &r.ID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Version, &seq); err != nil {
			return nil, 0, fmt.Errorf("held surgeries: %w", err)
		}
		refs = append(refs, r)
		if len(refs) == limit {
			top = seq
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("held surgeries: %w", err)
	}
	return refs, top, nil
}

var (
	_ photos.ChunkStore = (*DB)(nil)
	_ photos.ChunkTx    = (*photoTx)(nil)
)

// PutChunk stores a chunk of an upload (see photos.ChunkTx).
func (t *photoTx) PutChunk(uploadID string, offset int64, data []byte) error {
	_, err := t.db.txExec(t.ctx, t.tx, `INSERT INTO upload_chunks (upload_id, chunk_offset, data) VALUES (?, ?, ?)
		ON CONFLICT (upload_id, chunk_offset) DO UPDATE SET data = excluded.data`, uploadID, offset, data)
	if err != nil {
		return fmt.Errorf("put chunk of %s at %d: %w", uploadID, offset, err)
	}
	return nil
}

// UploadChunks calls fn with the upload's chunks ending after from, in
// offset order (see photos.ChunkStore).
func (db *DB) UploadChunks(ctx context.Context, uploadID string, from int64, fn func(offset int64, data []byte) error) error {
	rows, err := db.read.QueryContext(ctx, `SELECT chunk_offset, data FROM upload_chunks
		WHERE upload_id = ? AND chunk_offset + length(data) > ? ORDER BY chunk_offset`, uploadID, from)
	if err != nil {
		return fmt.Errorf("chunks of %s: %w", uploadID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var off int64
		var data []byte
		if err := rows.Scan(&off, &data); err != nil {
			return fmt.Errorf("chunks of %s: %w", uploadID, err)
		}
		if err := fn(off, data); err != nil {
			return err
		}
	}
	return rows.Err()
}
