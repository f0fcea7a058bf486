package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/insights"
	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
	"github.com/fieldsync/fieldsync/syncengine/storetest"
)

// TestOneDevicesBatchOnTwoNodesAppliesOnce: a device's retry reaches
// another node while the first push is still in flight. Both succeed with
// the same results, and each mutation is applied once: the second waits
// for the device's seq (actor_seqs row) and answers from the stored results.
func TestOneDevicesBatchOnTwoNodesAppliesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.DB(t)
	var engines []*syncengine.Engine
	var first *postgres.DB
	for range 2 {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e, err := syncengine.New(syncengine.Config{Store: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		engines = append(engines, e)
		if first == nil {
			first = db
		}
	}
	o := newOrg(t, first)
	for round := range 20 {
		var muts []syncengine.Mutation
		for i := range 5 {
			muts = append(muts, syncengine.Mutation{Seq: uint64(round*5 + i + 1), Type: "fieldsync.v1.Visit", RecordID: ids.New(),
				Value: &fieldsyncv1.Visit{Notes: "n"}, Fields: []string{"notes"}, HLC: engines[0].Clock().Now()})
		}
		results := make([]*syncengine.PushResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, e := range engines {
			wg.Go(func() { results[i], errs[i] = e.Push(ctx, o.Rep, muts) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: node %d: %v", round, i, err)
			}
		}
		for j := range results[0].Results {
			if !proto.Equal(results[0].Results[j], results[1].Results[j]) {
				t.Fatalf("round %d: the nodes answered mutation %d differently:\n%v\n%v", round, j, results[0].Results[j], results[1].Results[j])
			}
		}
	}
	_, latest, err := first.CursorBounds(ctx, o.TenantID)
	if err != nil || latest != 100 {
		t.Errorf("the tenant's latest version is %d (%v), want 100: each of the 100 mutations applied once", latest, err)
	}
}

// TestAMergeOnOneNodeNeverOverwritesAWriteOfAnother: a transaction reads a
// record and merges into it while another node pushes an edit of the same
// record. The other node's push waits for the first transaction (its read
// locks the tenant), then merges into what it committed: both edits stay.
// Were the read not under the tenant's lock, the push would commit in
// between and the first transaction's write, merged from the state before
// it, would drop the push's edit.
func TestAMergeOnOneNodeNeverOverwritesAWriteOfAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.DB(t)
	var dbs []*postgres.DB
	for range 2 {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	e, err := syncengine.New(syncengine.Config{Store: dbs[1]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	o := newOrg(t, dbs[0])
	id := ids.New()
	push := func(seq uint64, v *fieldsyncv1.Visit, field string) error {
		res, err := e.Push(ctx, o.Rep, []syncengine.Mutation{{Seq: seq, Type: "fieldsync.v1.Visit", RecordID: id,
			Value: v, Fields: []string{field}, HLC: e.Clock().Now()}})
		if err == nil && res.Results[0].Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
			err = fmt.Errorf("push %d: %v", seq, res.Results[0])
		}
		return err
	}
	if err := push(1, &fieldsyncv1.Visit{Notes: "first"}, "notes"); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	err = dbs[0].Update(ctx, func(tx syncengine.Tx) error {
		rec, err := tx.GetRecord(o.TenantID, id)
		if err != nil || rec == nil {
			return fmt.Errorf("read %v: %v", rec, err)
		}
		go func() { pushed <- push(2, &fieldsyncv1.Visit{CustomerId: "c2"}, "customer_id") }()
		// Until the push has either committed or waits for a lock.
		for {
			select {
			case err := <-pushed:
				pushed <- err
			default:
				var waiting int
				if err := dbs[0].Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting); err != nil {
					return err
				}
				if waiting == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
			}
			break
		}
		rec.State.Value.(*fieldsyncv1.Visit).Notes = "second"
		rec.HLC = e.Clock().Now()
		_, err = tx.PutRecord(rec, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	got, err := dbs[0].GetRecords(ctx, o.TenantID, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	if v := got[id].State.Value.(*fieldsyncv1.Visit); v.Notes != "second" || v.CustomerId != "c2" {
		t.Fatalf("the record holds notes %q and customer %q, want both edits (second, c2)", v.Notes, v.CustomerId)
	}
}

// roundTrips counts the statements sent on their own and the batches
// (each one round trip once its statements are prepared).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestAPushCostsThreeRoundTripsWhateverItsSize: BEGIN and the device's
// seq; the tenant's lock and the batch's records; every write and the
// COMMIT — for a push of 10 new visits as for one of 200.
func TestAPushCostsThreeRoundTripsWhateverItsSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	trips := &roundTrips{}
	db, err := postgres.Open(ctx, pgtest.DB(t), postgres.WithTracer(trips))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o := newOrg(t, db)
	seq := uint64(0)
	for _, n := range []int{10, 200, 10, 200} {
		var muts []syncengine.Mutation
		for range n {
			seq++
			muts = append(muts, syncengine.Mutation{Seq: seq, Type: "fieldsync.v1.Visit", RecordID: ids.New(),
				Value: &fieldsyncv1.Visit{Notes: "n"}, Fields: []string{"notes"}, HLC: e.Clock().Now()})
		}
		before := trips.n.Load()
		if _, err := e.Push(ctx, o.Rep, muts); err != nil {
			t.Fatal(err)
		}
		if got := trips.n.Load() - before; got != 3 {
			t.Errorf("a push of %d took %d round trips, want 3", n, got)
		}
	}
}

// TestAnInsightsBatchCostsARoundTripPerRead: the insights consumer's
// transaction sends its writes (the action, the customer's progress, the
// PHI days) with its next read or with the COMMIT, marks the batch's
// events applied in one statement (MarkEventsApplied) and reads the
// batch's stored actions in one query (ActionsByID), so a further visit in
// a batch costs no round trip of its own, whatever it writes, and the PHI
// days recomputed at the end cost their reads only.
func TestAnInsightsBatchCostsARoundTripPerRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	trips := &roundTrips{}
	db, err := postgres.Open(ctx, pgtest.DB(t), postgres.WithTracer(trips))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := newOrg(t, db)
	c := &insights.Consumer{DB: db}
	seq := 0
	batch := func(day, n int) int64 {
		t.Helper()
		evs := visitEvents(t, o, &seq, day, n)
		before := trips.n.Load()
		if err := c.HandleBatch(ctx, evs); err != nil {
			t.Fatal(err)
		}
		return trips.n.Load() - before
	}
	batch(1, 3) // the statements are prepared
	one := batch(2, 1)
	t.Logf("a batch of one visit: %d round trips", one)
	for i, n := range []int{10, 100, 10, 100} {
		if got := batch(3+i, n); got != one {
			t.Errorf("a batch of %d visits took %d round trips, want one visit's %d", n, got, one)
		}
	}
}

// TestAQueuedInsightsWriteThatFailsRollsTheBatchBack: a write queued in
// the insights transaction fails only when it reaches the server, with
// the COMMIT; the error names it, and nothing of the transaction stays,
// not even the events marked applied before it.
func TestAQueuedInsightsWriteThatFailsRollsTheBatchBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := newOrg(t, db)
	good := &insightstore.Action{TenantID: o.TenantID, RecordID: ids.New(), RecordType: "fieldsync.v1.Visit", SubmittedMS: 1}
	bad := &insightstore.Action{TenantID: o.TenantID, RecordID: "bad", RecordType: "fieldsync.v1.Visit", Conclusion: "\xff"}
	err = db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		if fresh, err := tx.MarkEventApplied(o.TenantID, "ev-1"); err != nil || !fresh {
			return fmt.Errorf("mark: %v %v", fresh, err)
		}
		if err := tx.PutAction(good); err != nil {
			return err
		}
		return tx.PutAction(bad) // not valid UTF-8: PostgreSQL refuses it
	})
	if err == nil || !strings.Contains(err.Error(), "put action bad") {
		t.Fatalf("the transaction returned %v, want the failed write named", err)
	}
	err = db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		if fresh, err := tx.MarkEventApplied(o.TenantID, "ev-1"); err != nil || !fresh {
			return fmt.Errorf("the event stayed marked applied (%v, %v)", fresh, err)
		}
		if a, err := tx.Action(o.TenantID, good.RecordID); err != nil || a != nil {
			return fmt.Errorf("the action written before the failure stayed: %v, %v", a, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// visitEvents returns n change events of new submitted visits of o's rep
// on 2026-02-day, each of another customer.
func visitEvents(tb testing.TB, o storetest.Org, seq *int, day, n int) []*fieldsyncv1.ChangeEvent {
	rep := o.Rep
	var evs []*fieldsyncv1.ChangeEvent
	for range n {
		*seq++
		at := time.Date(2026, 2, day, 9, 0, 0, 0, time.UTC)
		v := &fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, OwnerUserId: rep.UserID,
			RegionId: rep.RegionID, StoreId: rep.StoreID, CustomerId: ids.New(), VisitTime: timestamppb.New(at),
			Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE}
		value, err := anypb.New(v)
		if err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, &fieldsyncv1.ChangeEvent{EventId: fmt.Sprintf("ev-%d", *seq), Sequence: uint64(*seq),
			TenantId: o.TenantID, Op: fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, RecordId: ids.New(), Version: 1,
			RecordType: "fieldsync.v1.Visit", Value: value, Hlc: uint64(at.UnixMilli()) << 16, CommitTime: timestamppb.New(at),
			OwnerUserId: v.OwnerUserId, StoreId: v.StoreId, RegionId: v.RegionId})
	}
	return evs
}

// BenchmarkInsightsHandleBatch: the insights consumer applies batches of
// 100 new submitted visits of one rep, a day per batch, on PostgreSQL.
func BenchmarkInsightsHandleBatch(b *testing.B) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	o := newOrg(b, db)
	c := &insights.Consumer{DB: db}
	seq, day := 0, 0
	batches := make([][]*fieldsyncv1.ChangeEvent, b.N)
	for i := range batches {
		day = day%28 + 1
		batches[i] = visitEvents(b, o, &seq, day, 100)
	}
	b.ResetTimer()
	for _, evs := range batches {
		if err := c.HandleBatch(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
