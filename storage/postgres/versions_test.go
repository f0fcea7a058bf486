package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
)

// nodes is how many stores (each its own connection pool, as a fieldsyncd
// node has) share the database in the versions test.
const nodes = 3

// TestConcurrentWritersNeverSkipAVersionProperty is the argument of
// docs/architecture.md ("Versions on PostgreSQL") under test: writers on
// several nodes commit records of one tenant while readers on every node
// pull continuously through ScanChanges, each from its own cursor; every
// committed record reaches every reader and cursors only move forward. A
// writer holds its transaction open a drawn while after taking its
// versions, so later versions often commit first: a reader that passed a
// version still uncommitted would lose its record.
func TestConcurrentWritersNeverSkipAVersionProperty(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	ctx := context.Background()
	stores := make([]*postgres.DB, nodes)
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range stores { // the nodes start at once: migrations run once, under the lock
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	tenants := 0
	rapid.Check(t, func(rt *rapid.T) {
		tenants++
		tenantID := fmt.Sprintf("tenant-%d", tenants)
		w := drawWorkload(rt)
		done := make(chan struct{}) // closed once the writers are done
		results := startReaders(stores, tenantID, w, done)
		committed, latest, werr := runWriters(stores, tenantID, w)
		close(done) // readers stop once they reach latest
		seen := results(latest)
		if werr != nil {
			rt.Fatalf("writer: %v", werr)
		}
		for i, r := range seen {
			if r.err != nil {
				rt.Fatalf("reader %d: %v", i, r.err)
			}
			for id := range committed {
				if !r.ids[id] {
					rt.Fatalf("reader %d never received record %s (latest version %d)", i, id, latest)
				}
			}
		}
	})
}

// workload is one drawn run: per writer, its transactions, each with how
// many records it writes and how long it stays open after writing them.
type workload struct {
	writers [][]txPlan
	readers int
	limit   int // the readers' page size
}

type txPlan struct {
	records int
	hold    time.Duration
}

func drawWorkload(rt *rapid.T) workload {
	w := workload{readers: rapid.IntRange(1, 4).Draw(rt, "readers"), limit: rapid.IntRange(1, 5).Draw(rt, "limit")}
	for range rapid.IntRange(2, 6).Draw(rt, "writers") {
		var plans []txPlan
		for range rapid.IntRange(1, 6).Draw(rt, "transactions") {
			plans = append(plans, txPlan{records: rapid.IntRange(1, 3).Draw(rt, "records"),
				hold: time.Duration(rapid.IntRange(0, 3).Draw(rt, "hold ms")) * time.Millisecond})
		}
		w.writers = append(w.writers, plans)
	}
	return w
}

// runWriters runs the writers, writer i on node i mod nodes, and returns
// the ids of the records committed and the tenant's latest version once
// all have finished.
func runWriters(stores []*postgres.DB, tenantID string, w workload) (map[string]bool, uint64, error) {
	ctx := context.Background()
	var mu sync.Mutex
	committed := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, len(w.writers))
	for i, plans := range w.writers {
		wg.Go(func() {
			db := stores[i%len(stores)]
			for j, p := range plans {
				var ids []string
				err := db.Update(ctx, func(tx syncengine.Tx) error {
					ids = ids[:0]
					for k := range p.records {
						rec := visit(tenantID, fmt.Sprintf("w%d-t%d-r%d", i, j, k))
						if _, err := tx.PutRecord(rec, nil); err != nil {
							return err
						}
						ids = append(ids, rec.ID)
					}
					time.Sleep(p.hold)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, id := range ids {
					committed[id] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	_, latest, err := stores[0].CursorBounds(ctx, tenantID)
	if werr := <-errs; werr != nil {
		err = werr
	}
	return committed, latest, err
}

// readResult is what one reader received.
type readResult struct {
	ids map[string]bool
	err error
}

// startReaders starts the readers, reader i on node i mod nodes, each
// pulling its own cursor in pages of w.limit for as long as done is open
// and then until its cursor reaches the latest version. The returned
// function, given that version, waits for them.
func startReaders(stores []*postgres.DB, tenantID string, w workload, done chan struct{}) func(latest uint64) []readResult {
	ctx := context.Background()
	sel := syncengine.Filter{TenantID: tenantID, All: true}.Select(syncengine.DefaultRegistry())
	out := make([]readResult, w.readers)
	var latest uint64
	var latestSet sync.WaitGroup
	latestSet.Add(1)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			db, r := stores[i%len(stores)], &out[i]
			r.ids = map[string]bool{}
			var cursor uint64
			for finished := false; ; {
				if !finished {
					select {
					case <-done:
						latestSet.Wait()
						finished = true
					default:
					}
				}
				if finished && cursor >= latest {
					return
				}
				page, err := db.ScanChanges(ctx, sel, cursor, w.limit)
				if err != nil {
					r.err = err
					return
				}
				for _, row := range page.Rows {
					if row.Version <= cursor {
						r.err = fmt.Errorf("row at version %d after cursor %d", row.Version, cursor)
						return
					}
					r.ids[row.RecordID] = true
				}
				if page.Through < cursor {
					r.err = fmt.Errorf("page through %d went back from cursor %d", page.Through, cursor)
					return
				}
				cursor = page.Through
			}
		})
	}
	return func(l uint64) []readResult {
		latest = l
		latestSet.Done()
		wg.Wait()
		return out
	}
}

// visit is a new Visit of the tenant, owned by rep.
func visit(tenantID, id string) *syncengine.StoredRecord {
	at := syncengine.Version{HLC: syncengine.MakeHLC(time.Now().UnixMilli(), 0), Actor: "device"}
	return &syncengine.StoredRecord{
		TenantID: tenantID, ID: id, Type: "fieldsync.v1.Visit", HLC: at.HLC, Actor: at.Actor, UpdatedAt: time.Now(),
		Scope: syncengine.Scope{Owner: "rep", Region: "region"},
		State: &syncengine.State{Value: &fieldsyncv1.Visit{Notes: id, OwnerUserId: "rep"},
			Fields: map[string]syncengine.Version{"notes": at, "owner_user_id": at}, Created: at},
	}
}
