// Package throttle decides when a store writes display data that every
// call would otherwise rewrite: a device's last-seen time and its status
// report. Both stores (storage/sqlite, storage/postgres) keep one Marks per
// kind; with several nodes each node throttles its own writes.
package throttle

import (
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

const (
	// LastSeenInterval is how often, at most, a device's last_seen_at is
	// written: every authenticated call counts, but one write a minute is
	// enough for "last seen" and keeps the writer free for pushes.
	LastSeenInterval = time.Minute
	// StatusInterval is how often, at most, a device's status report is
	// written unless it changed materially (see StatusMaterial).
	StatusInterval = time.Minute
)

// Marks remembers, per device, when a value was last written and which.
// The zero value is ready to use.
type Marks[V any] struct {
	mu sync.Mutex
	m  map[string]mark[V]
}

type mark[V any] struct {
	at time.Time
	v  V
}

// Due reports whether v should be written for a device at now: nothing
// was written in the last interval, or material (when not nil) says v
// differs from the last value in a way a reader should see at once. When
// due, v is marked written.
func (m *Marks[V]) Due(deviceID string, v V, now time.Time, interval time.Duration, material func(last, v V) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.m[deviceID]; ok && now.Sub(last.at) < interval && (material == nil || !material(last.v, v)) {
		return false
	}
	if m.m == nil {
		m.m = map[string]mark[V]{}
	}
	m.m[deviceID] = mark[V]{at: now, v: v}
	return true
}

// Forget unmarks a device whose write failed, so the next call tries again.
func (m *Marks[V]) Forget(deviceID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, deviceID)
}

// StatusMaterial reports whether a status report differs from the last
// written one in a way a reader should see at once: writes or photos start
// or stop waiting, the app or SDK version changed, or the device completed
// a sync (s.Synced) after a report that did not say so (a sync's push
// report is written first; without this its pull's report, seconds later,
// would wait a minute and the sync would not show).
func StatusMaterial(last, s syncengine.DeviceStatus) bool {
	return (last.OutboxDepth == 0) != (s.OutboxDepth == 0) || (last.PhotosWaiting == 0) != (s.PhotosWaiting == 0) ||
		last.AppVersion != s.AppVersion || last.SDKVersion != s.SDKVersion || (s.Synced && !last.Synced)
}
