package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDeviceShipmentCreateAndRequest: the rep drafts a shipment for a demo
// hospital (pre-filled from it), requests it, syncs; a request for a
// customer without an address is refused naming recipient_address.
func TestDeviceShipmentCreateAndRequest(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	db := filepath.Join(t.TempDir(), "rep.db")
	srv := d.URL()
	device(t, db, srv, rep.DeviceToken, "sync")

	draft := device(t, db, srv, rep.DeviceToken, "shipment", "create", "--customer=demo-ruijin")
	v := draft["value"].(map[string]any)
	if v["state"] != "SHIPMENT_STATE_DRAFT" || v["recipientAddress"] != "197 Ruijin Er Rd, Shanghai" || v["recipientName"] != "Dr. Zhou" || draft["pending"] != true {
		t.Fatalf("draft: %v", draft)
	}
	if items := v["items"].([]any); len(items) != 1 || items[0].(map[string]any)["productId"] != "XK-200 bone screw" {
		t.Fatalf("draft items %v, want the product stocked at the hospital", items)
	}
	id := draft["id"].(string)
	req := device(t, db, srv, rep.DeviceToken, "shipment", "request", id)
	if v := req["value"].(map[string]any); v["state"] != "SHIPMENT_STATE_REQUESTED" || v["status"] != "RECORD_STATUS_SUBMITTED" {
		t.Fatalf("requested: %v", req)
	}
	bad := device(t, db, srv, rep.DeviceToken, "shipment", "create", "--customer=demo-huashan")["id"].(string)
	device(t, db, srv, rep.DeviceToken, "shipment", "request", bad)
	if st := device(t, db, srv, rep.DeviceToken, "sync"); st["rejections"] != 1.0 {
		t.Fatalf("status after sync: %v; %v", st, device(t, db, srv, rep.DeviceToken, "rejections"))
	}
	rj := device(t, db, srv, rep.DeviceToken, "rejections")["rejections"].([]any)[0].(map[string]any)
	if rj["recordId"] != bad || !strings.Contains(rj["reason"].(string), "recipient_address") {
		t.Fatalf("rejection: %v", rj)
	}
	got := records(t, device(t, db, srv, rep.DeviceToken, "list", "--type=SampleShipment"))[id]
	if got["pending"] != false || got["value"].(map[string]any)["regionId"] != rep.RegionID {
		t.Fatalf("synced shipment: %v", got)
	}
}

func TestDeviceShipmentUsageErrors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	cli(t, 2, "device", "shipment", "create", "--db="+db)
	cli(t, 2, "device", "shipment", "request", "--db="+db)
	cli(t, 1, "device", "shipment", "create", "--db="+db, "--customer=nowhere")
	cli(t, 1, "device", "shipment", "request", "--db="+db, "nowhere")
}
