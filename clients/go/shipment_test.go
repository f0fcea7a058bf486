package fieldsync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestDraftShipmentPrefillsOfflineAndSyncsIntoTheRepsScope: a rep's device
// with no server drafts shipments from the customers and surgery supports
// it holds and requests them; back online, the request missing the address
// is refused naming recipient_address, a later change of the requested
// one's address is lost as frozen while its state moves, and it reaches the
// rep's other device with its scope filled.
func TestDraftShipmentPrefillsOfflineAndSyncsIntoTheRepsScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := start(t)
	rep := e.user("rep", 0)
	if rep.RegionID == "" {
		t.Fatal("the demo rep has no region")
	}
	path := e.devicePath()
	open := func(server string) *Client {
		return openDevice(t, path, WithServer(server), WithToken(rep.DeviceToken), WithBackoff(time.Millisecond, 20*time.Millisecond))
	}
	c := open(e.d.URL())
	mustPut(t, c, c.NewID(), &fieldsyncv1.SurgerySupport{HospitalId: "demo-ruijin", ConsumableModels: []string{"XK-200 bone screw", "XK-300 plate"}})
	mustPut(t, c, c.NewID(), &fieldsyncv1.SurgerySupport{HospitalId: "demo-ruijin", ConsumableModels: []string{"XK-200 bone screw"}})
	mustPut(t, c, c.NewID(), &fieldsyncv1.SurgerySupport{HospitalId: "demo-huashan", ConsumableModels: []string{"HS-1"}})
	mustSync(t, c)
	c.Close()

	offline := open("http://" + closedPort(t))
	id, s, err := offline.DraftShipment(ctx, "demo-ruijin")
	if err != nil {
		t.Fatalf("draft offline: %v", err)
	}
	items := func(s *fieldsyncv1.SampleShipment) (out []string) {
		for _, it := range s.GetItems() {
			out = append(out, it.GetProductId())
		}
		return out
	}
	if s.GetRecipientAddress() != "197 Ruijin Er Rd, Shanghai" || s.GetRecipientName() != "Dr. Zhou" ||
		!slices.Equal(items(s), []string{"XK-200 bone screw", "XK-300 plate"}) {
		t.Fatalf("draft not pre-filled from the customer and its surgery supports: %v", s)
	}
	noAddress, _, err := offline.DraftShipment(ctx, "demo-huashan")
	if err != nil {
		t.Fatalf("draft offline: %v", err)
	}
	if _, _, err := offline.DraftShipment(ctx, "demo-nowhere"); !errors.Is(err, ErrNotOnDevice) {
		t.Fatalf("draft for an unknown customer = %v, want ErrNotOnDevice", err)
	}
	for _, sid := range []string{id, noAddress} {
		if err := offline.RequestShipment(ctx, sid); err != nil {
			t.Fatalf("request offline: %v", err)
		}
	}
	offline.Close()

	c = open(e.d.URL())
	mustSync(t, c)
	rj, err := c.Rejections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rj) != 1 || rj[0].RecordID != noAddress || !strings.Contains(rj[0].Reason, "recipient_address") {
		t.Fatalf("rejections %+v, want the request of %s refused naming recipient_address", rj, noAddress)
	}

	// Requested: the recipient is frozen, the state still moves.
	mustPut(t, c, id, &fieldsyncv1.SampleShipment{RecipientAddress: "elsewhere", State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED}, "recipient_address", "state")
	mustSync(t, c)
	cs, err := c.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].RecordID != id || cs[0].Field != "recipient_address" || cs[0].Reason != "frozen after submit" {
		t.Fatalf("conflicts %+v, want the requested shipment's address change lost as frozen", cs)
	}

	token, _ := e.enroll(rep.UserID, "second phone")
	other := e.device(token)
	mustSync(t, other)
	got := &fieldsyncv1.SampleShipment{}
	if found, err := other.Get(ctx, shipmentType, id, got); err != nil || !found {
		t.Fatalf("the rep's other device lacks shipment %s (%v)", id, err)
	}
	if got.GetState() != fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED || got.GetRecipientAddress() != s.GetRecipientAddress() || got.GetStatus() != fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED ||
		got.GetOwnerUserId() != rep.UserID || got.GetRegionId() != rep.RegionID || len(got.GetItems()) != 2 {
		t.Fatalf("server's shipment %v, want cancelled at the first address, owned by %s in region %s, 2 items", got, rep.UserID, rep.RegionID)
	}
	if found, _ := other.Get(ctx, shipmentType, noAddress, got); !found || got.GetState() != fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT {
		t.Fatalf("the refused request changed the draft: found %v, %v", found, got)
	}
}
