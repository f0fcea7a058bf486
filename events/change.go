package events

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Change is what every change event says about the record it reports:
// which record, at which version, changed by whom, when, and where the
// record is placed.
type Change struct {
	TenantID string
	// RecordType is the full protobuf name, such as "fieldsync.v1.Visit".
	RecordType string
	RecordID   string
	Version    uint64
	// DeviceID and UserID are who made the change (or received the
	// delivery, or uploaded the photo).
	DeviceID, UserID string
	// At is the event's commit time.
	At time.Time
	// OwnerUserID, StoreID and RegionID are the record's scope.
	OwnerUserID, StoreID, RegionID string
}

// NewChangeEvent returns the event of op on c's record, with a new event
// ID (a ULID of the current time). The caller adds what only its op carries (the value of an upsert,
// the delivered version, the photo state).
func NewChangeEvent(op fieldsyncv1.ChangeOp, c Change) *fieldsyncv1.ChangeEvent {
	return &fieldsyncv1.ChangeEvent{
		EventId: ids.New(), TenantId: c.TenantID, Op: op,
		RecordType: c.RecordType, RecordId: c.RecordID, Version: c.Version,
		DeviceId: c.DeviceID, UserId: c.UserID, CommitTime: timestamppb.New(c.At),
		OwnerUserId: c.OwnerUserID, StoreId: c.StoreID, RegionId: c.RegionID,
	}
}

// ChangeOutboxEvent encodes ev for the outbox: its event ID, on the change
// subject of its tenant and record type.
func ChangeOutboxEvent(ev *fieldsyncv1.ChangeEvent) (OutboxEvent, error) {
	b, err := proto.Marshal(ev)
	if err != nil {
		return OutboxEvent{}, fmt.Errorf("encode change event %s: %w", ev.GetEventId(), err)
	}
	return OutboxEvent{ID: ev.GetEventId(), Subject: ChangeSubject(ev.GetTenantId(), ev.GetRecordType()), Data: b}, nil
}
