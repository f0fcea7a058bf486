-- One open alert per finding (A1 per customer and window, A2 per terminal,
-- A6 per photo), updated as evidence arrives instead of one alert per pair.

-- An alert effect's revision: a finding's alert is re-queued with its new
-- evidence (revision + 1); marking done names the revision performed, so
-- an update queued meanwhile is not lost.
ALTER TABLE insights_effects ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- The current episode of each finding and its evidence (JSON, rule-specific).
CREATE TABLE insights_findings (
  tenant_id   TEXT NOT NULL,
  finding_key TEXT NOT NULL,            -- rule and subject, e.g. "A1:<customer>"
  episode     TEXT NOT NULL DEFAULT '', -- '' when closed
  opened_ms   INTEGER NOT NULL DEFAULT 0,
  last_ms     INTEGER NOT NULL DEFAULT 0, -- the latest evidence's time
  evidence    BLOB,
  PRIMARY KEY (tenant_id, finding_key)
) WITHOUT ROWID;

-- A1 reads a customer's diagnoses within the window only.
CREATE INDEX insights_actions_customer_time ON insights_actions(tenant_id, customer_id, record_type, action_ms) WHERE submitted_ms > 0;
