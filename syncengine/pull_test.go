package syncengine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestReassignedCustomerReachesTheOldRepAsARemoval(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	c := &fieldsyncv1.Customer{Name: "Ruijin Hospital", Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL,
		AssignedRepId: w.p["rep"].UserID, RegionId: w.region}
	if r := w.push("director", w.mut("director", id, c, "name", "kind", "assigned_rep_id", "region_id"))[0]; r.Outcome != applied {
		t.Fatalf("create: %v", r)
	}
	recs, repCursor := w.pullAll("rep", "")
	if recs[id] == nil || recs[id].Removed != 0 {
		t.Fatalf("rep does not see the assigned customer: %v", recs)
	}
	if recs, _ := w.pullAll("rep2", ""); recs[id] != nil {
		t.Fatal("rep2 sees a customer assigned to rep")
	}
	// The director reassigns it; a later edit must not hide the removal.
	w.push("director", w.mut("director", id, &fieldsyncv1.Customer{AssignedRepId: w.p["rep2"].UserID}, "assigned_rep_id"))
	w.push("director", w.mut("director", id, &fieldsyncv1.Customer{Address: "197 Ruijin Er Rd"}, "address"))
	recs, _ = w.pullAll("rep", repCursor)
	if recs[id] == nil || recs[id].Removed != fieldsyncv1.RemovalReason_REMOVAL_REASON_OUT_OF_SCOPE || recs[id].Value != nil {
		t.Fatalf("old rep got %v, want an out-of-scope removal", recs[id])
	}
	if recs, _ := w.pullAll("rep2", ""); recs[id] == nil || recs[id].Removed != 0 {
		t.Fatalf("new rep does not see the customer: %v", recs)
	}
	// The old rep can no longer write it.
	if r := w.push("rep", w.mut("rep", id, &fieldsyncv1.Customer{Name: "x"}, "name"))[0]; r.RejectCode != fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED {
		t.Fatalf("old rep's write = %v", r)
	}
}

func TestARepCannotHandTheirRecordToAnotherRep(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{OwnerUserId: w.p["rep2"].UserID}, "owner_user_id"))[0]
	if r.RejectCode != fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED {
		t.Fatalf("result = %v", r)
	}
}

func TestObjectLevelAuthorisation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	visit, diag, logID := newID(), newID(), newID()
	w.push("rep", w.mut("rep", visit, &fieldsyncv1.Visit{Notes: "private"}, "notes"),
		w.mut("rep", logID, &fieldsyncv1.DeviceOperationLog{FormRecordId: visit}, "form_record_id"))
	w.push("staff", w.mut("staff", diag, &fieldsyncv1.Diagnosis{VehicleModel: "A4L"}, "vehicle_model"))
	sees := map[string][]string{ // who sees which of the three
		"rep":       {visit, logID},
		"rep2":      {},
		"director":  {visit, diag}, // the region (the store is in it); never the sensitive log
		"staff":     {diag},
		"manager":   {diag},
		"marketing": {},
		"admin":     {visit, diag},
	}
	for who, want := range sees {
		recs, _ := w.pullAll(who, "")
		if len(recs) != len(want) {
			t.Errorf("%s sees %d records, want %d", who, len(recs), len(want))
		}
		for _, id := range want {
			if recs[id] == nil {
				t.Errorf("%s does not see %s", who, id)
			}
		}
	}
	for _, who := range []string{"rep2", "staff", "marketing"} {
		if r := w.push(who, w.mut(who, visit, &fieldsyncv1.Visit{Notes: "hijack"}, "notes"))[0]; r.Outcome != rejected {
			t.Errorf("%s wrote the rep's visit: %v", who, r)
		}
	}
	if r := w.push("director", w.mut("director", logID, &fieldsyncv1.DeviceOperationLog{FormRecordId: "x"}, "form_record_id"))[0]; r.Outcome != rejected {
		t.Errorf("director wrote the rep's operation log: %v", r)
	}
}

func TestCursorOfAnotherScopeOrBeyondRetentionNeedsResync(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "x"}, "notes"))
	_, cursor := w.pullAll("rep", "")
	_, err := w.e.Pull(context.Background(), w.p["rep2"], cursor, 10)
	wantResync(t, err)
	w.push("rep", w.del("rep", "fieldsync.v1.Visit", id))
	w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "y"}, "notes"))
	if _, err := w.db.PurgeTombstones(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = w.e.Pull(context.Background(), w.p["rep"], cursor, 10)
	wantResync(t, err)
	if recs, _ := w.pullAll("rep", ""); len(recs) != 1 {
		t.Fatalf("a fresh pull after the purge returns %d records, want 1", len(recs))
	}
	_, err = w.e.Pull(context.Background(), w.p["rep"], "garbage", 10)
	if !syncengine.IsCode(err, syncengine.CodeInvalid) {
		t.Fatalf("malformed cursor: %v", err)
	}
}

func wantResync(t *testing.T, err error) {
	t.Helper()
	var de *syncengine.Error
	if !errors.As(err, &de) || de.Code != syncengine.CodeResyncRequired {
		t.Fatalf("err = %v, want CodeResyncRequired", err)
	}
	if _, ok := de.Detail.(*fieldsyncv1.ResyncRequired); !ok {
		t.Fatalf("detail = %T", de.Detail)
	}
}

func TestPullPagesInCommitOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var order []string
	for range 7 {
		id := newID()
		order = append(order, id)
		w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: id}, "notes"))
	}
	w.push("rep", w.mut("rep", order[0], &fieldsyncv1.Visit{Notes: "edited last"}, "notes"))
	var got []string
	cursor := ""
	for {
		res, err := w.e.Pull(context.Background(), w.p["rep"], cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			got = append(got, r.Id)
		}
		cursor = res.NextCursor
		if !res.HasMore {
			break
		}
	}
	want := append(order[1:], order[0])
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("position %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

func TestWatchPokesOnlyForChangesInScope(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan syncengine.WatchEvent, 16)
	done := make(chan error, 1)
	go func() {
		done <- w.e.Watch(ctx, w.p["rep"], "", func(ev syncengine.WatchEvent) error { events <- ev; return nil })
	}()
	waitHeartbeat(t, events) // the first message says the watch is live
	w.push("rep2", w.mut("rep2", newID(), &fieldsyncv1.Visit{Notes: "not yours"}, "notes"))
	waitHeartbeat(t, events) // no poke for rep2's private record
	w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "yours"}, "notes"))
	for ev := range events {
		if ev.Version > 0 {
			break
		}
	}
	w.e.Close() // shutdown ends the stream cleanly
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
}

// waitHeartbeat consumes events up to the next heartbeat and fails on a poke.
func waitHeartbeat(t *testing.T, events <-chan syncengine.WatchEvent) {
	t.Helper()
	if ev, ok := <-events; ok && ev.Version > 0 {
		t.Fatalf("unexpected poke %d", ev.Version)
	}
}

func TestDeliveriesComeFromPullCursors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	w.push("marketing", w.mut("marketing", id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
	_, cursor := w.pullAll("rep", "")
	if ds, _ := w.e.Deliveries(context.Background(), w.p["marketing"], id); len(ds) != 0 {
		t.Fatalf("delivered before the device acknowledged: %v", ds)
	}
	w.pullAll("rep", cursor) // the next pull acknowledges the previous page
	ds, err := w.e.Deliveries(context.Background(), w.p["marketing"], id)
	if err != nil || len(ds) != 1 || ds[0].DeviceID != w.p["rep"].DeviceID {
		t.Fatalf("deliveries = %v, %v", ds, err)
	}
}

func TestTouchRecordRedeliversALiveRecordOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	live, gone := newID(), newID()
	w.push("rep", w.mut("rep", live, &fieldsyncv1.Visit{Notes: "x"}, "notes"), w.mut("rep", gone, &fieldsyncv1.Visit{Notes: "y"}, "notes"))
	w.push("rep", w.del("rep", "fieldsync.v1.Visit", gone))
	_, cursor := w.pullAll("rep", "")
	ctx := context.Background()
	for _, id := range []string{live, gone, "missing"} {
		if err := w.e.TouchRecord(ctx, w.tenant, "fieldsync.v1.Visit", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.e.TouchRecord(ctx, w.tenant, "fieldsync.v1.Customer", live); err != nil {
		t.Fatal(err) // another type: left alone
	}
	recs, _ := w.pullAll("rep", cursor)
	if len(recs) != 1 || recs[live] == nil || recs[live].Removed != 0 {
		t.Fatalf("after touching: %v", recs)
	}
}

func TestReceiptsWaitUnlessTheyDeliverSomethingThatMatters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	deliveries := func(id string) int {
		ds, err := w.e.Deliveries(ctx, w.p["admin"], id)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	a := newID()
	w.push("rep", w.mut("rep", a, &fieldsyncv1.Visit{Notes: "a"}, "notes"))
	_, c1 := w.pullAll("rep", "")
	w.pullAll("rep", c1) // the first receipt is written at once
	if deliveries(a) != 1 {
		t.Fatal("the first receipt was not written")
	}
	b := newID()
	w.push("rep", w.mut("rep", b, &fieldsyncv1.Visit{Notes: "b"}, "notes"))
	_, c2 := w.pullAll("rep", c1)
	w.pullAll("rep", c2) // a plain visit, right after: the receipt waits
	if deliveries(b) != 0 {
		t.Fatal("a receipt within ReceiptInterval was written although it delivers nothing that matters")
	}
	m := newID()
	w.push("marketing", w.mut("marketing", m, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
	_, c3 := w.pullAll("rep", c2)
	w.pullAll("rep", c3) // campaign material: written at once, covering b too
	if deliveries(m) != 1 || deliveries(b) != 1 {
		t.Fatalf("deliveries: material %d, visit %d; want 1 and 1", deliveries(m), deliveries(b))
	}
	if n := deliveryEvents(t, w, m); n != 1 {
		t.Fatalf("%d delivery events for the material, want 1", n)
	}
}

// deliveryEvents counts the outbox's DELIVERY events for a record.
func deliveryEvents(t *testing.T, w *world, recordID string) int {
	t.Helper()
	evs, err := w.db.PendingEvents(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		var ce fieldsyncv1.ChangeEvent
		if proto.Unmarshal(ev.Data, &ce) == nil && ce.Op == fieldsyncv1.ChangeOp_CHANGE_OP_DELIVERY && ce.RecordId == recordID {
			n++
		}
	}
	return n
}
