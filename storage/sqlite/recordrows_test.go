package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

func openRecordsDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func visitRecord(id, notes string, hlc syncengine.HLC) *syncengine.StoredRecord {
	at := syncengine.Version{HLC: hlc, Actor: "d"}
	return &syncengine.StoredRecord{TenantID: "t", ID: id, Type: "fieldsync.v1.Visit", HLC: hlc, Actor: "d",
		Scope: syncengine.Scope{Owner: "u", Store: "s", Region: "r"},
		State: &syncengine.State{Value: &fieldsyncv1.Visit{Notes: notes}, Fields: map[string]syncengine.Version{"notes": at}, Created: at},
		// Stored to the millisecond: a read gives back what was stored.
		UpdatedAt: time.UnixMilli(1_800_000_000_000)}
}

// TestRecordRowsInOneTransaction writes batches of every size around the
// multi-row chunks (new records and updates of stored ones mixed, some
// written twice), and checks that reads inside the transaction (each way
// the store reads records) and after it see exactly the last write of
// each record.
func TestRecordRowsInOneTransaction(t *testing.T) {
	t.Parallel()
	db := openRecordsDB(t)
	ctx := context.Background()
	stored := map[string]*syncengine.StoredRecord{} // by id, as committed
	hlc := syncengine.HLC(1)
	for _, n := range []int{1, 2, 3, 31, 32, 33, 64, 77, 100} {
		want := map[string]*syncengine.StoredRecord{}
		err := db.Update(ctx, func(tx syncengine.Tx) error {
			for i := range n {
				id := fmt.Sprintf("v%03d", i)
				rec := visitRecord(id, fmt.Sprint("batch ", n, " write ", i), hlc)
				hlc++
				if cur, err := tx.GetRecord("t", id); err != nil {
					return err
				} else if cur != nil {
					rec.CreatedVersion = cur.CreatedVersion
				}
				if _, err := tx.PutRecord(rec, nil); err != nil {
					return err
				}
				want[id] = rec
				if i%5 == 0 { // again, in the same transaction
					again := visitRecord(id, fmt.Sprint("batch ", n, " again ", i), hlc)
					hlc++
					cur, err := tx.GetRecord("t", id)
					if err != nil {
						return err
					}
					checkRecord(t, "read of a record written in the transaction", cur, rec)
					again.CreatedVersion = cur.CreatedVersion
					if _, err := tx.PutRecord(again, nil); err != nil {
						return err
					}
					want[id] = again
				}
			}
			ids := make([]string, 0, n)
			for id := range want {
				ids = append(ids, id)
			}
			got, err := tx.GetRecords("t", ids)
			if err != nil {
				return err
			}
			for id, rec := range want {
				checkRecord(t, "GetRecords in the transaction", got[id], rec)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		for id, rec := range want {
			stored[id] = rec
		}
		ids := make([]string, 0, len(stored))
		for id := range stored {
			ids = append(ids, id)
		}
		got, err := db.GetRecords(ctx, "t", ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(stored) {
			t.Fatalf("after the batch of %d: %d records stored, want %d", n, len(got), len(stored))
		}
		for id, rec := range stored {
			checkRecord(t, fmt.Sprint("after the batch of ", n), got[id], rec)
		}
	}
}

func checkRecord(t *testing.T, when string, got, want *syncengine.StoredRecord) {
	t.Helper()
	switch {
	case got == nil:
		t.Errorf("%s: %s missing", when, want.ID)
	case got.Version != want.Version || got.CreatedVersion != want.CreatedVersion || got.HLC != want.HLC ||
		got.Scope != want.Scope || !got.UpdatedAt.Equal(want.UpdatedAt) || !proto.Equal(got.State.Value, want.State.Value) ||
		got.State.Fields["notes"] != want.State.Fields["notes"]:
		t.Errorf("%s: %s = version %d created %d hlc %d %v %v %v, want version %d created %d hlc %d %v %v %v", when, want.ID,
			got.Version, got.CreatedVersion, got.HLC, got.Scope, got.State.Value, got.State.Fields,
			want.Version, want.CreatedVersion, want.HLC, want.Scope, want.State.Value, want.State.Fields)
	}
}

// TestRecordCreatedTwiceFails: creating a record that is stored already,
// or that the transaction created already, fails the transaction and
// leaves nothing of it, as the row's primary key did when each write ran
// its own statement.
func TestRecordCreatedTwiceFails(t *testing.T) {
	t.Parallel()
	db := openRecordsDB(t)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx syncengine.Tx) error {
		_, err := tx.PutRecord(visitRecord("stored", "first", 1), nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Late in a chunk of 32, after rows the statement has written (the
	// statements are INSERT OR FAIL: those rows stay until the rollback).
	midChunk := make([]string, 40)
	for i := range midChunk {
		midChunk[i] = fmt.Sprintf("m%02d", i)
	}
	midChunk[20] = "stored"
	for name, ids := range map[string][]string{"stored already": {"a", "stored"}, "twice in the transaction": {"b", "c", "b"},
		"stored already, late in a chunk": midChunk} {
		err := db.Update(ctx, func(tx syncengine.Tx) error {
			for _, id := range ids {
				if _, err := tx.PutRecord(visitRecord(id, "new", 2), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "put record") {
			t.Errorf("%s: Update = %v, want a put record error", name, err)
		}
		got, err := db.GetRecords(ctx, "t", ids)
		if err != nil {
			t.Fatal(err)
		}
		for id, rec := range got {
			if id != "stored" || rec.State.Value.(*fieldsyncv1.Visit).GetNotes() != "first" {
				t.Errorf("%s: %s stored as %v after the failed transaction", name, id, rec.State.Value)
			}
		}
	}
}

// TestCreatedBetweenSeesTheTransactionsRecords: the delivery query inside a
// transaction reads the records the transaction wrote.
func TestCreatedBetweenSeesTheTransactionsRecords(t *testing.T) {
	t.Parallel()
	db := openRecordsDB(t)
	err := db.Update(context.Background(), func(tx syncengine.Tx) error {
		rec := visitRecord("v1", "n", 1)
		v, err := tx.PutRecord(rec, nil)
		if err != nil {
			return err
		}
		sel := syncengine.Selection{TenantID: "t", Terms: []syncengine.Term{{Field: syncengine.ByOwner, Value: "u", Types: []string{rec.Type}}}}
		rows, err := tx.CreatedBetween(sel, []string{rec.Type}, 0, v)
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].RecordID != "v1" || rows[0].Version != v {
			t.Errorf("CreatedBetween = %+v, want v1 created at %d", rows, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecordWithAnHLCPastInt64IsRefused: record rows bind their integers
// as int64; an HLC of 1<<63 or more (which the push path's clock-skew
// bound never lets through) must fail the write, as binding it as a
// uint64 did and as PostgreSQL does, rather than be stored as a negative
// number no read can scan back.
func TestRecordWithAnHLCPastInt64IsRefused(t *testing.T) {
	t.Parallel()
	db := openRecordsDB(t)
	ctx := context.Background()
	err := db.Update(ctx, func(tx syncengine.Tx) error {
		_, err := tx.PutRecord(visitRecord("far", "future", 1<<63), nil)
		return err
	})
	if err == nil {
		t.Fatal("a record with HLC 1<<63 was stored")
	}
	got, err := db.GetRecords(ctx, "t", []string{"far"})
	if err != nil || got["far"] != nil {
		t.Fatalf("GetRecords after the refused write = %v, %v; want nothing stored", got, err)
	}
}

// TestRecordRowsSharingSomeColumns writes chunks whose rows differ in some
// of the columns a chunk may bind once (tenant, scope, creator, writer,
// deletion) and agree in others, so each chunk takes a statement sharing
// a different set, and checks every column read back.
func TestRecordRowsSharingSomeColumns(t *testing.T) {
	t.Parallel()
	db := openRecordsDB(t)
	ctx := context.Background()
	varies := map[string]func(i int, rec *syncengine.StoredRecord){
		"nothing": func(int, *syncengine.StoredRecord) {},
		"tenant":  func(i int, rec *syncengine.StoredRecord) { rec.TenantID = fmt.Sprint("t", i%2) },
		"owner":   func(i int, rec *syncengine.StoredRecord) { rec.Scope.Owner = fmt.Sprint("u", i%3) },
		"region":  func(i int, rec *syncengine.StoredRecord) { rec.Scope.Region = fmt.Sprint("r", i%2) },
		"creator": func(i int, rec *syncengine.StoredRecord) {
			rec.State.Created.Actor = fmt.Sprint("d", i%2)
		},
		"writer": func(i int, rec *syncengine.StoredRecord) { rec.Actor = fmt.Sprint("w", i%2) },
		"deletion": func(i int, rec *syncengine.StoredRecord) {
			if i%2 == 1 {
				rec.State.DeletedAt = syncengine.Version{HLC: rec.HLC, Actor: "d"}
			}
		},
		"everything": func(i int, rec *syncengine.StoredRecord) {
			rec.TenantID, rec.Scope, rec.Actor = fmt.Sprint("t", i%2), syncengine.Scope{Owner: fmt.Sprint("u", i)}, fmt.Sprint("w", i)
			rec.State.Created.Actor = fmt.Sprint("d", i%3)
		},
	}
	hlc := syncengine.HLC(1)
	for name, vary := range varies {
		var want []*syncengine.StoredRecord
		for _, n := range []int{1, 2, 5, 32, 37} {
			err := db.Update(ctx, func(tx syncengine.Tx) error {
				for i := range n {
					rec := visitRecord(fmt.Sprintf("%s-%d-%d", name, n, i), fmt.Sprint(name, i), hlc)
					hlc++
					vary(i, rec)
					if _, err := tx.PutRecord(rec, nil); err != nil {
						return err
					}
					want = append(want, rec)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s varies, %d rows: %v", name, n, err)
			}
		}
		for _, rec := range want {
			got, err := db.GetRecords(ctx, rec.TenantID, []string{rec.ID})
			if err != nil {
				t.Fatal(err)
			}
			g := got[rec.ID]
			checkRecord(t, name+" varies", g, rec)
			if g != nil && (g.Actor != rec.Actor || g.State.Created != rec.State.Created || g.State.DeletedAt != rec.State.DeletedAt) {
				t.Errorf("%s varies: %s = actor %s created %v deleted %v, want %s %v %v", name, rec.ID,
					g.Actor, g.State.Created, g.State.DeletedAt, rec.Actor, rec.State.Created, rec.State.DeletedAt)
			}
		}
	}
}
