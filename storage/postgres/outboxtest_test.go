package postgres_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/outboxtest"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestOutboxConformance runs the outbox suite on PostgreSQL.
func TestOutboxConformance(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend {
		db := open(t)
		return outboxtest.Backend{Store: db, Write: func(ctx context.Context, fn func(func(events.OutboxEvent) error) error) error {
			return db.Update(ctx, func(tx syncengine.Tx) error { return fn(tx.AppendEvent) })
		}}
	})
}
