package photos_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// worldDB is the store a world runs on: the engine's and the photo
// service's, and what the harness sets up people with.
type worldDB interface {
	syncengine.Store
	photos.Store
	CreateTenant(ctx context.Context, name string) (*syncengine.Tenant, error)
	CreateRegion(ctx context.Context, tenantID, name string) (*syncengine.Region, error)
	CreateStore(ctx context.Context, tenantID, regionID, name string) (*syncengine.Shop, error)
	CreateUser(ctx context.Context, u *syncengine.User) error
	IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (string, time.Time, error)
	Enroll(ctx context.Context, code, name, platform string) (*syncengine.Device, string, error)
	PendingEvents(ctx context.Context, limit int) ([]events.OutboxEvent, error)
	Close() error
}

// StoreEnv selects the store the photo tests run on: "postgres" runs them
// on a PostgreSQL started by internal/pgtest, anything else on SQLite.
const StoreEnv = "FIELDSYNC_TEST_STORE"

// openWorldDB opens the world's store.
func openWorldDB(t testing.TB, dir string) (worldDB, error) {
	if os.Getenv(StoreEnv) == "postgres" {
		return postgres.Open(context.Background(), pgtest.DB(t))
	}
	return sqlite.Open(context.Background(), filepath.Join(dir, "fs.db"))
}
