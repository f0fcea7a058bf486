package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

const visitType = "fieldsync.v1.Visit"

func (e *env) query(token string) fieldsyncv1connect.QueryServiceClient {
	return fieldsyncv1connect.NewQueryServiceClient(http.DefaultClient, e.d.URL(), bearer(token))
}

// pushVisit writes a visit's notes as token and fails the test unless it applies.
func pushVisit(t *testing.T, e *env, token, id, notes string) {
	t.Helper()
	r, err := pushOne(t, e, token, &fieldsyncv1.Mutation{Seq: nextSeq(token), RecordType: visitType, RecordId: id,
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: notes}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}},
		Hlc: uint64(time.Now().UnixMilli()) << 16})
	if err != nil || (r.Outcome != applied && r.Outcome != merged) {
		t.Fatalf("push %s: %v %v", id, r, err)
	}
}

// listAll pages through a listing with a page size and returns the records
// in the order listed, and the last page's token.
func listAll(t *testing.T, q fieldsyncv1connect.QueryServiceClient, first *fieldsyncv1.ListRecordsRequest) ([]*fieldsyncv1.ListedRecord, string) {
	t.Helper()
	var out []*fieldsyncv1.ListedRecord
	req := first
	for range 1000 {
		res, err := q.ListRecords(context.Background(), connect.NewRequest(req))
		if err != nil {
			t.Fatalf("list records: %v", err)
		}
		out = append(out, res.Msg.Records...)
		if !res.Msg.HasMore {
			return out, res.Msg.NextPageToken
		}
		req = &fieldsyncv1.ListRecordsRequest{RecordType: first.RecordType, PageSize: first.PageSize, PageToken: res.Msg.NextPageToken}
	}
	t.Fatal("listing never ends")
	return nil, ""
}

func recordIDs(recs []*fieldsyncv1.ListedRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Id)
	}
	return out
}

func TestListRecordsPagesInChangeOrder(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rep := e.token("rep")
	var want []string
	for i := range 7 {
		id := ids.New()
		pushVisit(t, e, rep, id, "visit "+string(rune('a'+i)))
		want = append(want, id)
	}
	q := e.query(e.creds.IntegratorKey)
	got, token := listAll(t, q, &fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: 2})
	if !slices.Equal(recordIDs(got), want) {
		t.Fatalf("listed %v, want %v", recordIDs(got), want)
	}
	for i, r := range got {
		if i > 0 && r.Version <= got[i-1].Version {
			t.Fatalf("versions out of order: %v", got)
		}
		var v fieldsyncv1.Visit
		if err := r.Value.UnmarshalTo(&v); err != nil || r.UpdateTime == nil || r.Deleted {
			t.Fatalf("record %s: %v %v", r.Id, r, err)
		}
	}

	// The last token continues the listing: an edited visit comes next, once.
	mark := time.Now()
	pushVisit(t, e, rep, want[1], "revisited")
	r, err := pushOne(t, e, rep, &fieldsyncv1.Mutation{Seq: nextSeq(rep), RecordType: visitType, RecordId: want[3], Delete: true,
		Hlc: uint64(time.Now().UnixMilli()+1) << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("delete: %v %v", r, err)
	}
	changed := []string{want[1], want[3]}
	res, err := q.ListRecords(ctx, connect.NewRequest(&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageToken: token}))
	if err != nil || !slices.Equal(recordIDs(res.Msg.Records), changed) || res.Msg.Records[0].Deleted || !res.Msg.Records[1].Deleted || res.Msg.Records[1].Value != nil {
		t.Fatalf("after the last page: %v %v", res, err)
	}
	// changed_since: by version and by time, only what changed since.
	bySince := map[string]*fieldsyncv1.ListRecordsRequest{
		"version": {RecordType: visitType, ChangedSince: &fieldsyncv1.ListRecordsRequest_ChangedSinceVersion{ChangedSinceVersion: got[len(got)-1].Version}},
		"time":    {RecordType: visitType, ChangedSince: &fieldsyncv1.ListRecordsRequest_ChangedSinceTime{ChangedSinceTime: timestamppb.New(mark.Add(-time.Millisecond))}},
	}
	for name, req := range bySince {
		recs, _ := listAll(t, q, req)
		if !slices.Equal(recordIDs(recs), changed) {
			t.Errorf("changed since %s: %v", name, recordIDs(recs))
		}
	}
	// Once tombstones are purged, a start before them is refused: the
	// listing from the start is complete again, without the deleted visit.
	if _, err := e.d.Store().PurgeTombstones(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = q.ListRecords(ctx, connect.NewRequest(&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageToken: token}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	// An admin device lists the same.
	recs, _ := listAll(t, e.query(e.creds.AdminToken), &fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: 1000})
	if !slices.Equal(recordIDs(recs), []string{want[0], want[2], want[4], want[5], want[6], want[1]}) {
		t.Fatalf("admin listed %v", recordIDs(recs))
	}
}

func TestListRecordsRefusals(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rep := e.token("rep")
	pushVisit(t, e, rep, ids.New(), "one")
	pushVisit(t, e, rep, ids.New(), "two")
	key, err := e.admin(e.creds.AdminToken).CreateApiKey(ctx, connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{Name: "phi only", Permissions: []string{"insights:read"}}))
	if err != nil {
		t.Fatal(err)
	}
	list := &fieldsyncv1.ListRecordsRequest{RecordType: visitType}
	for name, token := range map[string]string{"key without records:read": key.Msg.Secret, "rep": rep, "director": e.token("regional_director")} {
		_, err := e.query(token).ListRecords(ctx, connect.NewRequest(list))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: got %v, want PermissionDenied", name, err)
		}
	}

	q := e.query(e.creds.IntegratorKey)
	first, err := q.ListRecords(ctx, connect.NewRequest(&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: 1}))
	if err != nil || !first.Msg.HasMore {
		t.Fatalf("first page: %v %v", first, err)
	}
	tok := first.Msg.NextPageToken
	// An edited token: the same type and checksum, another version.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	parts := strings.Split(string(raw), ":")
	parts[1] = "1"
	tampered := base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, ":")))
	bad := map[string]struct {
		req   *fieldsyncv1.ListRecordsRequest
		field string
	}{
		"unknown type":    {&fieldsyncv1.ListRecordsRequest{RecordType: "fieldsync.v1.Nope"}, "record_type"},
		"no type":         {&fieldsyncv1.ListRecordsRequest{}, "record_type"},
		"page too big":    {&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: 1001}, "page_size"},
		"negative page":   {&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: -1}, "page_size"},
		"garbage token":   {&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageToken: "not-a-token"}, "page_token"},
		"edited token":    {&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageToken: tampered}, "page_token"},
		"other type":      {&fieldsyncv1.ListRecordsRequest{RecordType: "fieldsync.v1.Customer", PageToken: tok}, "page_token"},
		"token and since": {&fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageToken: tok, ChangedSince: &fieldsyncv1.ListRecordsRequest_ChangedSinceVersion{ChangedSinceVersion: 1}}, "changed_since_version"},
		"future version":  {&fieldsyncv1.ListRecordsRequest{RecordType: visitType, ChangedSince: &fieldsyncv1.ListRecordsRequest_ChangedSinceVersion{ChangedSinceVersion: 1 << 60}}, "changed_since_version"},
	}
	for name, c := range bad {
		_, err := q.ListRecords(ctx, connect.NewRequest(c.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v, want InvalidArgument naming %s", name, err, c.field)
		}
	}
}

func TestListRecordsStaysInTenantAndOffSensitive(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rivalAdmin, rivalRep := otherTenant(t, e)
	mine, theirs := ids.New(), ids.New()
	pushVisit(t, e, e.token("rep"), mine, "demo")
	pushVisit(t, e, rivalRep, theirs, "rival")
	for name, c := range map[string]struct{ token, want string }{
		"demo key": {e.creds.IntegratorKey, mine}, "rival admin": {rivalAdmin, theirs},
	} {
		recs, _ := listAll(t, e.query(c.token), &fieldsyncv1.ListRecordsRequest{RecordType: visitType})
		if !slices.Equal(recordIDs(recs), []string{c.want}) {
			t.Errorf("%s listed %v, want only %s", name, recordIDs(recs), c.want)
		}
	}
	// R11 is readable only by its owner: a key lists none.
	res, err := e.query(e.creds.IntegratorKey).ListRecords(ctx, connect.NewRequest(&fieldsyncv1.ListRecordsRequest{RecordType: "fieldsync.v1.DeviceOperationLog"}))
	if err != nil || len(res.Msg.Records) != 0 {
		t.Fatalf("operation logs: %v %v", res, err)
	}
}

func TestExportPhi(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	key, err := e.admin(e.creds.AdminToken).CreateApiKey(ctx, connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{Name: "records only", Permissions: []string{"records:read"}}))
	if err != nil {
		t.Fatal(err)
	}
	req := func(from, to string) *fieldsyncv1.ExportPhiRequest {
		return &fieldsyncv1.ExportPhiRequest{ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, ScopeId: e.creds.RegionID, FromDate: from, ToDate: to}
	}
	for _, token := range []string{e.creds.IntegratorKey, e.creds.AdminToken} {
		if _, err := e.query(token).ExportPhi(ctx, connect.NewRequest(req("2026-01-01", "2026-12-31"))); err != nil {
			t.Fatalf("export a year: %v", err)
		}
	}
	for name, token := range map[string]string{"key without insights:read": key.Msg.Secret, "rep": e.token("rep")} {
		_, err := e.query(token).ExportPhi(ctx, connect.NewRequest(req("2026-01-01", "2026-01-31")))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: got %v, want PermissionDenied", name, err)
		}
	}
	bad := map[string]struct {
		req   *fieldsyncv1.ExportPhiRequest
		field string
	}{
		"over 366 days": {req("2025-01-01", "2026-01-02"), "to_date"},
		"reversed":      {req("2026-02-01", "2026-01-01"), "to_date"},
		"no such day":   {req("2026-02-30", "2026-03-01"), "from_date"},
		"not a date":    {req("2026/01/01", "2026-03-01"), "from_date"},
		"no scope":      {&fieldsyncv1.ExportPhiRequest{ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, FromDate: "2026-01-01", ToDate: "2026-01-02"}, "scope_id"},
	}
	for name, c := range bad {
		_, err := e.query(e.creds.IntegratorKey).ExportPhi(ctx, connect.NewRequest(c.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v, want InvalidArgument naming %s", name, err, c.field)
		}
	}
}

func TestListRecordsPagesStopShortOfTheMessageLimit(t *testing.T) {
	t.Parallel()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", "", t.TempDir(), true, "warn"
	cfg.MaxMessageBytes = 40_000
	e := startWith(t, cfg)
	rep := e.token("rep")
	var want []string
	for range 5 {
		id := ids.New()
		pushVisit(t, e, rep, id, strings.Repeat("n", 15_000))
		want = append(want, id)
	}
	q := e.query(e.creds.IntegratorKey)
	pages := 0
	var got []string
	req := &fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: 1000}
	for {
		res, err := q.ListRecords(context.Background(), connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, recordIDs(res.Msg.Records)...)
		if !res.Msg.HasMore {
			break
		}
		req = &fieldsyncv1.ListRecordsRequest{RecordType: visitType, PageSize: 1000, PageToken: res.Msg.NextPageToken}
	}
	if !slices.Equal(got, want) || pages < 3 {
		t.Fatalf("%d pages listed %v, want %v over 3 pages or more", pages, got, want)
	}
}
