package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// queryPlan is the detail column of EXPLAIN QUERY PLAN, one line a step.
func queryPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.read.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// TestScanShapesReadTheirScopeIndex: every shape of a scan range (a term
// by owner, store or region, with a value or empty, or by type alone), in
// ScanChanges and in CreatedBetween, reads the records through the index
// migration 0020 keeps for it: the partial owner and store indexes when
// the term has a value (the statement says the column is not empty so the planner
// may), the type's range when it is empty. None reads the tenant's whole
// table. The other statements that name records' indexes too: the owner
// listing, the purge of tombstones, VersionBefore.
func TestScanShapesReadTheirScopeIndex(t *testing.T) {
	t.Parallel()
	db := openRecordsDB(t)
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
		q, args := scanQuery(sel, 0, 10, 5)
		plan := queryPlan(t, db, q, args...)
		if !strings.Contains(plan, "SEARCH records USING "+covering(c.field, c.value)+"INDEX "+c.index+" (tenant_id=? AND ") ||
			strings.Contains(plan, "SCAN records") {
			t.Errorf("scan of %d %q: want a range of %s, plan\n%s", c.field, c.value, c.index, plan)
		}
		q, args = createdQuery(sel, types, 0, 10)
		plan = queryPlan(t, db, q, args...)
		if !strings.Contains(plan, "SEARCH records USING "+covering(c.field, c.value)+"INDEX "+c.index+" (tenant_id=? AND ") ||
			strings.Contains(plan, "SCAN records") {
			t.Errorf("created between of %d %q: want a range of %s, plan\n%s", c.field, c.value, c.index, plan)
		}
	}
	for _, c := range []struct {
		what, q, index string
		args           []any
	}{
		{"records by owner", `SELECT ` + recordColumns + ` FROM records WHERE tenant_id = ? AND type = ? AND owner_id = ? AND owner_id != '' AND deleted = 0 ORDER BY version DESC LIMIT ?`,
			"records_owner", []any{"T", "x", "u1", 5}},
		{"purge", `DELETE FROM records WHERE tenant_id = ? AND deleted = 1 AND version <= ?`, "records_tombstones", []any{"T", 5}},
		{"purge horizons", `SELECT tenant_id, MAX(version) AS v FROM records WHERE deleted = 1 AND updated_at < ?1 GROUP BY tenant_id`,
			"records_deleted", []any{5}},
		{"version before", `SELECT MIN(version) FROM records INDEXED BY records_type WHERE tenant_id = ? AND type = ? AND updated_at >= ?`,
			"records_type", []any{"T", "x", 5}},
	} {
		if plan := queryPlan(t, db, c.q, c.args...); !strings.Contains(plan, "INDEX "+c.index+" ") {
			t.Errorf("%s: want %s, plan\n%s", c.what, c.index, plan)
		}
	}
}

// covering is how a plan names a range of a scope index: covering when the
// term has a value (or none is compared), not when an empty owner or store
// is compared row by row.
func covering(field syncengine.ScopeField, value string) string {
	if value == "" && (field == syncengine.ByOwner || field == syncengine.ByStore) {
		return ""
	}
	return "COVERING "
}

// TestScanRawSelectionsProperty scans selections made term by term, not by
// Filter.Select: terms by owner or store whose value is empty among them,
// which read records that are in no partial index. The scan and
// CreatedBetween must return exactly the rows Selection.Selects accepts.
func TestScanRawSelectionsProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openRecordsDB(t)
	types := []string{"x.A", "x.B"}
	pool := func(prefix string) []string { return []string{"", prefix + "1", prefix + "2"} }
	tenants := 0
	rapid.Check(t, func(t *rapid.T) {
		tenants++
		tenantID := fmt.Sprintf("tenant-%d", tenants)
		recs := map[string]*syncengine.StoredRecord{}
		for i := range rapid.IntRange(0, 30).Draw(t, "writes") {
			recID := fmt.Sprintf("rec-%d", rapid.IntRange(0, 12).Draw(t, "record"))
			sc := syncengine.Scope{Owner: rapid.SampledFrom(pool("u")).Draw(t, "owner"),
				Store: rapid.SampledFrom(pool("s")).Draw(t, "store"), Region: rapid.SampledFrom(pool("r")).Draw(t, "region")}
			putInScope(t, db, recs, recID, sc, func() *syncengine.StoredRecord {
				return &syncengine.StoredRecord{TenantID: tenantID, ID: recID, Type: rapid.SampledFrom(types).Draw(t, "type"), Actor: "d",
					State: &syncengine.State{Value: &fieldsyncv1.Visit{}}, UpdatedAt: time.UnixMilli(int64(i + 1))}
			})
		}
		sel := syncengine.Selection{TenantID: tenantID}
		for range rapid.IntRange(0, 4).Draw(t, "terms") {
			field := syncengine.ScopeField(rapid.IntRange(0, 3).Draw(t, "field"))
			value := ""
			switch field {
			case syncengine.ByOwner:
				value = rapid.SampledFrom(pool("u")).Draw(t, "value")
			case syncengine.ByStore:
				value = rapid.SampledFrom(pool("s")).Draw(t, "value")
			case syncengine.ByRegion:
				value = rapid.SampledFrom(pool("r")).Draw(t, "value")
			}
			ts := rapid.SliceOfNDistinct(rapid.SampledFrom(types), 1, 2, func(s string) string { return s }).Draw(t, "types")
			slices.Sort(ts)
			sel.Terms = append(sel.Terms, syncengine.Term{Field: field, Value: value, Types: ts})
		}
		var want, wantCreated []string
		for _, r := range changeLog(t, db, tenantID) {
			if sel.Selects(r.Type, r.Scope) {
				want = append(want, header(r))
			}
		}
		got, _ := scanAll(t, db, sel, rapid.IntRange(1, 7).Draw(t, "limit"))
		if !slices.Equal(got, want) {
			t.Fatalf("selection %+v scanned\n%v\nwant\n%v", sel, got, want)
		}
		created, err := db.CreatedBetween(ctx, sel, types, 0, 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		var gotCreated []string
		for _, r := range created {
			gotCreated = append(gotCreated, r.RecordID)
		}
		for _, rec := range recs {
			if sel.Selects(rec.Type, rec.Scope) {
				wantCreated = append(wantCreated, rec.ID)
			}
		}
		slices.Sort(gotCreated)
		slices.Sort(wantCreated)
		if !slices.Equal(gotCreated, wantCreated) {
			t.Fatalf("selection %+v: created between %v, want %v", sel, gotCreated, wantCreated)
		}
	})
}

// TestPartialScopeIndexMigration upgrades a database that main's schema
// left, with records with and without an owner and a store and a
// tombstone: after migration 0020 the scans still find every record, and
// the purge still deletes the tombstone.
func TestPartialScopeIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	raw := openBefore(t, path, "_partial_scope_indexes.sql")
	mustExec(t, raw, `INSERT INTO tenants (id, name, created_at) VALUES ('T', 'T', 0)`)
	for i, r := range []struct{ owner, store string }{{"u1", ""}, {"", "s1"}, {"u1", "s1"}, {"", ""}} {
		mustExec(t, raw, `INSERT INTO records (tenant_id, id, type, version, created_version, owner_id, store_id, value, clocks,
			created_hlc, created_actor, hlc, actor, updated_at, deleted) VALUES ('T', ?, 'x.A', ?2, ?2, ?, ?, x'', x'', 1, 'd', 1, 'd', 0, ?)`,
			fmt.Sprintf("rec-%d", i), i+1, r.owner, r.store, i/3)
	}
	mustExec(t, raw, `INSERT INTO tenant_versions (tenant_id, version) VALUES ('T', 4) ON CONFLICT(tenant_id) DO UPDATE SET version = 4`)
	raw.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		term syncengine.Term
		want []uint64
	}{
		{syncengine.Term{Field: syncengine.ByOwner, Value: "u1"}, []uint64{1, 3}},
		{syncengine.Term{Field: syncengine.ByStore, Value: "s1"}, []uint64{2, 3}},
		{syncengine.Term{Field: syncengine.ByOwner, Value: ""}, []uint64{2, 4}},
		{syncengine.Term{Field: syncengine.ByStore, Value: ""}, []uint64{1, 4}},
	} {
		c.term.Types = []string{"x.A"}
		pg, err := db.ScanChanges(ctx, syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{c.term}}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, r := range pg.Rows {
			got = append(got, r.Version)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("term %+v scanned versions %v, want %v", c.term, got, c.want)
		}
	}
	if n, err := db.PurgeTombstones(ctx, time.UnixMilli(1)); err != nil || n != 1 {
		t.Fatalf("purged %d tombstones (%v), want 1", n, err)
	}
}
