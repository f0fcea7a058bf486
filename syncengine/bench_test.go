package syncengine_test

import (
	"context"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// BenchmarkEnginePush measures the engine and SQLite alone (no HTTP): one
// op is a batch of 100 new visits.
func BenchmarkEnginePush(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	b.ResetTimer()
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
}
