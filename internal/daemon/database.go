package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/insights"
	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Store is everything the daemon keeps in its database: the stores of the
// sync engine, the photo service and the insights consumers, the server's
// identity, fleet, insights, dashboard and query reads, R10's rating
// tokens, A7's records by type, the outbox, and the demo's.
// storage/sqlite (the default) and storage/postgres (--database) are both.
type Store interface {
	syncengine.Store
	photos.Store
	insightstore.Store
	server.Authenticator
	server.IdentityStore
	server.FleetStore
	server.InsightsBackend
	server.QueryBackend
	server.TenantStore
	server.RatingStore
	server.DashboardBackend
	insights.RecordReader
	demo.Store
	events.Outbox
	events.BacklogReporter
	PruneSentEvents(ctx context.Context, olderThan time.Time) (int64, error)
	// PurgeTombstones deletes tombstones and scope exits older than a time
	// (tools and tests).
	PurgeTombstones(ctx context.Context, olderThan time.Time) (int64, error)
	// InitMeta stores an installation fact unless one is stored already
	// and returns the stored one (the operator token's hash).
	InitMeta(ctx context.Context, key, value string) (string, error)
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// isPostgresURL reports whether a --database value names PostgreSQL.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openStore opens the configured database: PostgreSQL when --database is
// a postgres:// URL, else the SQLite file in the data dir.
func openStore(ctx context.Context, cfg Config) (Store, error) {
	if cfg.Database != "" {
		pg, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return pg, nil
	}
	lite, err := sqlite.Open(ctx, cfg.sqlitePath())
	if err != nil {
		return nil, err
	}
	return lite, nil
}
