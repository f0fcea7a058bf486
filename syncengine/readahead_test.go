package syncengine_test

import (
	"context"
	"slices"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// countingStore counts the record reads of the transactions it runs.
type countingStore struct {
	syncengine.Store
	single, batched int
}

func (s *countingStore) Update(ctx context.Context, fn func(tx syncengine.Tx) error) error {
	return s.Store.Update(ctx, func(tx syncengine.Tx) error { return fn(&countingTx{Tx: tx, s: s}) })
}

type countingTx struct {
	syncengine.Tx
	s *countingStore
}

func (t *countingTx) GetRecord(tenantID, id string) (*syncengine.StoredRecord, error) {
	t.s.single++
	return t.Tx.GetRecord(tenantID, id)
}

func (t *countingTx) GetRecords(tenantID string, ids []string) (map[string]*syncengine.StoredRecord, error) {
	t.s.batched++
	return t.Tx.GetRecords(tenantID, ids)
}

// TestPushReadsABatchsRecordsInOneQuery: the records a batch of new visits
// reads (each visit, absent, and the customer it names) come from one read
// ahead, not one query each, and the visits still take the customer's place.
func TestPushReadsABatchsRecordsInOneQuery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	customer := newID()
	mustApply(t, w.push("director", w.mut("director", customer,
		&fieldsyncv1.Customer{Name: "car owner", StoreId: w.shop, AssignedRepId: w.p["rep"].UserID}, "name", "store_id", "assigned_rep_id"))[0])
	store := &countingStore{Store: w.db}
	e, err := syncengine.New(syncengine.Config{Store: store, Clock: w.e.Clock()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var muts []syncengine.Mutation
	var visits []string
	for range 50 {
		visits = append(visits, newID())
		muts = append(muts, w.mut("rep", visits[len(visits)-1], &fieldsyncv1.Visit{CustomerId: customer, Notes: "n"}, "customer_id", "notes"))
	}
	res, err := e.Push(context.Background(), w.p["rep"], muts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		mustApply(t, r)
	}
	if store.single != 0 || store.batched != 1 {
		t.Errorf("a batch of 50 visits read records %d times one by one and %d times in batches, want 0 and 1", store.single, store.batched)
	}
	recs, err := w.db.GetRecords(context.Background(), w.tenant, visits)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range visits {
		if rec := recs[id]; rec == nil || rec.Scope.Store != w.shop || rec.Scope.Region != w.region {
			t.Fatalf("visit %s stored as %+v, want it in the customer's store %s", id, rec, w.shop)
		}
	}
}

// TestABatchReadsItsOwnWrites: within one batch a mutation sees what the
// earlier ones wrote (read ahead or not): a visit takes the place of a
// customer created just before it, a second edit of a record merges into
// the first, an edit after a refused one starts from the stored state, and
// the replay of the whole batch returns the first results.
func TestABatchReadsItsOwnWrites(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	customer, visit, moved := newID(), newID(), newID()
	mustApply(t, w.push("director", w.mut("director", moved, &fieldsyncv1.Customer{Name: "moves"}, "name"))[0])
	muts := []syncengine.Mutation{
		w.mut("director", customer, &fieldsyncv1.Customer{Name: "new", StoreId: w.shop}, "name", "store_id"),
		w.mut("director", visit, &fieldsyncv1.Visit{CustomerId: customer, Notes: "first"}, "customer_id", "notes"),
		w.mut("director", visit, &fieldsyncv1.Visit{ActionTags: []string{"technical_demo"}}, "action_tags"),
		w.mut("director", visit, &fieldsyncv1.Visit{StoreId: "nowhere"}, "store_id"),
		w.mut("director", visit, &fieldsyncv1.Visit{ActionTags: []string{"first_contact"}}, "action_tags"),
		w.mut("director", moved, &fieldsyncv1.Customer{StoreId: w.shop}, "store_id"),
		w.mut("director", newID(), &fieldsyncv1.Visit{CustomerId: moved}, "customer_id"),
	}
	first := w.push("director", muts...)
	for i, r := range first {
		if (r.Outcome == rejected) != (i == 3) {
			t.Fatalf("result %d: %v", i, r)
		}
	}
	recs, err := w.db.GetRecords(context.Background(), w.tenant, []string{visit, muts[6].RecordID})
	if err != nil {
		t.Fatal(err)
	}
	v := recs[visit].State.Value.(*fieldsyncv1.Visit)
	if recs[visit].Scope.Store != w.shop || v.Notes != "first" || !slices.Equal(slices.Sorted(slices.Values(v.ActionTags)), []string{"first_contact", "technical_demo"}) {
		t.Errorf("visit stored as %v in %+v, want both tags, the first notes, in store %s", v, recs[visit].Scope, w.shop)
	}
	if got := recs[muts[6].RecordID].Scope.Store; got != w.shop {
		t.Errorf("a visit of a customer moved earlier in the batch lies in store %q, want %q", got, w.shop)
	}
	again := w.push("director", muts...)
	for i := range first {
		if first[i].Outcome != again[i].Outcome || first[i].AppliedHlc != again[i].AppliedHlc || first[i].Reason != again[i].Reason {
			t.Errorf("replay result %d = %v, first = %v", i, again[i], first[i])
		}
	}
}
