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
	sum := &fieldsyncv1.UpsertStockStreamResponse{}
	var offset uint32
	for stream.Receive() {
		chunk := stream.Msg()
		res, err := h.UpsertStock(ctx, connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: chunk.GetRequestId(), Rows: chunk.GetRows()}))
		if err != nil {
			return nil, err
		}
		r := res.Msg
		sum.Chunks++
		if r.Replayed {
			sum.ReplayedChunks++
		}
		sum.Applied, sum.Unchanged, sum.Rejected = sum.Applied+uint64(r.Applied), sum.Unchanged+uint64(r.Unchanged), sum.Rejected+uint64(r.Rejected)
		for _, row := range r.Results {
			if row.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED && len(sum.Rejections) < maxStreamRejections {
				row.Index += offset
				sum.Rejections = append(sum.Rejections, row)
			}
		}
		offset += uint32(len(chunk.GetRows()))
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(sum), nil
}
