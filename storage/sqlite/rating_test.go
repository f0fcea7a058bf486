package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
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

// TestRatingTokenClaimOnce: a token is live until claimed, claimed once,
// and only in its own tenant.
func TestRatingTokenClaimOnce(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, _ := db.CreateTenant(ctx, "A")
	b, _ := db.CreateTenant(ctx, "B")
	hash := bytes.Repeat([]byte{1}, 32)
	if err := db.IssueRatingToken(ctx, hash, a.ID, "q1", "dev", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tn, q, _, err := db.RatingToken(ctx, hash); err != nil || tn != a.ID || q != "q1" {
		t.Fatalf("live token: %s %s %v", tn, q, err)
	}
	claim := func(tenant string) error {
		return db.Update(ctx, func(tx syncengine.Tx) error { return db.ClaimRatingToken(tx, hash, tenant) })
	}
	if err := claim(b.ID); !syncengine.IsCode(err, syncengine.CodeNotFound) {
		t.Fatalf("claimed by another tenant: %v", err)
	}
	if err := claim(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := claim(a.ID); !syncengine.IsCode(err, syncengine.CodeNotFound) {
		t.Fatalf("claimed twice: %v", err)
	}
	if _, _, _, err := db.RatingToken(ctx, hash); !syncengine.IsCode(err, syncengine.CodeNotFound) {
		t.Fatalf("a used token is live: %v", err)
	}
}
