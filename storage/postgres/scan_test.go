package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestScanChangesReadsOneSnapshot: records written again and again while
// pages are read never drop out of a page that claims to cover them. A
// page reads its bound (the latest version) and its rows in one snapshot:
// read apart, a record written again in between would have left its row's
// version for one above the bound, and the page would miss it.
func TestScanChangesReadsOneSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 10
	recs := make([]*syncengine.StoredRecord, n)
	for i := range recs {
		recs[i] = &syncengine.StoredRecord{TenantID: "T", ID: fmt.Sprint("r", i), Type: "fieldsync.v1.Visit", Actor: "d",
			Scope: syncengine.Scope{Owner: "u1"}, State: &syncengine.State{Value: &fieldsyncv1.Visit{}}}
	}
	put := func(rec *syncengine.StoredRecord) error {
		return db.Update(ctx, func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err })
	}
	for _, rec := range recs {
		if err := put(rec); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	written := make(chan error, 1)
	go func() { // writes the records again, one after the other, until stopped
		for i := 0; ; i++ {
			select {
			case <-stop:
				written <- nil
				return
			default:
			}
			if err := put(recs[i%n]); err != nil {
				written <- err
				return
			}
		}
	}()
	sel := syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{{Field: syncengine.ByOwner, Value: "u1", Types: []string{"fieldsync.v1.Visit"}}}}
	for range 200 {
		pg, err := db.ScanChanges(ctx, sel, 0, 2*n)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range pg.Rows {
			got[r.RecordID] = true
			if r.Version > pg.Through {
				t.Fatalf("row %s at version %d beyond the page's %d", r.RecordID, r.Version, pg.Through)
			}
		}
		if len(got) != n || pg.More {
			t.Fatalf("a page through version %d (more %v) holds %d of the %d records", pg.Through, pg.More, len(got), n)
		}
	}
	close(stop)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}

// TestScanChangesWithoutRanges: a selection that selects no (term, type)
// range covers the tenant through its latest version, with no rows; a
// cursor at or beyond it stays where it is.
func TestScanChangesWithoutRanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := &syncengine.StoredRecord{TenantID: "T", ID: "a", Type: "fieldsync.v1.Visit", Actor: "d",
		Scope: syncengine.Scope{Owner: "u1"}, State: &syncengine.State{Value: &fieldsyncv1.Visit{}}}
	for range 2 {
		if err := db.Update(ctx, func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		terms []syncengine.Term
		after uint64
		want  uint64
	}{
		{"no terms", nil, 0, 2},
		{"a term without types", []syncengine.Term{{Field: syncengine.ByOwner, Value: "u1"}}, 1, 2},
		{"at the latest version", nil, 2, 2},
		{"beyond it", []syncengine.Term{{Field: syncengine.ByOwner, Value: "u1"}}, 5, 5},
	} {
		pg, err := db.ScanChanges(ctx, syncengine.Selection{TenantID: "T", Terms: tc.terms}, tc.after, 10)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(pg.Rows) != 0 || pg.More || pg.Through != tc.want {
			t.Errorf("%s: %d rows, more %v, through %d; want none through %d", tc.name, len(pg.Rows), pg.More, pg.Through, tc.want)
		}
	}
}
