package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// AlertType is the full name of the Alert record type.
var AlertType = string((*fieldsyncv1.Alert)(nil).ProtoReflect().Descriptor().FullName())

// alertFields are the fields the server writes when it raises an alert:
// all but acknowledged_time, which the recipient sets.
var alertFields = []string{"recipient_user_id", "kind", "title", "body", "related_record_ids", "photos", "raised_time", "dedup_key", "params"}

// ErrInvalidAlert is returned for an alert without a dedup_key or a
// recipient_user_id.
var ErrInvalidAlert = errors.New("alert needs a dedup_key and a recipient_user_id")

// Writer writes a record as the server (syncengine.Engine.ServerWrite):
// writing the same values again changes nothing, and a server write never
// brings back a deleted record.
type Writer interface {
	ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error)
}

// Alerts raises Alert records for their recipients.
type Alerts struct {
	// Records writes the alert records (required).
	Records Writer
	// Now stamps an alert raised without raised_time (default time.Now).
	Now func() time.Time
}

// AlertID is the record id of the alert with a dedup key: the same key
// always names the same record, which makes raising idempotent. The id is
// predictable, so its prefix is reserved (ReservedID): no device or key
// can take it first with a record of another type.
func AlertID(tenantID, dedupKey string) string {
	h := sha256.Sum256([]byte(tenantID + "\x00" + dedupKey))
	return ServerIDPrefix + hex.EncodeToString(h[:16])
}

// ServerIDPrefix starts the ids of the records the server creates
// (alerts). The sync engine refuses it on every record a device or key
// writes, except the server-created records themselves (which devices may
// only acknowledge).
const ServerIDPrefix = "alert-"

// ReservedID reports whether id is reserved for a server-created record.
func ReservedID(id string) bool { return strings.HasPrefix(id, ServerIDPrefix) }

// RaiseAlert writes an Alert record for its recipient, stamped with the
// time now when a has no raised_time (see WriteAlert).
func (as Alerts) RaiseAlert(ctx context.Context, tenantID string, a *fieldsyncv1.Alert) error {
	if a != nil && a.RaisedTime == nil {
		a = proto.Clone(a).(*fieldsyncv1.Alert)
		a.RaisedTime = timestamppb.New(as.now())
	}
	return WriteAlert(ctx, as.Records, tenantID, a)
}

// WriteAlert writes the Alert record of a's DedupKey with every field the
// server sets (all but acknowledged_time, the recipient's): the first write
// creates it, a later one with new evidence updates it, the same values
// again change nothing, and an alert that was deleted stays deleted. It
// returns ErrInvalidAlert when a has no dedup_key or recipient_user_id, and
// the Writer's errors.
func WriteAlert(ctx context.Context, w Writer, tenantID string, a *fieldsyncv1.Alert) error {
	if a.GetDedupKey() == "" || a.GetRecipientUserId() == "" {
		return ErrInvalidAlert
	}
	_, err := w.ServerWrite(ctx, tenantID, AlertType, AlertID(tenantID, a.GetDedupKey()), a, alertFields)
	return err
}

func (as Alerts) now() time.Time {
	if as.Now == nil {
		return time.Now()
	}
	return as.Now()
}
