package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/syncengine"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// HistoryBackend is the sync engine as a history import uses it.
type HistoryBackend interface {
	ImportHistory(ctx context.Context, p *syncengine.Principal, requestID string, rows []syncengine.HistoryRow) (*fieldsyncv1.UpsertStockResponse, error)
}

var _ HistoryBackend = (*syncengine.Engine)(nil)

// maxSourceIDLen bounds a history row's source id.
const maxSourceIDLen = 128

// earliestHistory is the earliest event time a history row may carry.
var earliestHistory = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// HistoryRecordID is the record id of a history row: one record per
// tenant, kind ("visit", "diagnosis", "commitment", "opportunity") and
// source id.
func HistoryRecordID(tenantID, kind, sourceID string) string {
	return syncengine.IngestRecordID(tenantID, "history-"+kind, sourceID)
}

// ImportHistory loads past records for an API key holding "history:import".
func (h *integrationHandler) ImportHistory(ctx context.Context, req *connect.Request[fieldsyncv1.ImportHistoryRequest]) (*connect.Response[fieldsyncv1.ImportHistoryResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	hb, ok := h.backend.(HistoryBackend)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this server imports no history"))
	}
	if !p.IsAPIKey() {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("ImportHistory takes an API key with the permission %q, not a device token", syncengine.HistoryPermission))
	}
	rows := make([]syncengine.HistoryRow, len(req.Msg.GetRows()))
	for i, r := range req.Msg.GetRows() {
		rows[i] = HistoryRowOf(p.TenantID, r)
	}
	res, err := hb.ImportHistory(ctx, p, req.Msg.GetRequestId(), rows)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.ImportHistoryResponse{
		Results: res.Results, Replayed: res.Replayed, Applied: res.Applied, Unchanged: res.Unchanged, Rejected: res.Rejected,
	}), nil
}

// HistoryRowOf converts a wire row of tenantID for the engine. A row that
// cannot be written (no source id, no event time, no record) carries its
// reason in Reject, naming the field. It never fails and never panics, for
// any decoded message.
func HistoryRowOf(tenantID string, r *fieldsyncv1.HistoryRow) syncengine.HistoryRow {
	kind, value := historyRecord(r)
	out := syncengine.HistoryRow{Value: value, Field: kind}
	switch id := r.GetSourceId(); {
	case id == "":
		out.Reject = "source_id: required"
	case len(id) > maxSourceIDLen:
		out.Reject = fmt.Sprintf("source_id: at most %d bytes", maxSourceIDLen)
	case r.GetEventTime() == nil:
		out.Reject = "event_time: required"
	case r.GetEventTime().CheckValid() != nil:
		out.Reject = "event_time: not a valid time"
	case r.GetEventTime().AsTime().Before(earliestHistory):
		out.Reject = "event_time: before 2000-01-01"
	case value == nil:
		out.Reject = "record: one of visit, diagnosis, commitment or opportunity is required"
	}
	if out.Reject != "" {
		return out
	}
	out.ID = HistoryRecordID(tenantID, kind, r.GetSourceId())
	out.At = r.GetEventTime().AsTime()
	return out
}

// historyRecord returns the row's record and the name of its field.
func historyRecord(r *fieldsyncv1.HistoryRow) (string, proto.Message) {
	switch rec := r.GetRecord().(type) {
	case *fieldsyncv1.HistoryRow_Visit:
		if rec.Visit != nil {
			return "visit", rec.Visit
		}
	case *fieldsyncv1.HistoryRow_Diagnosis:
		if rec.Diagnosis != nil {
			return "diagnosis", rec.Diagnosis
		}
	case *fieldsyncv1.HistoryRow_Commitment:
		if rec.Commitment != nil {
			return "commitment", rec.Commitment
		}
	case *fieldsyncv1.HistoryRow_Opportunity:
		if rec.Opportunity != nil {
			return "opportunity", rec.Opportunity
		}
	}
	return "record", nil
}

// ImportHistoryStream applies a stream of chunks, each as ImportHistory
// does, and answers their summary.
func (h *integrationHandler) ImportHistoryStream(ctx context.Context, stream *connect.ClientStream[fieldsyncv1.ImportHistoryStreamRequest]) (*connect.Response[fieldsyncv1.ImportHistoryStreamResponse], error) {
	sum, err := sumStream(stream, func(chunk *fieldsyncv1.ImportHistoryStreamRequest) (bulkResult, int, error) {
		res, err := h.ImportHistory(ctx, connect.NewRequest(&fieldsyncv1.ImportHistoryRequest{RequestId: chunk.GetRequestId(), Rows: chunk.GetRows()}))
		if err != nil {
			return nil, 0, err
		}
		return res.Msg, len(chunk.GetRows()), nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fieldsyncv1.ImportHistoryStreamResponse{
		Chunks: sum.chunks, ReplayedChunks: sum.replayed, Applied: sum.applied, Unchanged: sum.unchanged,
		Rejected: sum.rejected, Rejections: sum.rejections,
	}), nil
}

// PhiRecomputer rebuilds a tenant's stored PHI for a date range and
// evaluates the time-based rules over it (insights.Consumer.RecomputeHistory).
type PhiRecomputer interface {
	RecomputeHistory(ctx context.Context, tenantID, fromDate, toDate string) (int, error)
}

// maxRecomputeDays bounds the range of one RecomputePhi call.
const maxRecomputeDays = 366

// RecomputePhi recomputes a tenant's PHI and rules over a date range.
func (h *systemHandler) RecomputePhi(ctx context.Context, req *connect.Request[fieldsyncv1.RecomputePhiRequest]) (*connect.Response[fieldsyncv1.RecomputePhiResponse], error) {
	if h.cfg.System.Phi == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this server runs no insights consumer"))
	}
	m := req.Msg
	from, errFrom := time.Parse(time.DateOnly, m.GetFromDate())
	to, errTo := time.Parse(time.DateOnly, m.GetToDate())
	switch {
	case errFrom != nil:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("from_date: %q is not a date (YYYY-MM-DD)", m.GetFromDate()))
	case errTo != nil:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to_date: %q is not a date (YYYY-MM-DD)", m.GetToDate()))
	case to.Before(from):
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("to_date: before from_date"))
	case to.Sub(from) >= maxRecomputeDays*24*time.Hour:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to_date: the range is longer than %d days", maxRecomputeDays))
	}
	if err := h.knownTenant(ctx, m.GetTenantId()); err != nil {
		return nil, err
	}
	days, err := h.cfg.System.Phi.RecomputeHistory(ctx, m.GetTenantId(), m.GetFromDate(), m.GetToDate())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	h.cfg.Logger.InfoContext(ctx, "PHI recomputed", "tenant", m.GetTenantId(), "from", m.GetFromDate(), "to", m.GetToDate())
	return connect.NewResponse(&fieldsyncv1.RecomputePhiResponse{Days: uint32(days)}), nil
}

// knownTenant answers NotFound for a tenant id the installation lacks.
func (h *systemHandler) knownTenant(ctx context.Context, id string) error {
	ts, err := h.cfg.System.Tenants.ListTenants(ctx)
	if err != nil {
		return toConnect(ctx, h.cfg.Logger, err)
	}
	for _, t := range ts {
		if t.ID == id {
			return nil
		}
	}
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("tenant_id: no tenant %q", id))
}
