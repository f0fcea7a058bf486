package e2e

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestHealthAnswersOverConnectAndGRPC(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	for _, grpc := range []bool{false, true} {
		status, err := checkHealth(context.Background(), e.d.URL(), grpc)
		if err != nil {
			t.Fatalf("grpc=%v: %v", grpc, err)
		}
		if status != "SERVING_STATUS_SERVING" && status != "SERVING" {
			t.Fatalf("grpc=%v: status %s", grpc, status)
		}
	}
}

func TestEnrollmentEndToEnd(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	admin := e.admin(e.creds.AdminToken)
	u, err := admin.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{
		DisplayName: "New Rep", Role: fieldsyncv1.Role_ROLE_REP, RegionId: e.creds.RegionID,
	}))
	if err != nil {
		t.Fatal(err)
	}
	code, err := admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: u.Msg.User.Id}))
	if err != nil {
		t.Fatal(err)
	}
	enroll := func() (*connect.Response[fieldsyncv1.EnrollResponse], error) {
		return e.identity("").Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{
			EnrollmentCode: code.Msg.EnrollmentCode, DeviceName: "phone",
		}))
	}
	res, err := enroll()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Msg.DeviceToken, "fsd_") || res.Msg.UserId != u.Msg.User.Id {
		t.Fatalf("enroll = %v", res.Msg)
	}
	_, err = enroll()
	wantCode(t, err, connect.CodeUnauthenticated) // one-time
	who, err := e.identity(res.Msg.DeviceToken).WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if who.Msg.Role != fieldsyncv1.Role_ROLE_REP || who.Msg.DeviceId != res.Msg.DeviceId {
		t.Fatalf("whoami = %v", who.Msg)
	}
}

func TestBadTokensAreUnauthenticated(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	for name, token := range map[string]string{
		"missing":     "",
		"malformed":   "not-a-token",
		"unknown":     "fsd_" + strings.Repeat("a", 52),
		"unknown key": "fsk_" + strings.Repeat("b", 52),
		"overlong":    "fsd_" + strings.Repeat("c", 400),
	} {
		_, err := e.identity(token).WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s token: got %v, want Unauthenticated", name, err)
		}
	}
}

func TestRevokedTokensAreRefused(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	admin := e.admin(e.creds.AdminToken)
	rep, _ := e.creds.User("rep")
	if _, err := admin.RevokeDevice(ctx, connect.NewRequest(&fieldsyncv1.RevokeDeviceRequest{DeviceId: rep.DeviceID})); err != nil {
		t.Fatal(err)
	}
	_, err := e.sync(rep.DeviceToken).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	keys, err := admin.ListApiKeys(ctx, connect.NewRequest(&fieldsyncv1.ListApiKeysRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeApiKey(ctx, connect.NewRequest(&fieldsyncv1.RevokeApiKeyRequest{ApiKeyId: keys.Msg.ApiKeys[0].Id})); err != nil {
		t.Fatal(err)
	}
	_, err = e.identity(e.creds.IntegratorKey).WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

func pushOne(t *testing.T, e *env, token string, m *fieldsyncv1.Mutation) (*fieldsyncv1.MutationResult, error) {
	t.Helper()
	res, err := e.sync(token).Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{m}}))
	if err != nil {
		return nil, err
	}
	return res.Msg.Results[0], nil
}

func TestEachRoleAgainstRepresentativeRPCs(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	roles := []string{"admin", "rep", "regional_director", "tech_advisor", "store_staff", "store_manager", "marketing"}
	// Admin RPCs: only the admin.
	for _, role := range roles {
		_, err := e.admin(e.token(role)).ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
		if role == "admin" && err != nil || role != "admin" && connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s ListUsers: %v", role, err)
		}
	}
	_, err := e.admin(e.creds.IntegratorKey).ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	// Writing record types: allowed by writer_roles / writer_permission, else rejected per mutation.
	cases := []struct {
		who   string
		value *anypb.Any
		mask  string
		want  fieldsyncv1.MutationOutcome
	}{
		{"rep", anyOf(t, &fieldsyncv1.Visit{Notes: "n"}), "notes", applied},
		{"marketing", anyOf(t, &fieldsyncv1.Visit{Notes: "n"}), "notes", rejectedOutcome},
		{"store_staff", anyOf(t, &fieldsyncv1.Diagnosis{VehicleModel: "A4L"}), "vehicle_model", applied},
		{"rep", anyOf(t, &fieldsyncv1.Diagnosis{VehicleModel: "A4L"}), "vehicle_model", rejectedOutcome},
		{"marketing", anyOf(t, &fieldsyncv1.CampaignMaterial{Title: "spring"}), "title", applied},
		{"rep", anyOf(t, &fieldsyncv1.CampaignMaterial{Title: "spring"}), "title", rejectedOutcome},
		{"integrator", anyOf(t, &fieldsyncv1.StockLevel{TerminalId: "h1", ProductId: "p1", RegionId: e.creds.RegionID}), "terminal_id,product_id,region_id", applied},
		{"rep", anyOf(t, &fieldsyncv1.StockLevel{TerminalId: "h1", ProductId: "p1"}), "terminal_id,product_id", rejectedOutcome},
		{"rep", anyOf(t, &fieldsyncv1.Alert{AcknowledgedTime: nil}), "acknowledged_time", rejectedOutcome},
	}
	for i, c := range cases {
		token := e.creds.IntegratorKey
		if c.who != "integrator" {
			token = e.token(c.who)
		}
		r, err := pushOne(t, e, token, &fieldsyncv1.Mutation{
			Seq: nextSeq(token), RecordType: strings.TrimPrefix(c.value.TypeUrl, "type.googleapis.com/"), RecordId: ids.New(),
			Value: c.value, FieldMask: &fieldmaskpb.FieldMask{Paths: strings.Split(c.mask, ",")}, Hlc: uint64(syncengine.MakeHLC(1, 0)),
		})
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, c.who, err)
		}
		if r.Outcome != c.want {
			t.Errorf("case %d: %s writing %s: %v (%s), want %v", i, c.who, c.value.TypeUrl, r.Outcome, r.Reason, c.want)
		}
	}
}
