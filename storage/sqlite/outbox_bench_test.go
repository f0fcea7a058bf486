package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/events/outboxtest"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// BenchmarkOutboxAppendAndMark is outboxtest.BenchAppendAndMark on SQLite:
// the outbox's share of the single writer per event.
func BenchmarkOutboxAppendAndMark(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "fs.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	outboxtest.BenchAppendAndMark(b, outboxBackend(db))
}
