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
	IngestStock(ctx context.Context, p *syncengine.Principal, requestID string, rows []*fieldsyncv1.StockRow, regions map[string]bool) (*fieldsyncv1.UpsertStockResponse, error)
}

var _ IntegrationBackend = (*syncengine.Engine)(nil)

type integrationHandler struct {
	cfg     *Config
	backend IntegrationBackend
}

// UpsertStock loads an ERP's stock rows (R8) for an API key holding
// "stock:write".
func (h *integrationHandler) UpsertStock(ctx context.Context, req *connect.Request[fieldsyncv1.UpsertStockRequest]) (*connect.Response[fieldsyncv1.UpsertStockResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsAPIKey() {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New(`UpsertStock takes an API key with the permission "stock:write", not a device token`))
	}
	_, regions, _, err := h.cfg.Identity.GetOrganization(ctx, p.TenantID)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	known := make(map[string]bool, len(regions))
	for _, r := range regions {
		known[r.ID] = true
	}
	res, err := h.backend.IngestStock(ctx, p, req.Msg.GetRequestId(), req.Msg.GetRows(), known)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(res), nil
}
