package sqlite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync/insights/insightstore"
)

// progressKey and progressRow are one insights_progress row as the model
// of these tests holds it.
type progressKey struct{ tenant, customer, record string }

type progressRow struct {
	linked string
	at     int64
}

// progressModel applies PutProgress as documented, one row after another:
// a row replaces the stored one when its time is the same or later.
type progressModel map[progressKey]progressRow

func (m progressModel) put(k progressKey, r progressRow) {
	if old, ok := m[k]; !ok || r.at >= old.at {
		m[k] = r
	}
}

// times is ProgressTimes on the model.
func (m progressModel) times(tenant, customer, visit string) []int64 {
	var out []int64
	for k, r := range m {
		if k.tenant == tenant && k.customer == customer && k.record != visit && r.linked != visit {
			out = append(out, r.at)
		}
	}
	slices.Sort(out)
	return out
}

func setProgressFoldAt(t *testing.T, n int64) {
	old := progressFoldAt
	progressFoldAt = n
	t.Cleanup(func() { progressFoldAt = old })
}

func openProgressDB(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// storedProgress reads insights_progress as it is (after FoldInsightsProgress).
func storedProgress(t *testing.T, db *DB) progressModel {
	t.Helper()
	ctx := context.Background()
	if err := db.FoldInsightsProgress(ctx); err != nil {
		t.Fatal(err)
	}
	var staged int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM insights_progress_staged`).Scan(&staged); err != nil || staged != 0 {
		t.Fatalf("%d rows staged after a fold (%v)", staged, err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT tenant_id, customer_id, record_id, linked_visit_id, at_ms FROM insights_progress`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := progressModel{}
	for rows.Next() {
		var k progressKey
		var r progressRow
		if err := rows.Scan(&k.tenant, &k.customer, &k.record, &r.linked, &r.at); err != nil {
			t.Fatal(err)
		}
		out[k] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func stagedCount(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.read.QueryRowContext(context.Background(), `SELECT count(*) FROM insights_progress_staged`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// randomProgress puts n random progress rows, few keys and few times so
// that keys repeat within and across transactions, with equal times too.
func randomProgress(rng *rand.Rand, tx insightstore.Tx, m progressModel, n int) error {
	for range n {
		k := progressKey{fmt.Sprintf("t%d", rng.IntN(2)), fmt.Sprintf("c%d", rng.IntN(4)), fmt.Sprintf("r%d", rng.IntN(12))}
		r := progressRow{linked: []string{"", "r1", "r2"}[rng.IntN(3)], at: int64(rng.IntN(8))}
		if err := tx.PutProgress(k.tenant, k.customer, k.record, r.linked, r.at); err != nil {
			return err
		}
		m.put(k, r)
	}
	return nil
}

// The staged progress rows read as if written to insights_progress one
// after another: after every transaction, whatever the fold threshold,
// ProgressTimes answers as the model does, and the folded table holds
// the model's rows exactly (linked visit and time).
func TestStagedProgressReadsAsPutInOrder(t *testing.T) {
	for _, foldAt := range []int64{1, 3, 7, 4096} {
		t.Run(fmt.Sprintf("fold at %d", foldAt), func(t *testing.T) {
			setProgressFoldAt(t, foldAt)
			ctx := context.Background()
			db := openProgressDB(t, filepath.Join(t.TempDir(), "fs.db"))
			defer db.Close()
			rng := rand.New(rand.NewPCG(uint64(foldAt), 7))
			m := progressModel{}
			for round := range 60 {
				err := db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
					if err := randomProgress(rng, tx, m, rng.IntN(10)); err != nil {
						return err
					}
					if round%5 != 4 {
						return nil
					}
					// A read in the middle of a transaction sees what it put.
					for _, tenant := range []string{"t0", "t1"} {
						for c := range 4 {
							customer, visit := fmt.Sprintf("c%d", c), fmt.Sprintf("r%d", rng.IntN(3))
							got, err := tx.ProgressTimes(tenant, customer, visit)
							if err != nil {
								return err
							}
							slices.Sort(got)
							if want := m.times(tenant, customer, visit); !slices.Equal(got, want) {
								t.Errorf("round %d: ProgressTimes(%s, %s, %s) = %v, want %v", round, tenant, customer, visit, got, want)
							}
							// Rows put between two reads of one transaction: the second read folds again.
							if err := randomProgress(rng, tx, m, rng.IntN(3)); err != nil {
								return err
							}
						}
					}
					return randomProgress(rng, tx, m, rng.IntN(4))
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := storedProgress(t, db); !maps.Equal(got, m) {
				t.Fatalf("insights_progress after the fold:\n%v\nwant\n%v", got, m)
			}
		})
	}
}

// Staging and folding are each part of the transaction that does them,
// so a crash between them loses and doubles nothing: rows staged by a
// committed transaction are there after a restart and fold then; a
// transaction that fails, even one that crossed the threshold and
// folded, leaves both the stage and the table as they were.
func TestStagedProgressSurvivesARestartAndARollback(t *testing.T) {
	setProgressFoldAt(t, 10)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	db := openProgressDB(t, path)
	m := progressModel{}
	put := func(db *DB, rows []progressRow, records []string, fail bool) error {
		return db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
			for i, r := range rows {
				if err := tx.PutProgress("t", "c", records[i], r.linked, r.at); err != nil {
					return err
				}
			}
			if fail {
				return errors.New("the batch failed")
			}
			return nil
		})
	}
	// Folded once (10 staged), then 4 staged, committed.
	var rows []progressRow
	var records []string
	for i := range 14 {
		rows, records = append(rows, progressRow{at: int64(100 + i)}), append(records, fmt.Sprintf("r%02d", i))
		m.put(progressKey{"t", "c", records[i]}, rows[i])
	}
	if err := put(db, rows[:10], records[:10], false); err != nil {
		t.Fatal(err)
	}
	if n := stagedCount(t, db); n != 0 {
		t.Fatalf("%d rows staged after crossing the threshold, want 0 (folded)", n)
	}
	if err := put(db, rows[10:], records[10:], false); err != nil {
		t.Fatal(err)
	}
	if n := stagedCount(t, db); n != 4 {
		t.Fatalf("%d rows staged, want 4", n)
	}
	// A failed batch that would cross the threshold and fold: nothing of it stays.
	later := []progressRow{{at: 1000}, {at: 1001}, {at: 1002}, {at: 1003}, {at: 1004}, {at: 1005}, {at: 1006}}
	if err := put(db, later, records[:7], true); err == nil {
		t.Fatal("the failing batch committed")
	}
	if n := stagedCount(t, db); n != 4 {
		t.Fatalf("%d rows staged after a rolled-back batch, want 4", n)
	}
	// Restart with rows staged: the reopened store reads them.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openProgressDB(t, path)
	defer db.Close()
	err := db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		got, err := tx.ProgressTimes("t", "c", "none")
		slices.Sort(got)
		if want := m.times("t", "c", "none"); !slices.Equal(got, want) {
			t.Errorf("ProgressTimes after a restart = %v, want %v", got, want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Redelivering the committed rows (the consumer skips a redelivered
	// event; a row put again anyway changes nothing) and folding again.
	if err := put(db, rows, records, false); err != nil {
		t.Fatal(err)
	}
	if got := storedProgress(t, db); !maps.Equal(got, m) {
		t.Fatalf("insights_progress after a restart:\n%v\nwant\n%v", got, m)
	}
}
