-- Fewer b-trees written per action row (the insights consumer writes one
-- per key-action or quality record; each index is another insert).
-- insights_actions_customer is a prefix of insights_actions_customer_time
-- and no query names it; A1, the only reader of a customer's actions, reads
-- diagnoses only, so its index holds only diagnoses.
DROP INDEX IF EXISTS insights_actions_customer;
DROP INDEX IF EXISTS insights_actions_customer_time;
CREATE INDEX insights_actions_diagnoses ON insights_actions(tenant_id, customer_id, action_ms)
  WHERE submitted_ms > 0 AND record_type = 'fieldsync.v1.Diagnosis';
