-- An effect that failed for now waits retry_at (unix ms) before it is
-- tried again, so it blocks no other effect; attempts counts the failures
-- (the backoff grows with them).
ALTER TABLE insights_effects ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE insights_effects ADD COLUMN retry_at INTEGER NOT NULL DEFAULT 0;
