package postgres_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/events/outboxtest"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/storage/postgres"
)

// BenchmarkOutboxAppendAndMark is outboxtest.BenchAppendAndMark on
// PostgreSQL; the CPU it reports is this process's (the client side), not
// the server's.
func BenchmarkOutboxAppendAndMark(b *testing.B) {
	db, err := postgres.Open(context.Background(), pgtest.DB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	outboxtest.BenchAppendAndMark(b, outboxBackend(db))
}
