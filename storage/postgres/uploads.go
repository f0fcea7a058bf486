package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

var _ photos.Store = (*DB)(nil)

// UpdatePhotos runs fn in one write transaction (see photos.Store).
func (db *DB) UpdatePhotos(ctx context.Context, fn func(tx photos.Tx) error) (err error) {
	defer classify(&err)
	return db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		t := &photoTx{ctx: ctx, tx: tx, now: now}
		if err := fn(t); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, t.events, now); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		return nil
	})
}

// photoTx implements photos.Tx over one PostgreSQL transaction.
type photoTx struct {
	ctx    context.Context
	tx     pgx.Tx
	now    time.Time
	events []syncengine.Event
}

const uploadColumns = `id, tenant_id, device_id, user_id, sha256, size, content_type, record_id, slot,
	offset_bytes, state, device_hlc, created_at, updated_at, expires_at`

// scanUpload scans an upload; no row is nil.
func scanUpload(row pgx.Row) (*photos.Upload, error) {
	var u photos.Upload
	var created, updated, expires, hlc int64
	var state int32
	err := row.Scan(&u.ID, &u.TenantID, &u.DeviceID, &u.UserID, &u.SHA256, &u.Size, &u.ContentType, &u.RecordID, &u.Slot,
		&u.Offset, &state, &hlc, &created, &updated, &expires)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u.State, u.DeviceHLC = photos.State(state), uint64(hlc)
	u.CreatedAt, u.UpdatedAt, u.ExpiresAt = fromMS(created), fromMS(updated), fromMS(expires)
	return &u, nil
}

// Upload returns an upload by id, or nil (see photos.Store).
func (db *DB) Upload(ctx context.Context, id string) (_ *photos.Upload, err error) {
	defer classify(&err)
	u, err := scanUpload(db.pool.QueryRow(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}

func (t *photoTx) Upload(id string) (*photos.Upload, error) {
	u, err := scanUpload(t.tx.QueryRow(t.ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}

func (t *photoTx) ActiveUpload(deviceID, sha256 string) (*photos.Upload, error) {
	u, err := scanUpload(t.tx.QueryRow(t.ctx, `SELECT `+uploadColumns+` FROM uploads
		WHERE device_id = $1 AND sha256 = $2 AND state = $3 FOR UPDATE`, deviceID, sha256, int32(photos.StateInProgress)))
	if err != nil {
		return nil, fmt.Errorf("active upload: %w", err)
	}
	return u, nil
}

// DeviceUploads returns the device's uploads in progress, least recently
// updated first, locked for the transaction.
func (t *photoTx) DeviceUploads(deviceID string) ([]*photos.Upload, error) {
	ups, err := collect(t.ctx, t.tx, scanUpload, `SELECT `+uploadColumns+` FROM uploads
		WHERE device_id = $1 AND state = $2 ORDER BY updated_at, id FOR UPDATE`, deviceID, int32(photos.StateInProgress))
	if err != nil {
		return nil, fmt.Errorf("device uploads: %w", err)
	}
	return ups, nil
}

// PutUpload inserts an upload or updates its offset, state and times.
func (t *photoTx) PutUpload(u *photos.Upload) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO uploads (`+uploadColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET offset_bytes = EXCLUDED.offset_bytes, state = EXCLUDED.state,
		updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at`,
		u.ID, u.TenantID, u.DeviceID, u.UserID, u.SHA256, u.Size, u.ContentType, u.RecordID, u.Slot,
		u.Offset, int32(u.State), int64(u.DeviceHLC), ms(u.CreatedAt), ms(u.UpdatedAt), ms(u.ExpiresAt))
	if err != nil {
		return fmt.Errorf("put upload %s: %w", u.ID, err)
	}
	if u.State != photos.StateInProgress {
		if _, err := t.tx.Exec(t.ctx, `DELETE FROM upload_chunks WHERE upload_id = $1`, u.ID); err != nil {
			return fmt.Errorf("put upload %s: drop chunks: %w", u.ID, err)
		}
	}
	return nil
}

// AddPhoto stores the photo's facts unless stored and records the tenant
// and the uploading user as holding it; it reports whether that user did
// not hold it before.
func (t *photoTx) AddPhoto(ph *photos.Photo) (bool, error) {
	var capture *int64
	if !ph.CaptureTime.IsZero() {
		v := ph.CaptureTime.UnixMilli()
		capture = &v
	}
	var lat, lon *float64
	if ph.HasLocation {
		lat, lon = &ph.Latitude, &ph.Longitude
	}
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO photos (sha256, size, content_type, capture_time, has_location, latitude, longitude,
		received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		ph.SHA256, ph.Size, ph.ContentType, capture, ph.HasLocation, lat, lon, ms(ph.ReceivedAt)); err != nil {
		return false, fmt.Errorf("add photo %s: %w", ph.SHA256, err)
	}
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO tenant_photos (tenant_id, sha256, upload_id, device_id, user_id, device_hlc,
		received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		ph.TenantID, ph.SHA256, ph.UploadID, ph.DeviceID, ph.UserID, int64(ph.DeviceHLC), ms(ph.ReceivedAt)); err != nil {
		return false, fmt.Errorf("add photo %s: %w", ph.SHA256, err)
	}
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO photo_holders (tenant_id, sha256, user_id, upload_id, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, ph.TenantID, ph.SHA256, ph.UserID, ph.UploadID, ms(ph.ReceivedAt))
	if err != nil {
		return false, fmt.Errorf("add photo %s: %w", ph.SHA256, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Holds reports whether the user proved holding the photo (see photos.Store).
func (db *DB) Holds(ctx context.Context, tenantID, sha256, userID string) (_ bool, err error) {
	defer classify(&err)
	var ok bool
	err = db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM photo_holders WHERE tenant_id = $1 AND sha256 = $2 AND user_id = $3)`,
		tenantID, sha256, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("holds %s: %w", sha256, err)
	}
	return ok, nil
}

// Photo returns a stored photo and whether the tenant holds it (see photos.Store).
func (db *DB) Photo(ctx context.Context, tenantID, sha256 string) (_ *photos.Photo, _ bool, err error) {
	defer classify(&err)
	var (
		ph                     = &photos.Photo{SHA256: sha256}
		capture, hlc, received *int64
		lat, lon               *float64
		upload, device, userID *string
	)
	err = db.pool.QueryRow(ctx, `SELECT p.size, p.content_type, p.capture_time, p.has_location, p.latitude, p.longitude,
		t.upload_id, t.device_id, t.user_id, t.device_hlc, t.received_at
		FROM photos p LEFT JOIN tenant_photos t ON t.sha256 = p.sha256 AND t.tenant_id = $1 WHERE p.sha256 = $2`, tenantID, sha256).
		Scan(&ph.Size, &ph.ContentType, &capture, &ph.HasLocation, &lat, &lon, &upload, &device, &userID, &hlc, &received)
	switch {
	case noRows(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("photo %s: %w", sha256, err)
	}
	ph.CaptureTime = nullMS(capture)
	if lat != nil && lon != nil {
		ph.Latitude, ph.Longitude = *lat, *lon
	}
	if upload == nil {
		return ph, false, nil
	}
	ph.TenantID, ph.UploadID, ph.DeviceID, ph.UserID = tenantID, *upload, *device, *userID
	ph.DeviceHLC, ph.ReceivedAt = uint64(*hlc), nullMS(received)
	return ph, true, nil
}

const recordRefColumns = `r.tenant_id, r.id, r.type, r.owner_id, r.store_id, r.region_id, r.version`

// refAvailable holds for the record_photos row rp when its ref is available.
const refAvailable = `EXISTS (SELECT 1 FROM photo_attachers a WHERE a.tenant_id = rp.tenant_id AND a.sha256 = rp.sha256
	AND a.record_id = rp.record_id AND ` + availableRef + `)`

const photoRecordsQuery = `SELECT ` + recordRefColumns + `, ` + refAvailable + `
	FROM record_photos rp JOIN records r ON r.tenant_id = rp.tenant_id AND r.id = rp.record_id
	WHERE rp.tenant_id = $1 AND rp.sha256 = $2 AND NOT r.deleted ORDER BY r.id`

func photoRecords(ctx context.Context, q querier, tenantID, sha256 string) ([]photos.RecordRef, error) {
	out, err := collect(ctx, q, func(row pgx.Row) (photos.RecordRef, error) {
		var r photos.RecordRef
		return r, row.Scan(&r.TenantID, &r.ID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Version, &r.Available)
	}, photoRecordsQuery, tenantID, sha256)
	if err != nil {
		return nil, fmt.Errorf("photo records: %w", err)
	}
	return out, nil
}

// PhotoRecords lists the tenant's live records that refer to a photo (see photos.Store).
func (db *DB) PhotoRecords(ctx context.Context, tenantID, sha256 string) (_ []photos.RecordRef, err error) {
	defer classify(&err)
	return photoRecords(ctx, db.pool, tenantID, sha256)
}

func (t *photoTx) PhotoRecords(tenantID, sha256 string) ([]photos.RecordRef, error) {
	return photoRecords(t.ctx, t.tx, tenantID, sha256)
}

func (t *photoTx) AddPhotoNotice(n photos.Notice) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO photo_notices (tenant_id, sha256, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		n.TenantID, n.SHA256, ms(t.now))
	if err != nil {
		return fmt.Errorf("add photo notice: %w", err)
	}
	return nil
}

// AppendEvent checks an event and keeps it for the transaction's end.
func (t *photoTx) AppendEvent(ev syncengine.Event) error {
	if err := checkEvent(ev); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	t.events = append(t.events, ev)
	return nil
}

// ExpiredUploads returns uploads in progress whose expiry has passed (see photos.Store).
func (db *DB) ExpiredUploads(ctx context.Context, now time.Time, limit int) (_ []*photos.Upload, err error) {
	defer classify(&err)
	out, err := collect(ctx, db.pool, scanUpload, `SELECT `+uploadColumns+` FROM uploads
		WHERE state = $1 AND expires_at <= $2 ORDER BY expires_at LIMIT $3`, int32(photos.StateInProgress), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("expired uploads: %w", err)
	}
	return out, nil
}

// PhotoNotices returns pending notices, oldest first (see photos.Store).
func (db *DB) PhotoNotices(ctx context.Context, limit int) (_ []photos.Notice, err error) {
	defer classify(&err)
	out, err := collect(ctx, db.pool, func(row pgx.Row) (photos.Notice, error) {
		var n photos.Notice
		return n, row.Scan(&n.TenantID, &n.SHA256)
	}, `SELECT tenant_id, sha256 FROM photo_notices ORDER BY created_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("photo notices: %w", err)
	}
	return out, nil
}

// DonePhotoNotice deletes a notice (see photos.Store).
func (db *DB) DonePhotoNotice(ctx context.Context, n photos.Notice) (err error) {
	defer classify(&err)
	if _, err := db.pool.Exec(ctx, `DELETE FROM photo_notices WHERE tenant_id = $1 AND sha256 = $2`, n.TenantID, n.SHA256); err != nil {
		return fmt.Errorf("done photo notice: %w", err)
	}
	return nil
}

// HeldSurgeries returns surgery supports whose photos are all available
// (see photos.Store), in position order after a position. It reads one
// snapshot (REPEATABLE READ): the committed counter first, then the rows up
// to it. Positions are handed out and committed in order (nextSeq), so
// every position up to the counter is committed and in the snapshot.
func (db *DB) HeldSurgeries(ctx context.Context, after uint64, limit int) (refs []photos.RecordRef, top uint64, err error) {
	defer classify(&err)
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT value FROM counters WHERE name = 'surgery_seq'`).Scan(&top); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+recordRefColumns+`, r.seq FROM records r
			WHERE r.type = '`+records.PhotosCompleteType+`' AND r.seq > $1 AND r.seq <= $2 AND NOT r.deleted
			AND EXISTS (SELECT 1 FROM record_photos rp WHERE rp.tenant_id = r.tenant_id AND rp.record_id = r.id)
			AND NOT EXISTS (SELECT 1 FROM record_photos rp WHERE rp.tenant_id = r.tenant_id AND rp.record_id = r.id
				AND NOT `+refAvailable+`)
			ORDER BY r.seq LIMIT $3`, after, top, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r photos.RecordRef
			var seq uint64
			if err := rows.Scan(&r.TenantID, &r.ID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Version, &seq); err != nil {
				return err
			}
			refs = append(refs, r)
			if len(refs) == limit {
				top = seq
			}
		}
		return rows.Err()
	})
	if err != nil {
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
	_, err := t.tx.Exec(t.ctx, `INSERT INTO upload_chunks (upload_id, chunk_offset, data) VALUES ($1, $2, $3)
		ON CONFLICT (upload_id, chunk_offset) DO UPDATE SET data = EXCLUDED.data`, uploadID, offset, data)
	if err != nil {
		return fmt.Errorf("put chunk of %s at %d: %w", uploadID, offset, err)
	}
	return nil
}

// UploadChunks calls fn with the upload's chunks ending after from, in
// offset order (see photos.ChunkStore). It reads one chunk at a time.
func (db *DB) UploadChunks(ctx context.Context, uploadID string, from int64, fn func(offset int64, data []byte) error) (err error) {
	defer classify(&err)
	rows, err := db.pool.Query(ctx, `SELECT chunk_offset, data FROM upload_chunks
		WHERE upload_id = $1 AND chunk_offset + octet_length(data) > $2 ORDER BY chunk_offset`, uploadID, from)
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
