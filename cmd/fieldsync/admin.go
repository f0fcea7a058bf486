package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// adminCommand is one `fieldsync admin <name>` subcommand: it adds its
// flags to fs and returns the call to make once they are parsed.
type adminCommand struct {
	help  string
	setup func(fs *flag.FlagSet) func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error)
}

// adminTables print some subcommands' answers as a table for people
// (--table) instead of JSON.
var adminTables = map[string]func(w io.Writer, m proto.Message, now time.Time) error{
	"devices": printDevices,
}

var adminCommands = map[string]adminCommand{
	"org": {"show the organisation's regions and stores", func(fs *flag.FlagSet) adminCall {
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.GetOrganization(ctx, connect.NewRequest(&fieldsyncv1.GetOrganizationRequest{})))
		}
	}},
	"region-create": {"create a region: --name", func(fs *flag.FlagSet) adminCall {
		name := fs.String("name", "", "region name")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.CreateRegion(ctx, connect.NewRequest(&fieldsyncv1.CreateRegionRequest{Name: *name})))
		}
	}},
	"store-create": {"create a store: --name --region", func(fs *flag.FlagSet) adminCall {
		name, region := fs.String("name", "", "store name"), fs.String("region", "", "region id")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.CreateStore(ctx, connect.NewRequest(&fieldsyncv1.CreateStoreRequest{Name: *name, RegionId: *region})))
		}
	}},
	"users": {"list users", func(fs *flag.FlagSet) adminCall {
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{})))
		}
	}},
	"user-create": {"create a user: --name --role [--region] [--store]", func(fs *flag.FlagSet) adminCall {
		name, role := fs.String("name", "", "display name"), fs.String("role", "", "rep, store_staff, store_manager, regional_director, tech_advisor, marketing or admin")
		region, store := fs.String("region", "", "region id"), fs.String("store", "", "store id")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			r, err := parseRole(*role)
			if err != nil {
				return nil, err
			}
			return msg(a.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{DisplayName: *name, Role: r, RegionId: *region, StoreId: *store})))
		}
	}},
	"enroll-code": {"issue a one-time enrollment code: --user [--ttl 24h]", func(fs *flag.FlagSet) adminCall {
		user, ttl := fs.String("user", "", "user id"), fs.Duration("ttl", 24*time.Hour, "how long the code is valid")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: *user, Ttl: durationpb.New(*ttl)})))
		}
	}},
	"devices": {"list devices and their sync status: [--user] [--table]", func(fs *flag.FlagSet) adminCall {
		user := fs.String("user", "", "only this user's devices")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.ListDevices(ctx, connect.NewRequest(&fieldsyncv1.ListDevicesRequest{UserId: *user})))
		}
	}},
	"device-revoke": {"revoke a device's token: --device", func(fs *flag.FlagSet) adminCall {
		device := fs.String("device", "", "device id")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.RevokeDevice(ctx, connect.NewRequest(&fieldsyncv1.RevokeDeviceRequest{DeviceId: *device})))
		}
	}},
	"keys": {"list integrator API keys", func(fs *flag.FlagSet) adminCall {
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.ListApiKeys(ctx, connect.NewRequest(&fieldsyncv1.ListApiKeysRequest{})))
		}
	}},
	"key-create": {"create an integrator key: --name --perms stock:write,records:read", func(fs *flag.FlagSet) adminCall {
		name, perms := fs.String("name", "", "key name"), fs.String("perms", "", "comma-separated permissions")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.CreateApiKey(ctx, connect.NewRequest(&fieldsyncv1.CreateApiKeyRequest{Name: *name, Permissions: splitList(*perms)})))
		}
	}},
	"insights-config": {"show the tenant's PHI and alert-rule configuration; --set FILE replaces it (JSON)", func(fs *flag.FlagSet) adminCall {
		set := fs.String("set", "", "a JSON file with the new configuration (fields left out keep their defaults)")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			if *set == "" {
				return msg(a.GetInsightsConfig(ctx, connect.NewRequest(&fieldsyncv1.GetInsightsConfigRequest{})))
			}
			b, err := os.ReadFile(*set)
			if err != nil {
				return nil, err
			}
			return msg(a.SetInsightsConfig(ctx, connect.NewRequest(&fieldsyncv1.SetInsightsConfigRequest{ConfigJson: string(b)})))
		}
	}},
	"key-revoke": {"revoke an integrator key: --key", func(fs *flag.FlagSet) adminCall {
		key := fs.String("key", "", "API key id")
		return func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error) {
			return msg(a.RevokeApiKey(ctx, connect.NewRequest(&fieldsyncv1.RevokeApiKeyRequest{ApiKeyId: *key})))
		}
	}},
}

type adminCall = func(ctx context.Context, a fieldsyncv1connect.AdminServiceClient) (proto.Message, error)

// msg unwraps a Connect response.
func msg[T any](res *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return any(res.Msg).(proto.Message), nil
}

// writeSubcommands writes a command's usage line and its subcommands, sorted.
func writeSubcommands(b *strings.Builder, command string, help map[string]string) {
	names := make([]string, 0, len(help))
	width := 0
	for n := range help {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	fmt.Fprintf(b, "usage: fieldsync %s <subcommand> [flags]\n\nsubcommands:\n", command)
	for _, n := range names {
		fmt.Fprintf(b, "  %-*s %s\n", width+1, n, help[n])
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseRole(s string) (fieldsyncv1.Role, error) {
	v, ok := fieldsyncv1.Role_value["ROLE_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("--role %q: want rep, store_staff, store_manager, regional_director, tech_advisor, marketing or admin", s)
	}
	return fieldsyncv1.Role(v), nil
}

func adminUsage() string {
	help := make(map[string]string, len(adminCommands))
	for n, c := range adminCommands {
		help[n] = c.help
	}
	var b strings.Builder
	help["rebate"] = "rebate rules (A7): rebate set --file rule.json | rebate list (see fieldsync admin rebate)"
	writeSubcommands(&b, "admin", help)
	return b.String()
}

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: a subcommand is needed\n%s", errUsage, adminUsage())
	}
	if isAdminRebate(args) {
		return runAdminRebate(ctx, args[1:], stdout, stderr)
	}
	sub, ok := adminCommands[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown admin subcommand %q\n%s", errUsage, args[0], adminUsage())
	}
	var c conn
	fs := newFlags("admin "+args[0], stderr)
	c.register(fs)
	call := sub.setup(fs)
	table := new(bool)
	if adminTables[args[0]] != nil {
		table = fs.Bool("table", false, "print a table instead of JSON")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := c.needToken(); err != nil {
		return err
	}
	m, err := call(ctx, c.admin())
	if err != nil {
		return err
	}
	if *table {
		return adminTables[args[0]](stdout, m, time.Now())
	}
	if cj, ok := m.(interface{ GetConfigJson() string }); ok {
		return printRawJSON(stdout, cj.GetConfigJson())
	}
	return printJSON(stdout, m)
}

// printRawJSON prints a JSON document the server sent as a string,
// indented, rather than as an escaped string inside a message.
func printRawJSON(w io.Writer, doc string) error {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(doc), "", "  "); err != nil {
		return fmt.Errorf("the server's JSON: %w", err)
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}
