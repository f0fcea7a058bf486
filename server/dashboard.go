package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// DashboardBackend is what the dashboard service reads besides identity:
// the PHI of many places at once and records by id.
type DashboardBackend interface {
	PhiSeriesMany(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeIDs []string, fromDate, toDate string) (map[string][]*fieldsyncv1.PhiDay, error)
	GetRecords(ctx context.Context, tenantID string, ids []string) (map[string]*syncengine.StoredRecord, error)
}

type dashboardHandler struct {
	cfg     *Config
	backend DashboardBackend
}

const (
	// drilldownDays is the default span of a drill-down (30 days with today).
	drilldownDays = 30
	// maxDrilldownDays bounds the span a drill-down may ask for.
	maxDrilldownDays = 92
	// maxCitedRecords bounds the records one alert detail reads.
	maxCitedRecords = 50
	alertType       = "fieldsync.v1.Alert"
	dateLayout      = "2006-01-02"
)

func (h *dashboardHandler) GetPhiDrilldown(ctx context.Context, req *connect.Request[fieldsyncv1.GetPhiDrilldownRequest]) (*connect.Response[fieldsyncv1.GetPhiDrilldownResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	from, to, err := drilldownRange(m.GetFromDate(), m.GetToDate(), time.Now())
	if err != nil {
		return nil, err
	}
	if err := (&insightsHandler{cfg: h.cfg}).authorizePhi(ctx, p, m.GetScopeKind(), m.GetScopeId()); err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	parent, children, err := h.places(ctx, p, m.GetScopeKind(), m.GetScopeId())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	all := append([]*fieldsyncv1.PhiSeries{parent}, children...)
	if err := h.fillSeries(ctx, p.TenantID, all, from, to); err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.GetPhiDrilldownResponse{Parent: parent, Children: children, FromDate: from, ToDate: to}), nil
}

// drilldownRange fills the defaults of a date range (to: today in UTC;
// from: 29 days before to) and checks it, naming the field at fault.
func drilldownRange(from, to string, now time.Time) (string, string, error) {
	toT, fromT := now.UTC(), time.Time{}
	var err error
	if to != "" {
		if toT, err = time.Parse(dateLayout, to); err != nil {
			return "", "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to_date: %q is not a date (YYYY-MM-DD)", to))
		}
	}
	fromT = toT.AddDate(0, 0, -(drilldownDays - 1))
	if from != "" {
		if fromT, err = time.Parse(dateLayout, from); err != nil {
			return "", "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("from_date: %q is not a date (YYYY-MM-DD)", from))
		}
	}
	from, to = fromT.Format(dateLayout), toT.Format(dateLayout)
	switch {
	case from > to:
		return "", "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("from_date: %s is after to_date %s", from, to))
	case toT.Sub(fromT) >= maxDrilldownDays*24*time.Hour:
		return "", "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("from_date: more than %d days before to_date", maxDrilldownDays))
	}
	return from, to, nil
}

// places returns the series (without days) of a region or store and of
// the places one level down that the caller may see: a region's stores
// and the reps working for the region without a store; a store's people.
func (h *dashboardHandler) places(ctx context.Context, p *syncengine.Principal, kind fieldsyncv1.ScopeKind, id string) (*fieldsyncv1.PhiSeries, []*fieldsyncv1.PhiSeries, error) {
	_, regions, stores, err := h.cfg.Identity.GetOrganization(ctx, p.TenantID)
	if err != nil {
		return nil, nil, err
	}
	users, err := h.cfg.Identity.ListUsers(ctx, p.TenantID)
	if err != nil {
		return nil, nil, err
	}
	visible := func(sc syncengine.Scope) bool { return p.IsAPIKey() || syncengine.FilterFor(p).CoversPlace(sc) }
	var parent *fieldsyncv1.PhiSeries
	var kids, people []*fieldsyncv1.PhiSeries
	if kind == fieldsyncv1.ScopeKind_SCOPE_KIND_REGION {
		if i := slices.IndexFunc(regions, func(r syncengine.Region) bool { return r.ID == id }); i >= 0 {
			parent = &fieldsyncv1.PhiSeries{ScopeKind: kind, ScopeId: id, Name: regions[i].Name}
		}
		for _, s := range stores {
			if s.RegionID == id && visible(syncengine.Scope{Store: s.ID, Region: s.RegionID}) {
				kids = append(kids, &fieldsyncv1.PhiSeries{ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, ScopeId: s.ID, Name: s.Name})
			}
		}
	} else if i := slices.IndexFunc(stores, func(s syncengine.Shop) bool { return s.ID == id }); i >= 0 {
		parent = &fieldsyncv1.PhiSeries{ScopeKind: kind, ScopeId: id, Name: stores[i].Name}
	}
	if parent == nil {
		return nil, nil, syncengine.Errorf(syncengine.CodeNotFound, "scope_id: no %s %s", kind, id)
	}
	for _, u := range users {
		inStore := kind == fieldsyncv1.ScopeKind_SCOPE_KIND_STORE && u.StoreID == id
		regionRep := kind == fieldsyncv1.ScopeKind_SCOPE_KIND_REGION && u.RegionID == id && u.StoreID == "" && u.Role == fieldsyncv1.Role_ROLE_REP
		if (inStore || regionRep) && visible(syncengine.Scope{Owner: u.ID, Store: u.StoreID, Region: u.RegionID}) {
			people = append(people, &fieldsyncv1.PhiSeries{ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REP, ScopeId: u.ID, Name: u.DisplayName, Role: u.Role})
		}
	}
	byName := func(a, b *fieldsyncv1.PhiSeries) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ScopeId, b.ScopeId))
	}
	slices.SortFunc(kids, byName)
	slices.SortFunc(people, byName)
	return parent, append(kids, people...), nil
}

// fillSeries reads the days of every series, one query per scope kind.
func (h *dashboardHandler) fillSeries(ctx context.Context, tenantID string, series []*fieldsyncv1.PhiSeries, from, to string) error {
	ids := map[fieldsyncv1.ScopeKind][]string{}
	for _, s := range series {
		ids[s.ScopeKind] = append(ids[s.ScopeKind], s.ScopeId)
	}
	days := map[fieldsyncv1.ScopeKind]map[string][]*fieldsyncv1.PhiDay{}
	for kind, list := range ids {
		d, err := h.backend.PhiSeriesMany(ctx, tenantID, kind, list, from, to)
		if err != nil {
			return err
		}
		days[kind] = d
	}
	for _, s := range series {
		s.Days = days[s.ScopeKind][s.ScopeId]
	}
	return nil
}

func (h *dashboardHandler) GetAlertDetail(ctx context.Context, req *connect.Request[fieldsyncv1.GetAlertDetailRequest]) (*connect.Response[fieldsyncv1.GetAlertDetailResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := req.Msg.GetAlertId()
	rec, err := h.readable(ctx, p, id)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	if rec.Type != alertType {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("alert_id: record %s is a %s, not an alert", id, rec.Type))
	}
	alert := &fieldsyncv1.Alert{}
	if err := asAlert(rec.State.Value, alert); err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	res := &fieldsyncv1.GetAlertDetailResponse{AlertId: id, Alert: alert, UpdateTime: timestamp(rec.UpdatedAt)}
	cited := alert.GetRelatedRecordIds()
	cited = cited[:min(len(cited), maxCitedRecords)]
	recs, err := h.backend.GetRecords(ctx, p.TenantID, cited)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	for _, cid := range cited {
		r := recs[cid]
		if r == nil || !h.canRead(p, r) {
			res.UnavailableRecordIds = append(res.UnavailableRecordIds, cid)
			continue
		}
		c, err := h.cite(r)
		if err != nil {
			return nil, toConnect(ctx, h.cfg.Logger, err)
		}
		res.Records = append(res.Records, c)
	}
	return connect.NewResponse(res), nil
}

// readable returns the live record id if the caller may read it, else
// NotFound: a missing, deleted and hidden record answer alike, so the
// call reveals no record outside the caller's scope (alert ids are
// predictable).
func (h *dashboardHandler) readable(ctx context.Context, p *syncengine.Principal, id string) (*syncengine.StoredRecord, error) {
	recs, err := h.backend.GetRecords(ctx, p.TenantID, []string{id})
	if err != nil {
		return nil, err
	}
	if rec := recs[id]; rec != nil && h.canRead(p, rec) {
		return rec, nil
	}
	return nil, syncengine.Errorf(syncengine.CodeNotFound, "alert_id: no alert %s", id)
}

// canRead applies the visibility policy to a live stored record.
func (h *dashboardHandler) canRead(p *syncengine.Principal, r *syncengine.StoredRecord) bool {
	if r.State == nil || r.State.Deleted() {
		return false
	}
	rt, ok := h.cfg.Sync.Registry().Lookup(r.Type)
	return ok && syncengine.CanRead(p, rt, r.Scope)
}

// cite is a cited record with its photo references, field by field.
func (h *dashboardHandler) cite(r *syncengine.StoredRecord) (*fieldsyncv1.CitedRecord, error) {
	value, err := anypb.New(r.State.Value)
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", r.ID, err)
	}
	c := &fieldsyncv1.CitedRecord{Id: r.ID, RecordType: r.Type, Version: r.Version, UpdateTime: timestamp(r.UpdatedAt), Value: value}
	rt, _ := h.cfg.Sync.Registry().Lookup(r.Type)
	m := r.State.Value.ProtoReflect()
	for _, fd := range rt.PhotoFields {
		if !m.Has(fd) {
			continue
		}
		add := func(v protoreflect.Value) {
			if ref := photoRefOf(fd, v); ref.GetSha256() != "" {
				c.Photos = append(c.Photos, &fieldsyncv1.CitedPhoto{Field: string(fd.Name()), Photo: ref})
			}
		}
		if fd.IsList() {
			for i, list := 0, m.Get(fd).List(); i < list.Len(); i++ {
				add(list.Get(i))
			}
		} else {
			add(m.Get(fd))
		}
	}
	return c, nil
}

// photoRefOf is one value of a photo field as a PhotoRef (a photo_hash
// string field carries the hash alone).
func photoRefOf(fd protoreflect.FieldDescriptor, v protoreflect.Value) *fieldsyncv1.PhotoRef {
	if fd.Message() != nil {
		ref := &fieldsyncv1.PhotoRef{}
		proto.Merge(ref, v.Message().Interface())
		return ref
	}
	return &fieldsyncv1.PhotoRef{Sha256: v.String()}
}

// asAlert copies a stored alert value into alert (the registry may hold
// it as another message type of the same descriptor).
func asAlert(m proto.Message, alert *fieldsyncv1.Alert) error {
	if a, ok := m.(*fieldsyncv1.Alert); ok {
		proto.Merge(alert, a)
		return nil
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	return proto.Unmarshal(b, alert)
}
