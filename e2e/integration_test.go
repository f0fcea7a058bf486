package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

func (e *env) integration(token string) fieldsyncv1connect.IntegrationServiceClient {
	return fieldsyncv1connect.NewIntegrationServiceClient(http.DefaultClient, e.d.URL(), bearer(token))
}

func stockRows(n int, region string) []*fieldsyncv1.StockRow {
	rows := make([]*fieldsyncv1.StockRow, n)
	for i := range rows {
		rows[i] = &fieldsyncv1.StockRow{TerminalId: fmt.Sprintf("h%d", i%7), ProductId: fmt.Sprintf("p%d", i),
			RegionId: region, OnHand: int64(100 + i), SafetyStock: 10, AgreementPriceCents: 1234, Currency: "EUR"}
	}
	return rows
}

func upsert(t *testing.T, e *env, token, requestID string, rows []*fieldsyncv1.StockRow) *fieldsyncv1.UpsertStockResponse {
	t.Helper()
	res, err := e.integration(token).UpsertStock(context.Background(), connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: requestID, Rows: rows}))
	if err != nil {
		t.Fatalf("UpsertStock %s: %v", requestID, err)
	}
	return res.Msg
}

// stockVersions pulls as the director and returns each StockLevel's version.
func stockVersions(t *testing.T, e *env) map[string]uint64 {
	out := map[string]uint64{}
	for id, r := range ofType(pullAll(t, e, e.token("regional_director")), "fieldsync.v1.StockLevel") {
		out[id] = r.Version
	}
	return out
}

func TestUpsertStockIsIdempotentAndReplaysByRequestID(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	key := e.creds.IntegratorKey
	rows := stockRows(50, e.creds.RegionID)
	first := upsert(t, e, key, "batch-1", rows)
	if first.Applied != 50 || first.Replayed {
		t.Fatalf("first load: %+v", first)
	}
	if want := server.StockRecordID(e.creds.TenantID, "h0", "p0"); first.Results[0].RecordId != want {
		t.Errorf("record id %s, want %s", first.Results[0].RecordId, want)
	}
	before := stockVersions(t, e)
	for _, r := range first.Results {
		if before[r.RecordId] == 0 {
			t.Fatalf("the director does not pull %s", r.RecordId)
		}
	}
	// The same rows under a new request id: nothing changes.
	second := upsert(t, e, key, "batch-2", rows)
	if second.Unchanged != 50 || second.Applied != 0 {
		t.Fatalf("second load: applied %d unchanged %d", second.Applied, second.Unchanged)
	}
	after := stockVersions(t, e)
	for id, v := range before {
		if after[id] != v {
			t.Errorf("%s: version %d became %d on an identical load", id, v, after[id])
		}
	}
	// A retry of batch-1 (even with other rows) returns its stored results.
	rows[0].OnHand = 1
	retry := upsert(t, e, key, "batch-1", rows)
	if !retry.Replayed || retry.Applied != 50 {
		t.Fatalf("retry: %+v", retry)
	}
	if got := stockVersions(t, e); got[first.Results[0].RecordId] != before[first.Results[0].RecordId] {
		t.Errorf("a replayed request wrote again")
	}
	// A row repeated within a call is written once.
	dup := []*fieldsyncv1.StockRow{proto.Clone(rows[1]).(*fieldsyncv1.StockRow), proto.Clone(rows[1]).(*fieldsyncv1.StockRow)}
	dup[0].OnHand, dup[1].OnHand = 7, 7
	if res := upsert(t, e, key, "dup", dup); res.Applied != 1 || res.Unchanged != 1 {
		t.Errorf("a row repeated in a call: applied %d unchanged %d", res.Applied, res.Unchanged)
	}
	rows[1].OnHand = 7
	// A changed row under a new id is applied alone.
	third := upsert(t, e, key, "batch-3", rows)
	if third.Applied != 1 || third.Unchanged != 49 {
		t.Errorf("third load: applied %d unchanged %d", third.Applied, third.Unchanged)
	}
}

func TestUpsertStockAuthorisationAndBadInput(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rows := stockRows(1, e.creds.RegionID)
	for _, role := range []string{"admin", "rep"} {
		_, err := e.integration(e.token(role)).UpsertStock(ctx, connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: "r", Rows: rows}))
		wantCode(t, err, connect.CodePermissionDenied)
	}
	k, err := e.admin(e.token("admin")).CreateApiKey(ctx, connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{Name: "reader", Permissions: []string{"records:read"}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.integration(k.Msg.Secret).UpsertStock(ctx, connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: "r", Rows: rows}))
	wantCode(t, err, connect.CodePermissionDenied)
	if err == nil || !strings.Contains(err.Error(), "stock:write") {
		t.Errorf("refusal does not name the permission: %v", err)
	}
	key := e.creds.IntegratorKey
	_, err = e.integration(key).UpsertStock(ctx, connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: "r",
		Rows: []*fieldsyncv1.StockRow{{TerminalId: "h1", ProductId: "p1", RegionId: e.creds.RegionID, OnHand: -1}}}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if err == nil || !strings.Contains(err.Error(), "rows[0].on_hand") {
		t.Errorf("error does not name rows[0].on_hand: %v", err)
	}
	_, err = e.integration(key).UpsertStock(ctx, connect.NewRequest(&fieldsyncv1.UpsertStockRequest{RequestId: "r", Rows: stockRows(5001, e.creds.RegionID)}))
	wantCode(t, err, connect.CodeInvalidArgument)
	res := upsert(t, e, key, "regions", []*fieldsyncv1.StockRow{
		{TerminalId: "h1", ProductId: "p1"},
		{TerminalId: "h1", ProductId: "p2", RegionId: "nowhere"},
		{TerminalId: "h1", ProductId: "p3", RegionId: e.creds.RegionID},
	})
	if res.Rejected != 2 || res.Applied != 1 || !strings.HasPrefix(res.Results[0].Reason, "rows[0].region_id:") ||
		!strings.HasPrefix(res.Results[1].Reason, "rows[1].region_id:") {
		t.Errorf("region checks: %+v", res)
	}
}

func TestUpsertStockBelowSafetyRaisesA2ForTheRep(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	mustPush(t, e.d, rep.DeviceToken, "hosp-1", &fieldsyncv1.Customer{Name: "St Mary", AssignedRepId: rep.UserID, RegionId: e.creds.RegionID},
		"name", "assigned_rep_id", "region_id")
	res := upsert(t, e, e.creds.IntegratorKey, "low", []*fieldsyncv1.StockRow{{TerminalId: "hosp-1", ProductId: "stent", OnHand: 2, SafetyStock: 5}})
	if res.Applied != 1 {
		t.Fatalf("load: %+v", res)
	}
	if _, ok := ofType(pullAll(t, e, rep.DeviceToken), "fieldsync.v1.StockLevel")[res.Results[0].RecordId]; !ok {
		t.Errorf("the rep does not pull the stock level of their region")
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, a := range alertsOf(t, e.d, rep.DeviceToken) {
			if a.Kind == fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT && strings.Contains(a.Title, "stent") {
				return
			}
		}
	}
	t.Fatal("no replenishment alert reached the rep")
}

func TestStockIDsAreReservedForStockLevels(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	rep, _ := e.creds.User("rep")
	id := server.StockRecordID(e.creds.TenantID, "h1", "p1")
	r := pushAs(t, e.d, rep.DeviceToken, id, &fieldsyncv1.Visit{Notes: "squat"}, "notes")
	if r.Outcome != rejectedOutcome || !strings.HasPrefix(r.Reason, "record_id:") {
		t.Fatalf("a visit under a stock id: %v", r)
	}
	if res := upsert(t, e, e.creds.IntegratorKey, "r", []*fieldsyncv1.StockRow{{TerminalId: "h1", ProductId: "p1", RegionId: e.creds.RegionID}}); res.Applied != 1 {
		t.Errorf("load after the squat attempt: %+v", res)
	}
}

func TestUpsertStockStreamSummarisesAndReplays(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	send := func(token string) (*fieldsyncv1.UpsertStockStreamResponse, error) {
		stream := e.integration(token).UpsertStockStream(context.Background())
		all := stockRows(30, e.creds.RegionID)
		all[17].RegionId = "nowhere"
		for c := 0; c < 3; c++ {
			if err := stream.Send(&fieldsyncv1.UpsertStockStreamRequest{RequestId: fmt.Sprintf("load-%d", c), Rows: all[c*10 : c*10+10]}); err != nil {
				break // the server answered early: CloseAndReceive has its error
			}
		}
		res, err := stream.CloseAndReceive()
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	first, err := send(e.creds.IntegratorKey)
	if err != nil {
		t.Fatal(err)
	}
	if first.Chunks != 3 || first.Applied != 29 || first.Rejected != 1 || first.Rejections[0].Index != 17 ||
		!strings.HasPrefix(first.Rejections[0].Reason, "rows[7].region_id:") {
		t.Fatalf("first stream: %+v", first)
	}
	again, err := send(e.creds.IntegratorKey)
	if err != nil || again.ReplayedChunks != 3 || again.Applied != 29 {
		t.Fatalf("resent stream: %+v, %v", again, err)
	}
	_, err = send(e.token("admin"))
	wantCode(t, err, connect.CodePermissionDenied)
}
