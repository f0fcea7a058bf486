package postgres_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
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
