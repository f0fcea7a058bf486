-- Insights (DOMAIN.md PHI and rules A1–A6): what the change-stream consumer
-- keeps so that PHI survives restarts and can be recomputed, the rules'
-- state, the alerts and flags waiting to be written, and A3's time-boxed,
-- audited access grants. Times are unix ms; dates are YYYY-MM-DD in the
-- tenant's PHI time zone.

-- Change events already applied: idempotence for as long as an event can
-- come back, far beyond JetStream's duplicate window.
CREATE TABLE insights_applied_events (
  tenant_id  TEXT NOT NULL,
  event_id   TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;

-- Per-tenant PHI and rule configuration (JSON of insights.Config); a tenant
-- without a row uses the defaults.
CREATE TABLE insights_config (
  tenant_id  TEXT PRIMARY KEY,
  config     TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Key-action and quality records (Visit, SurgerySupport, Diagnosis, Quote)
-- as first submitted: the facts PHI is computed from.
CREATE TABLE insights_actions (
  tenant_id         TEXT NOT NULL,
  record_id         TEXT NOT NULL,
  record_type       TEXT NOT NULL,
  owner_user_id     TEXT NOT NULL DEFAULT '',
  store_id          TEXT NOT NULL DEFAULT '',
  region_id         TEXT NOT NULL DEFAULT '',
  customer_id       TEXT NOT NULL DEFAULT '',
  action_ms         INTEGER NOT NULL DEFAULT 0, -- the action's own time; 0 unknown
  submitted_ms      INTEGER NOT NULL DEFAULT 0, -- commit of the first SUBMITTED version; 0 not yet
  submitted_version INTEGER NOT NULL DEFAULT 0,
  quality_kind      INTEGER NOT NULL DEFAULT 0,
  quality_count     INTEGER NOT NULL DEFAULT 0,
  tags              TEXT NOT NULL DEFAULT '',   -- space-separated action tags
  conclusion        TEXT NOT NULL DEFAULT '',
  value             BLOB,                       -- diagnoses: the record as first submitted
  PRIMARY KEY (tenant_id, record_id)
);
-- Covers the whole-tenant fact scans (Recompute, sweeps) so they read no table pages.
CREATE INDEX insights_actions_time ON insights_actions(tenant_id, submitted_ms, record_id, record_type, owner_user_id,
  store_id, region_id, action_ms, quality_kind, quality_count, tags) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_owner ON insights_actions(tenant_id, owner_user_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_store ON insights_actions(tenant_id, store_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_region ON insights_actions(tenant_id, region_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_customer ON insights_actions(tenant_id, customer_id, record_type) WHERE submitted_ms > 0;

-- Campaign material release times.
CREATE TABLE insights_materials (
  tenant_id   TEXT NOT NULL,
  material_id TEXT NOT NULL,
  released_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, material_id)
) WITHOUT ROWID;

-- Campaign material reaching a rep (first delivery to any of the rep's
-- devices) and the rep's first feedback on it.
CREATE TABLE insights_deliveries (
  tenant_id    TEXT NOT NULL,
  material_id  TEXT NOT NULL,
  rep_user_id  TEXT NOT NULL,
  store_id     TEXT NOT NULL DEFAULT '',
  region_id    TEXT NOT NULL DEFAULT '',
  delivered_ms INTEGER NOT NULL DEFAULT 0, -- 0: feedback seen, delivery not yet
  feedback_ms  INTEGER NOT NULL DEFAULT 0, -- 0: no feedback yet
  swept        INTEGER NOT NULL DEFAULT 0, -- 1 once the feedback deadline was swept
  PRIMARY KEY (tenant_id, material_id, rep_user_id)
);
CREATE INDEX insights_deliveries_time ON insights_deliveries(tenant_id, delivered_ms);
CREATE INDEX insights_deliveries_rep ON insights_deliveries(tenant_id, rep_user_id, delivered_ms);
CREATE INDEX insights_deliveries_store ON insights_deliveries(tenant_id, store_id, delivered_ms);
CREATE INDEX insights_deliveries_region ON insights_deliveries(tenant_id, region_id, delivered_ms);
CREATE INDEX insights_deliveries_unswept ON insights_deliveries(tenant_id, delivered_ms) WHERE swept = 0 AND delivered_ms > 0;

-- The materialised PHI: one row per scope and day.
CREATE TABLE insights_phi_days (
  tenant_id                TEXT NOT NULL,
  scope_kind               INTEGER NOT NULL,
  scope_id                 TEXT NOT NULL,
  date                     TEXT NOT NULL,
  key_action_completion    REAL NOT NULL,
  action_quality           REAL NOT NULL,
  collaboration_timeliness REAL NOT NULL,
  phi_index                REAL NOT NULL,
  high_value_action_share  REAL NOT NULL,
  has_key_action           INTEGER NOT NULL,
  has_quality              INTEGER NOT NULL,
  has_collaboration        INTEGER NOT NULL,
  has_visits               INTEGER NOT NULL,
  event_count              INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, scope_kind, scope_id, date)
) WITHOUT ROWID;
CREATE INDEX insights_phi_days_date ON insights_phi_days(tenant_id, date);

-- A2: customers (terminals) and their assigned rep.
CREATE TABLE insights_customers (
  tenant_id       TEXT NOT NULL,
  customer_id     TEXT NOT NULL,
  assigned_rep_id TEXT NOT NULL DEFAULT '',
  store_id        TEXT NOT NULL DEFAULT '',
  region_id       TEXT NOT NULL DEFAULT '',
  name            TEXT NOT NULL DEFAULT '',
  version         INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, customer_id)
) WITHOUT ROWID;

-- A2: per stock-level record, the last version seen and the event that
-- started the current below-safety-stock episode ('' when not below).
CREATE TABLE insights_stock (
  tenant_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  version   INTEGER NOT NULL,
  episode   TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, record_id)
) WITHOUT ROWID;

-- A6: which records a photo hash is attached to.
CREATE TABLE insights_photos (
  tenant_id     TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  record_id     TEXT NOT NULL,
  record_type   TEXT NOT NULL,
  owner_user_id TEXT NOT NULL DEFAULT '',
  store_id      TEXT NOT NULL DEFAULT '',
  region_id     TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, sha256, record_id)
) WITHOUT ROWID;

-- A5: visits tagged decision_maker_confirmed, waiting for progress.
CREATE TABLE insights_stalls (
  tenant_id   TEXT NOT NULL,
  visit_id    TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  rep_user_id TEXT NOT NULL,
  store_id    TEXT NOT NULL DEFAULT '',
  region_id   TEXT NOT NULL DEFAULT '',
  start_ms    INTEGER NOT NULL,
  resolved_at INTEGER,
  PRIMARY KEY (tenant_id, visit_id)
);
CREATE INDEX insights_stalls_open ON insights_stalls(tenant_id, start_ms) WHERE resolved_at IS NULL;

-- A5: the latest progress per customer and record (visit, commitment,
-- opportunity). linked_visit_id is the visit an open commitment came from:
-- a visit's own open commitment is not progress after it.
CREATE TABLE insights_progress (
  tenant_id       TEXT NOT NULL,
  customer_id     TEXT NOT NULL,
  record_id       TEXT NOT NULL,
  linked_visit_id TEXT NOT NULL DEFAULT '',
  at_ms           INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, customer_id, record_id)
) WITHOUT ROWID;

-- Alerts to raise and records to flag: written in the consumer's
-- transaction, performed after it commits (at least once, idempotent by
-- dedup_key), then marked done.
CREATE TABLE insights_effects (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id   TEXT NOT NULL,
  dedup_key   TEXT NOT NULL,
  alert       BLOB,                        -- fieldsync.v1.Alert, for alerts
  record_type TEXT NOT NULL DEFAULT '',    -- for flags
  record_id   TEXT NOT NULL DEFAULT '',
  field       TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  done_at     INTEGER,
  UNIQUE (tenant_id, dedup_key)
);
CREATE INDEX insights_effects_pending ON insights_effects(id) WHERE done_at IS NULL;

-- A3: management interventions raised, per region and the last day of the fall.
CREATE TABLE insights_interventions (
  tenant_id TEXT NOT NULL,
  region_id TEXT NOT NULL,
  end_date  TEXT NOT NULL,
  raised_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, region_id, end_date)
) WITHOUT ROWID;

-- A3: time-boxed grants to read a rep's device operation logs (R11).
CREATE TABLE access_grants (
  id              TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  grantee_user_id TEXT NOT NULL,
  subject_user_id TEXT NOT NULL,
  reason          TEXT NOT NULL,
  dedup_key       TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL,
  UNIQUE (tenant_id, dedup_key)
);
CREATE INDEX access_grants_lookup ON access_grants(tenant_id, grantee_user_id, subject_user_id, expires_at);

-- Every read made under a grant.
CREATE TABLE audit_entries (
  id              TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  grant_id        TEXT NOT NULL REFERENCES access_grants(id),
  reader_user_id  TEXT NOT NULL,
  subject_user_id TEXT NOT NULL,
  records_read    INTEGER NOT NULL,
  read_at         INTEGER NOT NULL
);
CREATE INDEX audit_entries_subject ON audit_entries(tenant_id, subject_user_id, read_at);
