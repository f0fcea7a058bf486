package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// everything selects every record of the tenant that is not sensitive.
func everything(tenantID string) syncengine.Selection {
	return syncengine.Filter{TenantID: tenantID, All: true}.Select(syncengine.DefaultRegistry())
}

// changeLog reads a tenant's whole change log, records and exits, in
// version order: what a scan would walk without indexes.
func changeLog(t interface {
	Helper()
	Fatal(...any)
}, db *DB, tenantID string) []syncengine.ChangeRow {
	t.Helper()
	rows, err := db.read.Query(`SELECT version, id, type, owner_id, store_id, region_id, 0 FROM records WHERE tenant_id = ?1
		UNION ALL SELECT version, record_id, type, owner_id, store_id, region_id, 1 FROM scope_exits WHERE tenant_id = ?1
		ORDER BY 1`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []syncengine.ChangeRow
	for rows.Next() {
		var r syncengine.ChangeRow
		if err := rows.Scan(&r.Version, &r.RecordID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Exit); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// header is a change row without the record's state, for comparing.
func header(r syncengine.ChangeRow) string {
	return fmt.Sprintf("%d %s %s exit=%v %+v", r.Version, r.RecordID, r.Type, r.Exit, r.Scope)
}

// TestScanChangesSelectsWhatMatchesMatchesProperty writes random records
// (any type, any scope values, fields the type lacks included, records
// moving between scopes), then pages through them with random filters and
// page sizes: the scan must return exactly the rows of the whole log that
// Matches accepts, in order, and end at the tenant's latest version; and
// CreatedBetween exactly the records of its types created in its range
// that Matches accepts.
func TestScanChangesSelectsWhatMatchesMatchesProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "scan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := syncengine.DefaultRegistry()
	types := reg.Types()
	pool := func(prefix string) []string { return []string{"", prefix + "1", prefix + "2"} }
	id := func(t *rapid.T, prefix, label string) string { return rapid.SampledFrom(pool(prefix)).Draw(t, label) }
	tenants := 0
	rapid.Check(t, func(t *rapid.T) {
		tenants++
		tenantID := fmt.Sprintf("tenant-%d", tenants)
		recs := map[string]*syncengine.StoredRecord{}
		for i := range rapid.IntRange(0, 40).Draw(t, "writes") {
			recID := fmt.Sprintf("rec-%d", rapid.IntRange(0, 15).Draw(t, "record"))
			sc := syncengine.Scope{Owner: id(t, "u", "owner"), Store: id(t, "s", "store"), Region: id(t, "r", "region")}
			putInScope(t, db, recs, recID, sc, func() *syncengine.StoredRecord {
				rt := rapid.SampledFrom(types).Draw(t, "type")
				return &syncengine.StoredRecord{TenantID: tenantID, ID: recID, Type: string(rt.Name), Actor: "d",
					State: &syncengine.State{Value: rt.New()}, UpdatedAt: time.UnixMilli(int64(i + 1))}
			})
		}
		f := syncengine.Filter{TenantID: tenantID, All: rapid.IntRange(0, 5).Draw(t, "all") == 0,
			OwnerID: id(t, "u", "filter owner"), StoreID: id(t, "s", "filter store"), RegionID: id(t, "r", "filter region"),
			SharedRegionID: id(t, "r", "shared region"), SharedAll: rapid.IntRange(0, 5).Draw(t, "shared all") == 0,
			ReaderRole: fieldsyncv1.Role(rapid.IntRange(0, 8).Draw(t, "reader role"))}
		var want []string
		for _, r := range changeLog(t, db, tenantID) {
			if rt, ok := reg.Lookup(r.Type); ok && f.Matches(rt, r.Scope) {
				want = append(want, header(r))
			}
		}
		got, through := scanAll(t, db, f.Select(reg), rapid.IntRange(1, 7).Draw(t, "limit"))
		if !slices.Equal(got, want) {
			t.Fatalf("filter %+v scanned\n%v\nwant\n%v", f, got, want)
		}
		_, latest, _ := db.CursorBounds(ctx, tenantID)
		if through != latest {
			t.Fatalf("the last page ends at %d, want the latest version %d", through, latest)
		}
		checkCreatedBetween(t, db, f, rapid.SliceOfNDistinct(rapid.SampledFrom(types), 0, 3, func(rt *syncengine.RecordType) string {
			return string(rt.Name)
		}).Draw(t, "delivery types"), rapid.Uint64Range(0, latest).Draw(t, "from"), rapid.Uint64Range(0, latest).Draw(t, "to"))
	})
}

// checkCreatedBetween compares CreatedBetween with the records of the
// types created in (from, to] that Matches accepts.
func checkCreatedBetween(t *rapid.T, db *DB, f syncengine.Filter, rts []*syncengine.RecordType, from, to uint64) {
	reg := syncengine.DefaultRegistry()
	var types, want, got []string
	for _, rt := range rts {
		types = append(types, string(rt.Name))
	}
	rows, err := db.read.Query(`SELECT created_version, id, type, owner_id, store_id, region_id FROM records
		WHERE tenant_id = ? AND created_version > ? AND created_version <= ? ORDER BY created_version`, f.TenantID, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r syncengine.ChangeRow
		if err := rows.Scan(&r.Version, &r.RecordID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region); err != nil {
			t.Fatal(err)
		}
		if rt, _ := reg.Lookup(r.Type); slices.Contains(types, r.Type) && f.Matches(rt, r.Scope) {
			want = append(want, header(r))
		}
	}
	created, err := db.CreatedBetween(context.Background(), f.Select(reg), types, from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range created {
		got = append(got, header(r))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("filter %+v: created between %d and %d of %v:\n%v\nwant\n%v", f, from, to, types, got, want)
	}
}

// scanAll pages through a selection from the start and returns the rows'
// headers and the version the last page covered.
func scanAll(t *rapid.T, db *DB, sel syncengine.Selection, limit int) ([]string, uint64) {
	var out []string
	after := uint64(0)
	for {
		pg, err := db.ScanChanges(context.Background(), sel, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Rows {
			if r.Record == nil != r.Exit || r.Version <= after || r.Version > pg.Through {
				t.Fatalf("row %+v in a page after %d through %d", r, after, pg.Through)
			}
			out = append(out, header(r))
		}
		if pg.Through < after || len(pg.Rows) > limit {
			t.Fatalf("a scan after %d of %d rows went to %d with %d rows", after, limit, pg.Through, len(pg.Rows))
		}
		after = pg.Through
		if !pg.More {
			return out, after
		}
	}
}

// TestScanChangesServesSelectionsOfManyTypes scans a selection of more
// ranges than SQLite joins in one compound SELECT (500): 300 types, each
// under two terms.
func TestScanChangesServesSelectionsOfManyTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "many.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var types, want []string
	for i := range 300 {
		types = append(types, fmt.Sprintf("x.T%03d", i))
	}
	for i, typ := range types {
		owner := []string{"u1", "u2"}[i%2]
		rec := &syncengine.StoredRecord{TenantID: "T", ID: fmt.Sprintf("rec-%d", i), Type: typ, Actor: "d",
			Scope: syncengine.Scope{Owner: owner}, State: &syncengine.State{Value: &fieldsyncv1.Visit{}}}
		if err := db.Update(ctx, func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
			t.Fatal(err)
		}
		if owner == "u1" {
			want = append(want, rec.ID)
		}
	}
	sel := syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{
		{Field: syncengine.ByOwner, Value: "u1", Types: types}, {Field: syncengine.ByRegion, Value: "r9", Types: types}}}
	var got []string
	for after := uint64(0); ; {
		pg, err := db.ScanChanges(ctx, sel, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Rows {
			got = append(got, r.RecordID)
		}
		if after = pg.Through; !pg.More {
			break
		}
	}
	created, err := db.CreatedBetween(ctx, sel, types, 0, 1000)
	if err != nil || len(created) != len(want) {
		t.Fatalf("created between: %d rows (%v), want %d", len(created), err, len(want))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scanned %v, want %v", got, want)
	}
}

// TestScanChangesReadsOneSnapshot: a record written again while a scan
// runs, after it read its bound, has its row moved past that bound. The
// page must still hold the record as it stood at the bound, since it
// claims to cover every change through it (a device pulling would
// otherwise miss the record until its next pull).
func TestScanChangesReadsOneSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "snapshot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs := map[string]*syncengine.StoredRecord{}
	put := func(id string) {
		rec := recs[id]
		if rec == nil {
			rec = &syncengine.StoredRecord{TenantID: "T", ID: id, Type: "x.T", Actor: "d",
				Scope: syncengine.Scope{Owner: "u1"}, State: &syncengine.State{Value: &fieldsyncv1.Visit{}}}
			recs[id] = rec
		}
		if err := db.Update(ctx, func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	put("b")
	db.afterScanBound = func() {
		db.afterScanBound = nil
		put("a") // a moves from version 1 to 3
	}
	sel := syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{{Field: syncengine.ByOwner, Value: "u1", Types: []string{"x.T"}}}}
	pg, err := db.ScanChanges(ctx, sel, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range pg.Rows {
		got = append(got, header(r))
	}
	if len(got) != 2 || pg.More || pg.Through != 2 {
		t.Fatalf("a scan through version %d (more %v) returned %v, want a at 1 and b at 2", pg.Through, pg.More, got)
	}
}

// putInScope writes the record recID of recs (made by create when recs
// does not hold it yet) with scope sc, telling the store the scope it
// leaves when that changes.
func putInScope(t *rapid.T, db *DB, recs map[string]*syncengine.StoredRecord, recID string, sc syncengine.Scope, create func() *syncengine.StoredRecord) {
	rec, old := recs[recID], (*syncengine.Scope)(nil)
	if rec == nil {
		rec = create()
		recs[recID] = rec
	} else if rec.Scope != sc {
		prev := rec.Scope
		old = &prev
	}
	rec.Scope = sc
	if err := db.Update(context.Background(), func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, old); return err }); err != nil {
		t.Fatal(err)
	}
}
