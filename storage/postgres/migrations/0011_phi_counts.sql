-- The tallies behind each PHI day's action components (insightstore.PhiCounts; sqlite 0017),
-- so a batch of change events adds and takes back its records' parts instead
-- of recounting the day. counts_config names the settings they were counted
-- under; NULL (days stored before, or by PutPhiDay) means "count the day again".
ALTER TABLE insights_phi_days ADD COLUMN counts_config      TEXT;
ALTER TABLE insights_phi_days ADD COLUMN key_actions_on_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN key_actions         BIGINT NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN quality_met         BIGINT NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN quality_records     BIGINT NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN high_value_visits   BIGINT NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN visits              BIGINT NOT NULL DEFAULT 0;
