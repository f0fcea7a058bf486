package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// BenchmarkIngestStockVsBareInsert loads 100,000 new ERP stock rows per op
// through IntegrationService.UpsertStock in calls of 5,000 (real HTTP on
// loopback), after inserting 100,000 equivalent rows in transactions of
// 5,000 in a bare modernc loop with the writer's pragmas on the idle
// daemon; it reports both rates and their ratio. The load's events are
// relayed and consumed (A2) beside it and after it, not waited for: the
// 100k events take longer than the load itself. Run it once:
// go test ./e2e/ -run '^$' -bench IngestStockVsBareInsert -benchtime 1x
func BenchmarkIngestStockVsBareInsert(b *testing.B) {
	d, creds := benchEnv(b)
	client := fieldsyncv1connect.NewIntegrationServiceClient(http.DefaultClient, d.URL(), bearer(creds.IntegratorKey))
	bare := openBare(b)
	const rows, perCall = 100_000, 5_000
	var ingestTime, bareTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		waitIdle(b, d)
		start := time.Now()
		for c := 0; c < rows/perCall; c++ {
			bare.insertStock(b, creds.TenantID, benchStockRows(creds.RegionID, i, c*perCall, perCall))
		}
		bareTime += time.Since(start)
		start = time.Now()
		for c := 0; c < rows/perCall; c++ {
			req := &fieldsyncv1.UpsertStockRequest{RequestId: fmt.Sprintf("bench-%d-%d", i, c), Rows: benchStockRows(creds.RegionID, i, c*perCall, perCall)}
			res, err := client.UpsertStock(context.Background(), connect.NewRequest(req))
			if err != nil {
				b.Fatal(err)
			}
			if res.Msg.Applied != perCall {
				b.Fatalf("call %d: applied %d of %d", c, res.Msg.Applied, perCall)
			}
		}
		ingestTime += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N * rows)
	ingestRate, bareRate := n/ingestTime.Seconds(), n/bareTime.Seconds()
	b.ReportMetric(ingestRate, "ingest_rows/s")
	b.ReportMetric(bareRate, "bare_rows/s")
	b.ReportMetric(ingestRate/bareRate, "ingest/bare")
}

func benchStockRows(region string, op, from, n int) []*fieldsyncv1.StockRow {
	out := make([]*fieldsyncv1.StockRow, n)
	for j := range out {
		k := from + j
		out[j] = &fieldsyncv1.StockRow{TerminalId: fmt.Sprintf("t%d", k%500), ProductId: fmt.Sprintf("p%d-%d", op, k), RegionId: region,
			OnHand: int64(50 + k%100), SafetyStock: 10, HistoricalPurchasePriceCents: 900, AgreementPriceCents: 1000, Currency: "EUR"}
	}
	return out
}

var bareStockVersion int64

// insertStock inserts rows as StockLevel records in one transaction.
func (d *bareDB) insertStock(b *testing.B, tenant string, rows []*fieldsyncv1.StockRow) {
	tx, err := d.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rows {
		bareStockVersion++
		value, _ := proto.Marshal(&fieldsyncv1.StockLevel{RegionId: r.RegionId, TerminalId: r.TerminalId, ProductId: r.ProductId, OnHand: r.OnHand,
			SafetyStock: r.SafetyStock, HistoricalPurchasePriceCents: r.HistoricalPurchasePriceCents, AgreementPriceCents: r.AgreementPriceCents, Currency: r.Currency})
		if _, err := tx.Exec(`INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?)`, tenant, server.StockRecordID(tenant, r.TerminalId, r.ProductId),
			"fieldsync.v1.StockLevel", bareStockVersion, "", r.RegionId, value, bareStockVersion, time.Now().UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
