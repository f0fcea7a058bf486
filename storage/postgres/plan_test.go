package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestScanShapesReadTheirScopeIndex: under the generic plans the pool
// forces (Open), every shape of a scan range reads the records through the
// index migration 0012 keeps for it: the partial owner and store indexes
// when the term has a value (the statement says the column is not empty,
// or the planner could not prove the index applies to any value of the
// parameter), the type's range when the value is empty. The owner listing
// too.
func TestScanShapesReadTheirScopeIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// A tenant as a deployment holds one: 200 owners, half the records
	// without a store, 10 regions, two types; and statistics of it.
	if _, err := conn.Exec(ctx, `INSERT INTO records (tenant_id, id, type, version, created_version, owner_id, store_id, region_id,
			value, clocks, created_hlc, created_actor, hlc, actor, updated_at)
		SELECT 'T', 'rec-' || i, CASE WHEN i % 3 = 0 THEN 'x.Other' ELSE 'fieldsync.v1.Visit' END, i, i, 'u' || (i % 200),
			CASE WHEN i % 2 = 0 THEN '' ELSE 's' || (i % 100) END, 'r' || (i % 10), '\x00', '\x00', 1, 'd', 1, 'd', 0
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE records`); err != nil {
		t.Fatal(err)
	}
	n := 0
	plan := func(q string, args []any) string {
		t.Helper()
		n++
		name := fmt.Sprint("plan", n)
		if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+q); err != nil {
			t.Fatalf("prepare %s: %v", q, err)
		}
		var lits []string
		for _, a := range args {
			switch a := a.(type) {
			case string:
				lits = append(lits, "'"+strings.ReplaceAll(a, "'", "''")+"'")
			default:
				lits = append(lits, fmt.Sprint(a))
			}
		}
		rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+name+"("+strings.Join(lits, ", ")+")")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}
	types := []string{"fieldsync.v1.Visit"}
	for _, c := range []struct {
		field syncengine.ScopeField
		value string
		index string
	}{
		{syncengine.ByOwner, "u1", "records_owner"},
		{syncengine.ByOwner, "", "records_type"},
		{syncengine.ByStore, "s1", "records_store"},
		{syncengine.ByStore, "", "records_type"},
		{syncengine.ByRegion, "r1", "records_region"},
		{syncengine.ByRegion, "", "records_region"},
		{syncengine.AnyPlace, "", "records_type"},
	} {
		sel := syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{{Field: c.field, Value: c.value, Types: types}}}
		q, args := scanQuery(sel, 0, 5)
		if p := plan(q, args); !readsIndex(p, c.index) {
			t.Errorf("scan of %d %q: want a range of %s, plan\n%s", c.field, c.value, c.index, p)
		}
		q, args = createdQuery(sel, types, 0, 10)
		if p := plan(q, args); !readsIndex(p, c.index) {
			t.Errorf("created between of %d %q: want a range of %s, plan\n%s", c.field, c.value, c.index, p)
		}
	}
	q := `SELECT ` + recordColumns + ` FROM records WHERE tenant_id = $1 AND type = $2 AND owner_id = $3 AND owner_id <> '' AND NOT deleted
		ORDER BY version DESC LIMIT $4`
	if p := plan(q, []any{"T", "x", "u1", 5}); !readsIndex(p, "records_owner") {
		t.Errorf("records by owner: want records_owner, plan\n%s", p)
	}
}

// readsIndex reports whether a plan reads an index of records, by an index
// scan or a bitmap one, and no records table in full.
func readsIndex(plan, index string) bool {
	return (strings.Contains(plan, " using "+index+" on records") || strings.Contains(plan, "Bitmap Index Scan on "+index+" ")) &&
		!strings.Contains(plan, "Seq Scan on records")
}
