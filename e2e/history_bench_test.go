package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// BenchmarkImportHistoryVisits imports 20,000 past visits per op (30
// days' worth, one rep, placed by their customer) through
// IntegrationService.ImportHistory in calls of 5,000 over loopback HTTP.
// It reports the import's rate and the rate until the relay and the PHI
// consumer are idle too (every visit counted on its day). Run it once:
// go test ./e2e/ -run '^$' -bench ImportHistoryVisits -benchtime 1x
func BenchmarkImportHistoryVisits(b *testing.B) {
	d, creds := benchEnv(b)
	client := fieldsyncv1connect.NewIntegrationServiceClient(http.DefaultClient, d.URL(), bearer(creds.IntegratorKey))
	rep, _ := creds.User("rep")
	first := time.Now().UTC().AddDate(0, 0, -40)
	const rows, perCall = 20_000, 5_000
	var importTime, idleTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		waitIdle(b, d)
		start := time.Now()
		for c := 0; c < rows/perCall; c++ {
			batch := make([]*fieldsyncv1.HistoryRow, perCall)
			for j := range batch {
				k := c*perCall + j
				batch[j] = historyVisit(fmt.Sprintf("bench-%d-%d", i, k), rep.UserID, first.Add(time.Duration(k)*2*time.Minute))
			}
			res, err := client.ImportHistory(context.Background(), connect.NewRequest(&fieldsyncv1.ImportHistoryRequest{
				RequestId: fmt.Sprintf("bench-%d-%d", i, c), Rows: batch}))
			if err != nil {
				b.Fatal(err)
			}
			if res.Msg.Applied != perCall {
				b.Fatalf("call %d: applied %d of %d", c, res.Msg.Applied, perCall)
			}
		}
		importTime += time.Since(start)
		waitIdle(b, d)
		idleTime += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N * rows)
	b.ReportMetric(n/importTime.Seconds(), "import_rows/s")
	b.ReportMetric(n/idleTime.Seconds(), "with_phi_rows/s")
}
