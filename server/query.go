package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// QueryBackend is what the query service reads besides the registry: the
// change log by selection and where a listing by time starts.
type QueryBackend interface {
	ScanChanges(ctx context.Context, sel syncengine.Selection, after uint64, limit int) (*syncengine.ChangePage, error)
	CursorBounds(ctx context.Context, tenantID string) (purged, latest uint64, err error)
	VersionBefore(ctx context.Context, tenantID, recordType string, t time.Time) (uint64, error)
}

type queryHandler struct {
	cfg *Config
}

const (
	// defaultListPage is a page of ListRecords without page_size;
	// protovalidate bounds page_size to 1000.
	defaultListPage = 100
	// maxPhiExportDays bounds the date range of ExportPhi.
	maxPhiExportDays = 366
)

// integrator refuses callers other than API keys and admin devices: the
// query service is for integrations, not for the field's devices.
func integrator(ctx context.Context) (*syncengine.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsAPIKey() && p.Role != roleAdmin {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("the query service is for API keys and admins"))
	}
	return p, nil
}

func (h *queryHandler) ListRecords(ctx context.Context, req *connect.Request[fieldsyncv1.ListRecordsRequest]) (*connect.Response[fieldsyncv1.ListRecordsResponse], error) {
	p, err := integrator(ctx)
	if err != nil {
		return nil, err
	}
	if p.IsAPIKey() && !p.Can(syncengine.PermRecordsRead) {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("this API key lacks records:read"))
	}
	m := req.Msg
	rt, ok := h.cfg.Sync.Registry().Lookup(m.GetRecordType())
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("record_type: unknown record type %q", m.GetRecordType()))
	}
	after, err := h.listStart(ctx, p.TenantID, m)
	if err != nil {
		return nil, err
	}
	size := int(m.GetPageSize())
	if size == 0 {
		size = defaultListPage
	}
	pg, err := h.cfg.Query.ScanChanges(ctx, typeSelection(p, h.cfg.Sync.Registry(), string(rt.Name)), after, size)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	res := &fieldsyncv1.ListRecordsResponse{NextPageToken: pageToken(string(rt.Name), pg.Through), HasMore: pg.More}
	size = 0
	for _, r := range pg.Rows {
		if r.Exit || r.Record == nil {
			continue // a scope exit: the record is listed where it is now
		}
		if size += len(r.Record.Value); size > h.cfg.MaxMessageBytes && len(res.Records) > 0 {
			// Big records: the page stops short of the send limit (JSON
			// included), after the last record it lists.
			last := res.Records[len(res.Records)-1].Version
			res.NextPageToken, res.HasMore = pageToken(string(rt.Name), last), true
			break
		}
		lr := &fieldsyncv1.ListedRecord{Id: r.RecordID, Version: r.Version, UpdateTime: timestamp(r.Record.UpdatedAt), Deleted: r.Deleted}
		if !r.Deleted {
			// The stored bytes are the value's encoding, as Pull sends them.
			lr.Value = &anypb.Any{TypeUrl: "type.googleapis.com/" + r.Type, Value: r.Record.Value}
		}
		res.Records = append(res.Records, lr)
	}
	return connect.NewResponse(res), nil
}

// typeSelection is the caller's Pull selection (the same visibility policy)
// restricted to one record type, so the scan reads only that type's ranges.
func typeSelection(p *syncengine.Principal, reg *syncengine.Registry, typ string) syncengine.Selection {
	sel := syncengine.FilterFor(p).Select(reg)
	var terms []syncengine.Term
	for _, t := range sel.Terms {
		for _, name := range t.Types {
			if name == typ {
				terms = append(terms, syncengine.Term{Field: t.Field, Value: t.Value, Types: []string{typ}})
			}
		}
	}
	sel.Terms = terms
	return sel
}

// listStart returns the version after which the page starts: the page
// token's, a changed_since's, or 0.
//
// A start below the tenant's purge horizon is refused: the tombstones
// since then are gone, so only a listing from the start is complete.
func (h *queryHandler) listStart(ctx context.Context, tenantID string, m *fieldsyncv1.ListRecordsRequest) (uint64, error) {
	purged, latest, err := h.cfg.Query.CursorBounds(ctx, tenantID)
	if err != nil {
		return 0, toConnect(ctx, h.cfg.Logger, err)
	}
	after, err := h.requestedStart(ctx, tenantID, latest, m)
	if err == nil && after > 0 && after < purged {
		return 0, connect.NewError(connect.CodeFailedPrecondition,
			errors.New("deletions since that point have been purged: list again from the start (no page_token, no changed_since)"))
	}
	return after, err
}

// requestedStart reads the start a request asks for.
func (h *queryHandler) requestedStart(ctx context.Context, tenantID string, latest uint64, m *fieldsyncv1.ListRecordsRequest) (uint64, error) {
	invalid := func(format string, args ...any) (uint64, error) {
		return 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
	}
	switch since := m.GetChangedSince().(type) {
	case nil:
	case *fieldsyncv1.ListRecordsRequest_ChangedSinceTime:
		if m.GetPageToken() != "" {
			return invalid("changed_since_time: give either a page_token or a starting point, not both")
		}
		if err := since.ChangedSinceTime.CheckValid(); err != nil {
			return invalid("changed_since_time: %v", err)
		}
		v, err := h.cfg.Query.VersionBefore(ctx, tenantID, m.GetRecordType(), since.ChangedSinceTime.AsTime())
		if err != nil {
			return 0, toConnect(ctx, h.cfg.Logger, err)
		}
		return v, nil
	case *fieldsyncv1.ListRecordsRequest_ChangedSinceVersion:
		if m.GetPageToken() != "" {
			return invalid("changed_since_version: give either a page_token or a starting point, not both")
		}
		if since.ChangedSinceVersion > latest {
			return invalid("changed_since_version: %d is past the latest version", since.ChangedSinceVersion)
		}
		return since.ChangedSinceVersion, nil
	}
	if m.GetPageToken() == "" {
		return 0, nil
	}
	v, ok := parsePageToken(m.GetPageToken(), m.GetRecordType())
	if !ok || v > latest {
		return invalid("page_token: not a page token of this record type's listing")
	}
	return v, nil
}

// pageToken encodes where a listing of a type stopped, with a checksum so a
// mistyped or edited token is refused rather than read from elsewhere. It
// carries no rights: every page applies the caller's visibility anew.
func pageToken(typ string, through uint64) string {
	body := typ + ":" + strconv.FormatUint(through, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(body + ":" + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 36)))
}

func parsePageToken(token, typ string) (uint64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return 0, false
	}
	body, sum := s[:i], s[i+1:]
	if strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 36) != sum || !strings.HasPrefix(body, typ+":") {
		return 0, false
	}
	v, err := strconv.ParseUint(body[len(typ)+1:], 10, 64)
	return v, err == nil
}

func (h *queryHandler) ExportPhi(ctx context.Context, req *connect.Request[fieldsyncv1.ExportPhiRequest]) (*connect.Response[fieldsyncv1.ExportPhiResponse], error) {
	p, err := integrator(ctx)
	if err != nil {
		return nil, err
	}
	if h.cfg.Insights == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this server keeps no PHI"))
	}
	m := req.Msg
	if err := phiRange(m.GetFromDate(), m.GetToDate()); err != nil {
		return nil, err
	}
	ih := &insightsHandler{cfg: h.cfg}
	if err := ih.authorizePhi(ctx, p, m.GetScopeKind(), m.GetScopeId()); err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	days, err := h.cfg.Insights.PhiSeries(ctx, p.TenantID, m.GetScopeKind(), m.GetScopeId(), m.GetFromDate(), m.GetToDate())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.ExportPhiResponse{Days: days}), nil
}

// phiRange checks an export's dates: real days, in order, at most
// maxPhiExportDays apart.
func phiRange(from, to string) error {
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("from_date: %q is not a YYYY-MM-DD date", from))
	}
	t, err := time.Parse(time.DateOnly, to)
	switch {
	case err != nil:
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to_date: %q is not a YYYY-MM-DD date", to))
	case t.Before(f):
		return connect.NewError(connect.CodeInvalidArgument, errors.New("to_date: before from_date"))
	case t.Sub(f) >= maxPhiExportDays*24*time.Hour:
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to_date: the range spans more than %d days", maxPhiExportDays))
	}
	return nil
}
