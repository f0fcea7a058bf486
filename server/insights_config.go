package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// InsightsConfigStore reads and replaces a tenant's PHI and alert-rule
// configuration as JSON. Set returns CodeInvalid for a bad configuration
// and the stored result (defaults filled in) otherwise.
type InsightsConfigStore interface {
	InsightsConfigJSON(ctx context.Context, tenantID string) ([]byte, error)
	SetInsightsConfigJSON(ctx context.Context, tenantID string, data []byte) ([]byte, error)
}

var errNoInsightsConfig = connect.NewError(connect.CodeUnimplemented, errors.New("this server keeps no insights configuration"))

func (h *adminHandler) GetInsightsConfig(ctx context.Context, _ *connect.Request[fieldsyncv1.GetInsightsConfigRequest]) (*connect.Response[fieldsyncv1.GetInsightsConfigResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if h.cfg.InsightsConfig == nil {
		return nil, errNoInsightsConfig
	}
	b, err := h.cfg.InsightsConfig.InsightsConfigJSON(ctx, p.TenantID)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&fieldsyncv1.GetInsightsConfigResponse{ConfigJson: string(b)}), nil
}

func (h *adminHandler) SetInsightsConfig(ctx context.Context, req *connect.Request[fieldsyncv1.SetInsightsConfigRequest]) (*connect.Response[fieldsyncv1.SetInsightsConfigResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if h.cfg.InsightsConfig == nil {
		return nil, errNoInsightsConfig
	}
	b, err := h.cfg.InsightsConfig.SetInsightsConfigJSON(ctx, p.TenantID, []byte(req.Msg.GetConfigJson()))
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	h.cfg.Logger.InfoContext(ctx, "insights configuration changed", "tenant", p.TenantID, "by", p.UserID)
	return connect.NewResponse(&fieldsyncv1.SetInsightsConfigResponse{ConfigJson: string(b)}), nil
}
