package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/syncengine"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// IntegrationBackend is the sync engine as the integration service uses it.
type IntegrationBackend interface {
	Ingest(ctx context.Context, p *syncengine.Principal, recordType, requestID string, rows []syncengine.IngestRow, regions map[string]bool) (*fieldsyncv1.UpsertStockResponse, error)
}

var _ IntegrationBackend = (*syncengine.Engine)(nil)

type integrationHandler struct {
	cfg     *Config
	backend IntegrationBackend
}

var (
	stockLevelType = string((&fieldsyncv1.StockLevel{}).ProtoReflect().Descriptor().FullName())
	customerType   = string((&fieldsyncv1.Customer{}).ProtoReflect().Descriptor().FullName())
)

// StockRecordID is the StockLevel record id of an ERP's row: one record
// per tenant, terminal and product.
func StockRecordID(tenantID, terminalID, productID string) string {
	return syncengine.IngestRecordID(tenantID, "stock", terminalID, productID)
}

// UpsertStock loads an ERP's stock rows (R8) for an API key holding
// "stock:write". A row's region is its terminal's when the terminal is a
// known Customer.
func (h *integrationHandler) UpsertStock(ctx context.Context, req *connect.Request[fieldsyncv1.UpsertStockRequest]) (*connect.Response[fieldsyncv1.UpsertStockResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsAPIKey() {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New(`UpsertStock takes an API key with the permission "stock:write", not a device token`))
	}
	regions, err := h.regions(ctx, p.TenantID)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	rows := make([]syncengine.IngestRow, len(req.Msg.GetRows()))
	for i, r := range req.Msg.GetRows() {
		rows[i] = syncengine.IngestRow{
			ID: StockRecordID(p.TenantID, r.GetTerminalId(), r.GetProductId()), Value: stockLevel(r),
			RegionFromType: customerType, RegionFromID: r.GetTerminalId(),
		}
	}
	res, err := h.backend.Ingest(ctx, p, stockLevelType, req.Msg.GetRequestId(), rows, regions)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(res), nil
}

func (h *integrationHandler) regions(ctx context.Context, tenantID string) (map[string]bool, error) {
	_, regions, _, err := h.cfg.Identity.GetOrganization(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(regions))
	for _, r := range regions {
		known[r.ID] = true
	}
	return known, nil
}

func stockLevel(r *fieldsyncv1.StockRow) *fieldsyncv1.StockLevel {
	return &fieldsyncv1.StockLevel{
		RegionId: r.GetRegionId(), TerminalId: r.GetTerminalId(), ProductId: r.GetProductId(),
		OnHand: r.GetOnHand(), SafetyStock: r.GetSafetyStock(),
		HistoricalPurchasePriceCents: r.GetHistoricalPurchasePriceCents(),
		AgreementPriceCents:          r.GetAgreementPriceCents(), Currency: r.GetCurrency(),
	}
}

// maxStreamRejections bounds the rejected rows a stream's summary lists.
const maxStreamRejections = 1000

// UpsertStockStream applies a stream of chunks, each as UpsertStock does,
// and answers their summary.
func (h *integrationHandler) UpsertStockStream(ctx context.Context, stream *connect.ClientStream[fieldsyncv1.UpsertStockStreamRequest]) (*connect.Response[fieldsyncv1.UpsertStockStreamResponse], error) {
	sum, err := sumStream(stream, func(chunk *fieldsyncv1.UpsertStockStreamRequest) (bulkResult, int, error) {
		res, err := h.UpsertStock(ctx, connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: chunk.GetRequestId(), Rows: chunk.GetRows()}))
		if err != nil {
			return nil, 0, err
		}
		return res.Msg, len(chunk.GetRows()), nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fieldsyncv1.UpsertStockStreamResponse{
		Chunks: sum.chunks, ReplayedChunks: sum.replayed, Applied: sum.applied, Unchanged: sum.unchanged,
		Rejected: sum.rejected, Rejections: sum.rejections,
	}), nil
}

// bulkResult is a bulk call's answer for one chunk (UpsertStockResponse,
// ImportHistoryResponse).
type bulkResult interface {
	GetResults() []*fieldsyncv1.RowResult
	GetReplayed() bool
	GetApplied() uint32
	GetUnchanged() uint32
	GetRejected() uint32
}

// streamSummary sums the answers to a client stream's chunks.
type streamSummary struct {
	chunks, replayed             uint32
	applied, unchanged, rejected uint64
	// rejections are the rejected rows (at most maxStreamRejections), their
	// index counted from the stream's first row.
	rejections []*fieldsyncv1.RowResult
}

// sumStream applies each chunk the stream sends with apply, which answers
// it as the unary call does (and says how many rows it had), and sums the
// answers. An error of apply or of
// the stream ends it.
func sumStream[Req any](stream *connect.ClientStream[Req], apply func(*Req) (res bulkResult, rows int, err error)) (*streamSummary, error) {
	sum := &streamSummary{}
	var offset uint32
	for stream.Receive() {
		chunk := stream.Msg()
		r, rows, err := apply(chunk)
		if err != nil {
			return nil, err
		}
		sum.chunks++
		if r.GetReplayed() {
			sum.replayed++
		}
		sum.applied += uint64(r.GetApplied())
		sum.unchanged += uint64(r.GetUnchanged())
		sum.rejected += uint64(r.GetRejected())
		for _, row := range r.GetResults() {
			if row.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED && len(sum.rejections) < maxStreamRejections {
				row.Index += offset
				sum.rejections = append(sum.rejections, row)
			}
		}
		offset += uint32(rows)
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return sum, nil
}
