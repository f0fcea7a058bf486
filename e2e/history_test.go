package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

func historyVisit(id, rep string, at time.Time) *fieldsyncv1.HistoryRow {
	return &fieldsyncv1.HistoryRow{SourceId: id, EventTime: timestamppb.New(at.Add(time.Hour)), Record: &fieldsyncv1.HistoryRow_Visit{Visit: &fieldsyncv1.Visit{
		Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, OwnerUserId: rep, CustomerId: "demo-ruijin",
		VisitTime: timestamppb.New(at), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, ActionTags: []string{"technical_demo"}}}}
}

func historyVisits(n int, rep string, first time.Time) []*fieldsyncv1.HistoryRow {
	rows := make([]*fieldsyncv1.HistoryRow, n)
	for i := range rows {
		rows[i] = historyVisit(fmt.Sprintf("V%d", i), rep, first.Add(time.Duration(i)*time.Hour))
	}
	return rows
}

func importHistory(t *testing.T, e *env, token, requestID string, rows []*fieldsyncv1.HistoryRow) (*fieldsyncv1.ImportHistoryResponse, error) {
	t.Helper()
	res, err := e.integration(token).ImportHistory(context.Background(), connect.NewRequest(&fieldsyncv1.ImportHistoryRequest{RequestId: requestID, Rows: rows}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// TestImportHistoryPlacesRecordsOnTheirDayAndIsIdempotent imports past
// visits: the rep's device pulls them placed in the customer's region,
// PHI counts them on their own day, and a re-run changes nothing.
func TestImportHistoryPlacesRecordsOnTheirDayAndIsIdempotent(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	first := time.Now().UTC().AddDate(0, 0, -20).Truncate(24 * time.Hour).Add(8 * time.Hour)
	rows := historyVisits(10, rep.UserID, first)
	res, err := importHistory(t, e, e.creds.IntegratorKey, "h-1", rows)
	if err != nil || res.Applied != 10 || res.Replayed {
		t.Fatalf("first import: %v %v", res, err)
	}
	if want := server.HistoryRecordID(e.creds.TenantID, "visit", "V0"); res.Results[0].RecordId != want {
		t.Errorf("record id %s, want %s", res.Results[0].RecordId, want)
	}
	pulled := ofType(pullAll(t, e, rep.DeviceToken), "fieldsync.v1.Visit")
	v := &fieldsyncv1.Visit{}
	if r := pulled[res.Results[0].RecordId]; r == nil || r.Value.UnmarshalTo(v) != nil || v.RegionId != e.creds.RegionID {
		t.Fatalf("the rep pulls %v (%v), want the visit in region %s", r, v, e.creds.RegionID)
	}
	versions := map[string]uint64{}
	for id, r := range pulled {
		versions[id] = r.Version
	}

	again, err := importHistory(t, e, e.creds.IntegratorKey, "h-2", rows)
	if err != nil || again.Unchanged != 10 || again.Applied != 0 {
		t.Fatalf("re-run: %v %v", again, err)
	}
	replay, err := importHistory(t, e, e.creds.IntegratorKey, "h-1", rows[:1])
	if err != nil || !replay.Replayed || replay.Applied != 10 {
		t.Fatalf("a retried request id should return its stored results: %v %v", replay, err)
	}
	for id, r := range ofType(pullAll(t, e, rep.DeviceToken), "fieldsync.v1.Visit") {
		if versions[id] != r.Version {
			t.Errorf("%s: version %d became %d on a re-run", id, versions[id], r.Version)
		}
	}

	date := first.Format(time.DateOnly)
	eventually(t, "PHI on the visits' day", func() bool {
		res, err := e.insights(e.creds.AdminToken).GetPhi(context.Background(), connect.NewRequest(&fieldsyncv1.GetPhiRequest{
			ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REP, ScopeId: rep.UserID, FromDate: date, ToDate: date}))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Msg.Days) == 1 && res.Msg.Days[0].HasKeyAction && res.Msg.Days[0].KeyActionCompletion == 1
	})
}

// TestImportHistoryReportsTheFrozenFieldsItKept re-imports a submitted
// visit whose frozen fields changed in the source: the record keeps what
// was submitted, and the row's result says so, naming each kept field,
// instead of reporting the row applied as sent.
func TestImportHistoryReportsTheFrozenFieldsItKept(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	at := time.Now().UTC().AddDate(0, 0, -5)
	first := historyVisit("V0", rep.UserID, at)
	if res, err := importHistory(t, e, e.creds.IntegratorKey, "h-1", []*fieldsyncv1.HistoryRow{first}); err != nil || res.Applied != 1 {
		t.Fatalf("first import: %v %v", res, err)
	}

	frozenOnly := historyVisit("V0", rep.UserID, at)
	frozenOnly.GetVisit().Kind = fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT
	res, err := importHistory(t, e, e.creds.IntegratorKey, "h-2", []*fieldsyncv1.HistoryRow{frozenOnly})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Results[0]; r.Outcome != fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED || !slices.Equal(r.KeptFields, []string{"kind"}) ||
		!strings.Contains(r.Reason, "rows[0].visit.kind: frozen after submit") {
		t.Errorf("a re-import changing only a frozen field: %v, want rejected keeping kind", r)
	}

	mixed := historyVisit("V0", rep.UserID, at)
	mixed.GetVisit().Kind = fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT
	mixed.GetVisit().Notes = "corrected in the ERP"
	if res, err = importHistory(t, e, e.creds.IntegratorKey, "h-3", []*fieldsyncv1.HistoryRow{mixed}); err != nil {
		t.Fatal(err)
	}
	if r := res.Results[0]; r.Outcome != fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED || !slices.Equal(r.KeptFields, []string{"kind"}) ||
		!strings.Contains(r.Reason, "rows[0].visit.kind: frozen after submit") || res.Applied != 1 {
		t.Errorf("a re-import changing notes and a frozen field: %v, want applied keeping kind", r)
	}
	v := &fieldsyncv1.Visit{}
	if r := ofType(pullAll(t, e, e.creds.AdminToken), "fieldsync.v1.Visit")[res.Results[0].RecordId]; r == nil || r.Value.UnmarshalTo(v) != nil ||
		v.Kind != first.GetVisit().Kind || v.Notes != "corrected in the ERP" {
		t.Errorf("stored %v, want the submitted kind and the new notes", v)
	}

	// The same changed row again: the kept field is still reported, the
	// notes are already there.
	if res, err = importHistory(t, e, e.creds.IntegratorKey, "h-4", []*fieldsyncv1.HistoryRow{mixed}); err != nil {
		t.Fatal(err)
	}
	if r := res.Results[0]; r.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED || !slices.Equal(r.KeptFields, []string{"kind"}) {
		t.Errorf("the same changed row again: %v, want not applied, keeping kind", r)
	}
}

// TestImportHistoryNeedsTheNamedPermission refuses device tokens (an
// admin's too) and keys without "history:import".
func TestImportHistoryNeedsTheNamedPermission(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	key, err := e.admin(e.creds.AdminToken).CreateApiKey(context.Background(), connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{
		Name: "stock only", Permissions: []string{"stock:write", "records:read"}}))
	if err != nil {
		t.Fatal(err)
	}
	rows := historyVisits(1, "", time.Now().Add(-time.Hour*48))
	for name, token := range map[string]string{
		"a rep's device": e.token("rep"), "an admin's device": e.creds.AdminToken, "a key without history:import": key.Msg.Secret,
	} {
		_, err := importHistory(t, e, token, "x", rows)
		if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), syncengine.HistoryPermission) {
			t.Errorf("%s: %v, want PermissionDenied naming %s", name, err, syncengine.HistoryPermission)
		}
	}
}

// TestImportHistoryRejectsBadRowsAlone rejects each bad row with a reason
// naming its field and applies the others; a rejected row writes nothing.
func TestImportHistoryRejectsBadRowsAlone(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	past := time.Now().UTC().AddDate(0, 0, -3)
	good := historyVisit("ok", rep.UserID, past)
	noCustomer := historyVisit("no-customer", rep.UserID, past)
	noCustomer.GetVisit().CustomerId = ""
	badTag := historyVisit("bad-tag", rep.UserID, past)
	badTag.GetVisit().ActionTags = []string{"Not A Tag"}
	future := historyVisit("future", rep.UserID, time.Now().Add(time.Hour))
	noTime := historyVisit("no-time", rep.UserID, past)
	noTime.EventTime = nil
	serverOnly := historyVisit("server-only", rep.UserID, past)
	serverOnly.GetVisit().HighValue = true
	cases := []struct {
		row  *fieldsyncv1.HistoryRow
		want string // in the reason; "" for applied
	}{
		{good, ""},
		{noCustomer, "rows[1].visit.customer_id is required"},
		{badTag, "rows[2].visit.action_tags"},
		{future, "rows[3].event_time"},
		{noTime, "rows[4].event_time: required"},
		{&fieldsyncv1.HistoryRow{SourceId: "empty", EventTime: timestamppb.New(past)}, "rows[5].record: one of"},
		{historyVisit("", rep.UserID, past), "rows[6].source_id: required"},
		{historyVisit(strings.Repeat("x", 129), rep.UserID, past), "rows[7].source_id"},
		{serverOnly, "rows[8].visit.field \"high_value\""},
		{&fieldsyncv1.HistoryRow{SourceId: "commitment", EventTime: timestamppb.New(past), Record: &fieldsyncv1.HistoryRow_Commitment{
			Commitment: &fieldsyncv1.Commitment{OwnerUserId: "nobody", CustomerId: "demo-ruijin", Description: "call back"}}}, "rows[9].commitment.owner_user_id"},
	}
	rows := make([]*fieldsyncv1.HistoryRow, len(cases))
	for i, c := range cases {
		rows[i] = c.row
	}
	res, err := importHistory(t, e, e.creds.IntegratorKey, "bad", rows)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		r := res.Results[i]
		switch {
		case c.want == "" && r.Outcome != fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED:
			t.Errorf("row %d: %v %s, want applied", i, r.Outcome, r.Reason)
		case c.want != "" && (r.Outcome != fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED || !strings.Contains(r.Reason, c.want)):
			t.Errorf("row %d: %v %q, want rejected with %q", i, r.Outcome, r.Reason, c.want)
		}
	}
	visits := ofType(pullAll(t, e, e.creds.AdminToken), "fieldsync.v1.Visit")
	for i, r := range res.Results {
		if _, there := visits[r.RecordId]; there != (i == 0) {
			t.Errorf("row %d (%s): stored %v", i, r.Reason, there)
		}
	}
}

// TestImportedIDsAreReservedForTheImport refuses a device's write to the
// id of a history row, before and after the import.
func TestImportedIDsAreReservedForTheImport(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	id := server.HistoryRecordID(e.creds.TenantID, "visit", "V0")
	push := func(seq uint64) {
		t.Helper()
		r, err := pushOne(t, e, rep.DeviceToken, &fieldsyncv1.Mutation{Seq: seq, RecordType: "fieldsync.v1.Visit", RecordId: id,
			Value: anyOf(t, &fieldsyncv1.Visit{Notes: "squatted"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: uint64(time.Now().UnixMilli()) << 16})
		if err != nil || r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED {
			t.Fatalf("a device's write to %s: %v %v, want rejected", id, r, err)
		}
	}
	push(1)
	if _, err := importHistory(t, e, e.creds.IntegratorKey, ids.New(), historyVisits(1, rep.UserID, time.Now().Add(-48*time.Hour))); err != nil {
		t.Fatal(err)
	}
	push(2)
}

// TestImportHistoryStreamSumsItsChunks sends two chunks on a client
// stream: the summary counts both, and a rejection's index counts rows
// across the stream.
func TestImportHistoryStreamSumsItsChunks(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	rows := historyVisits(6, rep.UserID, time.Now().UTC().AddDate(0, 0, -5))
	rows[4].GetVisit().CustomerId = ""
	stream := e.integration(e.creds.IntegratorKey).ImportHistoryStream(context.Background())
	for i, chunk := range [][]*fieldsyncv1.HistoryRow{rows[:3], rows[3:]} {
		if err := stream.Send(&fieldsyncv1.ImportHistoryStreamRequest{RequestId: fmt.Sprint("s-", i), Rows: chunk}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		t.Fatal(err)
	}
	s := res.Msg
	if s.Chunks != 2 || s.Applied != 5 || s.Rejected != 1 || len(s.Rejections) != 1 || s.Rejections[0].Index != 4 ||
		!strings.Contains(s.Rejections[0].Reason, "customer_id") {
		t.Fatalf("summary: %v", s)
	}
}

// TestRecomputePhiTakesTheOperatorToken refuses tenant credentials and
// answers bad ranges and unknown tenants naming the field.
func TestRecomputePhiTakesTheOperatorToken(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	req := func(tenant, from, to string) *connect.Request[fieldsyncv1.RecomputePhiRequest] {
		return connect.NewRequest(&fieldsyncv1.RecomputePhiRequest{TenantId: tenant, FromDate: from, ToDate: to})
	}
	for name, token := range map[string]string{"an admin's device": e.creds.AdminToken, "an integrator key": e.creds.IntegratorKey} {
		_, err := e.system(token).RecomputePhi(context.Background(), req(e.creds.TenantID, "2026-01-01", "2026-01-02"))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: %v, want PermissionDenied", name, err)
		}
	}
	sys := e.system(e.operatorToken())
	for _, c := range []struct {
		tenant, from, to string
		code             connect.Code
		field            string
	}{
		{e.creds.TenantID, "2026-01-02", "2026-01-01", connect.CodeInvalidArgument, "to_date"},
		{e.creds.TenantID, "2026-02-30", "2026-03-01", connect.CodeInvalidArgument, "from_date"},
		{e.creds.TenantID, "2024-01-01", "2026-01-01", connect.CodeInvalidArgument, "to_date"},
		{"no-such-tenant", "2026-01-01", "2026-01-01", connect.CodeNotFound, "tenant_id"},
	} {
		_, err := sys.RecomputePhi(context.Background(), req(c.tenant, c.from, c.to))
		if connect.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s..%s of %s: %v, want %v naming %s", c.from, c.to, c.tenant, err, c.code, c.field)
		}
	}
	res, err := sys.RecomputePhi(context.Background(), req(e.creds.TenantID, "2026-01-01", "2026-01-31"))
	if err != nil || res.Msg.Days != 31 {
		t.Fatalf("recompute January: %v %v", res, err)
	}
}
