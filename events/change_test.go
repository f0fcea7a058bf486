package events_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/events"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestNewChangeEventCarriesTheChange(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1_700_000_000_123).UTC()
	c := events.Change{
		TenantID: "01HTENANT", RecordType: "fieldsync.v1.Visit", RecordID: "r1", Version: 7,
		DeviceID: "d1", UserID: "u1", At: at, OwnerUserID: "o1", StoreID: "s1", RegionID: "g1",
	}
	ev := events.NewChangeEvent(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, c)
	want := &fieldsyncv1.ChangeEvent{
		EventId: ev.EventId, TenantId: "01HTENANT", Op: fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT,
		RecordType: "fieldsync.v1.Visit", RecordId: "r1", Version: 7, DeviceId: "d1", UserId: "u1",
		CommitTime: ev.CommitTime, OwnerUserId: "o1", StoreId: "s1", RegionId: "g1",
	}
	if !proto.Equal(ev, want) {
		t.Fatalf("event %v\nwant %v", ev, want)
	}
	if !ev.CommitTime.AsTime().Equal(at) {
		t.Errorf("commit time %v, want %v", ev.CommitTime.AsTime(), at)
	}
	if len(ev.EventId) != 26 {
		t.Errorf("event id %q is not a ULID", ev.EventId)
	}
	if again := events.NewChangeEvent(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, c); again.EventId == ev.EventId {
		t.Errorf("two events share the id %s", ev.EventId)
	}
}

func TestChangeOutboxEventIsTheEventOnItsChangeSubject(t *testing.T) {
	t.Parallel()
	ev := events.NewChangeEvent(fieldsyncv1.ChangeOp_CHANGE_OP_DELETE, events.Change{
		TenantID: "01HTENANT", RecordType: "fieldsync.v1.SurgerySupport", RecordID: "r1", At: time.Now(),
	})
	out, err := events.ChangeOutboxEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != ev.EventId || out.Subject != "fieldsync.01HTENANT.changes.SurgerySupport" {
		t.Errorf("outbox event %s on %q", out.ID, out.Subject)
	}
	var back fieldsyncv1.ChangeEvent
	if err := proto.Unmarshal(out.Data, &back); err != nil || !proto.Equal(&back, ev) {
		t.Errorf("data decodes to %v (%v), want %v", &back, err, ev)
	}
}
