package postgres_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestScanChangesReadsOneSnapshot: a record written again between a scan's
// bound and its rows still comes at the version the bound covers (its next
// change comes with the next page), never drops out of a page that claims
// to cover it.
func TestScanChangesReadsOneSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs := map[string]*syncengine.StoredRecord{}
	put := func(id string) {
		rec := recs[id]
		if rec == nil {
			rec = &syncengine.StoredRecord{TenantID: "T", ID: id, Type: "fieldsync.v1.Visit", Actor: "d",
				Scope: syncengine.Scope{Owner: "u1"}, State: &syncengine.State{Value: &fieldsyncv1.Visit{}}}
			recs[id] = rec
		}
		if err := db.Update(ctx, func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	put("b")
	postgres.SetAfterScanBound(db, func() {
		postgres.SetAfterScanBound(db, nil)
		put("a") // a moves from version 1 to 3
	})
	sel := syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{{Field: syncengine.ByOwner, Value: "u1", Types: []string{"fieldsync.v1.Visit"}}}}
	pg, err := db.ScanChanges(ctx, sel, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range pg.Rows {
		got = append(got, r.RecordID)
	}
	if len(got) != 2 || pg.More || pg.Through != 2 {
		t.Fatalf("a scan through version %d (more %v) returned %v, want a at 1 and b at 2", pg.Through, pg.More, got)
	}
}
