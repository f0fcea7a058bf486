package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protojson"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	rectypes "github.com/fieldsync/fieldsync/records"
)

// `fieldsync admin rebate set|list`: rebate rules (A7) are synced records,
// so these write and read them as a device of an admin or marketing user
// would, through a local store (--db) that syncs at once. A device token,
// not an API key: the store numbers the pushes of its device.

// defaultAdminDB is where `fieldsync admin rebate` keeps its local store.
const defaultAdminDB = "./fieldsync-admin.db"

const adminRebateUsage = `usage: fieldsync admin rebate <subcommand> [flags]

subcommands:
  set   write a rule and sync it: --file rule.json (protobuf JSON of fieldsync.v1.RebateRule) [--id ID]
  list  sync, then list the rules this user holds

Both take --db (default ` + defaultAdminDB + `), --server, --token (an admin's or marketing user's
device token) and --grpc.`

func runAdminRebate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "set" && args[0] != "list") {
		return fmt.Errorf("%w: %s", errUsage, adminRebateUsage)
	}
	flags := deviceFlags{db: defaultAdminDB, server: envOr("FIELDSYNC_SERVER", "http://127.0.0.1:8080"), token: os.Getenv("FIELDSYNC_TOKEN")}
	fs := newFlags("admin rebate "+args[0], stderr)
	flags.register(fs)
	file, id := fs.String("file", "", "the rule as protobuf JSON"), fs.String("id", "", "record id of the rule (default: a new one)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 || (args[0] == "set" && *file == "") {
		return fmt.Errorf("%w: %s", errUsage, adminRebateUsage)
	}
	if flags.token == "" {
		return errors.New("no token: pass --token or set FIELDSYNC_TOKEN")
	}
	c, err := flags.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if args[0] == "set" {
		return setRebateRule(ctx, c, *file, *id, stdout)
	}
	if err := c.Sync(ctx); err != nil {
		return err
	}
	return listRebateRules(ctx, c, stdout)
}

// setRebateRule writes the rule of file, syncs, and prints it; a rule the
// server refuses is an error quoting its reason (naming the field).
func setRebateRule(ctx context.Context, c *fieldsync.Client, file, id string, out io.Writer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	rule := &fieldsyncv1.RebateRule{}
	if err := protojson.Unmarshal(b, rule); err != nil {
		return fmt.Errorf("%s: not a RebateRule in protobuf JSON: %w", file, err)
	}
	if id == "" {
		id = c.NewID()
	}
	if err := c.Put(ctx, id, rule); err != nil {
		return err
	}
	if err := c.Sync(ctx); err != nil {
		return err
	}
	rj, err := c.Rejections(ctx)
	if err != nil {
		return err
	}
	for _, r := range rj {
		if r.RecordID == id {
			return fmt.Errorf("rebate rule %s refused: %s", id, r.Reason)
		}
	}
	return printRecord(ctx, c, out, rectypes.RebateRuleType, id)
}

func listRebateRules(ctx context.Context, c *fieldsync.Client, out io.Writer) error {
	list, err := c.List(ctx, rectypes.RebateRuleType)
	if err != nil {
		return err
	}
	recs := []recordJSON{}
	for _, r := range list {
		recs = append(recs, toRecordJSON(r))
	}
	return printJSONValue(out, map[string]any{"rules": recs})
}

// isAdminRebate reports whether `fieldsync admin` args name the rebate
// subcommands.
func isAdminRebate(args []string) bool { return len(args) > 0 && args[0] == "rebate" }
