package fieldsync

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Status is the device's sync state, for a status bar or a health check.
type Status struct {
	// OutboxDepth is the number of local changes the server has not answered.
	OutboxDepth int
	// OldestPending is when the oldest of them was made; zero when none.
	OldestPending time.Time
	// OldestPendingAge is how long ago that was (by the client's clock); 0 when none.
	OldestPendingAge time.Duration
	// LastSync is when a Sync last completed; zero when never.
	LastSync time.Time
	// Cursor is the opaque pull cursor; empty before the first pull.
	Cursor string
	// Conflicts and Rejections count the entries of those lists.
	Conflicts  int
	Rejections int
	// PhotoQueue is the number of photos waiting to be uploaded (queued or
	// uploading, put-off ones included); PhotoBytesPending is how many of
	// their bytes the server has not acknowledged.
	PhotoQueue        int
	PhotoBytesPending int64
	// PhotosFailed is the number of photos the server refused for good (see Photos).
	PhotosFailed int
}

// Status reads the device's sync state. Errors: a store error.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	var oldest sql.NullInt64
	var lastSync int64
	err := c.db.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE acked = 0), (SELECT MIN(created_at) FROM outbox WHERE acked = 0),
		(SELECT value FROM meta WHERE key = 'last_sync'), (SELECT value FROM meta WHERE key = 'cursor'),
		(SELECT COUNT(*) FROM conflicts), (SELECT COUNT(*) FROM rejections)`).
		Scan(&s.OutboxDepth, &oldest, &lastSync, &s.Cursor, &s.Conflicts, &s.Rejections)
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	if err := photoQueueStatus(ctx, c.db.read, &s); err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	if oldest.Valid {
		s.OldestPending = time.UnixMilli(oldest.Int64)
		s.OldestPendingAge = max(c.cfg.now().Sub(s.OldestPending), 0)
	}
	if lastSync > 0 {
		s.LastSync = time.UnixMilli(lastSync)
	}
	return s, nil
}

// Conflict is a value that lost a merge on the server, as reported in the
// answer to one of this device's pushes: usually this device's value that
// lost to a newer one, or, for its deletes, the values they cleared.
type Conflict struct {
	ID         uint64 // the server's conflict id
	RecordType string
	RecordID   string
	Field      string
	// Losing and Winning are values of RecordType with only Field set (for
	// set-union fields, Losing holds the elements lost); a value with no
	// field set stands for the field's empty value.
	Losing, Winning proto.Message
	LosingHLC       uint64
	WinningHLC      uint64
	LosingDeviceID  string
	WinningDeviceID string
	Reason          string // "older", "frozen after submit" or "deleted"
	Time            time.Time
}

// Conflicts lists the conflicts reported to this device, oldest first.
// Errors: a store or decode error.
func (c *Client) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := c.db.read.QueryContext(ctx, `SELECT wire FROM conflicts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("conflicts: %w", err)
		}
		cf, err := conflictFromWire(b)
		if err != nil {
			return nil, fmt.Errorf("conflicts: %w", err)
		}
		out = append(out, cf)
	}
	return out, rows.Err()
}

func conflictFromWire(b []byte) (Conflict, error) {
	w := &fieldsyncv1.Conflict{}
	if err := proto.Unmarshal(b, w); err != nil {
		return Conflict{}, err
	}
	cf := Conflict{
		ID: w.GetId(), RecordType: w.GetRecordType(), RecordID: w.GetRecordId(), Field: w.GetField(),
		LosingHLC: w.GetLosingHlc(), WinningHLC: w.GetWinningHlc(), LosingDeviceID: w.GetLosingDeviceId(),
		WinningDeviceID: w.GetWinningDeviceId(), Reason: w.GetReason(), Time: w.GetCreateTime().AsTime(),
	}
	var err error
	if cf.Losing, err = unpackAny(w.GetRecordType(), w.GetLosingValue()); err != nil {
		return cf, err
	}
	cf.Winning, err = unpackAny(w.GetRecordType(), w.GetWinningValue())
	return cf, err
}

// unpackAny decodes a conflict value; the server leaves out empty ones.
func unpackAny(recordType string, a *anypb.Any) (proto.Message, error) {
	if a != nil {
		return a.UnmarshalNew()
	}
	mt, err := lookupType(recordType)
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// Rejection is a local change the server refused: it was never applied and
// left the outbox. The app may show it and let the user write it again.
type Rejection struct {
	Seq        uint64
	RecordType string
	RecordID   string
	Fields     []string
	Value      proto.Message // the values written (nil for a delete)
	Delete     bool
	HLC        uint64
	Created    time.Time // when the change was made
	Code       fieldsyncv1.RejectCode
	Reason     string
	Rejected   time.Time // when the refusal was stored
}

// Rejections lists the refused changes, by seq. Errors: a store or decode error.
func (c *Client) Rejections(ctx context.Context) ([]Rejection, error) {
	rows, err := c.db.read.QueryContext(ctx, `SELECT seq, type, record_id, fields, value, del, hlc, created_at, code, reason, rejected_at
		FROM rejections ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	defer rows.Close()
	var out []Rejection
	for rows.Next() {
		rj, err := scanRejection(rows)
		if err != nil {
			return nil, fmt.Errorf("rejections: %w", err)
		}
		out = append(out, rj)
	}
	return out, rows.Err()
}

func scanRejection(rows *sql.Rows) (Rejection, error) {
	var rj Rejection
	var fields string
	var value []byte
	var created, rejected int64
	if err := rows.Scan(&rj.Seq, &rj.RecordType, &rj.RecordID, &fields, &value, &rj.Delete, &rj.HLC, &created, &rj.Code, &rj.Reason, &rejected); err != nil {
		return rj, err
	}
	rj.Fields, rj.Created, rj.Rejected = splitFields(fields), time.UnixMilli(created), time.UnixMilli(rejected)
	if rj.Delete {
		return rj, nil
	}
	mt, err := lookupType(rj.RecordType)
	if err != nil {
		return rj, err
	}
	m, err := decode(mt, value)
	if err != nil {
		return rj, err
	}
	rj.Value = m.Interface()
	return rj, nil
}
