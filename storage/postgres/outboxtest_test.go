package postgres_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/outboxtest"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestOutboxConformance runs the outbox suite on PostgreSQL.
func TestOutboxConformance(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend {
		return outboxBackend(open(t))
	})
}

// outboxBackend is db as the outbox suite and benchmark use it: events
// appended through the sync engine's write transaction.
func outboxBackend(db *postgres.DB) outboxtest.Backend {
	return outboxtest.Backend{Store: db, Write: func(ctx context.Context, fn func(func(events.OutboxEvent) error) error) error {
		return db.Update(ctx, func(tx syncengine.Tx) error { return fn(tx.AppendEvent) })
	}}
}
