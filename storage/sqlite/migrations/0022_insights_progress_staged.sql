-- A5's progress rows, staged (issue 11, the single writer's time per
-- event). insights_progress is keyed by customer, so a batch of events
-- for many customers writes a row into as many leaf pages, and each of
-- those pages goes to the WAL at every commit. The consumer now appends
-- its progress rows here instead (the next rowid: one or two pages a
-- batch) and folds them into insights_progress once 4,096 are staged, and
-- before any read of insights_progress (storage/sqlite/insights.go,
-- foldStagedProgress), in the transaction that staged or reads them: staging
-- and folding each commit or roll back whole, so a crash between them
-- loses and doubles nothing.
--
-- seq is the order the rows were put in (a later row of a key wins at an
-- equal time). It restarts at 1 after a fold empties the table.
CREATE TABLE insights_progress_staged (
  seq             INTEGER PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  customer_id     TEXT NOT NULL,
  record_id       TEXT NOT NULL,
  linked_visit_id TEXT NOT NULL,
  at_ms           INTEGER NOT NULL
);
