package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/internal/datadir"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func init() { commands["tenant"] = runTenant }

// defaultOperatorTokenFile is where fieldsyncd generates its operator token
// when run with the default data dir.
const defaultOperatorTokenFile = datadir.Default + "/" + datadir.OperatorTokenFile

type tenantCall = func(ctx context.Context, s fieldsyncv1connect.SystemServiceClient) (proto.Message, error)

// tenantCommands are the `fieldsync tenant <name>` subcommands; they call
// SystemService with the operator token.
var tenantCommands = map[string]struct {
	help  string
	setup func(fs *flag.FlagSet) tenantCall
}{
	"create": {"create an organisation with its first admin: --name --admin [--ttl 24h]; prints the admin's enrollment code", func(fs *flag.FlagSet) tenantCall {
		name, admin := fs.String("name", "", "organisation name"), fs.String("admin", "", "first admin's display name")
		ttl := fs.Duration("ttl", 24*time.Hour, "how long the admin's enrollment code is valid")
		return func(ctx context.Context, s fieldsyncv1connect.SystemServiceClient) (proto.Message, error) {
			return msg(s.CreateTenant(ctx, connect.NewRequest(&fieldsyncv1.CreateTenantRequest{
				Name: *name, AdminDisplayName: *admin, EnrollmentTtl: durationpb.New(*ttl),
			})))
		}
	}},
	"list": {"list every organisation", func(fs *flag.FlagSet) tenantCall {
		return func(ctx context.Context, s fieldsyncv1connect.SystemServiceClient) (proto.Message, error) {
			return msg(s.ListTenants(ctx, connect.NewRequest(&fieldsyncv1.ListTenantsRequest{})))
		}
	}},
}

func tenantUsage() string {
	help := make(map[string]string, len(tenantCommands))
	for n, c := range tenantCommands {
		help[n] = c.help
	}
	var b strings.Builder
	writeSubcommands(&b, "tenant", help)
	b.WriteString("\nThese calls take the server's operator token, not a device token:\n" +
		"--operator-token-file (env FIELDSYNC_OPERATOR_TOKEN_FILE, default " + defaultOperatorTokenFile + ").\n")
	return b.String()
}

func runTenant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: a subcommand is needed\n%s", errUsage, tenantUsage())
	}
	sub, ok := tenantCommands[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown tenant subcommand %q\n%s", errUsage, args[0], tenantUsage())
	}
	var c conn
	fs := newFlags("tenant "+args[0], stderr)
	fs.StringVar(&c.server, "server", envOr("FIELDSYNC_SERVER", "http://127.0.0.1:8080"), "server base URL (env FIELDSYNC_SERVER)")
	fs.BoolVar(&c.grpc, "grpc", false, "use the gRPC protocol instead of Connect")
	tokenFile := fs.String("operator-token-file", envOr("FIELDSYNC_OPERATOR_TOKEN_FILE", defaultOperatorTokenFile),
		"file with the server's operator token (env FIELDSYNC_OPERATOR_TOKEN_FILE)")
	call := sub.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	b, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	c.token = strings.TrimSpace(string(b))
	m, err := call(ctx, fieldsyncv1connect.NewSystemServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...))
	if err != nil {
		return err
	}
	return printJSON(stdout, m)
}
