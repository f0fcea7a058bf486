-- meta holds the device's sync state: cursor, next seq, HLC, last sync, resync generation.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES
  ('cursor', ''), ('next_seq', 1), ('hlc', 0), ('last_sync', 0), ('gen', 0), ('resync', 0);

-- records are what this device sees. base is the server's state (value bytes
-- of type) as of the cursor, NULL when the server has none for us; view is
-- the local view when pending edits make it differ from base.
--   state 0: synced, the view is base;
--   state 1: edited locally, the view is view;
--   state 2: deleted locally (pending).
-- gen is the resync generation that last confirmed base.
CREATE TABLE records (
  id      TEXT    NOT NULL PRIMARY KEY,
  type    TEXT    NOT NULL,
  base    BLOB,
  version INTEGER NOT NULL DEFAULT 0,
  hlc     INTEGER NOT NULL DEFAULT 0,
  view    BLOB,
  state   INTEGER NOT NULL DEFAULT 0,
  gen     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX records_type ON records (type);

-- outbox holds the local mutations, in seq order. An entry is pending until
-- the server answers it; an applied one stays, acked (with the fields that
-- lost the merge), only until a pull brings the record's state after it,
-- so the local view never falls back to an older value meanwhile.
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY,
  type       TEXT    NOT NULL,
  record_id  TEXT    NOT NULL,
  fields     TEXT    NOT NULL DEFAULT '',
  value      BLOB,
  del        INTEGER NOT NULL DEFAULT 0,
  hlc        INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  acked      INTEGER NOT NULL DEFAULT 0,
  lost       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_record ON outbox (record_id, seq);

-- conflicts are the merge losses the server reported in push results (wire
-- fieldsync.v1.Conflict), keyed by the server's conflict id.
CREATE TABLE conflicts (
  id          INTEGER PRIMARY KEY,
  record_id   TEXT    NOT NULL,
  wire        BLOB    NOT NULL,
  received_at INTEGER NOT NULL
);

-- rejections are the mutations the server refused, kept for the app.
CREATE TABLE rejections (
  seq         INTEGER PRIMARY KEY,
  type        TEXT    NOT NULL,
  record_id   TEXT    NOT NULL,
  fields      TEXT    NOT NULL DEFAULT '',
  value       BLOB,
  del         INTEGER NOT NULL DEFAULT 0,
  hlc         INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  code        INTEGER NOT NULL,
  reason      TEXT    NOT NULL,
  rejected_at INTEGER NOT NULL
);
