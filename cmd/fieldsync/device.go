package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

func init() { commands["device"] = runDevice }

// defaultDeviceDB is where `fieldsync device` keeps its local store.
const defaultDeviceDB = "./fieldsync-device.db"

// deviceFlags are the flags every device subcommand takes.
type deviceFlags struct {
	db, server, token string
	grpc              bool
}

// register adds the flags with their current values as defaults.
func (f *deviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db", f.db, "local device database file")
	fs.StringVar(&f.server, "server", f.server, "server base URL (env FIELDSYNC_SERVER)")
	fs.StringVar(&f.token, "token", f.token, "device token (env FIELDSYNC_TOKEN)")
	fs.BoolVar(&f.grpc, "grpc", f.grpc, "use the gRPC protocol instead of Connect")
}

// open opens the device's local store, connected to the server, with
// extra options.
func (f *deviceFlags) open(ctx context.Context, extra ...fieldsync.Option) (*fieldsync.Client, error) {
	opts := []fieldsync.Option{fieldsync.WithServer(strings.TrimSuffix(f.server, "/")), fieldsync.WithToken(f.token)}
	opts = append(opts, extra...)
	if f.grpc {
		opts = append(opts, fieldsync.WithProtocol(fieldsync.ProtocolGRPC))
	}
	return fieldsync.Open(ctx, f.db, opts...)
}

// deviceCommand is one `fieldsync device …` subcommand: it adds its flags
// to fs and returns what to run with the open client once they are parsed.
type deviceCommand struct {
	help  string
	setup func(fs *flag.FlagSet) deviceRun
}

// fileCommand is a `fieldsync device …` subcommand that works on the
// store's file without opening a client (which would refuse the token).
type fileCommand struct {
	help  string
	setup func(fs *flag.FlagSet) fileRun
}

// fileRun runs a subcommand on the store file db.
type fileRun = func(ctx context.Context, db string, out io.Writer) error

var deviceFileCommands = map[string]fileCommand{
	"reset": {"delete the local store to start over as another device: [--force] (refused while changes are unsynced)", setupReset},
}

// deviceRun runs a subcommand with the open client and its positional arguments.
type deviceRun = func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error

// deviceCommands are the subcommands that open the client, one file per
// group: device_visit.go, device_records.go, device_sync.go, device_photo.go
// (device_reset.go holds the file command).
var deviceCommands = map[string]deviceCommand{
	"visit create": {"record a visit: --customer --notes [--kind] [--tags a,b] [--submit …]", setupVisitCreate},
	"visit edit":   {"edit a visit: <id> [--notes] [--kind] [--tags] [--customer] …", setupVisitEdit},
	"delete":       {"delete a record: --type Visit <id>", setupDelete},
	"list":         {"list local records: [--type Visit]", setupList},
	"sync":         {"push the outbox and pull changes", setupSync},
	"watch":        {"stay in sync until interrupted", setupWatch},
	"conflicts":    {"list the merge losses the server reported", setupConflicts},
	"rejections":   {"list the local changes the server refused", setupRejections},
	"status":       {"outbox depth, oldest pending write, last sync", setupStatus},
	"photo add":    {"attach a photo to a record and upload it: <record-id> <slot> <file> [--type T] [--offline]", setupPhotoAdd},
	"photos":       {"list the photo queue: queued, uploading, done, failed", setupPhotos},
}

// progressCommands draw a progress bar on stderr while they upload photos.
var progressCommands = map[string]bool{"photo add": true, "sync": true}

func deviceUsage() string {
	help := make(map[string]string, len(deviceCommands))
	for n, c := range deviceCommands {
		help[n] = c.help
	}
	for n, c := range deviceFileCommands {
		help[n] = c.help
	}
	var b strings.Builder
	writeSubcommands(&b, "device", help)
	fmt.Fprintf(&b, "\nEvery subcommand takes --db (default %s), --server, --token and --grpc;\nserver and token default to FIELDSYNC_SERVER and FIELDSYNC_TOKEN.\n", defaultDeviceDB)
	return b.String()
}

// runDevice runs `fieldsync device <args>`: a device with a local store
// (--db) that works offline and syncs with the server on demand.
func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, rest := deviceSubcommand(args)
	if fc, ok := deviceFileCommands[name]; ok {
		return runFileCommand(ctx, name, fc, rest, stdout, stderr)
	}
	cmd, ok := deviceCommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown device subcommand %q\n%s", errUsage, strings.Join(args, " "), deviceUsage())
	}
	flags := deviceFlags{db: defaultDeviceDB, server: envOr("FIELDSYNC_SERVER", "http://127.0.0.1:8080"), token: os.Getenv("FIELDSYNC_TOKEN")}
	fs := newFlags("device "+name, stderr)
	flags.register(fs)
	run := cmd.setup(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	// Warnings (Watch's reconnects while the server is unreachable) go to stderr.
	extra := []fieldsync.Option{fieldsync.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if progressCommands[name] {
		extra = append(extra, fieldsync.WithPhotoProgress(newProgressBar(stderr).update))
	}
	c, err := flags.open(ctx, extra...)
	if errors.Is(err, fieldsync.ErrWrongDevice) {
		return fmt.Errorf("%w\nto start %s over as the device of this token: fieldsync device reset --db %s (refused while changes are unsynced; --force drops them)", err, flags.db, flags.db)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return run(ctx, c, pos, stdout)
}

// runFileCommand runs a subcommand on the store file (--db).
func runFileCommand(ctx context.Context, name string, fc fileCommand, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("device "+name, stderr)
	flags := deviceFlags{db: defaultDeviceDB}
	flags.register(fs) // --server, --token and --grpc are taken and unused
	run := fc.setup(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: fieldsync device %s takes no arguments", errUsage, name)
	}
	return run(ctx, flags.db, stdout)
}

// parseInterspersed parses flags that may also follow positional
// arguments ("visit edit <id> --notes …") and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// deviceSubcommand splits the subcommand name ("visit create") from its flags.
func deviceSubcommand(args []string) (string, []string) {
	switch {
	case len(args) == 0:
		return "", nil
	case (args[0] == "visit" || args[0] == "photo" || args[0] == "shipment" || args[0] == "quote") && len(args) > 1:
		return args[0] + " " + args[1], args[2:]
	}
	return args[0], args[1:]
}

// protoJSON marshals a message (or nil, as null) as protobuf JSON inside
// encoding/json output.
type protoJSON struct{ m proto.Message }

func (p protoJSON) MarshalJSON() ([]byte, error) {
	if p.m == nil {
		return []byte("null"), nil
	}
	return protojson.Marshal(p.m)
}

func printJSONValue(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
