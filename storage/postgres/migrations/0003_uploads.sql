-- Photo uploads (sqlite 0003, 0006): resumable uploads, the photos each
-- tenant proved it holds, and the notices of photos that became available.
CREATE TABLE uploads (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT    NOT NULL,
  device_id    TEXT    NOT NULL,
  user_id      TEXT    NOT NULL,
  sha256       TEXT    NOT NULL,
  size         BIGINT  NOT NULL,
  content_type TEXT    NOT NULL,
  record_id    TEXT    NOT NULL DEFAULT '',
  slot         TEXT    NOT NULL DEFAULT '',
  offset_bytes BIGINT  NOT NULL DEFAULT 0,
  state        INTEGER NOT NULL,
  device_hlc   BIGINT  NOT NULL DEFAULT 0,
  created_at   BIGINT  NOT NULL,
  updated_at   BIGINT  NOT NULL,
  expires_at   BIGINT  NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(state, expires_at);
CREATE INDEX uploads_hash ON uploads(sha256);
CREATE UNIQUE INDEX uploads_active ON uploads(device_id, sha256) WHERE state = 1;

CREATE TABLE tenant_photos (
  tenant_id   TEXT   NOT NULL,
  sha256      TEXT   NOT NULL,
  upload_id   TEXT   NOT NULL,
  device_id   TEXT   NOT NULL,
  user_id     TEXT   NOT NULL,
  device_hlc  BIGINT NOT NULL DEFAULT 0,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, sha256)
);

CREATE TABLE photo_notices (
  tenant_id  TEXT   NOT NULL,
  sha256     TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, sha256)
);

-- The position of surgery supports (records.seq) for HeldSurgeries: a
-- counter whose row a transaction writing a surgery support locks until it
-- commits, as tenant_versions does for versions, so positions commit in
-- order and the sweep's cursor never passes one that can still commit.
-- Only surgery supports take a position; other records keep seq 0.
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('surgery_seq', 0);
DROP SEQUENCE record_seq;
