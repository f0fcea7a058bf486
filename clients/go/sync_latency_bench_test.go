package fieldsync

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// BenchmarkSyncOverLatency times a field device's everyday Sync: five new
// visits pushed, the changes since its last sync pulled (its own, and a
// marketing device's campaign material every round, so each sync has a
// page to acknowledge), over loopback and over links holding every request
// back 20 and 50 ms. Between syncs (untimed) the device waits for its
// last receipt, as a phone that syncs every few minutes finds it answered.
//
//	go test -run='^$' -bench=SyncOverLatency -benchtime=20x ./clients/go/
func BenchmarkSyncOverLatency(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			e := start(b)
			hc := &http.Client{Transport: benchenv.DelayedTransport{Base: defaultHTTPClient(ProtocolConnect, DefaultConnectTimeout).Transport, Delay: latency}}
			c := e.device(e.token("rep"), WithHTTPClient(hc))
			marketing := e.device(e.token("marketing"))
			ctx := context.Background()
			mustSync(b, c)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for j := range 5 {
					mustPut(b, c, c.NewID(), &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE,
						Notes: fmt.Sprintf("visit %d.%d", i, j), ActionTags: []string{"technical_demo"}})
				}
				mustPut(b, marketing, marketing.NewID(), &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
				mustSync(b, marketing)
				if err := c.WaitAcked(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				mustSync(b, c)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/sync")
		})
	}
}
