package syncengine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// fakeClock is a settable wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// clockedWorld is a world whose store and engine read a fake clock.
func clockedWorld(t *testing.T) (*world, *fakeClock) {
	w := newWorld(t)
	clk := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	w.setNow(clk.now)
	e, err := syncengine.New(syncengine.Config{Store: w.db, Clock: syncengine.NewClock(clk.now)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	w.e = e
	return w, clk
}

// TestAckDatesTheReceiptWhenThePageWasStored: campaign material stored by
// the rep's device 5 minutes after it was served is delivered then, not at
// the device's next pull hours later; the stored time is clamped to the
// server's clock and to when the page was served.
func TestAckDatesTheReceiptWhenThePageWasStored(t *testing.T) {
	t.Parallel()
	served := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name            string
		stored, ackedAt time.Duration // after served
		want            time.Duration
	}{
		{"stored after 5 min", 5 * time.Minute, 5*time.Minute + time.Second, 5 * time.Minute},
		{"device clock ahead of the server", 3 * time.Hour, 10 * time.Minute, 10 * time.Minute},
		{"device clock behind the page", -2 * time.Hour, time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, clk := clockedWorld(t)
			ctx := context.Background()
			id := newID()
			w.push("marketing", w.mut("marketing", id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
			_, cursor := w.pullAll("rep", "")
			clk.set(served.Add(tc.ackedAt))
			at, err := w.e.Ack(ctx, w.p["rep"], cursor, served.Add(tc.stored))
			if err != nil || !at.Equal(served.Add(tc.want)) {
				t.Fatalf("Ack = %v, %v; want %v", at, err, served.Add(tc.want))
			}
			clk.set(served.Add(4*time.Hour + 23*time.Minute))
			w.pullAll("rep", cursor) // the next pull changes nothing
			ds, err := w.e.Deliveries(ctx, w.p["marketing"], id)
			if err != nil || len(ds) != 1 || !ds[0].Delivered.Equal(served.Add(tc.want)) {
				t.Fatalf("deliveries = %+v, %v; want one at %v", ds, err, served.Add(tc.want))
			}
		})
	}
}

// TestAckIsADevicesOwn: a device acks only pages served to itself; API keys
// and cursors of other scopes are refused.
func TestAckIsADevicesOwn(t *testing.T) {
	t.Parallel()
	w, _ := clockedWorld(t)
	ctx := context.Background()
	w.push("marketing", w.mut("marketing", newID(), &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
	_, repCursor := w.pullAll("rep", "")
	_, staffCursor := w.pullAll("staff", "")
	phone2 := *w.p["rep"]
	phone2.DeviceID = "dev-rep-phone2"
	key := &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k1", Permissions: []string{"records:read"}}
	for _, tc := range []struct {
		name   string
		p      *syncengine.Principal
		cursor string
		want   syncengine.Code
	}{
		{"api key", key, repCursor, syncengine.CodePermissionDenied},
		{"the same user's other device", &phone2, repCursor, syncengine.CodeFailedPrecondition},
		{"another rep's cursor", w.p["rep2"], repCursor, syncengine.CodeResyncRequired},
		{"another scope's cursor", w.p["rep"], staffCursor, syncengine.CodeResyncRequired},
		{"malformed cursor", w.p["rep"], "xyz", syncengine.CodeInvalid},
	} {
		if _, err := w.e.Ack(ctx, tc.p, tc.cursor, time.Now()); !syncengine.IsCode(err, tc.want) {
			t.Errorf("%s: Ack error = %v, want code %v", tc.name, err, tc.want)
		}
	}
}

// TestAckReachesAnotherNodeThanThePull: behind a round-robin proxy a
// device's Pull lands on one node and its Ack on another; both engines
// share the store, so the second dates the receipt by when the first
// served the page.
func TestAckReachesAnotherNodeThanThePull(t *testing.T) {
	t.Parallel()
	w, clk := clockedWorld(t)
	nodeB, err := syncengine.New(syncengine.Config{Store: w.db, Clock: syncengine.NewClock(clk.now)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodeB.Close)
	ctx := context.Background()
	served := clk.now()
	id := newID()
	w.push("marketing", w.mut("marketing", id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
	_, cursor := w.pullAll("rep", "") // on node A (w.e)
	clk.set(served.Add(3 * time.Minute))
	at, err := nodeB.Ack(ctx, w.p["rep"], cursor, served.Add(2*time.Minute))
	if err != nil || !at.Equal(served.Add(2*time.Minute)) {
		t.Fatalf("Ack on node B = %v, %v; want %v", at, err, served.Add(2*time.Minute))
	}
	ds, err := w.e.Deliveries(ctx, w.p["marketing"], id)
	if err != nil || len(ds) != 1 || !ds[0].Delivered.Equal(served.Add(2*time.Minute)) {
		t.Fatalf("deliveries on node A = %+v, %v; want one at %v", ds, err, served.Add(2*time.Minute))
	}
}

// TestAckRefusesPagesNotInTheServedLog: only the last page of a pull is
// logged, for ServedPageTTL; an Ack of a middle page or of an expired one
// is FailedPrecondition and changes no receipt.
func TestAckRefusesPagesNotInTheServedLog(t *testing.T) {
	t.Parallel()
	w, clk := clockedWorld(t)
	ctx := context.Background()
	for range 3 { // pullAll's pages hold 2 records
		w.push("marketing", w.mut("marketing", newID(), &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
	}
	first, err := w.e.Pull(ctx, w.p["rep"], "", 2)
	if err != nil || !first.HasMore {
		t.Fatalf("first page: %+v, %v; want one with more", first, err)
	}
	if _, err := w.e.Ack(ctx, w.p["rep"], first.NextCursor, clk.now()); !syncengine.IsCode(err, syncengine.CodeFailedPrecondition) {
		t.Errorf("Ack of a middle page: %v, want FailedPrecondition", err)
	}
	_, last := w.pullAll("rep", first.NextCursor)
	clk.set(clk.now().Add(syncengine.ServedPageTTL))
	if _, err := w.e.Ack(ctx, w.p["rep"], last, clk.now()); !syncengine.IsCode(err, syncengine.CodeFailedPrecondition) {
		t.Errorf("Ack after ServedPageTTL: %v, want FailedPrecondition", err)
	}
	clk.set(clk.now().Add(-time.Millisecond))
	if _, err := w.e.Ack(ctx, w.p["rep"], last, clk.now()); err != nil {
		t.Errorf("Ack just within ServedPageTTL: %v", err)
	}
}

// pullPage pulls one page (up to 500 records) through an engine.
func pullPage(t *testing.T, e *syncengine.Engine, p *syncengine.Principal, cursor string) string {
	t.Helper()
	res, err := e.Pull(context.Background(), p, cursor, 0)
	if err != nil || res.HasMore {
		t.Fatalf("pull: %v (has more: %v)", err, res != nil && res.HasMore)
	}
	return res.NextCursor
}

// TestAcksThroughTwoNodesDeliverOnce: a device that pulls everything
// again (as after a resync), served and acknowledged alternately by two
// engines over one store (two nodes, each remembering only the receipts it
// wrote), gets one delivery event per record: each engine reads what the
// receipt delivers ahead from its own memory (nothing: from the start),
// and the store's previous receipt decides what is new.
func TestAcksThroughTwoNodesDeliverOnce(t *testing.T) {
	t.Parallel()
	w, _ := clockedWorld(t)
	ctx := context.Background()
	other, err := syncengine.New(syncengine.Config{Store: w.db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	rep := w.p["rep"]
	var materials []string
	for i, e := range []*syncengine.Engine{w.e, other, w.e, other} {
		m := newID()
		materials = append(materials, m)
		w.push("marketing", w.mut("marketing", m, &fieldsyncv1.CampaignMaterial{Title: "m", RegionId: w.region}, "title", "region_id"))
		next := pullPage(t, e, rep, "")
		if _, err := e.Ack(ctx, rep, next, time.Now()); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	for i, m := range materials {
		if n := deliveryEvents(t, w, m); n != 1 {
			t.Errorf("material %d: %d delivery events, want 1", i, n)
		}
	}
}

// TestAckWhenTheStoreIsBehindTheEngine: when the store holds an older
// receipt than the engine remembers writing (e.g. restored from a backup),
// the records in between are still delivered, once.
func TestAckWhenTheStoreIsBehindTheEngine(t *testing.T) {
	t.Parallel()
	w, _ := clockedWorld(t)
	rep := w.p["rep"]
	m := newID()
	w.push("marketing", w.mut("marketing", m, &fieldsyncv1.CampaignMaterial{Title: "m", RegionId: w.region}, "title", "region_id"))
	next := pullPage(t, w.e, rep, "")
	w.e.RememberReceipt(rep.DeviceID, syncengine.CursorVersion(next))
	if _, err := w.e.Ack(context.Background(), rep, next, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := deliveryEvents(t, w, m); n != 1 {
		t.Fatalf("%d delivery events, want 1", n)
	}
}

// TestPullAheadRecordsNoReceipt: a device that asks for the next page
// while it stores the last one (PullAhead) has not stored the pages up to
// the cursor it sends, so no receipt is recorded for them (a Pull records
// one); its Ack of the last page delivers everything, once.
func TestPullAheadRecordsNoReceipt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		ahead     bool
		beforeAck int // deliveries of the first page's records before the Ack
	}{
		{"pull", false, 1},
		{"pull ahead", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, clk := clockedWorld(t)
			ctx := context.Background()
			var ids []string
			for range 3 {
				id := newID()
				ids = append(ids, id)
				w.push("marketing", w.mut("marketing", id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: w.region}, "title", "region_id"))
			}
			first, err := w.e.Pull(ctx, w.p["rep"], "", 2)
			if err != nil || !first.HasMore || len(first.Records) != 2 {
				t.Fatalf("first page: %+v, %v; want 2 records and more", first, err)
			}
			pull := w.e.Pull
			if tc.ahead {
				pull = w.e.PullAhead
			}
			last, err := pull(ctx, w.p["rep"], first.NextCursor, 2)
			if err != nil || last.HasMore || len(last.Records) != 1 {
				t.Fatalf("last page: %+v, %v; want 1 record and no more", last, err)
			}
			for _, r := range first.Records {
				ds, err := w.e.Deliveries(ctx, w.p["marketing"], r.Id)
				if err != nil || len(ds) != tc.beforeAck {
					t.Fatalf("deliveries of %s before the Ack = %+v, %v; want %d", r.Id, ds, err, tc.beforeAck)
				}
			}
			if _, err := w.e.Ack(ctx, w.p["rep"], last.NextCursor, clk.now()); err != nil {
				t.Fatalf("Ack of the last page: %v", err)
			}
			for _, id := range ids {
				ds, err := w.e.Deliveries(ctx, w.p["marketing"], id)
				if err != nil || len(ds) != 1 {
					t.Fatalf("deliveries of %s after the Ack = %+v, %v; want 1", id, ds, err)
				}
			}
		})
	}
}
