-- The tallies behind each PHI day's action components (insightstore.PhiCounts),
-- so a batch of change events adds and takes back its records' parts instead
-- of recounting the day. counts_config names the settings they were counted
-- under; NULL (days stored before, or by PutPhiDay) means "count the day again".
ALTER TABLE insights_phi_days ADD COLUMN counts_config      TEXT;
ALTER TABLE insights_phi_days ADD COLUMN key_actions_on_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN key_actions         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN quality_met         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN quality_records     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN high_value_visits   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE insights_phi_days ADD COLUMN visits              INTEGER NOT NULL DEFAULT 0;
