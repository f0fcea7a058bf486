-- Versions are per tenant: each tenant numbers its changes with its own
-- counter, so the versions and cursors a device sees say nothing about
-- another tenant's writes. The change log (records, scope_exits) stays
-- keyed by (tenant_id, version); an index by scope can lead with the same
-- columns (tenant_id, region_id, store_id, owner_id, version).
CREATE TABLE tenant_versions (
  tenant_id      TEXT PRIMARY KEY,
  version        INTEGER NOT NULL,           -- the tenant's latest change version
  purged_through INTEGER NOT NULL DEFAULT 0, -- tombstones and exits up to here are gone
  conflict_id    INTEGER NOT NULL DEFAULT 0  -- the tenant's latest conflict id
) WITHOUT ROWID;

-- Existing versions came from one counter, so within a tenant they are
-- already unique and increasing. Each tenant counts on from the highest
-- version a cursor of its devices can hold: its newest change row or, when
-- that was a tombstone since purged, the old purge horizon. So every
-- existing cursor keeps working (one below the horizon gets "resync", as
-- before) and no new change can take a version a cursor has passed.
INSERT INTO tenant_versions (tenant_id, version, purged_through)
SELECT t.tenant_id, MAX(COALESCE(MAX(t.v), 0), p.value), p.value
FROM (SELECT id AS tenant_id, 0 AS v FROM tenants
      UNION ALL SELECT tenant_id, MAX(version) FROM records GROUP BY tenant_id
      UNION ALL SELECT tenant_id, MAX(version) FROM scope_exits GROUP BY tenant_id) t
JOIN counters p ON p.name = 'purged_through'
GROUP BY t.tenant_id;

-- Conflict ids (a device pages through them with after_id) are per tenant
-- too: the log is keyed by (tenant_id, id). Existing ids came from one
-- sequence, so within a tenant they are unique and increasing already; no
-- conflict is ever deleted, so each tenant counts on from its highest.
CREATE TABLE conflicts_by_tenant (
  tenant_id     TEXT    NOT NULL,
  id            INTEGER NOT NULL,
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
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
INSERT INTO conflicts_by_tenant (tenant_id, id, record_type, record_id, field, losing, winning, losing_hlc, losing_actor,
  winning_hlc, winning_actor, reason, owner_id, store_id, region_id, created_at)
SELECT tenant_id, id, record_type, record_id, field, losing, winning, losing_hlc, losing_actor,
  winning_hlc, winning_actor, reason, owner_id, store_id, region_id, created_at FROM conflicts;
INSERT INTO tenant_versions (tenant_id, version, conflict_id)
SELECT tenant_id, 0, MAX(id) FROM conflicts GROUP BY tenant_id
ON CONFLICT(tenant_id) DO UPDATE SET conflict_id = excluded.conflict_id;
DROP TABLE conflicts;
ALTER TABLE conflicts_by_tenant RENAME TO conflicts;
CREATE INDEX conflicts_record ON conflicts(tenant_id, record_id);

-- The old counter lives on as the commit sequence across tenants, for the
-- server's own sweeps (photos: surgeries written since the last sweep). It
-- never leaves the server.
ALTER TABLE records ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE records SET seq = version;
UPDATE counters SET name = 'seq' WHERE name = 'version';
DELETE FROM counters WHERE name = 'purged_through';
DROP INDEX records_surgery_version;
CREATE INDEX records_surgery_seq ON records(seq) WHERE type = 'fieldsync.v1.SurgerySupport';

-- A6: a deleted record's photo uses are removed by record.
CREATE INDEX insights_photos_record ON insights_photos(tenant_id, record_id);
