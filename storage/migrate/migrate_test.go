package migrate

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openSQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t testing.TB) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// schemaTables lists the tables both stores' migrations create.
func schemaTables(t *testing.T) (lite, pg []string) {
	t.Helper()
	ctx := context.Background()
	stx, err := openSQLite(t).Reader().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stx.Rollback()
	if lite, err = sqliteTables(ctx, stx); err != nil {
		t.Fatal(err)
	}
	ptx, err := openPostgres(t).Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ptx.Rollback(ctx)
	if pg, err = postgresTables(ctx, ptx); err != nil {
		t.Fatal(err)
	}
	return lite, pg
}

// TestEveryTableOfBothSchemasIsCopiedOrListed fails when a migration of
// either store adds a table that tables.go neither copies nor lists as not
// copied with a reason, or when a copied table is missing from a schema.
func TestEveryTableOfBothSchemasIsCopiedOrListed(t *testing.T) {
	lite, pg := schemaTables(t)
	if err := checkTables(lite, pg); err != nil {
		t.Fatal(err)
	}
	for name, reason := range NotCopied {
		if strings.TrimSpace(reason) == "" {
			t.Errorf("NotCopied[%s] gives no reason", name)
		}
	}
	// The check itself: a table on one side only is named.
	err := checkTables(append(slices.Clone(lite), "not_a_fieldsync_table"), pg)
	if err == nil || !strings.Contains(err.Error(), "SQLite table not_a_fieldsync_table") {
		t.Errorf("an unlisted SQLite table: %v", err)
	}
	err = checkTables(lite, slices.DeleteFunc(slices.Clone(pg), func(s string) bool { return s == "records" }))
	if err == nil || !strings.Contains(err.Error(), "records is missing from the PostgreSQL schema") {
		t.Errorf("a copied table missing from PostgreSQL: %v", err)
	}
}

// TestEveryCopiedTableHasTheSameColumnsOnBothSides checks the column sets
// and that the copy knows every PostgreSQL column type.
func TestEveryCopiedTableHasTheSameColumnsOnBothSides(t *testing.T) {
	ctx := context.Background()
	stx, err := openSQLite(t).Reader().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stx.Rollback()
	ptx, err := openPostgres(t).Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ptx.Rollback(ctx)
	c := &copier{src: stx, dst: ptx}
	for _, table := range Copied {
		if _, err := c.columnsOf(ctx, table); err != nil {
			t.Errorf("%s: %v", table, err)
		}
	}
}

func TestConvertMapsSQLiteValuesToPostgresTypes(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		in   any
		want any
	}{
		{"boolean", int64(1), true},
		{"boolean", int64(0), false},
		{"text", "a", "a"},
		{"text", []byte("b"), "b"},
		{"bytea", []byte{0, 1}, []byte{0, 1}},
		{"bytea", "c", []byte("c")},
		{"bytea", []byte(nil), []byte{}}, // an empty BLOB stays empty, not NULL
		{"bigint", int64(1) << 40, int64(1) << 40},
		{"integer", int64(7), int64(7)},
		{"double precision", 1.5, 1.5},
		{"double precision", int64(2), 2.0},
		{"bigint", nil, nil},
	} {
		got, err := convert(tc.typ, tc.in)
		if err != nil {
			t.Errorf("convert(%s, %#v): %v", tc.typ, tc.in, err)
			continue
		}
		if gb, ok := got.([]byte); ok {
			if !bytes.Equal(gb, tc.want.([]byte)) || gb == nil {
				t.Errorf("convert(%s, %#v) = %#v", tc.typ, tc.in, got)
			}
		} else if got != tc.want {
			t.Errorf("convert(%s, %#v) = %#v, want %#v", tc.typ, tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		typ string
		in  any
	}{{"boolean", "yes"}, {"bigint", 1.5}, {"bigint", "1"}, {"jsonb", nil}, {"text", int64(1)}} {
		if _, err := convert(tc.typ, tc.in); err == nil {
			t.Errorf("convert(%s, %#v) accepted it", tc.typ, tc.in)
		}
	}
}

// seeded fills a SQLite store through the engine: the demo organisation,
// its records as the server writes them, an edit and a delete (a
// tombstone and a conflict-free change log with gaps from the edit).
func seeded(t *testing.T) (*sqlite.DB, *demo.Credentials) {
	t.Helper()
	return seededTB(t)
}

func seededTB(t testing.TB) (*sqlite.DB, *demo.Credentials) {
	t.Helper()
	ctx := context.Background()
	db := openSQLite(t)
	creds, err := demo.Seed(ctx, db, filepath.Join(t.TempDir(), "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.SeedRecords(ctx, db, eng, creds); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ServerWrite(ctx, creds.TenantID, "fieldsync.v1.Customer", "demo-ruijin",
		&fieldsyncv1.Customer{Address: "moved"}, []string{"address"}); err != nil {
		t.Fatal(err)
	}
	return db, creds
}

// TestRunCopiesEveryRowAndKeepsTheNumbers: after Run both databases hold
// the same rows, each tenant's versions and purge horizon included, and
// PostgreSQL's outbox sequence continues after SQLite's AUTOINCREMENT mark
// even when the newest events were pruned.
func TestRunCopiesEveryRowAndKeepsTheNumbers(t *testing.T) {
	ctx := context.Background()
	lite, creds := seeded(t)
	pending, err := lite.PendingEvents(ctx, 1000)
	if err != nil || len(pending) == 0 {
		t.Fatalf("the seed wrote no events: %v", err)
	}
	var sent []events.Sent
	for i, e := range pending[len(pending)/2:] { // the newer half sent and pruned
		sent = append(sent, events.Sent{Seq: e.Seq, Stream: events.ChangesStream, StreamSeq: uint64(i + 1)})
	}
	if err := lite.MarkSent(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if _, err := lite.PruneSentEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mark := pending[len(pending)-1].Seq

	pg := openPostgres(t)
	var progress bytes.Buffer
	rep, err := Run(ctx, lite, pg, Options{Progress: &progress, ProgressRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows() == 0 || !strings.Contains(progress.String(), "records: 2/") {
		t.Errorf("report %+v, progress:\n%s", rep, progress.String())
	}
	if err := Compare(ctx, lite, pg); err != nil {
		t.Fatal(err)
	}
	lp, ll, err := lite.CursorBounds(ctx, creds.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	pp, pl, err := pg.CursorBounds(ctx, creds.TenantID)
	if err != nil || pp != lp || pl != ll || ll == 0 {
		t.Fatalf("cursor bounds: SQLite (%d, %d), PostgreSQL (%d, %d) %v", lp, ll, pp, pl, err)
	}
	var next uint64
	if err := pg.Pool().QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('outbox', 'seq'))`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next != mark+1 {
		t.Errorf("the next outbox seq on PostgreSQL is %d, want %d (after SQLite's highest, pruned)", next, mark+1)
	}
	var surgerySeq int64
	if err := pg.Pool().QueryRow(ctx, `SELECT value FROM counters WHERE name = 'surgery_seq'`).Scan(&surgerySeq); err != nil || surgerySeq != rep.SurgerySeq || surgerySeq == 0 {
		t.Errorf("surgery_seq = %d (%v), want SQLite's seq %d", surgerySeq, err, rep.SurgerySeq)
	}
}

// TestRunRefusesATargetWithRowsUnlessToldToReplace: a second run finds the
// rows of the first and changes nothing; with Replace it copies again.
func TestRunRefusesATargetWithRowsUnlessToldToReplace(t *testing.T) {
	ctx := context.Background()
	lite, creds := seeded(t)
	pg := openPostgres(t)
	if _, err := Run(ctx, lite, pg, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := lite.CreateRegion(ctx, creds.TenantID, "added later"); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, lite, pg, Options{})
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "tenants") {
		t.Fatalf("a second run: %v, want ErrTargetNotEmpty naming tenants", err)
	}
	if err := Compare(ctx, lite, pg); err == nil || !strings.Contains(err.Error(), "regions") {
		t.Fatalf("the refused run changed the target, or Compare missed a row: %v", err)
	}
	if _, err := Run(ctx, lite, pg, Options{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if err := Compare(ctx, lite, pg); err != nil {
		t.Fatal(err)
	}
}

// TestAFailedRunLeavesTheTargetEmpty: a row PostgreSQL refuses half way
// through rolls the whole copy back, and the run can be repeated.
func TestAFailedRunLeavesTheTargetEmpty(t *testing.T) {
	ctx := context.Background()
	lite, _ := seeded(t)
	pg := openPostgres(t)
	// A device of a user that does not exist: SQLite lets it in with
	// foreign keys off, PostgreSQL's foreign key refuses it mid-copy.
	conn, err := lite.Writer().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA foreign_keys = OFF`,
		`INSERT INTO devices (id, tenant_id, user_id, name, token_hash, enrolled_at) SELECT 'orphan', id, 'nobody', 'x', X'00', 0 FROM tenants`,
		`PRAGMA foreign_keys = ON`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	if _, err := Run(ctx, lite, pg, Options{}); err == nil || !strings.Contains(err.Error(), "devices") {
		t.Fatalf("the orphan device was copied: %v", err)
	}
	var n int
	if err := pg.Pool().QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM users)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after a failed run the target has %d rows (%v)", n, err)
	}
	if _, err := lite.Writer().ExecContext(ctx, `DELETE FROM devices WHERE id = 'orphan'`); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, lite, pg, Options{}); err != nil {
		t.Fatalf("the run after the failed one: %v", err)
	}
	if err := Compare(ctx, lite, pg); err != nil {
		t.Fatal(err)
	}
}

// TestRunCopiesStagedProgress: progress rows the SQLite consumer staged
// and had not folded yet (migration 0022) reach PostgreSQL's
// insights_progress, as the fold would have written them.
func TestRunCopiesStagedProgress(t *testing.T) {
	ctx := context.Background()
	lite, creds := seeded(t)
	err := lite.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		for _, p := range []struct {
			record, linked string
			at             int64
		}{{"v1", "", 100}, {"c1", "v1", 200}, {"v1", "", 50}, {"c1", "", 200}} { // v1's earlier time is kept back
			if err := tx.PutProgress(creds.TenantID, "cust", p.record, p.linked, p.at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pg := openPostgres(t)
	if _, err := Run(ctx, lite, pg, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Compare(ctx, lite, pg); err != nil {
		t.Fatal(err)
	}
	rows, err := pg.Pool().Query(ctx, `SELECT record_id || ':' || linked_visit_id || ':' || at_ms FROM insights_progress
		WHERE tenant_id = $1 AND customer_id = 'cust' ORDER BY record_id`, creds.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if want := []string{"c1::200", "v1::100"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("PostgreSQL's insights_progress: %v (%v), want %v", got, err, want)
	}
}
