package syncengine_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

var benchBigTenant = flag.Int("bigtenant", 1_000_000, "records of the big tenant in BenchmarkFirstSyncScope")

// scopeRecords is how many visits the rep of BenchmarkFirstSyncScope owns.
const scopeRecords = 10_000

// BenchmarkFirstSyncScope measures a rep's first sync of its 10,000 visits
// (pages of DefaultPullLimit from an empty cursor) in a tenant that holds
// only them, and in one that holds 1,000,000 records (-bigtenant): the rep's
// visits spread evenly among other reps' visits (half of them in the rep's
// region), stock levels of other regions and other users' alerts, none of
// which the rep may read. The others are generated in SQL. One op syncs
// once in each tenant, alternately, so both see the same machine; it
// reports the median sync time of each and their ratio. A pull's cost
// should follow what it returns, not the tenant: the ratio should be near 1.
func BenchmarkFirstSyncScope(b *testing.B) {
	small, big := newWorld(b), newWorld(b)
	small.pushVisits(b, "rep", scopeRecords)
	big.pushVisits(b, "rep", scopeRecords)
	big.addOthers(b, *benchBigTenant)
	name := fmt.Sprintf("10k_in_10k_vs_10k_in_%dk", *benchBigTenant/1000)
	b.Run(name, func(b *testing.B) { // a sub-benchmark, so the setup above runs once
		var smallTimes, bigTimes []time.Duration
		for i := 0; i < b.N; i++ {
			smallTimes = append(smallTimes, small.timeFirstSync(b))
			bigTimes = append(bigTimes, big.timeFirstSync(b))
		}
		sm, bm := median(smallTimes), median(bigTimes)
		b.ReportMetric(float64(sm.Microseconds())/1000, "small_ms")
		b.ReportMetric(float64(bm.Microseconds())/1000, "big_ms")
		b.ReportMetric(float64(bm)/float64(sm), "big/small")
	})
}

// timeFirstSync times the rep's first sync, checking it got every visit.
func (w *world) timeFirstSync(b *testing.B) time.Duration {
	start := time.Now()
	if n := w.firstSync(b, "rep"); n != scopeRecords {
		b.Fatalf("pulled %d records, want %d", n, scopeRecords)
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// pushVisits pushes n new visits as who, in batches of 500.
func (w *world) pushVisits(b *testing.B, who string, n int) {
	for done := 0; done < n; done += 500 {
		muts := make([]syncengine.Mutation, min(500, n-done))
		for j := range muts {
			muts[j] = w.mut(who, newID(), &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1",
				Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}},
				"kind", "customer_id", "notes", "action_tags")
		}
		if _, err := w.e.Push(context.Background(), w.p[who], muts); err != nil {
			b.Fatal(err)
		}
	}
}

// firstSync pulls every page from an empty cursor and counts the records.
func (w *world) firstSync(b *testing.B, who string) int {
	n, cursor := 0, ""
	for {
		res, err := w.e.Pull(context.Background(), w.p[who], cursor, syncengine.DefaultPullLimit)
		if err != nil {
			b.Fatal(err)
		}
		n += len(res.Records)
		if cursor = res.NextCursor; !res.HasMore {
			return n
		}
	}
}

// addOthers grows the tenant to total change rows: the records already
// there keep their order but spread out to every (total/n)th version, and
// generated records of others fill the versions between.
func (w *world) addOthers(b *testing.B, total int) {
	start := time.Now()
	err := w.sqliteDB(b).WriteTx(context.Background(), func(tx *sql.Tx, now time.Time) error {
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM records WHERE tenant_id = ?`, w.tenant).Scan(&n); err != nil {
			return err
		}
		step := total / n
		for _, q := range []string{
			`UPDATE records SET version = -version, created_version = -created_version WHERE tenant_id = ?1`,
			`UPDATE records SET version = -version * ?2, created_version = -created_version * ?2 WHERE tenant_id = ?1`,
		} {
			if _, err := tx.Exec(q, w.tenant, step); err != nil {
				return err
			}
		}
		if err := withoutIndexes(tx, "records", func() error {
			_, err := tx.Exec(insertOthers, w.tenant, total, step, w.region, now.UnixMilli())
			return err
		}); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE tenant_versions SET version = ?2 WHERE tenant_id = ?1`, w.tenant, total)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated a tenant of %d records in %v", total, time.Since(start).Round(time.Millisecond))
}

// withoutIndexes runs fn with the indexes of a table dropped, then builds
// them again: faster than keeping a dozen indexes in step row by row.
func withoutIndexes(tx *sql.Tx, table string, fn func() error) error {
	rows, err := tx.Query(`SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, table)
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return err
		}
		names, defs = append(names, name), append(defs, def)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := tx.Exec(`DROP INDEX "` + name + `"`); err != nil {
			return err
		}
	}
	if err := fn(); err != nil {
		return err
	}
	for _, def := range defs {
		if _, err := tx.Exec(def); err != nil {
			return err
		}
	}
	return nil
}

// insertOthers fills every version up to ?2 that is not a multiple of ?3:
// 80% visits of 1,000 other reps (half in region ?4, the rest in 20
// others), 10% stock levels of other regions, 10% alerts of other users.
// A visit's value and clocks are copied from the tenant's first record.
const insertOthers = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2),
	g AS (SELECT i, CASE i % 10 WHEN 1 THEN 'fieldsync.v1.StockLevel' WHEN 2 THEN 'fieldsync.v1.Alert'
		ELSE 'fieldsync.v1.Visit' END AS type FROM n WHERE i % ?3 != 0),
	tpl AS (SELECT value, clocks FROM records WHERE tenant_id = ?1 LIMIT 1)
	INSERT INTO records (tenant_id, id, type, version, created_version, owner_id, store_id, region_id, value, clocks,
		created_hlc, created_actor, hlc, actor, updated_at)
	SELECT ?1, 'other-' || i, type, i, i,
		CASE type WHEN 'fieldsync.v1.StockLevel' THEN '' ELSE 'user-' || (i % 1000) END,
		CASE type WHEN 'fieldsync.v1.Visit' THEN 'store-' || (i % 200) ELSE '' END,
		CASE WHEN type = 'fieldsync.v1.Alert' THEN '' WHEN type = 'fieldsync.v1.Visit' AND i % 2 = 0 THEN ?4
			ELSE 'region-' || (i % 20) END,
		CASE type WHEN 'fieldsync.v1.Visit' THEN tpl.value ELSE X'' END, tpl.clocks, i, 'gen', i, 'gen', ?5
	FROM g, tpl`
