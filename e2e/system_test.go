package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func (e *env) system(token string) fieldsyncv1connect.SystemServiceClient {
	return fieldsyncv1connect.NewSystemServiceClient(http.DefaultClient, e.d.URL(), bearer(token))
}

// operatorToken reads the token fieldsyncd generated into its data dir.
func (e *env) operatorToken() string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, daemon.OperatorTokenFile))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// enroll exchanges an enrollment code for a device token.
func (e *env) enroll(code string) string {
	e.t.Helper()
	res, err := e.identity("").Enroll(context.Background(), connect.NewRequest(&fieldsyncv1.EnrollRequest{EnrollmentCode: code, DeviceName: "phone"}))
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Msg.DeviceToken
}

// lockedBuffer is a log sink safe for the daemon's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestOperatorCreatesATenantWhoseAdminEnrolls(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo = "127.0.0.1:0", t.TempDir(), true
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e := startWith(t, cfg)
	ctx := context.Background()
	op := e.operatorToken()

	fi, err := os.Stat(filepath.Join(e.dir, daemon.OperatorTokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("operator token file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if !strings.Contains(logs.String(), daemon.OperatorTokenFile) || strings.Contains(logs.String(), op) {
		t.Fatalf("the log must name the token's file and never the token:\n%s", logs.String())
	}

	created, err := e.system(op).CreateTenant(ctx, connect.NewRequest(&fieldsyncv1.CreateTenantRequest{
		Name: "  Rival Co. ", AdminDisplayName: "Rival Admin", EnrollmentTtl: durationpb.New(3600e9),
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := created.Msg
	if m.Tenant.Name != "Rival Co." || m.Admin.Role != fieldsyncv1.Role_ROLE_ADMIN || !strings.HasPrefix(m.EnrollmentCode, "fse_") {
		t.Fatalf("create tenant = %v", m)
	}
	if got := m.EnrollmentCodeExpireTime.AsTime().Sub(m.Tenant.CreateTime.AsTime()); got.Hours() != 1 {
		t.Fatalf("code valid for %v, want the 1h asked for", got)
	}
	who, err := e.identity(e.enroll(m.EnrollmentCode)).WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if who.Msg.TenantId != m.Tenant.Id || who.Msg.TenantName != "Rival Co." || who.Msg.Role != fieldsyncv1.Role_ROLE_ADMIN {
		t.Fatalf("the new admin's device: %v", who.Msg)
	}

	// The same name again (case and spaces aside) is refused, and nothing half-made is left.
	_, err = e.system(op).CreateTenant(ctx, connect.NewRequest(&fieldsyncv1.CreateTenantRequest{Name: "rival co.", AdminDisplayName: "Other"}))
	wantCode(t, err, connect.CodeAlreadyExists)
	list, err := e.system(op).ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.Tenants) != 2 || list.Msg.Tenants[1].Id != m.Tenant.Id {
		t.Fatalf("tenants = %v, want the demo and Rival Co.", list.Msg.Tenants)
	}
}

func TestSystemServiceTakesOnlyTheOperatorToken(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	key, err := e.admin(e.creds.AdminToken).CreateApiKey(ctx, connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{Name: "bi", Permissions: []string{"records:read"}}))
	if err != nil {
		t.Fatal(err)
	}
	op := e.operatorToken()
	for _, tc := range []struct {
		name, token string
		want        connect.Code
	}{
		{"no token", "", connect.CodeUnauthenticated},
		{"a tenant admin's device token", e.creds.AdminToken, connect.CodePermissionDenied},
		{"an integrator key", key.Msg.Secret, connect.CodePermissionDenied},
		{"a wrong operator token", op[:len(op)-1] + "x", connect.CodeUnauthenticated},
		{"the operator token with a suffix", op + "x", connect.CodeUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.system(tc.token).ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{}))
			wantCode(t, err, tc.want)
			_, err = e.system(tc.token).CreateTenant(ctx, connect.NewRequest(&fieldsyncv1.CreateTenantRequest{Name: "X", AdminDisplayName: "Y"}))
			wantCode(t, err, tc.want)
		})
	}
	if _, err := e.system(op).ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{})); err != nil {
		t.Fatalf("operator token: %v", err)
	}

	// The operator token is nobody in any tenant.
	_, err = e.identity(op).WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = e.admin(op).ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = e.sync(op).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	refl := grpcreflect.NewClient(&http.Client{Transport: &http.Transport{Protocols: &h2c}}, e.d.URL(), connect.WithGRPC())
	stream := refl.NewStream(ctx, grpcreflect.WithRequestHeaders(http.Header{"Authorization": {"Bearer " + op}}))
	_, err = stream.ListServices()
	stream.Close()
	wantCode(t, err, connect.CodeUnauthenticated)
}

func TestCreateTenantRequestIsValidated(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	sys := e.system(e.operatorToken())
	for _, tc := range []struct {
		name  string
		req   *fieldsyncv1.CreateTenantRequest
		field string
	}{
		{"no name", &fieldsyncv1.CreateTenantRequest{AdminDisplayName: "A"}, "name"},
		{"a blank name", &fieldsyncv1.CreateTenantRequest{Name: "   ", AdminDisplayName: "A"}, "name"},
		{"a name with a newline", &fieldsyncv1.CreateTenantRequest{Name: "Acme\nlevel=ERROR", AdminDisplayName: "A"}, "name: must contain a non-space character and no control characters"},
		// A control character that a pattern's "non-space" part could take (\S matches it): one alone was let through.
		{"a name with one escape", &fieldsyncv1.CreateTenantRequest{Name: "Acme\x1b[31m", AdminDisplayName: "A"}, "name: must contain a non-space character and no control characters"},
		{"a name with one control character at its end", &fieldsyncv1.CreateTenantRequest{Name: "Acme\x01", AdminDisplayName: "A"}, "name"},
		{"a name with a C1 control character", &fieldsyncv1.CreateTenantRequest{Name: "Acme\u0085", AdminDisplayName: "A"}, "name"},
		{"an admin of one control character", &fieldsyncv1.CreateTenantRequest{Name: "N", AdminDisplayName: "\x7f"}, "admin_display_name"},
		{"a blank admin", &fieldsyncv1.CreateTenantRequest{Name: "N", AdminDisplayName: "\t"}, "admin_display_name"},
		{"a name too long", &fieldsyncv1.CreateTenantRequest{Name: strings.Repeat("n", 201), AdminDisplayName: "A"}, "name"},
		{"no admin", &fieldsyncv1.CreateTenantRequest{Name: "N"}, "admin_display_name"},
		{"a code valid too long", &fieldsyncv1.CreateTenantRequest{Name: "N", AdminDisplayName: "A", EnrollmentTtl: durationpb.New(31 * 24 * 3600e9)}, "enrollment_ttl"},
		{"a negative code lifetime", &fieldsyncv1.CreateTenantRequest{Name: "N", AdminDisplayName: "A", EnrollmentTtl: durationpb.New(-1)}, "enrollment_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sys.CreateTenant(ctx, connect.NewRequest(tc.req))
			wantCode(t, err, connect.CodeInvalidArgument)
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
	list, err := sys.ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{}))
	if err != nil || len(list.Msg.Tenants) != 1 {
		t.Fatalf("after refused requests: %v %v, want only the demo tenant", list, err)
	}
}

func TestOperatorTokenFromAFileAndKeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, dir)
	op := e.operatorToken()
	e.stop()
	e = start(t, dir)
	if e.operatorToken() != op {
		t.Fatal("a restart generated a new operator token")
	}
	e.stop()

	file := filepath.Join(t.TempDir(), "op")
	mine := "fso_" + strings.Repeat("k", 40)
	if err := os.WriteFile(file, []byte(mine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel, cfg.OperatorTokenFile = "127.0.0.1:0", dir, true, "warn", file
	e = startWith(t, cfg)
	ctx := context.Background()
	if _, err := e.system(mine).ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{})); err != nil {
		t.Fatalf("token from --operator-token-file: %v", err)
	}
	_, err := e.system(op).ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := daemon.Start(ctx, cfg); err == nil {
		d.Close()
		t.Fatal("fieldsyncd started with a 5-character operator token")
	}
}
