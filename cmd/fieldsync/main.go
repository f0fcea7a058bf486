// Command fieldsync is fieldsync's command-line tool. It talks to the server
// only through the public RPC API:
//
//	fieldsync enroll --code fse_… [--name laptop]    exchange an enrollment code for a device token
//	fieldsync whoami                                 describe the caller's token
//	fieldsync admin users|user-create|enroll-code|devices|device-revoke|keys|key-create|key-revoke|org|region-create|store-create
//	fieldsync device …                               act as a device (offline store, outbox, sync)
//
// The server address and token come from --server/--token or the
// FIELDSYNC_SERVER / FIELDSYNC_TOKEN environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/fieldsync/fieldsync/internal/version"
)

// command runs one subcommand with its arguments.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands lists the subcommands; files add theirs in init.
var commands = map[string]command{
	"enroll": runEnroll,
	"whoami": runWhoAmI,
	"admin":  runAdmin,
	"load":   runLoad,
}

// errUsage marks an error whose message is usage help.
var errUsage = errors.New("usage")

const usage = `usage: fieldsync <command> [flags]

commands:
  enroll     exchange an enrollment code for a device token
  whoami     describe the caller's token
  admin      manage users, devices, keys, regions and stores (admin token)
  device     act as a device: local records, outbox, sync, conflicts
  events     follow the change stream (events tail)
  phi        print a Process Health Index table (phi recompute: rebuild a range; operator token)
  tenant     create and list organisations (the server's operator token)
  integrate  load an ERP's stock levels from a CSV (integrate stock; API key with stock:write)
  import     load past visits, diagnoses, commitments or opportunities from a CSV (API key with history:import)
  load       drive N enrolled devices against a server and report latencies (sizing)
  migrate-store  copy fieldsyncd's SQLite database into PostgreSQL (daemon stopped; --to postgres://…)

  version    print the version (also --version)

Server and token: --server/--token or FIELDSYNC_SERVER/FIELDSYNC_TOKEN.
Run 'fieldsync <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// secretFlags are flags whose values help must never print, even when
// the environment supplied them as defaults.
var secretFlags = []string{"token"}

// hideSecretDefaults blanks the printed defaults of fs's secret flags; a
// flag set calls it from its Usage, before PrintDefaults.
func hideSecretDefaults(fs *flag.FlagSet) {
	for _, name := range secretFlags {
		if f := fs.Lookup(name); f != nil && f.DefValue != "" {
			f.DefValue = ""
		}
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		fmt.Fprintln(stdout, version.Line("fieldsync"))
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "fieldsync: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := cmd(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintln(stderr, err)
			return 2
		}
		fmt.Fprintln(stderr, "fieldsync:", err)
		return 1
	}
	return 0
}
