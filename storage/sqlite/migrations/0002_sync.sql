-- Records and their change log. A record row is the current merged state;
-- its version is the commit-order number of its latest change, so the
-- records table is the change log (syncthing's files table does the same).
CREATE TABLE records (
  tenant_id       TEXT    NOT NULL,
  id              TEXT    NOT NULL,
  type            TEXT    NOT NULL,
  version         INTEGER NOT NULL,
  created_version INTEGER NOT NULL,
  owner_id        TEXT    NOT NULL DEFAULT '',
  store_id        TEXT    NOT NULL DEFAULT '',
  region_id       TEXT    NOT NULL DEFAULT '',
  deleted         INTEGER NOT NULL DEFAULT 0,
  value           BLOB    NOT NULL,
  clocks          BLOB    NOT NULL, -- per-field versions, see clocks.go
  deleted_hlc     INTEGER NOT NULL DEFAULT 0,
  deleted_actor   TEXT    NOT NULL DEFAULT '',
  created_hlc     INTEGER NOT NULL,
  created_actor   TEXT    NOT NULL,
  hlc             INTEGER NOT NULL,
  actor           TEXT    NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
); -- a rowid table: rows are too large for WITHOUT ROWID to pay
CREATE UNIQUE INDEX records_version ON records(tenant_id, version);
-- Creations by type: delivery receipts of campaign material and alerts.
CREATE INDEX records_created ON records(tenant_id, type, created_version);
CREATE INDEX records_deleted ON records(deleted, updated_at) WHERE deleted = 1;

-- A scope a record left (reassigned, moved): devices that saw it get a removal.
CREATE TABLE scope_exits (
  tenant_id TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  record_id TEXT    NOT NULL,
  type      TEXT    NOT NULL,
  owner_id  TEXT    NOT NULL,
  store_id  TEXT    NOT NULL,
  region_id TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, version, record_id)
) WITHOUT ROWID;

-- Named counters: the global change version and the purge horizon.
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('version', 0), ('purged_through', 0);

-- Exactly-once push: each actor's highest applied seq, and the results of
-- each pushed batch (seqs first_seq..last_seq, length-prefixed, in order).
CREATE TABLE actor_seqs (
  actor    TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE push_results (
  actor      TEXT    NOT NULL,
  first_seq  INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL,
  results    BLOB    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (actor, first_seq)
);

-- Every value that lost a merge.
CREATE TABLE conflicts (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id     TEXT    NOT NULL,
  record_type   TEXT    NOT NULL,
  record_id     TEXT    NOT NULL,
  field         TEXT    NOT NULL,
  losing        BLOB,
  winning       BLOB,
  losing_hlc    INTEGER NOT NULL,
  losing_actor  TEXT    NOT NULL,
  winning_hlc   INTEGER NOT NULL,
  winning_actor TEXT    NOT NULL,
  reason        TEXT    NOT NULL,
  owner_id      TEXT    NOT NULL,
  store_id      TEXT    NOT NULL,
  region_id     TEXT    NOT NULL,
  created_at    INTEGER NOT NULL
);
CREATE INDEX conflicts_tenant ON conflicts(tenant_id, id);
CREATE INDEX conflicts_record ON conflicts(tenant_id, record_id);

-- Delivery receipts: the cursors devices acknowledged.
CREATE TABLE receipts (
  device_id   TEXT    NOT NULL,
  version     INTEGER NOT NULL,
  tenant_id   TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, version)
) WITHOUT ROWID;
CREATE INDEX receipts_tenant ON receipts(tenant_id, version);
CREATE TABLE device_cursors (
  device_id  TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Which records refer to which photo hashes (A6, media authorisation).
CREATE TABLE record_photos (
  tenant_id   TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  record_type TEXT NOT NULL,
  PRIMARY KEY (tenant_id, sha256, record_id)
) WITHOUT ROWID;
CREATE INDEX record_photos_record ON record_photos(tenant_id, record_id);
