package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/storage"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestAWriteLockedOutByAnotherProcessIsUnavailable: a write that finds the
// database locked by another writer (another process's BEGIN IMMEDIATE)
// past the busy timeout fails wrapping storage.ErrUnavailable, so the
// server answers Unavailable and the device retries; once the lock is
// gone, the same write succeeds.
func TestAWriteLockedOutByAnotherProcessIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	write := func() error {
		return db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
			_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('busy-test', 'x')`)
			return err
		})
	}
	if err := write(); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("write while another connection holds the lock: %v, want storage.ErrUnavailable", err)
	}
	if err := db.ReportDeviceStatus(ctx, "t", "d", syncengine.DeviceStatus{OutboxDepth: 1}); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("device status report while another connection holds the lock: %v, want storage.ErrUnavailable", err)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatalf("write once the lock is gone: %v", err)
	}
	var broken error = errors.New("not a database error")
	if classify(&broken); errors.Is(broken, storage.ErrUnavailable) {
		t.Fatal("an error that is not SQLITE_BUSY was classified unavailable")
	}
}
