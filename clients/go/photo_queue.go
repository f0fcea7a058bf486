package fieldsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// queuePhoto queues a photo, or leaves it as it is when it is queued,
// uploading or done already; a failed one is queued again from the start.
// It returns the photo's state after.
func queuePhoto(ctx context.Context, tx *sql.Tx, p *Photo) (PhotoState, error) {
	_, err := tx.ExecContext(ctx, `INSERT INTO photos (sha256, size, content_type, record_type, record_id, slot, hlc, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sha256) DO UPDATE SET state = 0, upload_id = '', offset_bytes = 0, recreated = 0, failures = 0,
		retry_at = 0, error = '', record_type = excluded.record_type, record_id = excluded.record_id, slot = excluded.slot,
		hlc = excluded.hlc, created_at = excluded.created_at
		WHERE photos.state = 3`,
		p.SHA256, p.Size, p.ContentType, p.RecordType, p.RecordID, p.Slot, p.hlc, p.Attached.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("queue photo %s: %w", p.SHA256, err)
	}
	st, _, err := photoState(ctx, tx, p.SHA256)
	return st, err
}

// photoState reads the state of a queued photo; found is false when the
// queue does not hold it.
func photoState(ctx context.Context, q querier, sha string) (st PhotoState, found bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT state FROM photos WHERE sha256 = ?`, sha).Scan(&st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("read photo %s: %w", sha, err)
	}
	return st, true, nil
}

const photoColumns = `sha256, size, content_type, record_type, record_id, slot, hlc, state, upload_id, offset_bytes,
	recreated, failures, retry_at, error, created_at, done_at`

// listPhotos reads the queue's photos that match a condition, oldest first.
func listPhotos(ctx context.Context, q querier, where string, args ...any) ([]Photo, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+photoColumns+` FROM photos WHERE `+where+` ORDER BY created_at, sha256`, args...)
	if err != nil {
		return nil, fmt.Errorf("read photo queue: %w", err)
	}
	defer rows.Close()
	var out []Photo
	for rows.Next() {
		p, err := scanPhoto(rows)
		if err != nil {
			return nil, fmt.Errorf("read photo queue: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func scanPhoto(rows *sql.Rows) (Photo, error) {
	var p Photo
	var retryAt, created, done int64
	err := rows.Scan(&p.SHA256, &p.Size, &p.ContentType, &p.RecordType, &p.RecordID, &p.Slot, &p.hlc, &p.State, &p.UploadID,
		&p.Offset, &p.recreated, &p.failures, &retryAt, &p.Err, &created, &done)
	p.Attached = time.UnixMilli(created)
	if retryAt > 0 {
		p.RetryAt = time.UnixMilli(retryAt)
	}
	if done > 0 {
		p.Completed = time.UnixMilli(done)
	}
	return p, err
}

// duePhotos lists the photos to upload now: queued or uploading, and not
// put off past now.
func duePhotos(ctx context.Context, q querier, now time.Time) ([]Photo, error) {
	return listPhotos(ctx, q, `state IN (0, 1) AND retry_at <= ?`, now.UnixMilli())
}

// updatePhoto runs one UPDATE of a photo that is queued or uploading.
func (c *Client) updatePhoto(ctx context.Context, sha, set string, args ...any) error {
	_, err := c.db.write.ExecContext(ctx, `UPDATE photos SET `+set+` WHERE sha256 = ? AND state IN (0, 1)`, append(args, sha)...)
	if err != nil {
		return fmt.Errorf("update photo %s: %w", sha, err)
	}
	return nil
}

// photoStarted records the server's upload of a photo and its offset.
func (c *Client) photoStarted(ctx context.Context, p *Photo, uploadID string, offset int64) error {
	p.UploadID, p.Offset, p.State = uploadID, offset, PhotoUploading
	return c.updatePhoto(ctx, p.SHA256, `state = 1, upload_id = ?, offset_bytes = ?`, uploadID, offset)
}

// photoAcked records the offset the server acknowledged.
func (c *Client) photoAcked(ctx context.Context, p *Photo, offset int64) error {
	p.Offset = offset
	return c.updatePhoto(ctx, p.SHA256, `offset_bytes = ?`, offset)
}

// photoRecreated counts an upload cancelled after a refused completion.
func (c *Client) photoRecreated(ctx context.Context, p *Photo) error {
	p.recreated++
	return c.updatePhoto(ctx, p.SHA256, `recreated = ?, upload_id = '', offset_bytes = 0`, p.recreated)
}

// photoDone marks a photo stored by the server.
func (c *Client) photoDone(ctx context.Context, p *Photo) error {
	p.State, p.Offset, p.Err = PhotoDone, p.Size, ""
	return c.updatePhoto(ctx, p.SHA256, `state = 2, offset_bytes = size, failures = 0, retry_at = 0, error = '', done_at = ?`,
		c.cfg.now().UnixMilli())
}

// photoFailed marks a photo refused for good, with the reason.
func (c *Client) photoFailed(ctx context.Context, p *Photo, cause error) error {
	p.State, p.Err = PhotoFailed, cause.Error()
	return c.updatePhoto(ctx, p.SHA256, `state = 3, error = ?`, p.Err)
}

// photoPutOff puts a photo off after a transient refusal: it is tried
// again after a delay that doubles with each refusal in a row, from the
// backoff's lower bound up to its upper one (WithBackoff).
func (c *Client) photoPutOff(ctx context.Context, p *Photo, cause error) error {
	p.failures++
	d := c.cfg.backoffMax
	if p.failures <= 32 {
		d = min(c.cfg.backoffMin<<(p.failures-1), c.cfg.backoffMax)
	}
	p.RetryAt, p.Err = c.cfg.now().Add(d), cause.Error()
	return c.updatePhoto(ctx, p.SHA256, `failures = ?, retry_at = ?, error = ?`, p.failures, p.RetryAt.UnixMilli(), p.Err)
}

// photoQueueStatus fills the photo fields of a Status.
func photoQueueStatus(ctx context.Context, q querier, s *Status) error {
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE state IN (0, 1)),
		COALESCE(SUM(size - offset_bytes) FILTER (WHERE state IN (0, 1)), 0), COUNT(*) FILTER (WHERE state = 3) FROM photos`).
		Scan(&s.PhotoQueue, &s.PhotoBytesPending, &s.PhotosFailed)
	if err != nil {
		return fmt.Errorf("read photo queue: %w", err)
	}
	return nil
}
