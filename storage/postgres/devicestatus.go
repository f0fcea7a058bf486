package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/storage/internal/throttle"
	"github.com/fieldsync/fieldsync/syncengine"
)

// StatusInterval is how often, at most, a device's status report is
// written unless it changed materially (throttle.StatusMaterial).
const StatusInterval = throttle.StatusInterval

// ReportDeviceStatus keeps a device's latest status report, dated now by
// the store's clock (LastSync is now for a report with Synced, else the
// last one so dated, else the device's own), at most once per StatusInterval per device and node
// unless it changed materially. With several nodes the report received
// last wins.
func (db *DB) ReportDeviceStatus(ctx context.Context, tenantID, deviceID string, s syncengine.DeviceStatus) (err error) {
	defer classify(&err)
	now := db.Now()
	if !db.statuses.Due(deviceID, s, now, StatusInterval, throttle.StatusMaterial) {
		return nil
	}
	var oldest *int64
	if s.OutboxDepth > 0 {
		v := ms(now.Add(-s.OldestUnsyncedAge))
		oldest = &v
	}
	var lastSync *int64
	if t := s.LastSyncAt(now); !t.IsZero() {
		v := ms(t)
		lastSync = &v
	}
	// A report without Synced keeps the last sync already kept: the
	// device's own time is one sync behind it.
	_, err = db.pool.Exec(ctx, `INSERT INTO device_status (device_id, tenant_id, reported_at, outbox_depth,
		oldest_unsynced_at, photos_waiting, app_version, sdk_version, last_sync_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (device_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, reported_at = EXCLUDED.reported_at,
		outbox_depth = EXCLUDED.outbox_depth, oldest_unsynced_at = EXCLUDED.oldest_unsynced_at,
		photos_waiting = EXCLUDED.photos_waiting, app_version = EXCLUDED.app_version, sdk_version = EXCLUDED.sdk_version,
		last_sync_at = CASE WHEN $10 THEN EXCLUDED.last_sync_at ELSE COALESCE(device_status.last_sync_at, EXCLUDED.last_sync_at) END`,
		deviceID, tenantID, ms(now), s.OutboxDepth, oldest, s.PhotosWaiting, s.AppVersion, s.SDKVersion, lastSync, s.Synced)
	if err != nil {
		db.statuses.Forget(deviceID)
		return fmt.Errorf("report device status: %w", err)
	}
	return nil
}

// FleetStats sums up the status reports of every unrevoked device as of
// the store's clock, in one aggregate query.
func (db *DB) FleetStats(ctx context.Context) (_ syncengine.FleetStats, err error) {
	defer classify(&err)
	now := db.Now()
	t, h := ms(now), time.Hour.Milliseconds()
	var never, under1h, under1d, under7d, older, photos int
	var oldest *int64
	err = db.pool.QueryRow(ctx, `SELECT
		COUNT(*) - COUNT(s.reported_at),
		COUNT(*) FILTER (WHERE s.reported_at > $1), COUNT(*) FILTER (WHERE s.reported_at <= $1 AND s.reported_at > $2),
		COUNT(*) FILTER (WHERE s.reported_at <= $2 AND s.reported_at > $3), COUNT(*) FILTER (WHERE s.reported_at <= $3),
		MIN(s.oldest_unsynced_at), COALESCE(SUM(s.photos_waiting), 0)
		FROM devices d LEFT JOIN device_status s ON s.device_id = d.id WHERE d.revoked_at IS NULL`,
		t-h, t-24*h, t-7*24*h).
		Scan(&never, &under1h, &under1d, &under7d, &older, &oldest, &photos)
	if err != nil {
		return syncengine.FleetStats{}, fmt.Errorf("fleet stats: %w", err)
	}
	return syncengine.FleetStats{
		At: now,
		Devices: map[string]int{
			syncengine.StaleUnder1h: under1h, syncengine.StaleUnder1d: under1d, syncengine.StaleUnder7d: under7d,
			syncengine.StaleOlder: older, syncengine.StaleNever: never,
		},
		OldestUnsynced: nullMS(oldest),
		PhotosWaiting:  photos,
	}, nil
}
