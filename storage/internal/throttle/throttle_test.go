package throttle

import (
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

func TestMarksWriteOncePerIntervalUnlessMaterial(t *testing.T) {
	var m Marks[syncengine.DeviceStatus]
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := syncengine.DeviceStatus{OutboxDepth: 3}
	due := func(s syncengine.DeviceStatus, at time.Duration) bool {
		return m.Due("d", s, t0.Add(at), StatusInterval, StatusMaterial)
	}
	for _, tc := range []struct {
		name string
		s    syncengine.DeviceStatus
		at   time.Duration
		want bool
	}{
		{"first report", s, 0, true},
		{"same report soon after", syncengine.DeviceStatus{OutboxDepth: 5}, time.Second, false},
		{"outbox emptied", syncengine.DeviceStatus{}, 2 * time.Second, true},
		{"new app version", syncengine.DeviceStatus{AppVersion: "2"}, 3 * time.Second, true},
		{"unchanged within the minute", syncengine.DeviceStatus{AppVersion: "2"}, 30 * time.Second, false},
		{"a minute after the last write", syncengine.DeviceStatus{AppVersion: "2"}, 3*time.Second + StatusInterval, true},
	} {
		if got := due(tc.s, tc.at); got != tc.want {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
	}
	m.Forget("d")
	if !due(syncengine.DeviceStatus{AppVersion: "2"}, 4*time.Second+StatusInterval) {
		t.Error("a forgotten device is not due at once")
	}
	var seen Marks[struct{}]
	if !seen.Due("d", struct{}{}, t0, LastSeenInterval, nil) || seen.Due("d", struct{}{}, t0.Add(time.Second), LastSeenInterval, nil) {
		t.Error("last-seen marks: want one write per interval")
	}
}

// TestSyncedReportIsMaterial: a sync's push report is written, then its
// pull's report saying the device is caught up is written at once too;
// the next sync's reports within the minute are not.
func TestSyncedReportIsMaterial(t *testing.T) {
	var m Marks[syncengine.DeviceStatus]
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		s    syncengine.DeviceStatus
		at   time.Duration
		want bool
	}{
		{syncengine.DeviceStatus{OutboxDepth: 2}, 0, true},
		{syncengine.DeviceStatus{OutboxDepth: 2, Synced: true}, time.Second, true},
		{syncengine.DeviceStatus{OutboxDepth: 1}, 10 * time.Second, false},
		{syncengine.DeviceStatus{OutboxDepth: 1, Synced: true}, 11 * time.Second, false},
		{syncengine.DeviceStatus{OutboxDepth: 1}, 2 * StatusInterval, true},
		{syncengine.DeviceStatus{OutboxDepth: 1, Synced: true}, 2*StatusInterval + time.Second, true},
	} {
		if got := m.Due("d", tc.s, t0.Add(tc.at), StatusInterval, StatusMaterial); got != tc.want {
			t.Errorf("report %d (%+v at %v): due %v, want %v", i, tc.s, tc.at, got, tc.want)
		}
	}
}
