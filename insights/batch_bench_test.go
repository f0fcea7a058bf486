package insights

import (
	"fmt"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// BenchmarkHandleBatchSpread is the daemon's consumer as the end-to-end
// benchmark drives it (e2e BenchmarkEventsEndToEnd): batches of 100 new
// visits, one rep, spread over 50 customers, so that a batch's progress
// rows land on many pages of their table. It reports the process's CPU
// time per event.
//
//	go test ./insights/ -run '^$' -bench HandleBatchSpread -benchtime 200x
func BenchmarkHandleBatchSpread(b *testing.B) {
	e := newEnv(b)
	const size, customers = 100, 50
	rep := e.visit("bob", "", benchStart) // the rep's scope, read once
	i := 0
	cpu := benchenv.CPUTime()
	for b.Loop() {
		evs := make([]*fieldsyncv1.ChangeEvent, size)
		for j := range evs {
			commit := benchStart.Add(time.Duration(i) * time.Second)
			v := &fieldsyncv1.Visit{Status: submitted, OwnerUserId: rep.OwnerUserId, RegionId: rep.RegionId, StoreId: rep.StoreId,
				CustomerId: fmt.Sprintf("cust-%d", i%customers), VisitTime: ts(commit.Add(-time.Hour)),
				Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, ActionTags: []string{"technical_demo"}}
			evs[j] = e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, fmt.Sprintf("v%08d", i), v, commit, commit)
			i++
		}
		must(b, e.c.HandleBatch(e.ctx, evs))
	}
	b.ReportMetric(float64((benchenv.CPUTime()-cpu).Microseconds())/float64(i), "cpu_us/event")
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
	benchenv.ReportLoad(b)
}
