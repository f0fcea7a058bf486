package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/syncengine"
)

// savedResults opens a database holding actor a's push results for seqs
// 1–3 and 4–5 (two rows, as two batches leave them).
func savedResults(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, batch := range [][]uint64{{1, 2, 3}, {4, 5}} {
		err := db.Update(context.Background(), func(tx syncengine.Tx) error {
			for _, seq := range batch {
				if err := tx.SavePushResult("a", seq, []byte(fmt.Sprint("result ", seq))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestStoredPushResultsAcrossRows(t *testing.T) {
	t.Parallel()
	db := savedResults(t)
	err := db.Update(context.Background(), func(tx syncengine.Tx) error {
		for _, c := range []struct {
			actor string
			seq   uint64
			want  string // "" = none
		}{{"a", 2, "result 2"}, {"a", 1, "result 1"}, {"a", 3, "result 3"}, {"a", 4, "result 4"}, {"a", 5, "result 5"},
			{"a", 6, ""}, {"b", 2, ""}, {"a", 3, "result 3"}, {"a", 0, ""}} {
			b, ok, err := tx.PushResult(c.actor, c.seq)
			if err != nil || ok != (c.want != "") || string(b) != c.want {
				t.Errorf("PushResult(%s, %d) = %q, %v, %v; want %q", c.actor, c.seq, b, ok, err, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAReplayReadsEachResultRowOnce: the row read for one seq answers the
// other seqs it holds without another query (shown by deleting the rows
// after the first read, inside the same transaction).
func TestAReplayReadsEachResultRowOnce(t *testing.T) {
	t.Parallel()
	db := savedResults(t)
	err := db.Update(context.Background(), func(tx syncengine.Tx) error {
		if _, ok, err := tx.PushResult("a", 1); !ok || err != nil {
			t.Fatalf("PushResult(a, 1): %v %v", ok, err)
		}
		if err := tx.(*recTx).exec(`DELETE FROM push_results`); err != nil {
			return err
		}
		for seq := uint64(2); seq <= 3; seq++ {
			if b, ok, err := tx.PushResult("a", seq); !ok || err != nil || string(b) != fmt.Sprint("result ", seq) {
				t.Errorf("PushResult(a, %d) = %q, %v, %v after the first read, want it from the row read then", seq, b, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
