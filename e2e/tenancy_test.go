package e2e

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// otherTenant creates a second organisation through SystemService, as an
// operator would, then has its admin add a region and a rep; it returns the
// admin's and the rep's device tokens.
func otherTenant(t *testing.T, e *env) (admin, rep string) {
	t.Helper()
	ctx := context.Background()
	created, err := e.system(e.operatorToken()).CreateTenant(ctx, connect.NewRequest(&fieldsyncv1.CreateTenantRequest{
		Name: "Rival Co.", AdminDisplayName: "Rival Admin",
	}))
	if err != nil {
		t.Fatal(err)
	}
	admin = e.enroll(created.Msg.EnrollmentCode)
	a := e.admin(admin)
	region, err := a.CreateRegion(ctx, connect.NewRequest(&fieldsyncv1.CreateRegionRequest{Name: "North"}))
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{
		DisplayName: "Rival Rep", Role: fieldsyncv1.Role_ROLE_REP, RegionId: region.Msg.Region.Id,
	}))
	if err != nil {
		t.Fatal(err)
	}
	code, err := a.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: u.Msg.User.Id}))
	if err != nil {
		t.Fatal(err)
	}
	return admin, e.enroll(code.Msg.EnrollmentCode)
}

func TestTenantsNeverSeeEachOther(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rivalAdmin, rivalRep := otherTenant(t, e)

	// A record of the demo tenant...
	id := ids.New()
	r, err := pushOne(t, e, e.token("rep"), &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: id,
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: "secret"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: 1 << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("push: %v %v", r, err)
	}
	// ...is invisible to the other tenant, even to its admin.
	for _, tok := range []string{rivalAdmin, rivalRep} {
		res, err := e.sync(tok).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Msg.Records) != 0 {
			t.Fatalf("other tenant pulled %v", res.Msg.Records)
		}
	}
	// Writing the same id from the other tenant touches only its own record.
	r, err = pushOne(t, e, rivalRep, &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: id,
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: "overwrite"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: 2 << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("rival push: %v %v", r, err)
	}
	var v fieldsyncv1.Visit
	if err := pullAll(t, e, e.token("rep"))[id].GetValue().UnmarshalTo(&v); err != nil || v.Notes != "secret" {
		t.Fatalf("demo record changed by another tenant: %v %v", &v, err)
	}
	// Admin calls cannot reach the other tenant's users, devices or keys.
	admin := e.admin(rivalAdmin)
	rep, _ := e.creds.User("rep")
	_, err = admin.RevokeDevice(ctx, connect.NewRequest(&fieldsyncv1.RevokeDeviceRequest{DeviceId: rep.DeviceID}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: rep.UserID}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = admin.CreateStore(ctx, connect.NewRequest(&fieldsyncv1.CreateStoreRequest{Name: "x", RegionId: e.creds.RegionID}))
	wantCode(t, err, connect.CodeNotFound)
	users, err := admin.ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Msg.Users {
		if u.Id == rep.UserID {
			t.Fatal("other tenant lists a demo user")
		}
	}
	conflicts, err := e.sync(rivalAdmin).ListConflicts(ctx, connect.NewRequest(&fieldsyncv1.ListConflictsRequest{}))
	if err != nil || len(conflicts.Msg.Conflicts) != 0 {
		t.Fatalf("conflicts across tenants: %v %v", conflicts, err)
	}
}

func TestOversizedRequestIsResourceExhausted(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	big := strings.Repeat("x", 9<<20) // over the 8 MiB default
	_, err := e.identity("").Enroll(context.Background(), connect.NewRequest(&fieldsyncv1.EnrollRequest{
		EnrollmentCode: "fse_" + big, DeviceName: "phone",
	}))
	wantCode(t, err, connect.CodeResourceExhausted)
	_, err = e.sync(e.token("rep")).Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: ids.New(), Value: anyOf(t, &fieldsyncv1.Visit{Notes: big}),
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: 1 << 16,
	}}}))
	wantCode(t, err, connect.CodeResourceExhausted)
	// Nothing was applied: the device's first seq is still expected.
	r, err := pushOne(t, e, e.token("rep"), &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: ids.New(),
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: "small"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: 1 << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("small push after the refused one: %v %v", r, err)
	}
}

func TestRestartKeepsAllState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, dir)
	ctx := context.Background()
	id := ids.New()
	r, err := pushOne(t, e, e.token("rep"), &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: id,
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: "before restart"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: 1 << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("push: %v %v", r, err)
	}
	creds := e.creds
	e.stop()

	e2 := start(t, dir)
	if e2.creds.AdminToken != creds.AdminToken {
		t.Fatal("the demo was seeded again on restart")
	}
	// The old token works, the record is there, and the replayed seq returns the first result.
	if recs := pullAll(t, e2, creds.Users[1].DeviceToken); recs[id] == nil {
		t.Fatalf("pull after restart: %v", recs)
	}
	again, err := pushOne(t, e2, creds.Users[1].DeviceToken, &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: id,
		Value: anyOf(t, &fieldsyncv1.Visit{Notes: "replayed"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: 1 << 16})
	if err != nil || again.AppliedHlc != r.AppliedHlc || again.Outcome != r.Outcome {
		t.Fatalf("replay after restart: %v, first %v, %v", again, r, err)
	}
	users, err := e2.admin(creds.AdminToken).ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
	if err != nil || len(users.Msg.Users) != len(creds.Users) {
		t.Fatalf("users after restart: %v %v", users, err)
	}
}
