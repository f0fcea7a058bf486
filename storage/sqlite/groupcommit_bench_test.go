package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWriteTx: 64 concurrent writers each inserting one small row per
// transaction, with group commit and without. writes/s is the throughput;
// commits/op the COMMITs (each an fsync under synchronous=FULL) per write.
func BenchmarkWriteTx(b *testing.B) {
	for _, grouped := range []bool{true, false} {
		name := map[bool]string{true: "grouped", false: "alone"}[grouped]
		b.Run(name, func(b *testing.B) {
			db := openGC(b)
			db.SetGroupCommit(grouped)
			var next atomic.Int64
			commits := db.gw.stats.commits.Load()
			b.SetParallelism(32) // × GOMAXPROCS goroutines
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := next.Add(1)
					err := db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
						_, err := tx.Exec(`INSERT INTO gc (id, v) VALUES (?, 'x')`, id)
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
			n := float64(db.gw.stats.commits.Load() - commits)
			if !grouped {
				n = float64(b.N)
			}
			b.ReportMetric(n/float64(b.N), "commits/op")
		})
	}
}
