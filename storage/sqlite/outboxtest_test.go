package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/outboxtest"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestOutboxConformance runs the outbox suite on SQLite.
func TestOutboxConformance(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return outboxBackend(db)
	})
}

// outboxBackend is db as the outbox suite and benchmark use it: events
// appended through the sync engine's write transaction.
func outboxBackend(db *sqlite.DB) outboxtest.Backend {
	return outboxtest.Backend{Store: db, Write: func(ctx context.Context, fn func(func(events.OutboxEvent) error) error) error {
		return db.Update(ctx, func(tx syncengine.Tx) error { return fn(tx.AppendEvent) })
	}}
}
