package e2e

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Names an admin or a device gives (regions, stores, users, API keys,
// devices) end up in managers' lists, the CLI's tables and the logs: like a
// tenant's name, they must be printable. A name carrying a terminal escape
// or a line break is refused with the field named, nothing is created, and
// an enrollment code a refused Enroll carried can still be used.
func TestNamesAreRefusedWithControlCharacters(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	admin := e.admin(e.creds.AdminToken)
	bad := map[string]string{
		"an escape":             "North\x1b[2J",
		"a newline":             "North\nlevel=ERROR",
		"a lone DEL":            "\x7f",
		"a C1 control":          "North\u0085",
		"blank":                 " \t ",
		"ideographic spaces":    "\u3000\u3000",
		"a NUL":                 "No\x00rth",
		"a control at its end":  "North\x01",
		"a tab inside the name": "North\tSouth",
	}
	calls := map[string]func(name string) error{
		"CreateRegion": func(name string) error {
			_, err := admin.CreateRegion(ctx, connect.NewRequest(&fieldsyncv1.CreateRegionRequest{Name: name}))
			return err
		},
		"CreateStore": func(name string) error {
			_, err := admin.CreateStore(ctx, connect.NewRequest(&fieldsyncv1.CreateStoreRequest{Name: name, RegionId: e.creds.RegionID}))
			return err
		},
		"CreateUser": func(name string) error {
			_, err := admin.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{
				DisplayName: name, Role: fieldsyncv1.Role_ROLE_REP, RegionId: e.creds.RegionID}))
			return err
		},
		"CreateApiKey": func(name string) error {
			_, err := admin.CreateApiKey(ctx, connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{Name: name, Permissions: []string{"records:read"}}))
			return err
		},
	}
	org0, users0, keys0 := e.orgCounts(t)
	for call, do := range calls {
		for what, name := range bad {
			t.Run(call+"/"+what, func(t *testing.T) {
				err := do(name)
				wantCode(t, err, connect.CodeInvalidArgument)
				if !strings.Contains(err.Error(), "name: must contain a non-space character and no control characters") {
					t.Fatalf("error %q does not say which rule", err)
				}
			})
		}
	}
	if org, users, keys := e.orgCounts(t); org != org0 || users != users0 || keys != keys0 {
		t.Fatalf("after refused requests: %d places, %d users, %d keys; want %d, %d, %d", org, users, keys, org0, users0, keys0)
	}

	// Names in any script, with inner spaces, pass.
	for call, do := range calls {
		for _, name := range []string{"华东区 第二店", "Zhang Wei", "Ñandú – Süd", "张\u3000伟"} {
			if err := do(name); err != nil {
				t.Fatalf("%s(%q): %v", call, name, err)
			}
		}
	}

	u, err := admin.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{
		DisplayName: "New Rep", Role: fieldsyncv1.Role_ROLE_REP, RegionId: e.creds.RegionID}))
	if err != nil {
		t.Fatal(err)
	}
	code, err := admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: u.Msg.User.Id}))
	if err != nil {
		t.Fatal(err)
	}
	for what, name := range bad {
		_, err := e.identity("").Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{
			EnrollmentCode: code.Msg.EnrollmentCode, DeviceName: name}))
		wantCode(t, err, connect.CodeInvalidArgument)
		if !strings.Contains(err.Error(), "device_name") {
			t.Fatalf("device name with %s: error %q does not name the field", what, err)
		}
	}
	if _, err := e.identity("").Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{
		EnrollmentCode: code.Msg.EnrollmentCode, DeviceName: "张伟的 iPhone"})); err != nil {
		t.Fatalf("the code after refused enrollments: %v", err)
	}
}

// orgCounts counts the tenant's regions and stores, users and API keys.
func (e *env) orgCounts(t *testing.T) (places, users, keys int) {
	t.Helper()
	ctx := context.Background()
	admin := e.admin(e.creds.AdminToken)
	org, err := admin.GetOrganization(ctx, connect.NewRequest(&fieldsyncv1.GetOrganizationRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	us, err := admin.ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := admin.ListApiKeys(ctx, connect.NewRequest(&fieldsyncv1.ListApiKeysRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return len(org.Msg.Regions) + len(org.Msg.Stores), len(us.Msg.Users), len(ks.Msg.ApiKeys)
}
