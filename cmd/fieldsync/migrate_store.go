package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/internal/datadir"
	"github.com/fieldsync/fieldsync/storage/migrate"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

func init() { commands["migrate-store"] = runMigrateStore }

const migrateStoreHelp = `Copies fieldsyncd's SQLite database into an empty PostgreSQL database, so that
one or more fieldsyncd nodes can run on it (--database). Stop fieldsyncd first:
the copy refuses to start while a daemon holds the data dir's lock. It applies
PostgreSQL's migrations, then copies every table in one transaction, keeping
every version, cursor bound, push seq and id: devices keep syncing from their
cursors. A failed run leaves the target without rows; run it again.
`

func runMigrateStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate-store", stderr)
	dataDir := fs.String("data-dir", envOr("FIELDSYNC_DATA_DIR", datadir.Default), "fieldsyncd's data dir (env FIELDSYNC_DATA_DIR)")
	sqlitePath := fs.String("sqlite-path", envOr("FIELDSYNC_SQLITE_PATH", ""), "the SQLite file (env FIELDSYNC_SQLITE_PATH; default <data-dir>/fieldsync.db)")
	to := fs.String("to", "", "the target database, postgres://… (default $FIELDSYNC_DATABASE)")
	replace := fs.Bool("replace", false, "empty the target's fieldsync tables first instead of refusing a target that has rows")
	verify := fs.Bool("verify", true, "after the copy, compare every table of both databases")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fieldsync migrate-store --to postgres://… [flags]\n\n%s\n", migrateStoreHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		*to = os.Getenv("FIELDSYNC_DATABASE")
	}
	if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
		return fmt.Errorf("%w: --to must be a postgres:// URL", errUsage)
	}
	path := *sqlitePath
	if path == "" {
		path = filepath.Join(*dataDir, "fieldsync.db")
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no SQLite database at %s (--data-dir, --sqlite-path): %w", path, err)
	}
	release, err := lockForMigration(*dataDir)
	if err != nil {
		return err
	}
	defer release()
	return migrateStore(ctx, path, *to, migrate.Options{Replace: *replace, Progress: stderr}, *verify, stdout, stderr)
}

// migrateStore opens both databases, copies and, when asked, compares.
func migrateStore(ctx context.Context, path, url string, opts migrate.Options, verify bool, stdout, stderr io.Writer) error {
	start := time.Now()
	lite, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer lite.Close()
	fmt.Fprintln(stderr, "applying PostgreSQL's migrations")
	pg, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	defer pg.Close()
	rep, err := migrate.Run(ctx, lite, pg, opts)
	if err != nil {
		return err
	}
	if verify {
		fmt.Fprintln(stderr, "comparing every table")
		if err := migrate.Compare(ctx, lite, pg); err != nil {
			return err
		}
	}
	tables := map[string]int64{}
	for _, t := range rep.Tables {
		tables[t.Name] = t.Rows
	}
	return printJSONValue(stdout, map[string]any{
		"from": path, "rows": rep.Rows(), "tables": tables, "verified": verify,
		"seconds": time.Since(start).Seconds(),
	})
}

// errDaemonRunning is returned when a daemon holds the data dir's lock.
var errDaemonRunning = errors.New("fieldsyncd is running on this data dir")

// lockForMigration takes the data dir's API and consumers locks, as a
// daemon would (creating the files when the data dir exists), and keeps
// them until release: a running daemon makes the copy refuse, and a
// daemon started during the copy exits. A missing data dir (the SQLite
// file named by --sqlite-path elsewhere) is not locked.
func lockForMigration(dir string) (release func(), err error) {
	var held []*os.File
	release = func() {
		for _, f := range held {
			f.Close()
		}
	}
	for _, name := range []string{datadir.APILockFile, datadir.ConsumersLockFile} {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := datadir.TryLock(f); err != nil {
			f.Close()
			release()
			if errors.Is(err, datadir.ErrWouldBlock) {
				return nil, fmt.Errorf("%w: %s is held by pid %s; stop every fieldsyncd using it, then run migrate-store again",
					errDaemonRunning, path, lockHolder(path))
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		held = append(held, f)
	}
	return release, nil
}

// lockHolder reads the pid the lock's holder wrote into it.
func lockHolder(path string) string {
	b, err := os.ReadFile(path)
	if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
		return pid
	}
	return "unknown"
}
