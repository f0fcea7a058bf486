package sqlite

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/insights/insightstore"
)

// The insights consumer runs the same few queries for every event of a
// batch: from the second transaction on they are prepared statements,
// bound once per transaction, not SQL parsed per call.
func TestInsightsTxReusesPreparedStatements(t *testing.T) {
	db := openGC(t)
	ctx := context.Background()
	bound := func() int {
		var n int
		err := db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
			for range 3 {
				if _, err := tx.Action("t1", "r1"); err != nil {
					return err
				}
			}
			n = len(tx.(*InsightsTx).tx.bound)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := bound(); n != 0 {
		t.Fatalf("first transaction bound %d statements, want 0 (none prepared yet)", n)
	}
	if n := bound(); n != 1 {
		t.Fatalf("second transaction bound %d statements, want the one query once", n)
	}
}
