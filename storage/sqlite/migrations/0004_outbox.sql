-- The event outbox: one row per event, written in the same transaction as
-- the change it reports, published to NATS JetStream by the relay.
-- seq is commit order; AUTOINCREMENT keeps it from ever being reused, even
-- after the newest rows are pruned.
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id   TEXT NOT NULL UNIQUE,
  subject    TEXT NOT NULL,
  data       BLOB NOT NULL,
  created_at INTEGER NOT NULL, -- unix ms
  sent_at    INTEGER           -- unix ms; NULL until JetStream acknowledged it
);
-- Oldest unsent first: the relay's query walks this small partial index.
CREATE INDEX outbox_unsent ON outbox(seq) WHERE sent_at IS NULL;
-- Pruning finds old sent rows without scanning the table.
CREATE INDEX outbox_sent ON outbox(sent_at) WHERE sent_at IS NOT NULL;
