package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestRatingSecretIsSharedAndKept: the first call makes the secret, every
// later one (another process on the same file included) reads the same.
func TestRatingSecretIsSharedAndKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.RatingSecret(ctx)
	if err != nil || len(first) != 32 {
		t.Fatalf("secret %x, %v", first, err)
	}
	again, _ := db.RatingSecret(ctx)
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reopened, _ := db.RatingSecret(ctx)
	if !bytes.Equal(first, again) || !bytes.Equal(first, reopened) {
		t.Fatalf("secrets differ: %x %x %x", first, again, reopened)
	}
}
