package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// openBefore creates a database at path with the migrations before the
// one named name applied, as an older server left it.
func openBefore(t *testing.T, path, name string) *sql.DB {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return strings.HasSuffix(m.name, name) })
	if i < 0 {
		t.Fatalf("no migration %s", name)
	}
	before := ms[i].version
	raw, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	mustExec(t, raw, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	for _, m := range ms {
		if m.version < before {
			mustExec(t, raw, m.sql)
			mustExec(t, raw, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, m.version, m.name)
		}
	}
	return raw
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestTenantVersionsMigrationLeavesNoGapBehindOldCursors: versions from the
// old global counter, then per-tenant ones. Tenant B's newest old row was a
// tombstone since purged (at 7), so a device of B may hold cursor 7: B's
// next change must come after it; cursors below the horizon still get
// "resync" (as before the migration); the commit sequence carries on.
func TestTenantVersionsMigrationLeavesNoGapBehindOldCursors(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	raw := openBefore(t, path, "_tenant_versions.sql")
	for _, tn := range []string{"A", "B", "C"} {
		mustExec(t, raw, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)`, tn, tn)
	}
	for _, r := range []struct {
		tenant string
		v      int
	}{{"A", 1}, {"B", 2}, {"A", 3}, {"B", 4}, {"A", 6}, {"A", 8}} {
		mustExec(t, raw, `INSERT INTO records (tenant_id, id, type, version, created_version, value, clocks, created_hlc, created_actor, hlc, actor, updated_at)
			VALUES (?, ?, 'fieldsync.v1.Visit', ?3, ?3, x'', x'', 1, 'd', 1, 'd', 0)`, r.tenant, r.tenant+string(rune('0'+r.v)), r.v)
	}
	mustExec(t, raw, `INSERT INTO scope_exits (tenant_id, version, record_id, type, owner_id, store_id, region_id, created_at)
		VALUES ('A', 5, 'A3', 'fieldsync.v1.Visit', 'u', '', '', 0)`)
	for _, tn := range []string{"A", "B", "A"} {
		mustExec(t, raw, `INSERT INTO conflicts (tenant_id, record_type, record_id, field, losing_hlc, losing_actor, winning_hlc,
			winning_actor, reason, owner_id, store_id, region_id, created_at) VALUES (?, 'fieldsync.v1.Visit', 'r', 'notes', 1, 'd', 2, 'e', 'older', '', '', '', 0)`, tn)
	}
	mustExec(t, raw, `UPDATE counters SET value = 8 WHERE name = 'version'`)
	mustExec(t, raw, `UPDATE counters SET value = 7 WHERE name = 'purged_through'`)
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for tn, want := range map[string][2]uint64{"A": {7, 8}, "B": {7, 7}, "C": {7, 7}} {
		purged, latest, err := db.CursorBounds(ctx, tn)
		if err != nil || purged != want[0] || latest != want[1] {
			t.Errorf("tenant %s: purged %d, latest %d (%v), want %v", tn, purged, latest, err, want)
		}
	}
	for _, tn := range []string{"B", "A", "B"} {
		putVisit(t, db, tn, newVisitID(tn))
	}
	pg, err := db.ScanChanges(ctx, everything("B"), 7, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rows := pg.Rows; len(rows) != 2 || rows[0].Version != 8 || rows[1].Version != 9 {
		t.Fatalf("tenant B after cursor 7: %+v, want its two new changes at 8 and 9", rows)
	}
	if pg, err = db.ScanChanges(ctx, everything("A"), 6, 10); err != nil {
		t.Fatal(err)
	}
	if rows := pg.Rows; len(rows) != 2 || rows[0].Version != 8 || rows[1].Version != 9 {
		t.Fatalf("tenant A after cursor 6: %+v, want its old change 8 and new 9", rows)
	}
	for tn, want := range map[string][]uint64{"A": {1, 3, 4}, "B": {2, 3}} {
		addConflict(t, db, tn)
		cs, err := db.ListConflicts(ctx, syncengine.ConflictQuery{TenantID: tn, Limit: 10})
		var got []uint64
		for _, c := range cs {
			got = append(got, c.ID)
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("tenant %s's conflict ids %v (%v), want %v", tn, got, err, want)
		}
	}
	var seq uint64
	if err := db.read.QueryRow(`SELECT MAX(seq) FROM records`).Scan(&seq); err != nil || seq != 11 {
		t.Fatalf("commit sequence %d (%v), want 11 after three new changes", seq, err)
	}
}

var visitIDs int

func newVisitID(tenant string) string {
	visitIDs++
	return tenant + "-new-" + string(rune('a'+visitIDs))
}

// putVisit writes a new visit record of a tenant.
func putVisit(t *testing.T, db *DB, tenantID, id string) {
	t.Helper()
	at := syncengine.Version{HLC: syncengine.MakeHLC(time.Now().UnixMilli(), 0), Actor: "d"}
	rec := &syncengine.StoredRecord{TenantID: tenantID, ID: id, Type: "fieldsync.v1.Visit", HLC: at.HLC, Actor: at.Actor,
		State:     &syncengine.State{Value: &fieldsyncv1.Visit{Notes: "n"}, Fields: map[string]syncengine.Version{"notes": at}, Created: at},
		UpdatedAt: time.Now()}
	err := db.Update(context.Background(), func(tx syncengine.Tx) error {
		_, err := tx.PutRecord(rec, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// addConflict logs a conflict of a tenant.
func addConflict(t *testing.T, db *DB, tenantID string) {
	t.Helper()
	err := db.Update(context.Background(), func(tx syncengine.Tx) error {
		return tx.AddConflict(&syncengine.Conflict{TenantID: tenantID, RecordType: "fieldsync.v1.Visit", RecordID: "r", Field: "notes",
			LosingAt: syncengine.Version{HLC: 1, Actor: "d"}, WinningAt: syncengine.Version{HLC: 2, Actor: "e"}, Reason: syncengine.LossOlder})
	})
	if err != nil {
		t.Fatal(err)
	}
}
