package fieldsync

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

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
