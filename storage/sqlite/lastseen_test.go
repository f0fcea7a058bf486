package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestAuthenticateWritesLastSeenAtMostOnceAMinute: every authenticated call
// of a device counts as seen, but last_seen_at is written at most once a
// minute per device.
func TestAuthenticateWritesLastSeenAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tn, _ := db.CreateTenant(ctx, "T")
	u := &syncengine.User{TenantID: tn.ID, DisplayName: "admin", Role: fieldsyncv1.Role_ROLE_ADMIN}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	code, _, err := db.IssueEnrollmentCode(ctx, tn.ID, u.ID, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dev, token, err := db.Enroll(ctx, code, "phone", "test")
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		t.Helper()
		ds, err := db.ListDevices(ctx, tn.ID, "")
		if err != nil || len(ds) != 1 {
			t.Fatalf("list devices = %v, %v", ds, err)
		}
		return ds[0].LastSeenAt
	}
	if !lastSeen().IsZero() {
		t.Fatalf("seen before any call: %v", lastSeen())
	}
	first := now
	for _, step := range []struct {
		advance time.Duration
		want    func() time.Time
	}{
		{0, func() time.Time { return first }},
		{30 * time.Second, func() time.Time { return first }}, // within the minute: not written
		{31 * time.Second, func() time.Time { return first.Add(61 * time.Second) }},
	} {
		advance(step.advance)
		if _, err := db.Authenticate(ctx, token); err != nil {
			t.Fatal(err)
		}
		if got := lastSeen(); !got.Equal(step.want()) {
			t.Fatalf("after %v: device %s last seen %v, want %v", step.advance, dev.ID, got, step.want())
		}
	}
}
