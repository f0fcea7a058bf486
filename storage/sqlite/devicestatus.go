package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/storage/internal/throttle"
	"github.com/fieldsync/fieldsync/syncengine"
)

// StatusInterval is how often, at most, a device's status report is
// written unless it changed materially (throttle.StatusMaterial).
const StatusInterval = throttle.StatusInterval

// ReportDeviceStatus keeps a device's latest status report, dated now by
// the store's clock (ReportedAt; OldestUnsynced is now less
// s.OldestUnsyncedAge; LastSync is now for a report with Synced, else the
// last one so dated, else the device's own). It writes at most once per StatusInterval per
// device unless the report changed materially, and on its own (no
// transaction of the caller's): a report is display data. Errors: a store
// error (the next report tries again), wrapping storage.ErrUnavailable
// when another process held the database locked past the busy timeout.
func (db *DB) ReportDeviceStatus(ctx context.Context, tenantID, deviceID string, s syncengine.DeviceStatus) (err error) {
	defer classify(&err)
	now := db.Now()
	if !db.statuses.Due(deviceID, s, now, StatusInterval, throttle.StatusMaterial) {
		return nil
	}
	var oldest sql.NullInt64
	if s.OutboxDepth > 0 {
		oldest = sql.NullInt64{Int64: ms(now.Add(-s.OldestUnsyncedAge)), Valid: true}
	}
	lastSync := nullTime(s.LastSyncAt(now))
	// A report without Synced keeps the last sync already kept: the
	// device's own time is one sync behind it.
	_, err = db.write.ExecContext(ctx, `INSERT INTO device_status (device_id, tenant_id, reported_at, outbox_depth,
		oldest_unsynced_at, photos_waiting, app_version, sdk_version, last_sync_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET tenant_id = excluded.tenant_id, reported_at = excluded.reported_at,
		outbox_depth = excluded.outbox_depth, oldest_unsynced_at = excluded.oldest_unsynced_at,
		photos_waiting = excluded.photos_waiting, app_version = excluded.app_version, sdk_version = excluded.sdk_version,
		last_sync_at = CASE WHEN ? THEN excluded.last_sync_at ELSE COALESCE(device_status.last_sync_at, excluded.last_sync_at) END`,
		deviceID, tenantID, ms(now), s.OutboxDepth, oldest, s.PhotosWaiting, s.AppVersion, s.SDKVersion, lastSync, s.Synced)
	if err != nil {
		db.statuses.Forget(deviceID)
		return fmt.Errorf("report device status: %w", err)
	}
	return nil
}

// nullTime is a nullable millisecond column's value: NULL for the zero time.
func nullTime(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: ms(t), Valid: !t.IsZero()}
}

// statusColumns are device_status's columns as ListDevices joins them.
const statusColumns = `s.reported_at, s.outbox_depth, s.oldest_unsynced_at, s.photos_waiting, s.app_version, s.sdk_version, s.last_sync_at`

// scanDeviceWithStatus scans deviceColumns (prefixed d.), statusColumns and the user's display name.
func scanDeviceWithStatus(row interface{ Scan(...any) error }) (*syncengine.Device, error) {
	var d syncengine.Device
	var enrolled int64
	var revoked, seen, reported, depth, oldest, photos, lastSync sql.NullInt64
	var app, sdk sql.NullString
	if err := row.Scan(&d.ID, &d.TenantID, &d.UserID, &d.Name, &d.Platform, &enrolled, &revoked, &seen,
		&reported, &depth, &oldest, &photos, &app, &sdk, &lastSync, &d.UserName); err != nil {
		return nil, err
	}
	d.EnrolledAt, d.RevokedAt, d.LastSeenAt = fromMS(enrolled), nullMS(revoked), nullMS(seen)
	if reported.Valid {
		s := &syncengine.DeviceStatus{OutboxDepth: int(depth.Int64), PhotosWaiting: int(photos.Int64),
			AppVersion: app.String, SDKVersion: sdk.String, LastSync: nullMS(lastSync), ReportedAt: nullMS(reported), OldestUnsynced: nullMS(oldest)}
		if !s.OldestUnsynced.IsZero() {
			s.OldestUnsyncedAge = s.ReportedAt.Sub(s.OldestUnsynced)
		}
		d.Status = s
	}
	return &d, nil
}

// FleetStats sums up the status reports of every unrevoked device as of
// the store's clock, in one aggregate query (a scan of the devices, no
// sort). Errors: a store error.
func (db *DB) FleetStats(ctx context.Context) (syncengine.FleetStats, error) {
	now := db.Now()
	t, h := ms(now), time.Hour.Milliseconds()
	var never, under1h, under1d, under7d, older, photos int
	var oldest sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT
		COUNT(*) - COUNT(s.reported_at),
		COALESCE(SUM(s.reported_at > ?), 0), COALESCE(SUM(s.reported_at <= ? AND s.reported_at > ?), 0),
		COALESCE(SUM(s.reported_at <= ? AND s.reported_at > ?), 0), COALESCE(SUM(s.reported_at <= ?), 0),
		MIN(s.oldest_unsynced_at), COALESCE(SUM(s.photos_waiting), 0)
		FROM devices d LEFT JOIN device_status s ON s.device_id = d.id WHERE d.revoked_at IS NULL`,
		t-h, t-h, t-24*h, t-24*h, t-7*24*h, t-7*24*h).
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

// StaleDevices returns the tenant's unrevoked devices whose reported
// oldest unsynced write was made before beforeMS, by device id.
func (t *InsightsTx) StaleDevices(tenantID string, beforeMS int64) ([]*insightstore.StaleDevice, error) {
	out, err := queryAll(t.ctx, t.tx, func(row rowScanner) (*insightstore.StaleDevice, error) {
		var d insightstore.StaleDevice
		return &d, row.Scan(&d.DeviceID, &d.DeviceName, &d.UserID, &d.UserName, &d.StoreID, &d.RegionID,
			&d.OutboxDepth, &d.OldestUnsyncedMS, &d.ReportedMS, &d.AppVersion, &d.SDKVersion)
	}, `SELECT d.id, d.name, u.id, u.display_name, u.store_id, COALESCE(NULLIF(u.region_id, ''), st.region_id, ''),
		s.outbox_depth, s.oldest_unsynced_at, s.reported_at, s.app_version, s.sdk_version
		FROM device_status s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = d.user_id
		LEFT JOIN stores st ON st.id = u.store_id
		WHERE s.tenant_id = ? AND s.oldest_unsynced_at IS NOT NULL AND s.oldest_unsynced_at < ? AND d.revoked_at IS NULL
		ORDER BY d.id`, tenantID, beforeMS)
	if err != nil {
		return nil, fmt.Errorf("stale devices: %w", err)
	}
	return out, nil
}

// OpenFindings returns the keys of the tenant's open findings (episode
// set) whose key starts with prefix.
func (t *InsightsTx) OpenFindings(tenantID, prefix string) ([]string, error) {
	out, err := queryAll(t.ctx, t.tx, func(row rowScanner) (string, error) {
		var k string
		err := row.Scan(&k)
		return k, err
	}, `SELECT finding_key FROM insights_findings WHERE tenant_id = ? AND finding_key >= ? AND finding_key < ? AND episode != ''
		ORDER BY finding_key`, tenantID, prefix, prefix+"\U0010FFFF")
	if err != nil {
		return nil, fmt.Errorf("open findings: %w", err)
	}
	return out, nil
}
