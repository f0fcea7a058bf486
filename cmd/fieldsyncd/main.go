// Command fieldsyncd is the fieldsync server. With no flags it runs on
// embedded defaults: a SQLite file, an in-process NATS server and a photo
// folder, all under ./data. Every flag can also be set by an environment
// variable FIELDSYNC_<FLAG>; run with -h for the list.
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

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args and serves until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := daemon.DefaultConfig()
	fs := flag.NewFlagSet("fieldsyncd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fieldsyncd [flags]\n\nEach flag can also be set as FIELDSYNC_<FLAG> (e.g. %s).\n\n", daemon.EnvName("data-dir"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.Line("fieldsyncd"))
		return 0
	}
	if err := daemon.Run(ctx, cfg); err != nil {
		fmt.Fprintln(stderr, "fieldsyncd:", err)
		return 1
	}
	return 0
}
