package migrate

import (
	"context"
	"testing"
)

// BenchmarkRun copies a SQLite store of the demo plus 100,000 copies of a
// customer record (about 600 bytes each) into a new PostgreSQL database
// per iteration, and reports rows copied per second.
//
//	FIELDSYNC_REQUIRE_POSTGRES=1 go test -run '^$' -bench BenchmarkRun -benchtime 3x ./storage/migrate/
func BenchmarkRun(b *testing.B) {
	ctx := context.Background()
	lite, creds := seededTB(b)
	const n = 100_000
	if _, err := lite.Writer().ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO records (tenant_id, id, type, version, created_version, owner_id, store_id, region_id, deleted, value, clocks,
			deleted_hlc, deleted_actor, created_hlc, created_actor, hlc, actor, updated_at, seq)
		SELECT r.tenant_id, 'bench-' || n.i, r.type, 1000000 + n.i, 1000000 + n.i, r.owner_id, r.store_id, r.region_id, r.deleted,
			r.value, r.clocks, r.deleted_hlc, r.deleted_actor, r.created_hlc, r.created_actor, r.hlc, r.actor, r.updated_at, 0
		FROM n, records r WHERE r.id = 'demo-ruijin'`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := lite.Writer().ExecContext(ctx, `UPDATE tenant_versions SET version = ? WHERE tenant_id = ?`, 1000000+n, creds.TenantID); err != nil {
		b.Fatal(err)
	}
	var rows int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		pg := openPostgres(b)
		b.StartTimer()
		rep, err := Run(ctx, lite, pg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rows += rep.Rows()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
