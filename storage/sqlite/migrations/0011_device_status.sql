-- Each device's latest sync status report (DeviceStatus), for display, fleet
-- metrics and the stale-device alert. Times are the server's, except
-- last_sync_at (the device's clock). Written at most once a minute per
-- device unless the report changed materially.
CREATE TABLE device_status (
  device_id          TEXT PRIMARY KEY REFERENCES devices(id),
  tenant_id          TEXT NOT NULL,
  reported_at        INTEGER NOT NULL,
  outbox_depth       INTEGER NOT NULL,
  oldest_unsynced_at INTEGER,          -- NULL when the outbox is empty
  photos_waiting     INTEGER NOT NULL,
  app_version        TEXT NOT NULL,
  sdk_version        TEXT NOT NULL,
  last_sync_at       INTEGER
) WITHOUT ROWID;

-- The stale-device sweep reads a tenant's devices with old unsynced writes.
CREATE INDEX device_status_oldest ON device_status(tenant_id, oldest_unsynced_at) WHERE oldest_unsynced_at IS NOT NULL;
