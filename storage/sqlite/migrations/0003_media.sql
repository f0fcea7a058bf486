-- Stored photos (content-addressed): a row means the bytes are verified and stored.
CREATE TABLE photos (
  sha256       TEXT PRIMARY KEY,
  size         INTEGER NOT NULL,
  content_type TEXT    NOT NULL,
  capture_time INTEGER,
  has_location INTEGER NOT NULL DEFAULT 0,
  latitude     REAL,
  longitude    REAL,
  received_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Resumable uploads; staged bytes live in files under the staging folder.
CREATE TABLE uploads (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT    NOT NULL,
  device_id    TEXT    NOT NULL,
  user_id      TEXT    NOT NULL,
  sha256       TEXT    NOT NULL,
  size         INTEGER NOT NULL,
  content_type TEXT    NOT NULL,
  record_id    TEXT    NOT NULL DEFAULT '',
  slot         TEXT    NOT NULL DEFAULT '',
  offset_bytes INTEGER NOT NULL DEFAULT 0,
  state        INTEGER NOT NULL,
  device_hlc   INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_expiry ON uploads(state, expires_at);
CREATE INDEX uploads_hash ON uploads(sha256);
