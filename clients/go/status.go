package fieldsync

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// modulePath is the fieldsync module, whose version is the SDK's.
const modulePath = "github.com/fieldsync/fieldsync"

// sdkVersion is this SDK's module version from the build info: the
// dependency's version in an app, "(devel)" when built inside the module,
// "" when the binary has no build info.
var sdkVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			return d.Version
		}
	}
	return ""
})

// Bounds of DeviceStatus that the server enforces (see sync.proto).
const (
	maxStatusVersion = 64
	maxStatusAge     = 10 * 365 * 24 * time.Hour
)

var (
	minStatusTime = time.Unix(946684800, 0)  // 2000-01-01
	maxStatusTime = time.Unix(4102444800, 0) // 2100-01-01
)

// sentStatus is a status a Push carried, with the count of local writes
// made before it was read.
type sentStatus struct {
	status *fieldsyncv1.DeviceStatus
	writes uint64
}

// wireStatus is the status sent with a Push or Pull: the outbox entries
// after seq sent (those a push carries are left out: the answer settles
// them), the photo queue, the versions and the last sync. Values the
// server would refuse (a clock far off, an odd app version) are left out
// or cleaned, so a status never fails a sync.
//
// A Pull (sent 0) right after a Push that left nothing pending sends the
// Push's status again when no local write came since it was read: the
// push's answer settled the entries it carried, which that status left
// out already, and nothing else it reports changes between the two calls
// (the photo queue moves after the pull, the last sync at its end).
// exchange forgets the Push's status at every pass.
func (c *Client) wireStatus(ctx context.Context, sent uint64) (*fieldsyncv1.DeviceStatus, error) {
	if p := c.pushed; sent == 0 && p != nil && p.status.GetOutboxDepth() == 0 && p.writes == c.writes.Load() {
		return p.status, nil
	}
	writes := c.writes.Load()
	status, err := c.readStatus(ctx, sent)
	if err == nil && sent > 0 {
		c.pushed = &sentStatus{status: status, writes: writes}
	}
	return status, err
}

// forgetPushStatus makes the next Pull read its status afresh.
func (c *Client) forgetPushStatus() { c.pushed = nil }

// readStatus reads the status wireStatus sends.
func (c *Client) readStatus(ctx context.Context, sent uint64) (*fieldsyncv1.DeviceStatus, error) {
	var depth int
	var oldest sql.NullInt64
	var lastSync int64
	err := c.db.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE acked = 0 AND seq > ?), (SELECT MIN(created_at) FROM outbox WHERE acked = 0 AND seq > ?),
		(SELECT value FROM meta WHERE key = 'last_sync')`, sent, sent).Scan(&depth, &oldest, &lastSync)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var photos Status
	if err := photoQueueStatus(ctx, c.db.read, &photos); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	w := &fieldsyncv1.DeviceStatus{
		OutboxDepth: uint32(depth), PhotosWaiting: uint32(photos.PhotoQueue),
		AppVersion: cleanVersion(c.cfg.appVersion), SdkVersion: cleanVersion(sdkVersion()),
	}
	if oldest.Valid && depth > 0 {
		age := min(max(c.cfg.now().Sub(time.UnixMilli(oldest.Int64)), 0), maxStatusAge)
		w.OldestUnsyncedAge = durationpb.New(age)
	}
	if t := time.UnixMilli(lastSync); lastSync > 0 && t.After(minStatusTime) && t.Before(maxStatusTime) {
		w.LastSyncTime = timestamppb.New(t)
	}
	return w, nil
}

// cleanVersion fits a version string to the server's rules: printable
// ASCII without spaces (others become '_'), at most 64 bytes.
func cleanVersion(v string) string {
	b := []byte(v)
	for i, ch := range b {
		if ch < 0x21 || ch > 0x7e {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), maxStatusVersion)])
}
