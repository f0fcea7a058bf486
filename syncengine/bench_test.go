package syncengine_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// BenchmarkEnginePush measures the engine and SQLite alone (no HTTP): one
// op is a batch of 100 new visits. cpu_us/mut is the process's CPU time per
// mutation (building the batches included), which a busy machine does not
// inflate as it does the wall-time rate.
func BenchmarkEnginePush(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	b.ResetTimer()
	cpu := benchenv.CPUTime()
	for i := 0; i < b.N; i++ {
		muts := make([]syncengine.Mutation, 100)
		for j := range muts {
			muts[j] = w.mut("rep", newID(), &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1",
				Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}},
				"kind", "customer_id", "notes", "action_tags")
		}
		if _, err := w.e.Push(ctx, w.p["rep"], muts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "mut/s")
	b.ReportMetric(float64((benchenv.CPUTime()-cpu).Microseconds())/float64(b.N*100), "cpu_us/mut")
	benchenv.ReportLoad(b)
}

// BenchmarkEnginePullAll measures a first sync from the engine alone: one op
// pulls 20,000 visits in pages of 1,000 from an empty cursor.
func BenchmarkEnginePullAll(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	const total = 20000
	for done := 0; done < total; done += 500 {
		muts := make([]syncengine.Mutation, 500)
		for j := range muts {
			muts[j] = w.mut("rep", newID(), &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1",
				Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}},
				"kind", "customer_id", "notes", "action_tags")
		}
		if _, err := w.e.Push(ctx, w.p["rep"], muts); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, cursor := 0, ""
		for {
			res, err := w.e.Pull(ctx, w.p["rep"], cursor, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(res.Records)
			if cursor = res.NextCursor; !res.HasMore {
				break
			}
		}
		if n != total {
			b.Fatalf("pulled %d records, want %d", n, total)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "records/s")
	benchenv.ReportLoad(b)
}
