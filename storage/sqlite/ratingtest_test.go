package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/server/ratingtest"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestRatingConformance runs the rating link suite on SQLite.
func TestRatingConformance(t *testing.T) {
	t.Parallel()
	ratingtest.Run(t, func(t *testing.T) ratingtest.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
