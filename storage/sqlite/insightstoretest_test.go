package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/insights/insightstore/insightstoretest"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestInsightsStoreConformance runs the insights store suite on SQLite.
func TestInsightsStoreConformance(t *testing.T) {
	t.Parallel()
	insightstoretest.Run(t, func(t *testing.T) insightstoretest.Backend {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
