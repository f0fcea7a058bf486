package fieldsync

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestSyncAcknowledgesTheLastPageAtOnce: campaign material counts as
// delivered when the rep's device stored it, not at its next pull (which
// may be hours later): one Sync is enough for the delivery, dated within
// that Sync.
func TestSyncAcknowledgesTheLastPageAtOnce(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	marketing := e.device(e.token("marketing"))
	id := marketing.NewID()
	mustPut(t, marketing, id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
	mustSync(t, marketing)

	rep := e.device(e.token("rep"))
	before := time.Now()
	mustSync(t, rep)
	after := time.Now()
	res, err := e.syncClient(e.creds.AdminToken).GetDeliveries(ctx, connect.NewRequest(&fieldsyncv1.GetDeliveriesRequest{RecordId: id}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Msg.GetDeliveries() {
		at := d.GetDeliveryTime().AsTime()
		if d.GetDeviceId() == e.user("rep", 0).DeviceID && !at.Before(before.Truncate(time.Millisecond)) && !at.After(after) {
			return
		}
	}
	t.Fatalf("one sync of the rep's device, between %v and %v; deliveries: %v", before, after, res.Msg.GetDeliveries())
}

// TestAckRefusesBadInput: the Ack RPC names the bad field, and only
// devices ack.
func TestAckRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	res, err := e.syncClient(e.token("rep")).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	cursor := res.Msg.GetNextCursor()
	for _, tc := range []struct {
		name, token string
		req         *fieldsyncv1.AckRequest
		code        connect.Code
		field       string
	}{
		{"no cursor", e.token("rep"), &fieldsyncv1.AckRequest{StoredTime: timestamppb.Now()}, connect.CodeInvalidArgument, "cursor"},
		{"no stored time", e.token("rep"), &fieldsyncv1.AckRequest{Cursor: cursor}, connect.CodeInvalidArgument, "stored_time"},
		{"malformed cursor", e.token("rep"), &fieldsyncv1.AckRequest{Cursor: "x", StoredTime: timestamppb.Now()}, connect.CodeInvalidArgument, "cursor"},
		{"an API key", e.creds.IntegratorKey, &fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.Now()}, connect.CodePermissionDenied, "device"},
		{"another user's cursor", e.token("regional_director"), &fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.Now()}, connect.CodeFailedPrecondition, "resync"},
	} {
		_, err := e.syncClient(tc.token).Ack(ctx, connect.NewRequest(tc.req))
		if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Ack = %v, want %v naming %q", tc.name, err, tc.code, tc.field)
		}
	}
	if _, err := e.syncClient(e.token("rep")).Ack(ctx, connect.NewRequest(&fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.Now()})); err != nil {
		t.Fatalf("the rep's own ack: %v", err)
	}
}
