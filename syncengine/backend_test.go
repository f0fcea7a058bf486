package syncengine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// worldDB is the store a world runs on: the engine's, and what the tests
// set up and inspect it with.
type worldDB interface {
	syncengine.Store
	CreateTenant(ctx context.Context, name string) (*syncengine.Tenant, error)
	CreateRegion(ctx context.Context, tenantID, name string) (*syncengine.Region, error)
	CreateStore(ctx context.Context, tenantID, regionID, name string) (*syncengine.Shop, error)
	CreateUser(ctx context.Context, u *syncengine.User) error
	IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (string, time.Time, error)
	Enroll(ctx context.Context, code, name, platform string) (*syncengine.Device, string, error)
	PendingEvents(ctx context.Context, limit int) ([]events.OutboxEvent, error)
	PurgeTombstones(ctx context.Context, olderThan time.Time) (int64, error)
	Close() error
}

// StoreEnv selects the store the engine's tests run on: "postgres" runs
// them on a PostgreSQL started by internal/pgtest, anything else on SQLite.
const StoreEnv = "FIELDSYNC_TEST_STORE"

// openWorldDB opens a fresh store for a test.
func openWorldDB(t testing.TB) (worldDB, error) {
	if os.Getenv(StoreEnv) == "postgres" {
		return postgres.Open(context.Background(), pgtest.DB(t))
	}
	return sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
}

// setNow sets the store's clock.
func (w *world) setNow(now func() time.Time) {
	switch db := w.db.(type) {
	case *sqlite.DB:
		db.Now = now
	case *postgres.DB:
		db.Now = now
	}
}

// sqliteDB returns the world's store when it is SQLite, and skips the test
// otherwise (it edits SQLite's tables directly).
func (w *world) sqliteDB(t testing.TB) *sqlite.DB {
	db, ok := w.db.(*sqlite.DB)
	if !ok {
		t.Skip("edits SQLite's tables directly")
	}
	return db
}
