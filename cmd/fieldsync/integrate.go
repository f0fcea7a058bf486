package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func init() { commands["integrate"] = runIntegrate }

const integrateUsage = `usage: fieldsync integrate stock --file stock.csv [--batch 5000] [--request-id ID]

Loads an ERP's stock levels and prices (R8) with an API key holding "stock:write".
The CSV has a header naming its columns: terminal_id, product_id (required),
region_id, on_hand, safety_stock, historical_purchase_price_cents,
agreement_price_cents, currency. Calls carry request ids derived from
--request-id (default: a hash of the file), so re-running a load replays it.`

// stockSummary is what integrate stock prints.
type stockSummary struct {
	Rows       int              `json:"rows"`
	Calls      int              `json:"calls"`
	Replayed   int              `json:"replayed_calls"`
	Applied    uint32           `json:"applied"`
	Unchanged  uint32           `json:"unchanged"`
	Rejected   uint32           `json:"rejected"`
	Rejections []stockRejection `json:"rejections,omitempty"`
}

type stockRejection struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func runIntegrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "stock" {
		return fmt.Errorf("%w: %s", errUsage, integrateUsage)
	}
	var c conn
	fs := newFlags("integrate stock", stderr)
	c.register(fs)
	file := fs.String("file", "", "CSV file of stock rows")
	batch := fs.Int("batch", 5000, "rows per call (at most 5000)")
	requestID := fs.String("request-id", "", "request id prefix (default: a hash of the file)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := c.needToken(); err != nil {
		return err
	}
	if *file == "" || *batch < 1 || *batch > 5000 {
		return fmt.Errorf("%w: --file is required and --batch must be 1..5000\n%s", errUsage, integrateUsage)
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	rows, err := parseStockCSV(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	if *requestID == "" {
		h := sha256.Sum256(data)
		*requestID = hex.EncodeToString(h[:12])
	}
	client := fieldsyncv1connect.NewIntegrationServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...)
	sum, err := loadStock(ctx, client, rows, *batch, *requestID, newLoadBar(stderr, "stock", int64(len(rows))))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}

// loadStock sends rows in calls of batch rows, the request id of call i
// being prefix-i, and sums the results.
func loadStock(ctx context.Context, client fieldsyncv1connect.IntegrationServiceClient, rows []*fieldsyncv1.StockRow, batch int, prefix string, bar *loadBar) (*stockSummary, error) {
	sum := &stockSummary{Rows: len(rows)}
	defer bar.finish()
	for from := 0; from < len(rows); from += batch {
		chunk := rows[from:min(from+batch, len(rows))]
		req := &fieldsyncv1.UpsertStockRequest{RequestId: fmt.Sprintf("%s-%d", prefix, sum.Calls), Rows: chunk}
		res, err := client.UpsertStock(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, fmt.Errorf("rows %d–%d: %w", from, from+len(chunk)-1, err)
		}
		sum.Calls++
		if res.Msg.Replayed {
			sum.Replayed++
		}
		sum.Applied, sum.Unchanged, sum.Rejected = sum.Applied+res.Msg.Applied, sum.Unchanged+res.Msg.Unchanged, sum.Rejected+res.Msg.Rejected
		for _, r := range res.Msg.Results {
			if r.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED {
				// CSV line: the header is line 1.
				sum.Rejections = append(sum.Rejections, stockRejection{Line: from + int(r.Index) + 2, Reason: r.Reason})
			}
		}
		bar.add(int64(len(chunk)))
	}
	return sum, nil
}

// stockColumns are the CSV columns integrate stock reads, by header name.
var stockColumns = map[string]func(r *fieldsyncv1.StockRow, v string) error{
	"terminal_id":                     func(r *fieldsyncv1.StockRow, v string) error { r.TerminalId = v; return nil },
	"product_id":                      func(r *fieldsyncv1.StockRow, v string) error { r.ProductId = v; return nil },
	"region_id":                       func(r *fieldsyncv1.StockRow, v string) error { r.RegionId = v; return nil },
	"currency":                        func(r *fieldsyncv1.StockRow, v string) error { r.Currency = v; return nil },
	"on_hand":                         intColumn(func(r *fieldsyncv1.StockRow, n int64) { r.OnHand = n }),
	"safety_stock":                    intColumn(func(r *fieldsyncv1.StockRow, n int64) { r.SafetyStock = n }),
	"historical_purchase_price_cents": intColumn(func(r *fieldsyncv1.StockRow, n int64) { r.HistoricalPurchasePriceCents = n }),
	"agreement_price_cents":           intColumn(func(r *fieldsyncv1.StockRow, n int64) { r.AgreementPriceCents = n }),
}

func intColumn(set func(*fieldsyncv1.StockRow, int64)) func(*fieldsyncv1.StockRow, string) error {
	return func(r *fieldsyncv1.StockRow, v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		set(r, n)
		return nil
	}
}

// parseStockCSV reads the rows of a stock CSV; an error names the line and
// column.
func parseStockCSV(data []byte) ([]*fieldsyncv1.StockRow, error) {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("empty file: a header line is needed")
	}
	header := recs[0]
	seen := map[string]bool{}
	for _, name := range header {
		if stockColumns[name] == nil {
			return nil, fmt.Errorf("line 1: unknown column %q", name)
		}
		seen[name] = true
	}
	if !seen["terminal_id"] || !seen["product_id"] {
		return nil, errors.New("line 1: the columns terminal_id and product_id are required")
	}
	rows := make([]*fieldsyncv1.StockRow, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		r := &fieldsyncv1.StockRow{}
		for j, v := range rec {
			if err := stockColumns[header[j]](r, v); err != nil {
				return nil, fmt.Errorf("line %d, column %s: %q: %w", i+2, header[j], v, err)
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}
