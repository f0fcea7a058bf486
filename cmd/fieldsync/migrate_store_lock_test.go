//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/datadir"
)

// TestMigrateStoreRefusesADataDirADaemonHolds: the lock's holder, named by
// its pid, keeps migrate-store from starting, before any database is
// opened; and a daemon cannot start on a data dir a migration holds.
func TestMigrateStoreRefusesADataDirADaemonHolds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fieldsync.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{datadir.APILockFile, datadir.ConsumersLockFile} {
		holder, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := datadir.TryLock(holder); err != nil {
			t.Fatal(err)
		}
		if _, err := holder.WriteString("4242\n"); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"migrate-store", "--data-dir", dir, "--to", "postgres://127.0.0.1:1/none"}, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "held by pid 4242") || !strings.Contains(errOut.String(), name) {
			t.Errorf("beside the holder of %s: exit %d, %s", name, code, errOut.String())
		}
		holder.Close()
	}

	release, err := lockForMigration(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cfg := daemonConfig(dir)
	d, err := daemon.Start(context.Background(), cfg)
	if err == nil {
		d.Close()
	}
	if !errors.Is(err, daemon.ErrDataDirLocked) {
		t.Fatalf("a daemon started on a data dir a migration holds: %v, want ErrDataDirLocked", err)
	}
}

func TestMigrateStoreNeedsAPostgresTargetAndASQLiteFile(t *testing.T) {
	t.Setenv("FIELDSYNC_DATABASE", "") // not parallel: it sets the environment
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--data-dir", dir}, 2, "--to must be a postgres:// URL"},
		{[]string{"--data-dir", dir, "--to", "mysql://db/x"}, 2, "--to must be a postgres:// URL"},
		{[]string{"--data-dir", dir, "--to", "postgres://127.0.0.1:1/x"}, 1, "no SQLite database at " + filepath.Join(dir, "fieldsync.db")},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"migrate-store"}, tc.args...), &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %s; want exit %d naming %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}
