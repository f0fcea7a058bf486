// Command fieldsyncd is the fieldsync server. With no flags it runs on
// embedded defaults: a SQLite file, an in-process NATS server and a photo
// folder, all under ./data. Every flag can also be set by an environment
// variable FIELDSYNC_<FLAG>; run with -h for the list.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fieldsync/fieldsync/internal/daemon"
)

func main() {
	cfg := daemon.DefaultConfig()
	fs := flag.NewFlagSet("fieldsyncd", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fieldsyncd [flags]\n\nEach flag can also be set as FIELDSYNC_<FLAG> (e.g. %s).\n\n", daemon.EnvName("data-dir"))
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fieldsyncd:", err)
		os.Exit(1)
	}
}
