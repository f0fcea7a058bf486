package server

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// InsightsBackend is what the insights service reads: PHI series, access
// grants and their audit trail, and the records read under a grant.
type InsightsBackend interface {
	PhiSeries(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error)
	ActiveGrant(ctx context.Context, tenantID, granteeUserID, subjectUserID string, now time.Time) (*fieldsyncv1.AccessGrant, error)
	RecordAudit(ctx context.Context, tenantID, grantID, readerUserID, subjectUserID string, recordsRead int64, readTime time.Time) (*fieldsyncv1.AuditEntry, error)
	ListGrants(ctx context.Context, tenantID, granteeUserID string) ([]*fieldsyncv1.AccessGrant, error)
	ListAudit(ctx context.Context, tenantID, subjectUserID string) ([]*fieldsyncv1.AuditEntry, error)
	RecordsByOwner(ctx context.Context, tenantID, recordType, ownerID string, limit int) ([]*syncengine.StoredRecord, error)
}

type insightsHandler struct {
	cfg *Config
}

const operationLogType = "fieldsync.v1.DeviceOperationLog"

// operationLogs is the R11 record type: sensitive, so the visibility policy
// lets only its owner read it; others need an A3 grant (grantFor).
func operationLogs() *syncengine.RecordType {
	rt, _ := syncengine.DefaultRegistry().Lookup(operationLogType)
	return rt
}

func (h *insightsHandler) GetPhi(ctx context.Context, req *connect.Request[fieldsyncv1.GetPhiRequest]) (*connect.Response[fieldsyncv1.GetPhiResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := h.authorizePhi(ctx, p, m.GetScopeKind(), m.GetScopeId()); err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	days, err := h.cfg.Insights.PhiSeries(ctx, p.TenantID, m.GetScopeKind(), m.GetScopeId(), m.GetFromDate(), m.GetToDate())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.GetPhiResponse{Days: days}), nil
}

// authorizePhi lets a caller read the PHI of a place its visibility filter
// covers (syncengine.Filter.CoversPlace): a rep their own, a store's staff
// and manager their store's and its people's, a director or tech advisor
// their region's (and its stores' and people's), admins everything; keys
// need insights:read. An unknown id is refused like one out of scope.
func (h *insightsHandler) authorizePhi(ctx context.Context, p *syncengine.Principal, kind fieldsyncv1.ScopeKind, id string) error {
	if p.IsAPIKey() {
		if p.Can("insights:read") {
			return nil
		}
		return syncengine.Errorf(syncengine.CodePermissionDenied, "this API key lacks insights:read")
	}
	place, err := h.placeOf(ctx, p.TenantID, kind, id)
	if err != nil {
		return err
	}
	if !syncengine.FilterFor(p).CoversPlace(place) {
		return syncengine.Errorf(syncengine.CodePermissionDenied, "the PHI of %s %s is outside your scope", kind, id)
	}
	return nil
}

// placeOf returns where a PHI scope lies: a region; a store and its region;
// a user, with the user's store and region. Unknown ids have no place.
func (h *insightsHandler) placeOf(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, id string) (syncengine.Scope, error) {
	switch kind {
	case fieldsyncv1.ScopeKind_SCOPE_KIND_REGION:
		return syncengine.Scope{Region: id}, nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_STORE:
		_, _, stores, err := h.cfg.Identity.GetOrganization(ctx, tenantID)
		if err != nil {
			return syncengine.Scope{}, err
		}
		for _, s := range stores {
			if s.ID == id {
				return syncengine.Scope{Store: s.ID, Region: s.RegionID}, nil
			}
		}
		return syncengine.Scope{}, nil
	default:
		u, err := h.cfg.Identity.GetUser(ctx, tenantID, id)
		if syncengine.IsCode(err, syncengine.CodeNotFound) {
			return syncengine.Scope{}, nil
		}
		if err != nil {
			return syncengine.Scope{}, err
		}
		return syncengine.Scope{Owner: u.ID, Store: u.StoreID, Region: u.RegionID}, nil
	}
}

func (h *insightsHandler) ListOperationLogs(ctx context.Context, req *connect.Request[fieldsyncv1.ListOperationLogsRequest]) (*connect.Response[fieldsyncv1.ListOperationLogsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	subject := req.Msg.GetRepUserId()
	res := &fieldsyncv1.ListOperationLogsResponse{}
	now := time.Now()
	if !syncengine.CanRead(p, operationLogs(), syncengine.Scope{Owner: subject}) {
		grant, err := h.grantFor(ctx, p, subject, now)
		if err != nil {
			return nil, toConnect(ctx, h.cfg.Logger, err)
		}
		res.GrantId = grant.GetId()
	}
	limit := int(req.Msg.GetLimit())
	if limit == 0 {
		limit = 100
	}
	recs, err := h.cfg.Insights.RecordsByOwner(ctx, p.TenantID, operationLogType, subject, limit)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	for _, r := range recs {
		b, err := proto.Marshal(r.State.Value)
		if err != nil {
			return nil, toConnect(ctx, h.cfg.Logger, err)
		}
		res.Logs = append(res.Logs, &fieldsyncv1.OperationLogView{RecordId: r.ID, Value: b, UpdateTime: timestamp(r.UpdatedAt)})
	}
	if res.GrantId != "" {
		// Every read under a grant is audited; an expired grant fails here too.
		if _, err := h.cfg.Insights.RecordAudit(ctx, p.TenantID, res.GrantId, p.UserID, subject, int64(len(res.Logs)), now); err != nil {
			return nil, toConnect(ctx, h.cfg.Logger, err)
		}
	}
	return connect.NewResponse(res), nil
}

// grantFor returns the caller's active grant to read subject's logs.
func (h *insightsHandler) grantFor(ctx context.Context, p *syncengine.Principal, subject string, now time.Time) (*fieldsyncv1.AccessGrant, error) {
	if !p.IsDevice() {
		return nil, syncengine.Errorf(syncengine.CodePermissionDenied, "device operation logs are readable only by their rep or under an access grant")
	}
	g, err := h.cfg.Insights.ActiveGrant(ctx, p.TenantID, p.UserID, subject, now)
	if err != nil || g == nil {
		return nil, syncengine.Errorf(syncengine.CodePermissionDenied, "no active access grant to read the operation logs of user %s", subject)
	}
	return g, nil
}

func (h *insightsHandler) ListAccessGrants(ctx context.Context, _ *connect.Request[fieldsyncv1.ListAccessGrantsRequest]) (*connect.Response[fieldsyncv1.ListAccessGrantsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsDevice() {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("access grants are listed for users only"))
	}
	grantee := p.UserID
	if p.Role == roleAdmin {
		grantee = ""
	}
	gs, err := h.cfg.Insights.ListGrants(ctx, p.TenantID, grantee)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.ListAccessGrantsResponse{Grants: gs}), nil
}

func (h *insightsHandler) ListAuditEntries(ctx context.Context, req *connect.Request[fieldsyncv1.ListAuditEntriesRequest]) (*connect.Response[fieldsyncv1.ListAuditEntriesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	subject := req.Msg.GetSubjectUserId()
	switch {
	case p.IsDevice() && p.Role == roleAdmin:
	case p.IsDevice() && (subject == "" || subject == p.UserID):
		subject = p.UserID // a rep reads who read their logs
	default:
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("audit entries are for admins and for the user they are about"))
	}
	es, err := h.cfg.Insights.ListAudit(ctx, p.TenantID, subject)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.ListAuditEntriesResponse{Entries: es}), nil
}
