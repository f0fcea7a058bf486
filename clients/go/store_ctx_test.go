package fieldsync

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// TestUpdateWhoseContextEndsReportsTheContext: when the caller's context
// ends while a write transaction runs, database/sql rolls it back, and the
// commit's error is the context's (a crash test once read "sql: transaction
// has already been committed or rolled back" from Sync).
func TestUpdateWhoseContextEndsReportsTheContext(t *testing.T) {
	c := openDevice(t, filepath.Join(t.TempDir(), "device.db"))
	ctx, cancel := context.WithCancel(context.Background())
	err := c.db.update(ctx, func(tx *sql.Tx) error {
		cancel()
		for { // until database/sql has rolled the transaction back
			if _, err := tx.Exec(`SELECT 1`); errors.Is(err, sql.ErrTxDone) {
				return nil
			}
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("update = %v, want context.Canceled", err)
	}
}
