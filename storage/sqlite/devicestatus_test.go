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

// statusFixture is a store with a settable clock and n enrolled devices.
type statusFixture struct {
	db      *sqlite.DB
	tenant  string
	devices []string
	mu      sync.Mutex
	now     time.Time
}

func newStatusFixture(t *testing.T, n int) *statusFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &statusFixture{db: db, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db.Now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	tn, _ := db.CreateTenant(ctx, "T")
	f.tenant = tn.ID
	u := &syncengine.User{TenantID: tn.ID, DisplayName: "admin", Role: fieldsyncv1.Role_ROLE_ADMIN}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for range n {
		code, _, err := db.IssueEnrollmentCode(ctx, tn.ID, u.ID, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		dev, _, err := db.Enroll(ctx, code, "phone", "test")
		if err != nil {
			t.Fatal(err)
		}
		f.devices = append(f.devices, dev.ID)
	}
	return f
}

func (f *statusFixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

func (f *statusFixture) status(t *testing.T, i int) *syncengine.DeviceStatus {
	t.Helper()
	ds, err := f.db.ListDevices(context.Background(), f.tenant, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == f.devices[i] {
			return d.Status
		}
	}
	t.Fatalf("device %d not listed", i)
	return nil
}

// TestReportDeviceStatusWritesAtMostOnceAMinuteUnlessMaterial: reports come
// with every Push and Pull; one is written per StatusInterval, except one
// that empties or fills the outbox or changes a version, which is written
// at once.
func TestReportDeviceStatusWritesAtMostOnceAMinuteUnlessMaterial(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newStatusFixture(t, 1)
	if s := f.status(t, 0); s != nil {
		t.Fatalf("status before any report: %+v", s)
	}
	report := func(depth int, app string) {
		t.Helper()
		s := syncengine.DeviceStatus{OutboxDepth: depth, OldestUnsyncedAge: time.Duration(depth) * time.Minute, AppVersion: app, SDKVersion: "v1"}
		if err := f.db.ReportDeviceStatus(ctx, f.tenant, f.devices[0], s); err != nil {
			t.Fatal(err)
		}
	}
	for i, step := range []struct {
		advance   time.Duration
		depth     int
		app       string
		wantDepth int
	}{
		{0, 5, "1.0", 5},
		{10 * time.Second, 4, "1.0", 5},      // within the minute, not material: kept
		{10 * time.Second, 0, "1.0", 0},      // outbox emptied: written at once
		{10 * time.Second, 3, "1.0", 3},      // filled again: written at once
		{10 * time.Second, 3, "1.1", 3},      // new app version: written at once
		{10 * time.Second, 7, "1.1", 3},      // not material: kept
		{sqlite.StatusInterval, 8, "1.1", 8}, // a minute on: written
	} {
		f.advance(step.advance)
		report(step.depth, step.app)
		s := f.status(t, 0)
		if s == nil || s.OutboxDepth != step.wantDepth || (step.wantDepth == step.depth && s.AppVersion != step.app) {
			t.Fatalf("step %d: status = %+v, want depth %d", i, s, step.wantDepth)
		}
	}
	s := f.status(t, 0)
	if want := f.now.Add(-8 * time.Minute); !s.OldestUnsynced.Equal(want) || s.OldestUnsyncedAge != 8*time.Minute || !s.ReportedAt.Equal(f.now) {
		t.Fatalf("oldest unsynced %v (age %v, reported %v), want %v", s.OldestUnsynced, s.OldestUnsyncedAge, s.ReportedAt, want)
	}
}

// TestFleetStatsBucketsDevicesByLastReport: devices count by how long ago
// they last reported (never for none), the oldest unsynced write is the
// fleet's oldest, photos add up; revoked devices are left out.
func TestFleetStatsBucketsDevicesByLastReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newStatusFixture(t, 6)
	start := f.now
	reports := []struct {
		device int
		at     time.Duration // after start
		depth  int
		age    time.Duration
		photos int
	}{
		{0, 0, 2, 3 * time.Hour, 1},                                  // 8 days before the stats: older
		{1, 5 * 24 * time.Hour, 0, 0, 2},                             // 3 days: lt_7d
		{2, 7*24*time.Hour + time.Hour, 1, time.Minute, 0},           // 23 h: lt_1d
		{3, 8*24*time.Hour - 30*time.Minute, 0, 0, 4},                // 30 min: lt_1h
		{5, 8*24*time.Hour - time.Minute, 9, 20 * 24 * time.Hour, 8}, // revoked below
	}
	for _, r := range reports {
		f.mu.Lock()
		f.now = start.Add(r.at)
		f.mu.Unlock()
		s := syncengine.DeviceStatus{OutboxDepth: r.depth, OldestUnsyncedAge: r.age, PhotosWaiting: r.photos}
		if err := f.db.ReportDeviceStatus(ctx, f.tenant, f.devices[r.device], s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.db.RevokeDevice(ctx, f.tenant, f.devices[5]); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.now = start.Add(8 * 24 * time.Hour)
	f.mu.Unlock()
	st, err := f.db.FleetStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{syncengine.StaleUnder1h: 1, syncengine.StaleUnder1d: 1, syncengine.StaleUnder7d: 1,
		syncengine.StaleOlder: 1, syncengine.StaleNever: 1}
	for k, v := range want {
		if st.Devices[k] != v {
			t.Errorf("devices[%s] = %d, want %d (all %v)", k, st.Devices[k], v, st.Devices)
		}
	}
	if wantOldest := start.Add(-3 * time.Hour); !st.OldestUnsynced.Equal(wantOldest) {
		t.Errorf("oldest unsynced = %v, want %v", st.OldestUnsynced, wantOldest)
	}
	if st.PhotosWaiting != 7 {
		t.Errorf("photos waiting = %d, want 7", st.PhotosWaiting)
	}
}
