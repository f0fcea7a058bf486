-- The schema storage/sqlite reached by its migration 0012, for the stores
-- the sync engine needs: identity, records and their scope-indexed change
-- log (sqlite 0008, 0010), exactly-once push, conflicts, receipts, photo
-- possession and the event outbox. Times are unix ms (BIGINT), as in SQLite,
-- so rows copy across unchanged.

CREATE TABLE tenants (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE regions (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX regions_tenant ON regions(tenant_id);

CREATE TABLE stores (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  region_id  TEXT NOT NULL REFERENCES regions(id),
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX stores_tenant ON stores(tenant_id);

CREATE TABLE users (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL REFERENCES tenants(id),
  display_name TEXT NOT NULL,
  role         INTEGER NOT NULL,
  region_id    TEXT NOT NULL DEFAULT '',
  store_id     TEXT NOT NULL DEFAULT '',
  created_at   BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE enrollment_codes (
  code_hash  BYTEA PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  user_id    TEXT NOT NULL REFERENCES users(id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at    BIGINT
);

CREATE TABLE devices (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL REFERENCES tenants(id),
  user_id      TEXT NOT NULL REFERENCES users(id),
  name         TEXT NOT NULL,
  platform     TEXT NOT NULL DEFAULT '',
  token_hash   BYTEA NOT NULL UNIQUE,
  enrolled_at  BIGINT NOT NULL,
  revoked_at   BIGINT,
  last_seen_at BIGINT
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL REFERENCES tenants(id),
  name        TEXT NOT NULL,
  permissions TEXT NOT NULL,
  token_hash  BYTEA NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Each tenant's counters. A transaction that writes a tenant's change rows
-- locks its row here first and holds the lock until it commits, so the
-- tenant's versions are handed out and committed in the same order (see
-- docs/architecture.md, "Versions on PostgreSQL").
CREATE TABLE tenant_versions (
  tenant_id      TEXT PRIMARY KEY,
  version        BIGINT NOT NULL DEFAULT 0, -- the tenant's latest committed change version
  purged_through BIGINT NOT NULL DEFAULT 0, -- tombstones and exits up to here are gone
  conflict_id    BIGINT NOT NULL DEFAULT 0  -- the tenant's latest conflict id
);

-- The commit sequence across tenants, for the server's own sweeps.
CREATE SEQUENCE record_seq;

-- Records and their change log: a row is a record's current merged state
-- under the version of its latest change.
CREATE TABLE records (
  tenant_id       TEXT    NOT NULL,
  id              TEXT    NOT NULL,
  type            TEXT    NOT NULL,
  version         BIGINT  NOT NULL,
  created_version BIGINT  NOT NULL,
  owner_id        TEXT    NOT NULL DEFAULT '',
  store_id        TEXT    NOT NULL DEFAULT '',
  region_id       TEXT    NOT NULL DEFAULT '',
  deleted         BOOLEAN NOT NULL DEFAULT false,
  value           BYTEA   NOT NULL,
  clocks          BYTEA   NOT NULL, -- per-field versions, storage/internal/rowcodec
  deleted_hlc     BIGINT  NOT NULL DEFAULT 0,
  deleted_actor   TEXT    NOT NULL DEFAULT '',
  created_hlc     BIGINT  NOT NULL,
  created_actor   TEXT    NOT NULL,
  hlc             BIGINT  NOT NULL,
  actor           TEXT    NOT NULL,
  updated_at      BIGINT  NOT NULL,
  seq             BIGINT  NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX records_version ON records(tenant_id, version);
CREATE INDEX records_deleted ON records(updated_at) WHERE deleted;
CREATE INDEX records_surgery_seq ON records(seq) WHERE type = 'fieldsync.v1.SurgerySupport';
-- The change log by scope (sqlite 0010): each (term, type) of a caller's
-- selection is one range of one index, in version order.
CREATE INDEX records_owner ON records(tenant_id, owner_id, type, version) INCLUDE (created_version);
CREATE INDEX records_store ON records(tenant_id, store_id, type, version) INCLUDE (created_version);
CREATE INDEX records_region ON records(tenant_id, region_id, type, version) INCLUDE (created_version);
CREATE INDEX records_type ON records(tenant_id, type, version) INCLUDE (created_version);

-- A scope a record left: devices that saw it get a removal.
CREATE TABLE scope_exits (
  tenant_id  TEXT   NOT NULL,
  version    BIGINT NOT NULL,
  record_id  TEXT   NOT NULL,
  type       TEXT   NOT NULL,
  owner_id   TEXT   NOT NULL,
  store_id   TEXT   NOT NULL,
  region_id  TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, version, record_id)
);
CREATE INDEX scope_exits_owner ON scope_exits(tenant_id, owner_id, type, version);
CREATE INDEX scope_exits_store ON scope_exits(tenant_id, store_id, type, version);
CREATE INDEX scope_exits_region ON scope_exits(tenant_id, region_id, type, version);
CREATE INDEX scope_exits_type ON scope_exits(tenant_id, type, version);

-- Exactly-once push.
CREATE TABLE actor_seqs (
  actor    TEXT PRIMARY KEY,
  last_seq BIGINT NOT NULL
);
CREATE TABLE push_results (
  actor      TEXT   NOT NULL,
  first_seq  BIGINT NOT NULL,
  last_seq   BIGINT NOT NULL,
  results    BYTEA  NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (actor, first_seq)
);

-- Every value that lost a merge, numbered per tenant.
CREATE TABLE conflicts (
  tenant_id     TEXT   NOT NULL,
  id            BIGINT NOT NULL,
  record_type   TEXT   NOT NULL,
  record_id     TEXT   NOT NULL,
  field         TEXT   NOT NULL,
  losing        BYTEA,
  winning       BYTEA,
  losing_hlc    BIGINT NOT NULL,
  losing_actor  TEXT   NOT NULL,
  winning_hlc   BIGINT NOT NULL,
  winning_actor TEXT   NOT NULL,
  reason        TEXT   NOT NULL,
  owner_id      TEXT   NOT NULL,
  store_id      TEXT   NOT NULL,
  region_id     TEXT   NOT NULL,
  created_at    BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX conflicts_record ON conflicts(tenant_id, record_id);

-- Delivery receipts: the cursors devices acknowledged.
CREATE TABLE receipts (
  device_id   TEXT   NOT NULL,
  version     BIGINT NOT NULL,
  tenant_id   TEXT   NOT NULL,
  user_id     TEXT   NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (device_id, version)
);
CREATE INDEX receipts_tenant ON receipts(tenant_id, version);
CREATE TABLE device_cursors (
  device_id  TEXT PRIMARY KEY,
  version    BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- Photos: which records cite which hashes, the stored objects, and who
-- holds and attached each photo (sqlite 0003, 0007).
CREATE TABLE record_photos (
  tenant_id   TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  record_type TEXT NOT NULL,
  PRIMARY KEY (tenant_id, sha256, record_id)
);
CREATE INDEX record_photos_record ON record_photos(tenant_id, record_id);
CREATE TABLE photos (
  sha256       TEXT PRIMARY KEY,
  size         BIGINT  NOT NULL,
  content_type TEXT    NOT NULL,
  capture_time BIGINT,
  has_location BOOLEAN NOT NULL DEFAULT false,
  latitude     DOUBLE PRECISION,
  longitude    DOUBLE PRECISION,
  received_at  BIGINT  NOT NULL
);
CREATE TABLE photo_holders (
  tenant_id   TEXT   NOT NULL,
  sha256      TEXT   NOT NULL,
  user_id     TEXT   NOT NULL,
  upload_id   TEXT   NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, sha256, user_id)
);
CREATE TABLE photo_attachers (
  tenant_id TEXT NOT NULL,
  sha256    TEXT NOT NULL,
  record_id TEXT NOT NULL,
  user_id   TEXT NOT NULL,
  PRIMARY KEY (tenant_id, sha256, record_id, user_id)
);
CREATE INDEX photo_attachers_record ON photo_attachers(tenant_id, record_id);

-- The event outbox, written in the transaction of the change it reports.
-- seq is a sequence: unique, never reused, but (with several writers) not
-- commit order; the relay orders by it among committed rows.
CREATE TABLE outbox (
  seq        BIGSERIAL PRIMARY KEY,
  event_id   TEXT  NOT NULL UNIQUE,
  subject    TEXT  NOT NULL,
  data       BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  sent_at    BIGINT
);
CREATE INDEX outbox_unsent ON outbox(seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox(sent_at) WHERE sent_at IS NOT NULL;
