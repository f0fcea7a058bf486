package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/server/identitytest"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestIdentityConformance runs the identity suite on SQLite.
func TestIdentityConformance(t *testing.T) {
	t.Parallel()
	identitytest.Run(t, func(t *testing.T) identitytest.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
