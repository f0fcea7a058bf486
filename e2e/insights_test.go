package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

func (e *env) insights(token string) fieldsyncv1connect.InsightsServiceClient {
	return fieldsyncv1connect.NewInsightsServiceClient(httpClient(), e.d.URL(), bearer(token))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func diagnosis(customer, conclusion string, photoByte byte) *fieldsyncv1.Diagnosis {
	return &fieldsyncv1.Diagnosis{
		Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, CustomerId: customer, Conclusion: conclusion,
		VehicleModel: "Audi A4L", Photos: []*fieldsyncv1.PhotoRef{{Sha256: strings.Repeat(string("0123456789abcdef"[photoByte%16]), 64), SizeBytes: 1000}},
	}
}

// TestConflictingDiagnosesReachTheManagersPhoneAsAnAlert goes device push →
// change event on JetStream → alert consumer (A1) → Alert record → the store
// manager's device pulls it; PHI for the store is computed from the same stream.
func TestConflictingDiagnosesReachTheManagersPhoneAsAnAlert(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	staff := e.token("store_staff")
	fields := &fieldmaskpb.FieldMask{Paths: []string{"status", "customer_id", "conclusion", "vehicle_model", "photos"}}
	for i, conclusion := range []string{"worn brake pads", "warped brake discs"} {
		r, err := pushOne(t, e, staff, &fieldsyncv1.Mutation{Seq: uint64(i + 1), RecordType: "fieldsync.v1.Diagnosis", RecordId: ids.New(),
			Value: anyOf(t, diagnosis("cust-huang", conclusion, byte(i))), FieldMask: fields, Hlc: uint64(time.Now().UnixMilli()) << 16})
		if err != nil || r.Outcome != applied {
			t.Fatalf("push diagnosis %d: %v %v", i, r, err)
		}
	}
	manager := e.sync(e.token("store_manager"))
	var alert fieldsyncv1.Alert
	eventually(t, "an A1 alert on the store manager's device", func() bool {
		res, err := manager.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Msg.Records {
			if r.RecordType == "fieldsync.v1.Alert" && r.Value.UnmarshalTo(&alert) == nil && alert.Kind == fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES {
				return true
			}
		}
		return false
	})
	if len(alert.RelatedRecordIds) != 2 || len(alert.Photos) != 2 {
		t.Fatalf("alert should carry both records and their photos: %v", &alert)
	}
	today := time.Now().UTC().Format("2006-01-02")
	var days []*fieldsyncv1.PhiDay
	eventually(t, "PHI for the store", func() bool {
		res, err := e.insights(e.token("store_manager")).GetPhi(ctx, connect.NewRequest(&fieldsyncv1.GetPhiRequest{
			ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, ScopeId: e.creds.StoreID, FromDate: today, ToDate: today}))
		if err != nil {
			t.Fatal(err)
		}
		days = res.Msg.Days
		return len(days) == 1 && days[0].HasKeyAction
	})
	if days[0].KeyActionCompletion != 1 {
		t.Fatalf("two diagnoses submitted at once should be on time: %v", days[0])
	}
	_, err := e.insights(e.token("rep")).GetPhi(ctx, connect.NewRequest(&fieldsyncv1.GetPhiRequest{
		ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, ScopeId: e.creds.StoreID, FromDate: today, ToDate: today}))
	wantCode(t, err, connect.CodePermissionDenied)
}

func TestOperationLogsNeedAGrantThatExpires(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rep, _ := e.creds.User("rep")
	director, _ := e.creds.User("regional_director")
	r, err := pushOne(t, e, rep.DeviceToken, &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.DeviceOperationLog", RecordId: ids.New(),
		Value: anyOf(t, &fieldsyncv1.DeviceOperationLog{FormRecordType: "fieldsync.v1.Visit", Entries: []*fieldsyncv1.OperationEntry{{
			Kind: fieldsyncv1.OperationKind_OPERATION_KIND_REQUIRED_SKIPPED, Field: "core_problem_solved", Count: 1, Time: timestamppb.Now()}}}),
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"form_record_type", "entries"}}, Hlc: uint64(time.Now().UnixMilli()) << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("push log: %v %v", r, err)
	}
	read := func(token string) (*fieldsyncv1.ListOperationLogsResponse, error) {
		res, err := e.insights(token).ListOperationLogs(ctx, connect.NewRequest(&fieldsyncv1.ListOperationLogsRequest{RepUserId: rep.UserID}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	if own, err := read(rep.DeviceToken); err != nil || len(own.Logs) != 1 || own.GrantId != "" {
		t.Fatalf("the rep reads their own log: %v %v", own, err)
	}
	_, err = read(director.DeviceToken)
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = read(e.creds.AdminToken)
	wantCode(t, err, connect.CodePermissionDenied) // not even an admin, without a grant

	grantFor(t, e.d.DB(), e.creds.TenantID, director.UserID, rep.UserID, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	got, err := read(director.DeviceToken)
	if err != nil || len(got.Logs) != 1 || got.GrantId == "" {
		t.Fatalf("the director reads under the grant: %v %v", got, err)
	}
	audit, err := e.insights(rep.DeviceToken).ListAuditEntries(ctx, connect.NewRequest(&fieldsyncv1.ListAuditEntriesRequest{}))
	if err != nil || len(audit.Msg.Entries) != 1 || audit.Msg.Entries[0].ReaderUserId != director.UserID {
		t.Fatalf("the rep sees who read their logs: %v %v", audit, err)
	}

	other, _ := e.creds.User("tech_advisor")
	grantFor(t, e.d.DB(), e.creds.TenantID, other.UserID, rep.UserID, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	_, err = read(other.DeviceToken)
	wantCode(t, err, connect.CodePermissionDenied) // the grant has expired
}

// grantFor creates an access grant the way the A3 rule does.
func grantFor(t *testing.T, db *sqlite.DB, tenant, grantee, subject string, from, until time.Time) {
	t.Helper()
	err := db.InsightsWrite(context.Background(), func(tx insightstore.Tx) error {
		_, err := tx.CreateGrant(tenant, grantee, subject, "test", "test:"+grantee+":"+subject, from, until)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
