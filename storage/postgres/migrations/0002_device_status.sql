-- Each device's latest sync status report (sqlite 0011).
CREATE TABLE device_status (
  device_id          TEXT PRIMARY KEY REFERENCES devices(id),
  tenant_id          TEXT    NOT NULL,
  reported_at        BIGINT  NOT NULL,
  outbox_depth       INTEGER NOT NULL,
  oldest_unsynced_at BIGINT,
  photos_waiting     INTEGER NOT NULL,
  app_version        TEXT    NOT NULL,
  sdk_version        TEXT    NOT NULL,
  last_sync_at       BIGINT
);
CREATE INDEX device_status_oldest ON device_status(tenant_id, oldest_unsynced_at) WHERE oldest_unsynced_at IS NOT NULL;

