package e2e

import (
	"os"
	"sync"
	"testing"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// StoreEnv selects the database the daemons of these tests keep their
// state in: "postgres" puts each data dir's state in a PostgreSQL
// database of its own (internal/pgtest), anything else in SQLite.
const StoreEnv = "FIELDSYNC_TEST_STORE"

// databases maps a data dir to its PostgreSQL URL, so a daemon restarted
// on a data dir, or a second process sharing it, finds the same state.
var databases sync.Map

// onTestStore sets cfg.Database when the tests run on PostgreSQL.
func onTestStore(t *testing.T, cfg *daemon.Config) {
	t.Helper()
	if os.Getenv(StoreEnv) != "postgres" || cfg.Database != "" {
		return
	}
	if url, ok := databases.Load(cfg.DataDir); ok {
		cfg.Database = url.(string)
		return
	}
	cfg.Database = pgtest.DB(t)
	databases.Store(cfg.DataDir, cfg.Database)
}
