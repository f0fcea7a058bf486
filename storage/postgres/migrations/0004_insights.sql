-- Insights (sqlite 0005, 0009, 0012): the facts PHI is computed from, the
-- materialised PHI, the rules' state, the alerts and flags waiting to be
-- written, and A3's audited access grants. Times are unix ms; dates are
-- YYYY-MM-DD in the tenant's PHI time zone.

CREATE TABLE insights_applied_events (
  tenant_id  TEXT   NOT NULL,
  event_id   TEXT   NOT NULL,
  applied_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
);

CREATE TABLE insights_config (
  tenant_id  TEXT PRIMARY KEY,
  config     TEXT   NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE insights_actions (
  tenant_id         TEXT    NOT NULL,
  record_id         TEXT    NOT NULL,
  record_type       TEXT    NOT NULL,
  owner_user_id     TEXT    NOT NULL DEFAULT '',
  store_id          TEXT    NOT NULL DEFAULT '',
  region_id         TEXT    NOT NULL DEFAULT '',
  customer_id       TEXT    NOT NULL DEFAULT '',
  action_ms         BIGINT  NOT NULL DEFAULT 0,
  submitted_ms      BIGINT  NOT NULL DEFAULT 0,
  submitted_version BIGINT  NOT NULL DEFAULT 0,
  quality_kind      INTEGER NOT NULL DEFAULT 0,
  quality_count     INTEGER NOT NULL DEFAULT 0,
  tags              TEXT    NOT NULL DEFAULT '',
  conclusion        TEXT    NOT NULL DEFAULT '',
  value             BYTEA,
  PRIMARY KEY (tenant_id, record_id)
);
CREATE INDEX insights_actions_time ON insights_actions(tenant_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_owner ON insights_actions(tenant_id, owner_user_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_store ON insights_actions(tenant_id, store_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_region ON insights_actions(tenant_id, region_id, submitted_ms) WHERE submitted_ms > 0;
CREATE INDEX insights_actions_customer_time ON insights_actions(tenant_id, customer_id, record_type, action_ms) WHERE submitted_ms > 0;

CREATE TABLE insights_materials (
  tenant_id   TEXT   NOT NULL,
  material_id TEXT   NOT NULL,
  released_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, material_id)
);

CREATE TABLE insights_deliveries (
  tenant_id    TEXT    NOT NULL,
  material_id  TEXT    NOT NULL,
  rep_user_id  TEXT    NOT NULL,
  store_id     TEXT    NOT NULL DEFAULT '',
  region_id    TEXT    NOT NULL DEFAULT '',
  delivered_ms BIGINT  NOT NULL DEFAULT 0,
  feedback_ms  BIGINT  NOT NULL DEFAULT 0,
  swept        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, material_id, rep_user_id)
);
CREATE INDEX insights_deliveries_time ON insights_deliveries(tenant_id, delivered_ms);
CREATE INDEX insights_deliveries_rep ON insights_deliveries(tenant_id, rep_user_id, delivered_ms);
CREATE INDEX insights_deliveries_store ON insights_deliveries(tenant_id, store_id, delivered_ms);
CREATE INDEX insights_deliveries_region ON insights_deliveries(tenant_id, region_id, delivered_ms);
CREATE INDEX insights_deliveries_unswept ON insights_deliveries(tenant_id, delivered_ms) WHERE swept = 0 AND delivered_ms > 0;

CREATE TABLE insights_phi_days (
  tenant_id                TEXT             NOT NULL,
  scope_kind               INTEGER          NOT NULL,
  scope_id                 TEXT             NOT NULL,
  date                     TEXT             NOT NULL,
  key_action_completion    DOUBLE PRECISION NOT NULL,
  action_quality           DOUBLE PRECISION NOT NULL,
  collaboration_timeliness DOUBLE PRECISION NOT NULL,
  phi_index                DOUBLE PRECISION NOT NULL,
  high_value_action_share  DOUBLE PRECISION NOT NULL,
  has_key_action           BOOLEAN          NOT NULL,
  has_quality              BOOLEAN          NOT NULL,
  has_collaboration        BOOLEAN          NOT NULL,
  has_visits               BOOLEAN          NOT NULL,
  event_count              BIGINT           NOT NULL,
  PRIMARY KEY (tenant_id, scope_kind, scope_id, date)
);
CREATE INDEX insights_phi_days_date ON insights_phi_days(tenant_id, date);

CREATE TABLE insights_customers (
  tenant_id       TEXT   NOT NULL,
  customer_id     TEXT   NOT NULL,
  assigned_rep_id TEXT   NOT NULL DEFAULT '',
  store_id        TEXT   NOT NULL DEFAULT '',
  region_id       TEXT   NOT NULL DEFAULT '',
  name            TEXT   NOT NULL DEFAULT '',
  version         BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, customer_id)
);

CREATE TABLE insights_stock (
  tenant_id TEXT   NOT NULL,
  record_id TEXT   NOT NULL,
  version   BIGINT NOT NULL,
  episode   TEXT   NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, record_id)
);

CREATE TABLE insights_photos (
  tenant_id     TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  record_id     TEXT NOT NULL,
  record_type   TEXT NOT NULL,
  owner_user_id TEXT NOT NULL DEFAULT '',
  store_id      TEXT NOT NULL DEFAULT '',
  region_id     TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, sha256, record_id)
);
CREATE INDEX insights_photos_record ON insights_photos(tenant_id, record_id);

CREATE TABLE insights_stalls (
  tenant_id   TEXT   NOT NULL,
  visit_id    TEXT   NOT NULL,
  customer_id TEXT   NOT NULL,
  rep_user_id TEXT   NOT NULL,
  store_id    TEXT   NOT NULL DEFAULT '',
  region_id   TEXT   NOT NULL DEFAULT '',
  start_ms    BIGINT NOT NULL,
  resolved_at BIGINT,
  PRIMARY KEY (tenant_id, visit_id)
);
CREATE INDEX insights_stalls_open ON insights_stalls(tenant_id, start_ms) WHERE resolved_at IS NULL;

CREATE TABLE insights_progress (
  tenant_id       TEXT   NOT NULL,
  customer_id     TEXT   NOT NULL,
  record_id       TEXT   NOT NULL,
  linked_visit_id TEXT   NOT NULL DEFAULT '',
  at_ms           BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, customer_id, record_id)
);

CREATE TABLE insights_effects (
  id          BIGSERIAL PRIMARY KEY,
  tenant_id   TEXT    NOT NULL,
  dedup_key   TEXT    NOT NULL,
  alert       BYTEA,
  record_type TEXT    NOT NULL DEFAULT '',
  record_id   TEXT    NOT NULL DEFAULT '',
  field       TEXT    NOT NULL DEFAULT '',
  created_at  BIGINT  NOT NULL,
  done_at     BIGINT,
  revision    BIGINT  NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  retry_at    BIGINT  NOT NULL DEFAULT 0,
  UNIQUE (tenant_id, dedup_key)
);
CREATE INDEX insights_effects_pending ON insights_effects(id) WHERE done_at IS NULL;

CREATE TABLE insights_interventions (
  tenant_id TEXT   NOT NULL,
  region_id TEXT   NOT NULL,
  end_date  TEXT   NOT NULL,
  raised_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, region_id, end_date)
);

CREATE TABLE insights_findings (
  tenant_id   TEXT   NOT NULL,
  finding_key TEXT   NOT NULL,
  episode     TEXT   NOT NULL DEFAULT '',
  opened_ms   BIGINT NOT NULL DEFAULT 0,
  last_ms     BIGINT NOT NULL DEFAULT 0,
  evidence    BYTEA,
  PRIMARY KEY (tenant_id, finding_key)
);

CREATE TABLE access_grants (
  id              TEXT PRIMARY KEY,
  tenant_id       TEXT   NOT NULL,
  grantee_user_id TEXT   NOT NULL,
  subject_user_id TEXT   NOT NULL,
  reason          TEXT   NOT NULL,
  dedup_key       TEXT   NOT NULL,
  created_at      BIGINT NOT NULL,
  expires_at      BIGINT NOT NULL,
  UNIQUE (tenant_id, dedup_key)
);
CREATE INDEX access_grants_lookup ON access_grants(tenant_id, grantee_user_id, subject_user_id, expires_at);

CREATE TABLE audit_entries (
  id              TEXT PRIMARY KEY,
  tenant_id       TEXT   NOT NULL,
  grant_id        TEXT   NOT NULL REFERENCES access_grants(id),
  reader_user_id  TEXT   NOT NULL,
  subject_user_id TEXT   NOT NULL,
  records_read    BIGINT NOT NULL,
  read_at         BIGINT NOT NULL
);
CREATE INDEX audit_entries_subject ON audit_entries(tenant_id, subject_user_id, read_at);
