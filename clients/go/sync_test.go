package fieldsync

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestCreateOfflineThenSync(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep := e.device(e.token("rep"))
	var ids []string
	for i := range 250 { // more than two push batches
		id := rep.NewID()
		ids = append(ids, id)
		mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "offline " + id, Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c" + string(rune('a'+i%26))})
	}
	mustSync(t, rep)
	st, err := rep.Status(ctx)
	if err != nil || st.OutboxDepth != 0 || st.LastSync.IsZero() || st.Cursor == "" || st.Rejections != 0 {
		t.Fatalf("status after sync: %+v %v", st, err)
	}
	recs := records(t, rep, visitType)
	if len(recs) != len(ids) {
		t.Fatalf("rep holds %d visits, want %d", len(recs), len(ids))
	}
	for _, r := range recs {
		v := r.Value.(*fieldsyncv1.Visit)
		if r.Pending || r.Version == 0 || v.OwnerUserId != e.user("rep", 0).UserID || v.Notes != "offline "+r.ID {
			t.Fatalf("record after sync: %+v", r)
		}
	}
	director := e.device(e.token("regional_director"))
	mustSync(t, director)
	if got := records(t, director, visitType); len(got) != len(ids) {
		t.Fatalf("the director sees %d of the rep's %d visits", len(got), len(ids))
	}
}

func TestTwoDevicesMergePerField(t *testing.T) {
	t.Parallel()
	e := start(t)
	rep, director := e.device(e.token("rep")), e.device(e.token("regional_director"))
	id := rep.NewID()
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "base", Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, ActionTags: []string{"first_contact"}})
	mustSync(t, rep)
	mustSync(t, director)
	// Offline on both: the rep edits notes and adds a tag, the director
	// edits kind and adds another tag; then the director edits notes too,
	// later, so its notes win.
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "rep notes", ActionTags: []string{"first_contact", "price_negotiation"}}, "notes", "action_tags")
	mustPut(t, director, id, &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT, ActionTags: []string{"technical_demo"}}, "kind", "action_tags")
	mustPut(t, director, id, &fieldsyncv1.Visit{Notes: "director notes"}, "notes")
	mustSync(t, director)
	mustSync(t, rep) // the rep's older notes lose: a conflict
	mustSync(t, director)
	want := &fieldsyncv1.Visit{Notes: "director notes", Kind: fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT}
	for name, c := range map[string]*Client{"rep": rep, "director": director} {
		v, found := visit(t, c, id)
		tags := slices.Sorted(slices.Values(v.ActionTags))
		if !found || v.Notes != want.Notes || v.Kind != want.Kind || !slices.Equal(tags, []string{"first_contact", "price_negotiation", "technical_demo"}) {
			t.Errorf("%s sees %v", name, v)
		}
	}
	cs, err := rep.Conflicts(context.Background())
	if err != nil || len(cs) != 1 || cs[0].Field != "notes" || cs[0].Reason != "older" ||
		cs[0].Losing.(*fieldsyncv1.Visit).GetNotes() != "rep notes" || cs[0].Winning.(*fieldsyncv1.Visit).GetNotes() != "director notes" {
		t.Fatalf("rep conflicts %+v %v", cs, err)
	}
	if log := e.serverConflicts(id); len(log) != 1 || log[0].GetId() != cs[0].ID {
		t.Fatalf("server conflict log %v", log)
	}
}

func TestRejectedMutationIsSurfacedAndDoesNotBlockTheRest(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep := e.device(e.token("rep"))
	before, after := rep.NewID(), rep.NewID()
	serverOnly, incomplete := rep.NewID(), rep.NewID()
	mustPut(t, rep, before, &fieldsyncv1.Visit{Notes: "before"})
	mustPut(t, rep, serverOnly, &fieldsyncv1.Visit{Notes: "I set high_value", HighValue: true})
	mustPut(t, rep, incomplete, &fieldsyncv1.Visit{
		Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, Kind: fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR,
		CustomerId: "hospital-1", VisitTime: timestamppb.Now(), ActionTags: []string{"technical_demo"},
	}) // no core problem, commitments or next appointment
	mustPut(t, rep, after, &fieldsyncv1.Visit{Notes: "after"})
	mustSync(t, rep)
	rj, err := rep.Rejections(ctx)
	if err != nil || len(rj) != 2 {
		t.Fatalf("rejections %+v %v", rj, err)
	}
	if rj[0].RecordID != serverOnly || rj[0].Code != fieldsyncv1.RejectCode_REJECT_CODE_SERVER_ONLY_FIELD || rj[0].Seq != 2 ||
		!rj[0].Value.(*fieldsyncv1.Visit).GetHighValue() {
		t.Errorf("first rejection %+v", rj[0])
	}
	if rj[1].RecordID != incomplete || rj[1].Code != fieldsyncv1.RejectCode_REJECT_CODE_INVALID || rj[1].Reason == "" {
		t.Errorf("second rejection %+v", rj[1])
	}
	for _, id := range []string{serverOnly, incomplete} {
		if _, found := visit(t, rep, id); found {
			t.Errorf("rejected new record %s still in the local view", id)
		}
	}
	for _, id := range []string{before, after} {
		if v, found := visit(t, rep, id); !found || v.OwnerUserId == "" {
			t.Errorf("accepted record %s: %v %v", id, v, found)
		}
	}
	if st, _ := rep.Status(ctx); st.OutboxDepth != 0 || st.Rejections != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestRejectedEditRevertsToServerValue(t *testing.T) {
	t.Parallel()
	e := start(t)
	rep := e.device(e.token("rep"))
	id := rep.NewID()
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "kept"})
	mustSync(t, rep)
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "not allowed", HighValue: true}, "notes", "high_value")
	if v, _ := visit(t, rep, id); v.Notes != "not allowed" {
		t.Fatalf("pending edit not shown: %v", v)
	}
	mustSync(t, rep)
	if v, _ := visit(t, rep, id); v.Notes != "kept" || v.HighValue {
		t.Fatalf("after the rejection the view is %v, want the server's", v)
	}
}

func TestReassignedCustomerArrivesAsRemoval(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep1, rep2 := e.device(e.token("rep")), e.device(e.user("rep", 1).DeviceToken)
	director := e.device(e.token("regional_director"))
	id := director.NewID()
	mustPut(t, director, id, &fieldsyncv1.Customer{Name: "Ruijin Hospital", AssignedRepId: e.user("rep", 0).UserID, Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL})
	mustSync(t, director)
	mustSync(t, rep1)
	if recs := records(t, rep1, customerType); len(recs) != 1 {
		t.Fatalf("rep1 customers before the reassignment: %v", recs)
	}
	mustPut(t, rep1, id, &fieldsyncv1.Customer{Address: "rep1's pending edit"}, "address")
	mustPut(t, director, id, &fieldsyncv1.Customer{AssignedRepId: e.user("rep", 1).UserID}, "assigned_rep_id")
	mustSync(t, director)
	mustSync(t, rep1)
	mustSync(t, rep2)
	if recs := records(t, rep1, customerType); len(recs) != 0 {
		t.Fatalf("rep1 still holds the customer: %v", recs)
	}
	if rj, _ := rep1.Rejections(ctx); len(rj) != 1 || rj[0].Code != fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED {
		t.Fatalf("rep1's edit after the reassignment: %+v", rj)
	}
	recs := records(t, rep2, customerType)
	if len(recs) != 1 || recs[id].Value.(*fieldsyncv1.Customer).GetName() != "Ruijin Hospital" {
		t.Fatalf("rep2 customers: %v", recs)
	}
}

func TestResyncAfterCursorRefused(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep, director := e.device(e.token("rep")), e.device(e.token("regional_director"))
	kept, gone := rep.NewID(), rep.NewID()
	mustPut(t, rep, kept, &fieldsyncv1.Visit{Notes: "kept"})
	mustPut(t, rep, gone, &fieldsyncv1.Visit{Notes: "deleted elsewhere"})
	mustSync(t, rep)
	mustSync(t, director)
	if err := director.Delete(ctx, visitType, gone); err != nil {
		t.Fatal(err)
	}
	mustSync(t, director)
	// The tombstone is purged before the rep pulls it: its cursor is refused.
	if _, err := e.d.Store().PurgeTombstones(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := e.syncClient(e.token("rep")).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: mustStatus(t, rep).Cursor}))
	if !isResync(err) {
		t.Fatalf("the server does not refuse the old cursor: %v", err)
	}
	mustPut(t, rep, kept, &fieldsyncv1.Visit{Notes: "edited before the resync"}, "notes")
	mustSync(t, rep)
	recs := records(t, rep, visitType)
	if len(recs) != 1 || recs[kept].Value.(*fieldsyncv1.Visit).GetNotes() != "edited before the resync" {
		t.Fatalf("after the resync the rep holds %v", recs)
	}
}

func TestResyncKeepsPendingEdits(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep := e.device(e.token("rep"))
	synced, pending := rep.NewID(), rep.NewID()
	mustPut(t, rep, synced, &fieldsyncv1.Visit{Notes: "synced"})
	mustSync(t, rep)
	mustPut(t, rep, pending, &fieldsyncv1.Visit{Notes: "not pushed yet"})
	mustPut(t, rep, synced, &fieldsyncv1.Visit{Notes: "edited, not pushed"}, "notes")
	// A record the server no longer sends (as if removed while the cursor aged).
	if err := rep.db.update(ctx, func(tx *sql.Tx) error {
		return (&row{id: "stale", typ: visitType, base: []byte{}, version: 1}).save(ctx, tx)
	}); err != nil {
		t.Fatal(err)
	}
	if err := rep.startResync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.pull(ctx, rep.newBackoff()); err != nil { // pull only: the edits stay pending
		t.Fatal(err)
	}
	recs := records(t, rep, visitType)
	got := map[string]string{}
	for _, r := range recs {
		got[r.ID] = r.Value.(*fieldsyncv1.Visit).GetNotes()
	}
	if len(got) != 2 || got[synced] != "edited, not pushed" || got[pending] != "not pushed yet" {
		t.Fatalf("after the resync: %v", got)
	}
	if st := mustStatus(t, rep); st.OutboxDepth != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestWatchSyncsOnPokeAndLocalWrite(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	rep, director := e.device(e.token("rep")), e.device(e.token("regional_director"))
	done := make(chan error, 1)
	go func() { done <- director.Watch(ctx) }()
	id := rep.NewID()
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "poke"})
	mustSync(t, rep)
	waitFor(t, func() bool { _, found := visit(t, director, id); return found })
	mustPut(t, director, id, &fieldsyncv1.Visit{Notes: "pushed by watch"}, "notes")
	waitFor(t, func() bool { return mustStatus(t, director).OutboxDepth == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch returned %v when its context ended", err)
	}
	mustSync(t, rep)
	if v, _ := visit(t, rep, id); v.Notes != "pushed by watch" {
		t.Fatalf("rep sees %v", v)
	}
}

func TestWatchReconnectsAfterTheStreamFails(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	ft := newFaultTransport()
	ft.dropWatches = 3
	rep, director := e.device(e.token("rep")), e.device(e.token("regional_director"), WithHTTPClient(ft.client()))
	done := make(chan error, 1)
	go func() { done <- director.Watch(ctx) }()
	waitFor(t, func() bool { return ft.watchDropsLeft() == 0 }) // every refused stream was retried
	id := rep.NewID()
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "after the reconnect"})
	mustSync(t, rep)
	waitFor(t, func() bool { _, found := visit(t, director, id); return found })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch returned %v when its context ended", err)
	}
}

func TestSyncOverGRPC(t *testing.T) {
	t.Parallel()
	e := start(t)
	rep := e.device(e.token("rep"), WithProtocol(ProtocolGRPC))
	id := rep.NewID()
	mustPut(t, rep, id, &fieldsyncv1.Visit{Notes: "over grpc"})
	mustSync(t, rep)
	if v, found := visit(t, rep, id); !found || v.OwnerUserId == "" {
		t.Fatalf("visit after a gRPC sync: %v %v", v, found)
	}
}

func TestUnauthenticatedSyncFailsWithoutRetrying(t *testing.T) {
	t.Parallel()
	e := start(t)
	c := e.device("fsd_not_a_token")
	mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "x"})
	err := c.Sync(context.Background()) // no deadline: a retry loop would hang the test
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("sync with a bad token: %v", err)
	}
}

func mustStatus(t tb, c *Client) Status {
	t.Helper()
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}

// waitFor polls cond until it holds; the test's own deadline bounds it.
func waitFor(t tb, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(5 * time.Millisecond)
	}
}
